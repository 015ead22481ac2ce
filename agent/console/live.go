package console

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"imagent/agent/lane"
	"imagent/agent/station"
	"imagent/buffer"
	"imagent/drivers"
)

// History kept per device for the chart and the frame list.
const (
	historyWindow  = 5 * time.Minute
	historyStep    = 500 * time.Millisecond // at most two samples a second
	historyMax     = int(historyWindow / historyStep)
	framesMax      = 40
	sseDeviceEvery = 250 * time.Millisecond // at most four updates a second per device
	sseTickEvery   = time.Second
	sseHeartbeat   = 15 * time.Second
)

type sample struct {
	T      int64              `json:"t"` // unix ms
	Values map[string]float64 `json:"v"`
}

type frame struct {
	T   int64  `json:"t"`
	Hex string `json:"hex"`
}

type history struct {
	samples []sample
	frames  []frame
	last    time.Time // LastFrame of the last sample taken
}

// liveState keeps the last minutes of every device's readings, fed by one goroutine per
// device that Run starts and stops.
type liveState struct {
	devices []*station.Device
	mu      sync.Mutex
	h       map[string]*history
	caps    map[string]capabilities
}

func newLiveState(devs []*station.Device) *liveState {
	l := &liveState{devices: devs, h: map[string]*history{}, caps: map[string]capabilities{}}
	for _, d := range devs {
		l.h[d.Spec().Name] = &history{}
	}
	return l
}

func (l *liveState) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, d := range l.devices {
		wg.Go(func() {
			ch, cancel := d.Subscribe()
			defer cancel()
			for {
				select {
				case <-ctx.Done():
					return
				case s := <-ch:
					l.add(s)
					if s.State == station.StateOK && !l.capsOf(s.Name).known {
						l.detect(ctx, d)
					}
				}
			}
		})
	}
	wg.Wait()
}

// detect finds the driver's capabilities with one command slot (between two polls).
func (l *liveState) detect(ctx context.Context, d *station.Device) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var c capabilities
	if err := d.Do(ctx, func(_ context.Context, dev drivers.Device) error { c = capsOfDriver(dev); return nil }); err != nil {
		return
	}
	l.mu.Lock()
	l.caps[d.Spec().Name] = c
	l.mu.Unlock()
}

func (l *liveState) capsOf(name string) capabilities {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.caps[name]
}

func (l *liveState) add(s station.Snapshot) {
	if s.LastFrame.IsZero() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.h[s.Name]
	if h == nil || !s.LastFrame.After(h.last) {
		return
	}
	if len(s.Reading.Raw) > 0 {
		hx := hex.EncodeToString(s.Reading.Raw)
		if n := len(h.frames); n == 0 || h.frames[n-1].Hex != hx || s.LastFrame.Sub(time.UnixMilli(h.frames[n-1].T)) >= 5*time.Second {
			h.frames = append(h.frames, frame{T: s.LastFrame.UnixMilli(), Hex: hx})
			if len(h.frames) > framesMax {
				h.frames = slices.Delete(h.frames, 0, len(h.frames)-framesMax)
			}
		}
	}
	if n := len(h.samples); n > 0 && s.LastFrame.Sub(time.UnixMilli(h.samples[n-1].T)) < historyStep {
		return
	}
	h.last = s.LastFrame
	h.samples = append(h.samples, sample{T: s.LastFrame.UnixMilli(), Values: values(s)})
	cut := s.LastFrame.Add(-historyWindow).UnixMilli()
	i := 0
	for i < len(h.samples) && (h.samples[i].T < cut || len(h.samples)-i > historyMax) {
		i++
	}
	h.samples = slices.Delete(h.samples, 0, i)
}

func (l *liveState) history(name string) ([]sample, []frame) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.h[name]
	if h == nil {
		return nil, nil
	}
	return slices.Clone(h.samples), slices.Clone(h.frames)
}

func values(s station.Snapshot) map[string]float64 {
	m := make(map[string]float64, len(s.Reading.Values))
	for q, v := range s.Reading.Values {
		m[string(q)] = v
	}
	return m
}

// deviceView is a device as the pages and the live stream show it.
type deviceView struct {
	Name     string             `json:"name"`
	Role     string             `json:"role"`
	Protocol string             `json:"protocol"`
	Port     string             `json:"port"`
	Model    string             `json:"model"`
	Poll     string             `json:"poll"`
	State    string             `json:"state"`
	AgeMS    int64              `json:"age_ms"` // -1 before the first frame
	Err      string             `json:"err,omitempty"`
	Values   map[string]float64 `json:"values,omitempty"`
	Status   []string           `json:"status,omitempty"`
	Raw      string             `json:"raw,omitempty"`
	Opens    int                `json:"opens"`
	Commands []string           `json:"commands"` // what may be run now
}

