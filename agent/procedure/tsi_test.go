package procedure

import (
	"context"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/agent/contract"
	"imagent/agent/station"
	"imagent/config"
	"imagent/drivers"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/gas/nanhua/nanhuasim"
	"imagent/drivers/simport"
)

// lane is a simulated lane: an NHA-503 simulator with a car behind it on a real
// pseudo-terminal, the real driver on the slave side, and a station supervisor.
type lane struct {
	car   *nanhuasim.Car
	sim   *nanhuasim.Sim
	dev   *station.Device
	clock *ScaledClock
}

const testSpeed = 20 // procedure seconds per real second

func newLane(t *testing.T, simOpts nanhuasim.Options) *lane {
	t.Helper()
	pty, err := simport.Open()
	if err != nil {
		t.Fatal(err)
	}
	clock := NewScaledClock(testSpeed)
	l := &lane{car: nanhuasim.NewCar(1), clock: clock}
	simOpts.Model = nanhua.NHA503
	simOpts.Vehicle = l.car
	simOpts.Clock = clock.Now
	l.sim = nanhuasim.New(simOpts)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = l.sim.Serve(ctx, pty.Master) })
	open := func(ctx context.Context) (drivers.Device, io.Closer, error) {
		p, err := serial.Open(pty.SlavePath, &serial.Mode{BaudRate: 9600})
		if err != nil {
			return nil, nil, err
		}
		o := nanhua.DefaultOpts
		o.PollInterval = 20 * time.Millisecond
		d, err := nanhua.New(p, o)
		if err != nil {
			p.Close()
			return nil, nil, err
		}
		return d, p, nil
	}
	log := slog.New(slog.DiscardHandler)
	l.dev = station.NewDevice(station.Spec{Name: "analyzer", Role: "analyzer", Protocol: "gas/nanhua",
		Model: "NHA-503", Port: pty.SlavePath, Poll: 10 * time.Millisecond}, open, log)
	wg.Go(func() { _ = l.dev.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		pty.Close()
	})
	return l
}

// driver is a simulated vehicle driver who follows the prompts; misbehave, if set, may
// override what the driver does at a prompt.
func (l *lane) env(t *testing.T, misbehave func(p Prompt) bool) Env {
	var mu sync.Mutex
	return Env{
		Clock: l.clock, Analyzer: l.dev, Params: config.DefaultParams(), Stage: "a",
		Log: slog.New(slog.DiscardHandler),
		Prompt: func(p Prompt) {
			mu.Lock()
			defer mu.Unlock()
			if misbehave != nil && misbehave(p) {
				return
			}
			if p.Probe {
				l.car.SetProbe(true)
			}
			switch {
			case p.TargetRPM > 0:
				l.car.SetTargetRPM(p.TargetRPM)
			case p.Phase != "prepare" && p.Phase != "done":
				l.car.SetTargetRPM(nanhuasim.IdleRPM)
			}
		},
	}
}

var testVehicle = contract.Vehicle{Plate: "TEST01", VIN: "LTEST000000000001", Fuel: "gasoline", GVWkg: 1600, Catalyst: true}

func runTSI(t *testing.T, l *lane, env Env) *contract.TestBody {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	body, err := RunTSI(ctx, env, TSIRequest{InspectionID: "T1", Vehicle: testVehicle})
	if err != nil {
		t.Fatalf("RunTSI: %v", err)
	}
	checkRows(t, body)
	return body
}

// checkRows asserts exactly one process row per second: t_s counts 0, 1, 2… with no gap
// or repeat, and every row has a phase.
func checkRows(t *testing.T, b *contract.TestBody) {
	t.Helper()
	p := b.Process
	if len(p.Rows) != len(p.Phase) {
		t.Fatalf("%d rows but %d phase labels", len(p.Rows), len(p.Phase))
	}
	for i, r := range p.Rows {
		if len(r) != len(p.Columns) || r[0] != float64(i) {
			t.Fatalf("row %d: t_s %v, %d values for %d columns", i, r[0], len(r), len(p.Columns))
		}
		if p.Phase[i] == "" {
			t.Fatalf("row %d has no phase", i)
		}
	}
	if b.Frames != len(p.Rows) || len(b.FramesSHA256) != 64 {
		t.Errorf("frames %d hash %q for %d rows", b.Frames, b.FramesSHA256, len(p.Rows))
	}
}

