package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"imagent/agent/contract"
	"imagent/buffer"
)

// Clock is the wall clock as the agent sees it: the time, and whether it is synchronised
// (contract.ClockUnsynced, ClockNTP or ClockPlatform).
type Clock interface {
	Now() time.Time
	Quality() string
}

// KernelClock is the system clock, its quality from adjtimex.
type KernelClock struct{}

// Now is time.Now.
func (KernelClock) Now() time.Time { return time.Now() }

// Quality asks the kernel (ClockQuality).
func (KernelClock) Quality() string { return ClockQuality() }

// FileClock is a wall clock for fault-injection tests: the system clock shifted by an
// offset, with a quality, both read from a file a test rewrites while the agent runs. The
// host clock cannot be stepped safely on a shared machine; this steps the agent's view of it.
// The file holds one line, "OFFSET QUALITY", e.g. "-2h30m unsynced" or "0s ntp" (a Go
// duration and a contract clock quality). It is read again at most every 100 ms; a missing or
// unreadable file keeps the last good value (initially "0s ntp").
type FileClock struct {
	Path string

	mu      sync.Mutex
	read    time.Time // monotonic: when the file was last read
	offset  time.Duration
	quality string
}

func (c *FileClock) load() (time.Duration, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.quality == "" {
		c.quality = contract.ClockNTP
	}
	if !c.read.IsZero() && time.Since(c.read) < 100*time.Millisecond {
		return c.offset, c.quality
	}
	c.read = time.Now()
	if off, q, err := ParseClockFile(c.Path); err == nil {
		c.offset, c.quality = off, q
	}
	return c.offset, c.quality
}

// ParseClockFile reads a FileClock file.
func ParseClockFile(path string) (time.Duration, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, "", fmt.Errorf("record: clock file: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, "", fmt.Errorf("record: clock file %s: want \"OFFSET QUALITY\", got %q", path, strings.TrimSpace(string(b)))
	}
	off, err := time.ParseDuration(f[0])
	if err != nil {
		return 0, "", fmt.Errorf("record: clock file %s: %w", path, err)
	}
	switch f[1] {
	case contract.ClockUnsynced, contract.ClockNTP, contract.ClockPlatform:
	default:
		return 0, "", fmt.Errorf("record: clock file %s: unknown quality %q", path, f[1])
	}
	return off, f[1], nil
}

// Now is the system clock plus the offset (without a monotonic reading: it behaves like a
// stepped wall clock).
func (c *FileClock) Now() time.Time {
	off, _ := c.load()
	return time.Now().Add(off).Round(0)
}

// Quality is the quality named in the file.
func (c *FileClock) Quality() string {
	_, q := c.load()
	return q
}

// Step is a wall-clock step: between two looks the wall clock moved Delta more (or less)
// than the monotonic clock did.
type Step struct {
	Delta                 time.Duration // wall change minus monotonic change (negative: set back)
	WallBefore, WallAfter time.Time
	MonoMS                int64
}

// Sync is the moment the clock became synchronised.
type Sync struct {
	Wall       time.Time // the synchronised wall clock
	WallBefore time.Time // what the unsynchronised clock read one look earlier
	MonoMS     int64
	Quality    string
}

// Watcher looks at the wall clock against the monotonic clock every Every and reports
// steps and the moment the clock becomes synchronised.
type Watcher struct {
	Clock     Clock
	Every     time.Duration // default 1 s
	Threshold time.Duration // default 2 s: smaller disagreements are drift or scheduling
	OnStep    func(context.Context, Step)
	OnSync    func(context.Context, Sync)

	mu   sync.Mutex
	st   WatchState
	mono func() int64 // nil: MonoMS
}

// WatchState is what the watcher has seen.
type WatchState struct {
	Quality  string
	Steps    int64
	LastStep Step
	Synced   time.Time // wall time of the last unsynced → synced change (zero if none)
}

// State returns what the watcher has seen so far.
func (w *Watcher) State() WatchState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st
}

// Run watches until ctx is done.
func (w *Watcher) Run(ctx context.Context) error {
	if w.Clock == nil {
		return errors.New("record: watcher without a clock")
	}
	every, thr := w.Every, w.Threshold
	if every <= 0 {
		every = time.Second
	}
	if thr <= 0 {
		thr = 2 * time.Second
	}
	mono := w.mono
	if mono == nil {
		mono = MonoMS
	}
	prevWall, prevMono, prevQ := w.Clock.Now().UnixMilli(), mono(), w.Clock.Quality()
	w.mu.Lock()
	w.st.Quality = prevQ
	w.mu.Unlock()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		wall, m, q := w.Clock.Now().UnixMilli(), mono(), w.Clock.Quality()
		delta := time.Duration((wall-prevWall)-(m-prevMono)) * time.Millisecond
		if delta > thr || delta < -thr {
			s := Step{Delta: delta, WallBefore: time.UnixMilli(prevWall).UTC(), WallAfter: time.UnixMilli(wall).UTC(), MonoMS: m}
			w.mu.Lock()
			w.st.Steps++
			w.st.LastStep = s
			w.mu.Unlock()
			if w.OnStep != nil {
				w.OnStep(ctx, s)
			}
		}
		if prevQ == contract.ClockUnsynced && q != contract.ClockUnsynced {
			s := Sync{Wall: time.UnixMilli(wall).UTC(), WallBefore: time.UnixMilli(prevWall + (m - prevMono)).UTC(), MonoMS: m, Quality: q}
			w.mu.Lock()
			w.st.Synced = s.Wall
			w.mu.Unlock()
			if w.OnSync != nil {
				w.OnSync(ctx, s)
			}
		}
		w.mu.Lock()
		w.st.Quality = q
		w.mu.Unlock()
		prevWall, prevMono, prevQ = wall, m, q
	}
}

// MaxReseal bounds how many records a clock correction may rewrite; beyond it the records
// keep their unsynchronised time and the platform corrects them from the clock_sync event.
const MaxReseal = 5000

// Correct is the fix function for buffer.Outbox.Reseal when the clock has synchronised:
// every record of boot bootID made while the clock was unsynced gets time.wall_corrected
// (sync.Wall − (sync.MonoMS − its mono_ms)) and time.corrected_by = eventID; a record whose
// predecessor was rewritten gets the new prev_hash. Other records are left byte for byte.
func Correct(bootID string, s Sync, eventID string) func(buffer.Msg, []byte) ([]byte, error) {
	return func(m buffer.Msg, newPrev []byte) ([]byte, error) {
		var e contract.Envelope
		if err := json.Unmarshal(m.Payload, &e); err != nil {
			return nil, fmt.Errorf("record: correct seq %d: %w", m.Seq, err)
		}
		changed := false
		if bootID != "" && e.Agent.BootID == bootID && e.Time.Clock == contract.ClockUnsynced &&
			e.Time.WallCorrected.IsZero() && e.Time.MonoMS <= s.MonoMS {
			e.Time.WallCorrected = s.Wall.Add(-time.Duration(s.MonoMS-e.Time.MonoMS) * time.Millisecond).UTC()
			e.Time.CorrectedBy = eventID
			changed = true
		}
		if newPrev != nil {
			if _, err := e.Seal(e.Seq, newPrev); err != nil {
				return nil, fmt.Errorf("record: correct seq %d: %w", m.Seq, err)
			}
			changed = true
		}
		if !changed {
			return m.Payload, nil
		}
		raw, err := json.Marshal(&e)
		if err != nil {
			return nil, fmt.Errorf("record: correct seq %d: %w", m.Seq, err)
		}
		return raw, nil
	}
}
