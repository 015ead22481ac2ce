package selfcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"imagent/agent/contract"
	"imagent/config"
)

// Store keeps small values durably (buffer.Outbox's meta table).
type Store interface {
	GetMeta(ctx context.Context, key string) (string, bool, error)
	SetMeta(ctx context.Context, key, value string) error
}

// GateOptions wire a Gate. Now, Synced, BootID and MonoMS describe the box's clocks
// (record.ClockQuality, record.BootID, record.MonoMS in the agent).
type GateOptions struct {
	Store    Store
	Params   *config.Params
	Roles    []string // roles of the lane's instruments
	Required bool     // false: the lane is never locked (config methods.self_check_required)
	Now      func() time.Time
	Synced   func() bool // the wall clock is synchronised (NTP or the platform)
	BootID   string
	MonoMS   func() int64
	Location *time.Location // the station's time zone for "today" (default time.Local)
}

// Gate locks the lane until today's required self-checks have passed.
//
// What "today" means, when the box's clock may be wrong (a box without a battery-backed
// clock boots in 1970 and may run for hours before NTP or the platform sets it):
//
//   - Each pass is stored with the wall time, whether the wall clock was synchronised, the
//     boot id and the boot clock (CLOCK_BOOTTIME, which never steps).
//   - Clock synchronised now: a pass made in this boot counts when its time, re-timed from
//     the boot clock (now − elapsed since the pass), falls on today's date in the station's
//     time zone; so a check done before NTP set the clock still counts, and a clock that
//     stepped back or forward cannot move it to another day. A pass from an earlier boot
//     counts only if its wall clock was synchronised then and its date is today.
//   - Clock not synchronised now: the date is unknown. A pass made in this boot counts for
//     selfcheck.unsynced_valid_h hours of boot clock; passes of earlier boots do not count.
//
// So a box that lost its clock in a power cut must redo the checks (or get the time)
// before testing — the conservative reading of HJ 1237-2021's "before the first test of
// the day".
type Gate struct {
	o  GateOptions
	mu sync.Mutex
}

// NewGate returns a gate.
func NewGate(o GateOptions) *Gate {
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Gate{o: o}
}

// passMark is what the gate stores for a check's last pass.
type passMark struct {
	Wall     time.Time `json:"wall"`
	Synced   bool      `json:"synced"`
	BootID   string    `json:"boot_id"`
	MonoMS   int64     `json:"mono_ms"`
	RecordID string    `json:"record_id"`
}

const metaPrefix = "selfcheck.pass."

// Required returns the checks the lane needs today: those of its instruments whose
// selfcheck.required_<check> parameter is 1.
func (g *Gate) Required() []string {
	if !g.o.Required {
		return nil
	}
	byRole := map[string][]string{
		"analyzer":   {contract.CheckAnalyzerLeak, contract.CheckGasLow, contract.CheckGasHigh},
		"dyno":       {contract.CheckDynoCoastDown, contract.CheckDynoParasitic},
		"opacimeter": {contract.CheckOpacimeter},
		"weather":    {contract.CheckWeather},
		"flowmeter":  {contract.CheckFlowmeter},
	}
	var out []string
	for _, r := range g.o.Roles {
		for _, c := range byRole[r] {
			if v, err := g.o.Params.Value("selfcheck", "required_"+c); err == nil && v == 1 && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// Passed records a passing check (its record is already committed).
func (g *Gate) Passed(ctx context.Context, check, recordID string) error {
	m := passMark{Wall: g.o.Now(), Synced: g.synced(), BootID: g.o.BootID, MonoMS: g.mono(), RecordID: recordID}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("selfcheck: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.o.Store.SetMeta(ctx, metaPrefix+check, string(b)); err != nil {
		return fmt.Errorf("selfcheck: remember pass of %s: %w", check, err)
	}
	return nil
}

func (g *Gate) synced() bool { return g.o.Synced != nil && g.o.Synced() }

func (g *Gate) mono() int64 {
	if g.o.MonoMS == nil {
		return 0
	}
	return g.o.MonoMS()
}

// Missing returns the required checks that have not passed today.
func (g *Gate) Missing(ctx context.Context) ([]string, error) {
	var out []string
	for _, c := range g.Required() {
		g.mu.Lock()
		s, ok, err := g.o.Store.GetMeta(ctx, metaPrefix+c)
		g.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("selfcheck: %w", err)
		}
		var m passMark
		if !ok || json.Unmarshal([]byte(s), &m) != nil || !g.today(m) {
			out = append(out, c)
		}
	}
	return out, nil
}

// today applies the rules in the Gate's comment.
func (g *Gate) today(m passMark) bool {
	sameBoot := m.BootID != "" && m.BootID == g.o.BootID
	elapsed := time.Duration(g.mono()-m.MonoMS) * time.Millisecond
	if sameBoot && elapsed < 0 {
		return false
	}
	if !g.synced() {
		h, err := g.o.Params.Value("selfcheck", "unsynced_valid_h")
		if err != nil {
			return false
		}
		return sameBoot && elapsed < time.Duration(h*float64(time.Hour))
	}
	now := g.o.Now().In(g.o.Location)
	at := m.Wall
	switch {
	case sameBoot:
		at = now.Add(-elapsed)
	case !m.Synced || m.Wall.After(now):
		return false
	}
	y1, m1, d1 := at.In(g.o.Location).Date()
	y2, m2, d2 := now.Date()
	return y1 == y2 && m1 == m2 && d1 == d2
}

// Lock is the lane's lock (lane.Options.Lock): locked until today's checks have passed.
func (g *Gate) Lock(ctx context.Context) (bool, string) {
	missing, err := g.Missing(ctx)
	if err != nil {
		return true, err.Error()
	}
	if len(missing) > 0 {
		return true, "daily self-checks not passed today (HJ 1237-2021): " + strings.Join(missing, ", ")
	}
	return false, ""
}