func (s *Server) deviceView(d *station.Device, now time.Time) deviceView {
	sp, sn := d.Spec(), d.Snapshot()
	v := deviceView{Name: sp.Name, Role: sp.Role, Protocol: sp.Protocol, Port: sp.Port, Model: sp.Model,
		Poll: sp.Poll.String(), State: string(sn.State), AgeMS: -1, Err: sn.Err, Opens: sn.Opens,
		Status: sn.Reading.Status.Names()}
	if !sn.LastFrame.IsZero() {
		v.AgeMS = now.Sub(sn.LastFrame).Milliseconds()
		v.Values = values(sn)
		v.Raw = hex.EncodeToString(sn.Reading.Raw)
	}
	v.Commands = s.allowedCommands(d, sn)
	return v
}

// sortedQuantities lists the quantities of m in a stable, readable order.
func sortedQuantities(m map[string]float64) []string {
	order := map[string]int{}
	for i, q := range []string{"rpm", "hc_ppm", "co_pct", "co2_pct", "o2_pct", "no_ppm", "nox_ppm", "lambda",
		"lambda_analyzer", "oil_temp_c", "opacity_pct", "k_m1", "speed_kmh", "force_n", "power_kw",
		"temp_c", "rh_pct", "pressure_kpa"} {
		order[q] = i + 1
	}
	var qs []string
	for q := range m {
		qs = append(qs, q)
	}
	sort.Slice(qs, func(i, j int) bool {
		oi, oj := order[qs[i]], order[qs[j]]
		if oi == 0 {
			oi = 1000
		}
		if oj == 0 {
			oj = 1000
		}
		if oi != oj {
			return oi < oj
		}
		return qs[i] < qs[j]
	})
	return qs
}

// statusView is the agent-wide part of the overview.
type statusView struct {
	Now       int64  `json:"now"`
	Clock     string `json:"clock"`
	Connected bool   `json:"connected"`
	Broker    string `json:"broker"`
	Epoch     int64  `json:"epoch"`
	LastAckMS int64  `json:"last_ack_ms"` // age, -1 never
	LastError string `json:"last_error,omitempty"`
	InFlight  int    `json:"in_flight"`
	Pending   int64  `json:"pending"`
	Sent      int64  `json:"sent"`
	Rejected  int64  `json:"rejected"`
	// ByKind counts the un-acked records (pending or sent) of each kind that has any.
	ByKind      map[string]int64 `json:"by_kind"`
	OldestMS    int64            `json:"oldest_ms"` // age of the oldest un-acked record, -1 none
	OldestSeq   int64            `json:"oldest_seq"`
	FileBytes   int64            `json:"file_bytes"`
	StatsErr    string           `json:"stats_err,omitempty"`
	LaneRunning bool             `json:"lane_running"`
	Applied     bool             `json:"applied"` // a configuration waits for a restart
}

func (s *Server) statusView(ctx context.Context) statusView {
	now := s.now()
	v := statusView{Now: now.UnixMilli(), LastAckMS: -1, OldestMS: -1, Broker: s.o.Broker}
	if s.o.Clock != nil {
		v.Clock = s.o.Clock()
	}
	if s.o.Uplink != nil {
		u := s.o.Uplink.State()
		v.Connected, v.Epoch, v.LastError, v.InFlight = u.Connected, u.Epoch, u.LastError, u.InFlight
		if !u.LastAck.IsZero() {
			v.LastAckMS = now.Sub(u.LastAck).Milliseconds()
		}
	}
	if st, err := s.stats.get(ctx); err != nil {
		v.StatsErr = err.Error()
	} else {
		v.Pending, v.Sent, v.Rejected = st.ByState[buffer.Pending], st.ByState[buffer.Sent], st.ByState[buffer.Rejected]
		v.OldestSeq, v.FileBytes = st.OldestUnackedSeq, st.FileBytes
		v.ByKind = map[string]int64{}
		for k, ks := range st.ByKind {
			if n := ks.Pending + ks.Sent; n > 0 {
				v.ByKind[string(k)] = n
			}
		}
		if !st.OldestUnacked.IsZero() {
			v.OldestMS = now.Sub(st.OldestUnacked).Milliseconds()
		}
	}
	if s.o.Lane != nil {
		v.LaneRunning = s.o.Lane.Progress().Running
	}
	s.mu.Lock()
	v.Applied = s.applied
	s.mu.Unlock()
	return v
}

// statsCache shares one outbox Stats query a second among all viewers.
type statsCache struct {
	ob  *buffer.Outbox
	now func() time.Time
	mu  sync.Mutex
	at  time.Time
	st  buffer.Stats
	err error
}