// recompute derives each phase's means from the stored process rows alone.
func recompute(b *contract.TestBody, phase string) map[string]float64 {
	sums := map[string]float64{}
	n := 0
	for i, row := range b.Process.Rows {
		if b.Process.Phase[i] != phase {
			continue
		}
		n++
		for j, c := range b.Process.Columns {
			sums[c] += row[j]
		}
	}
	for c := range sums {
		sums[c] /= float64(n)
	}
	sums["n"] = float64(n)
	return sums
}

func TestTSIPassAndFailRecomputeFromRows(t *testing.T) {
	for _, dirty := range []bool{false, true} {
		t.Run(map[bool]string{false: "clean", true: "dirty"}[dirty], func(t *testing.T) {
			t.Parallel()
			l := newLane(t, nanhuasim.Options{ZeroTime: 2 * time.Second})
			l.car.SetDirty(dirty)
			b := runTSI(t, l, l.env(t, nil))
			want := contract.VerdictPass
			if dirty {
				want = contract.VerdictFail
			}
			if b.Verdict != want || b.AbortReason != "" {
				t.Fatalf("verdict %s (%s), want %s", b.Verdict, b.AbortReason, want)
			}
			if len(b.Phases) != 2 {
				t.Fatalf("%d phases", len(b.Phases))
			}
			params := config.DefaultParams()
			for _, ph := range b.Phases {
				m := recompute(b, ph.Name)
				measureS, _ := params.Value("tsi", ph.Name+"_measure_s")
				if m["n"] != measureS {
					t.Errorf("%s: %v measured rows, want %v", ph.Name, m["n"], measureS)
				}
				for _, q := range []string{"hc_ppm", "co_pct", "co2_pct", "o2_pct", "lambda", "rpm"} {
					if d := math.Abs(m[q] - ph.Means[q]); d > 0.01*math.Max(1, math.Abs(m[q])) {
						t.Errorf("%s %s: stored mean %v, recomputed from rows %v", ph.Name, q, ph.Means[q], m[q])
					}
				}
				// Re-judge from the recomputed means.
				pass := true
				for _, j := range ph.Judged {
					q := j.Quantity
					if q == "lambda_min" || q == "lambda_max" {
						q = "lambda"
					}
					ok := m[q] <= j.Limit
					if j.Bound == "min" {
						ok = m[q] >= j.Limit
					}
					pass = pass && ok
					if j.Standard == "" || j.Clause == "" {
						t.Errorf("%s %s: limit without standard/clause", ph.Name, j.Quantity)
					}
				}
				if pass != ph.Pass {
					t.Errorf("%s: stored pass=%v, recomputed %v", ph.Name, ph.Pass, pass)
				}
			}
			if b.ClockScale != testSpeed {
				t.Errorf("clock scale %v, want %v (a sped-up run must say so)", b.ClockScale, testSpeed)
			}
		})
	}
}