func (c *statsCache) get(ctx context.Context) (buffer.Stats, error) {
	if c.ob == nil {
		return buffer.Stats{}, fmt.Errorf("no outbox")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); now.Sub(c.at) >= time.Second || c.at.IsZero() {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c.st, c.err = c.ob.Stats(qctx)
		cancel()
		c.at = now
	}
	return c.st, c.err
}

// progressView is the lane's test progress as the test runner shows it.
type progressView struct {
	RunID       int64   `json:"run_id"`
	Method      string  `json:"method"`
	Running     bool    `json:"running"`
	Phase       string  `json:"phase"`
	PhaseText   string  `json:"phase_text"` // in the viewer's language
	Prompt      string  `json:"prompt"`     // as the procedure wrote it
	TargetRPM   float64 `json:"target_rpm"`
	Remaining   int     `json:"remaining"`
	Verdict     string  `json:"verdict,omitempty"`
	VerdictText string  `json:"verdict_text,omitempty"`
	AbortReason string  `json:"abort_reason,omitempty"`
	RecordID    string  `json:"record_id,omitempty"`
	Err         string  `json:"err,omitempty"`
}

func progressOf(p lane.Progress, l lang) progressView {
	v := progressView{RunID: p.RunID, Method: p.Method, Running: p.Running, Phase: p.Phase, Prompt: p.Prompt,
		TargetRPM: p.TargetRPM, Remaining: p.Remaining, Verdict: p.Verdict, AbortReason: p.AbortReason,
		RecordID: p.RecordID, Err: p.Err}
	v.PhaseText = phaseText(l, p.Phase, p.TargetRPM, p.Prompt)
	if p.Verdict != "" {
		v.VerdictText = l.T("verdict." + p.Verdict)
	}
	return v
}

// phaseText is the instruction for a phase in the viewer's language; phases this console
// does not know yet show the procedure's own text.
func phaseText(l lang, phase string, target float64, prompt string) string {
	if phase == "" {
		return ""
	}
	if _, ok := catalog["phase."+phase]; !ok {
		return prompt
	}
	txt := l.T("phase." + phase)
	if strings.Contains(txt, "%s") {
		txt = fmt.Sprintf(txt, fmt.Sprintf("%.0f", target))
	}
	return txt
}

// events streams live data as server-sent events:
//
//	device   one device's view, on every new frame (at most 4 a second per device)
//	tick     every second: every device's view (ages move on without frames) and the status
//	lane     the test's progress, on every change
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	l := langOf(nil, r)
	ctx := r.Context()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	send := func(event string, v any) bool {
		b, err := json.Marshal(v)
		if err != nil {
			return false
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		fl.Flush()
		return true
	}

	type devSub struct {
		d    *station.Device
		last time.Time
	}
	subs := make([]*devSub, 0, len(s.o.Devices))
	merged := make(chan int, 16)
	var wg sync.WaitGroup
	defer wg.Wait()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	for i, d := range s.o.Devices {
		ch, cancel := d.Subscribe()
		subs = append(subs, &devSub{d: d})
		// One goroutine per device turns its snapshots into a signal; the latest snapshot
		// is read from the device when the event is sent.
		wg.Go(func() {
			defer cancel()
			for {
				select {
				case <-sctx.Done():
					return
				case <-ch:
					select {
					case merged <- i:
					default:
					}
				}
			}
		})
	}
	var laneCh <-chan lane.Progress
	if s.o.Lane != nil {
		ch, cancel := s.o.Lane.Subscribe()
		defer cancel()
		laneCh = ch
		if !send("lane", progressOf(s.o.Lane.Progress(), l)) {
			return
		}
	}
	tick := func() bool {
		now := s.now()
		devs := make([]deviceView, 0, len(s.o.Devices))
		for _, d := range s.o.Devices {
			devs = append(devs, s.deviceView(d, now))
		}
		return send("tick", map[string]any{"devices": devs, "status": s.statusView(ctx)})
	}
	if !tick() {
		return
	}
	ticker := time.NewTicker(sseTickEvery)
	defer ticker.Stop()
	beat := time.NewTicker(sseHeartbeat)
	defer beat.Stop()
	pending := map[int]bool{}
	flush := time.NewTimer(time.Hour)
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case i := <-merged:
			sub := subs[i]
			if now := s.now(); now.Sub(sub.last) >= sseDeviceEvery {
				sub.last = now
				if !send("device", s.deviceView(sub.d, now)) {
					return
				}
			} else if !pending[i] {
				pending[i] = true
				flush.Reset(sseDeviceEvery)
			}
		case <-flush.C:
			now := s.now()
			for i := range pending {
				subs[i].last = now
				if !send("device", s.deviceView(subs[i].d, now)) {
					return
				}
			}
			clear(pending)
		case p := <-laneCh:
			if !send("lane", progressOf(p, l)) {
				return
			}
		case <-ticker.C:
			if !tick() {
				return
			}
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}