func TestTSIAborts(t *testing.T) {
	cases := []struct {
		name    string
		sim     nanhuasim.Options
		setup   func(l *lane)
		driver  func(l *lane) func(p Prompt) bool
		reason  string
		atPhase string // the last process row belongs to this phase ("" = no rows)
	}{
		{
			name:   "analyzer stays in warm-up",
			sim:    nanhuasim.Options{Warmup: time.Hour},
			reason: AbortAnalyzerNotReady,
		},
		{
			name: "driver never raises the speed",
			driver: func(l *lane) func(p Prompt) bool {
				return func(p Prompt) bool { return true }
			},
			reason: AbortRPMNotReached, atPhase: "precondition_ramp",
		},
		{
			name: "speed drops during preconditioning",
			driver: func(l *lane) func(p Prompt) bool {
				return func(p Prompt) bool {
					if p.Phase == "precondition" && p.Remaining < 20 {
						l.car.SetTargetRPM(2800)
						return true
					}
					return false
				}
			},
			reason: AbortRPMOutOfWindow, atPhase: "precondition",
		},
		{
			name: "probe pulled out while measuring",
			driver: func(l *lane) func(p Prompt) bool {
				return func(p Prompt) bool {
					if p.Phase == "high_idle" && p.Remaining < 20 {
						l.car.SetProbe(false)
						return true
					}
					return false
				}
			},
			reason: AbortDilution, atPhase: "high_idle",
		},
		{
			name: "probe never inserted",
			setup: func(l *lane) {
				l.car.SetProbe(false)
			},
			driver: func(l *lane) func(p Prompt) bool {
				return func(p Prompt) bool {
					if p.TargetRPM > 0 {
						l.car.SetTargetRPM(p.TargetRPM)
					}
					return true
				}
			},
			reason: AbortProbe, atPhase: "high_idle_ramp",
		},
		{
			name: "analyzer low flow",
			driver: func(l *lane) func(p Prompt) bool {
				return func(p Prompt) bool {
					if p.Phase == "low_idle_hold" {
						l.sim.SetLowFlow(true)
					}
					return false
				}
			},
			reason: AbortLowFlow, atPhase: "low_idle_hold",
		},
		{
			name: "analyzer falls silent",
			driver: func(l *lane) func(p Prompt) bool {
				return func(p Prompt) bool {
					if p.Phase == "high_idle_hold" && p.Remaining < 10 {
						l.sim.SetMode(nanhuasim.Silent)
					}
					return false
				}
			},
			// Silence is noticed within two procedure seconds, or 250 ms of real time
			// (5 s at this test's speed): in the hold or early in the measurement.
			reason: AbortNoData, atPhase: "high_idle_hold|high_idle",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := newLane(t, c.sim)
			if c.setup != nil {
				c.setup(l)
			}
			var mis func(p Prompt) bool
			if c.driver != nil {
				mis = c.driver(l)
			}
			b := runTSI(t, l, l.env(t, mis))
			if b.Verdict != contract.VerdictAbort || b.AbortReason != c.reason {
				t.Fatalf("verdict %s reason %q, want abort %q", b.Verdict, b.AbortReason, c.reason)
			}
			if len(b.Phases) != 0 {
				t.Errorf("an aborted test carries %d judged phases", len(b.Phases))
			}
			last := ""
			if n := len(b.Process.Phase); n > 0 {
				last = b.Process.Phase[n-1]
			}
			if !slices.Contains(strings.Split(c.atPhase, "|"), last) {
				t.Errorf("aborted in phase %q, want %q", last, c.atPhase)
			}
		})
	}
}

func TestTSIOperatorCancel(t *testing.T) {
	l := newLane(t, nanhuasim.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	env := l.env(t, nil)
	inner := env.Prompt
	env.Prompt = func(p Prompt) {
		inner(p)
		if p.Phase == "high_idle_hold" {
			cancel()
		}
	}
	b, err := RunTSI(ctx, env, TSIRequest{Vehicle: testVehicle})
	if err != nil {
		t.Fatal(err)
	}
	if b.Verdict != contract.VerdictAbort || b.AbortReason != AbortOperator {
		t.Fatalf("verdict %s %q, want abort %q", b.Verdict, b.AbortReason, AbortOperator)
	}
}

func TestTSIMissingParameter(t *testing.T) {
	l := newLane(t, nanhuasim.Options{})
	env := l.env(t, nil)
	env.Params = &config.Params{}
	if _, err := RunTSI(context.Background(), env, TSIRequest{Vehicle: testVehicle}); err == nil {
		t.Fatal("a run without method parameters must fail, not guess")
	}
}
