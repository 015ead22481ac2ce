package flb100_test

import (
	"context"
	"errors"
	"io"
	"math"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
	"imagent/drivers/drivertest"
	"imagent/drivers/opacity/flb100"
	"imagent/drivers/opacity/flb100/flb100sim"
)

func fast() flb100.Opts {
	return flb100.Opts{Timeout: time.Second, Quiet: 2 * time.Millisecond, ZeroTimeout: 300 * time.Millisecond}
}

type traceCase struct {
	opts func() flb100.Opts
	run  func(t *testing.T, ctx context.Context, d *flb100.Dev)
}

var traceCases = map[string]traceCase{
	"measure.trace": {fast, func(t *testing.T, ctx context.Context, d *flb100.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.WantValues(t, r, map[drivers.Quantity]float64{drivers.KM1: 1.23, drivers.OpacityPct: 40.8, drivers.RPM: 2480, drivers.OilTempC: 86.5})
		if len(r.Raw) != flb100.MeasureLen || r.Time.IsZero() || r.Status != 0 {
			t.Errorf("raw % x, time %v, status %v", r.Raw, r.Time, r.Status)
		}
		r, err = d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.WantValues(t, r, map[drivers.Quantity]float64{drivers.KM1: -0.02, drivers.OpacityPct: -0.1, drivers.RPM: 0, drivers.OilTempC: 25})
	}},
	"measure_oil_whole.trace": {func() flb100.Opts { o := fast(); o.OilWholeDegrees = true; return o }, func(t *testing.T, ctx context.Context, d *flb100.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.WantValues(t, r, map[drivers.Quantity]float64{drivers.KM1: 1.5, drivers.OpacityPct: 47.9, drivers.RPM: 2300, drivers.OilTempC: 86})
	}},
	"status.trace": {fast, func(t *testing.T, ctx context.Context, d *flb100.Dev) {
		for _, want := range []drivers.Status{drivers.Warmup, 0, drivers.Busy} {
			st, err := d.Status(ctx)
			if err != nil || st != want {
				t.Fatalf("Status = %v, %v; want %v", st.Names(), err, want.Names())
			}
		}
	}},
	"zero.trace": {fast, func(t *testing.T, ctx context.Context, d *flb100.Dev) {
		if err := d.Zero(ctx); err != nil {
			t.Fatal(err)
		}
	}},
	"peaks.trace": {fast, func(t *testing.T, ctx context.Context, d *flb100.Dev) {
		if err := d.StartPeaks(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := d.Peaks(ctx)
		drivertest.WantErr(t, "flb100", err, drivers.ErrBusy)
		p, err := d.Peaks(ctx)
		if err != nil || p == nil || len(p) != 0 {
			t.Fatalf("Peaks with none = %v, %v; want empty", p, err)
		}
		p, err = d.Peaks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []float64{1.15, 1.19, 1.17, 1.21}
		if len(p) != 4 {
			t.Fatalf("Peaks = %v, want %v", p, want)
		}
		for i := range want {
			drivertest.Near(t, "peak", p[i], want[i], 1e-9)
		}
	}},
	"nak.trace": {fast, func(t *testing.T, ctx context.Context, d *flb100.Dev) {
		r, err := d.Read(ctx)
		drivertest.WantErr(t, "flb100", err, drivers.ErrNAK)
		if r.Values != nil || r.Raw != nil {
			t.Errorf("NAK gave a reading %+v", r)
		}
		drivertest.WantErr(t, "flb100", d.Zero(ctx), drivers.ErrNAK)
		if _, err := d.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}},
	"noise.trace": {fast, func(t *testing.T, ctx context.Context, d *flb100.Dev) {
		for i, want := range []error{drivers.ErrFrame, nil, drivers.ErrChecksum, drivers.ErrFrame, nil} {
			r, err := d.Read(ctx)
			if want != nil {
				drivertest.WantErr(t, "flb100", err, want)
				continue
			}
			if err != nil {
				t.Fatalf("read %d: %v", i, err)
			}
			drivertest.Near(t, "k", r.Values[drivers.KM1], 1.23, 0)
		}
	}},
}

// TestTraces replays every testdata/*.trace, whole and one byte per Read.
func TestTraces(t *testing.T) {
	drivertest.ReplayDir(t, "testdata", traceCases, func(t *testing.T, ctx context.Context, p *drivertest.Playback, tc traceCase) {
		d, err := flb100.New(p, tc.opts())
		if err != nil {
			t.Fatal(err)
		}
		tc.run(t, ctx, d)
	})
}

func TestNewOptions(t *testing.T) {
	p := drivertest.NewPlayback(&drivertest.Trace{})
	if _, err := flb100.New(p, flb100.Opts{Timeout: -1}); err == nil {
		t.Error("negative timeout accepted")
	}
	if _, err := flb100.New(nil, flb100.DefaultOpts); err == nil {
		t.Error("nil port accepted")
	}
	d, err := flb100.New(p, flb100.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Command(context.Background(), flb100.CmdMeasure); err == nil {
		t.Error("Command accepted a data command")
	}
	if err := p.Close(); err != nil {
		t.Errorf("New or a refused Command did I/O: %v", err)
	}
}

// mode9600 is the lane software's setting (the instrument offers 1200–19200, 8N1).
var mode9600 = serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}

func TestConformance(t *testing.T) {
	drivertest.Conformance(t, drivertest.Harness{
		Mode: mode9600,
		Serve: func(ctx context.Context, rw io.ReadWriter) error {
			return flb100sim.New(flb100sim.Options{}).Serve(ctx, rw)
		},
		New: func(rw io.ReadWriter) (drivers.Device, error) { return flb100.New(rw, flb100.Opts{}) },
	})
}

func startSim(t *testing.T, sim *flb100sim.Sim, o flb100.Opts) *flb100.Dev {
	return drivertest.StartSim(t, sim.Serve, mode9600, flb100.New, o)
}

func ctxT(t *testing.T) context.Context { return drivertest.Context(t, 20*time.Second) }

// TestSerialNoise: every fault mode gives an error, never a panic or a bogus reading, and
// the same Dev reads correctly once the line is clean again.
func TestSerialNoise(t *testing.T) {
	sim := flb100sim.New(flb100sim.Options{Seed: 7})
	o := fast()
	o.Timeout = 400 * time.Millisecond
	d := startSim(t, sim, o)
	ctx := ctxT(t)
	drivertest.Noise[flb100sim.Mode]{
		Device: d, SetMode: sim.SetMode, Normal: flb100sim.Normal,
		Cases: []drivertest.NoiseCase[flb100sim.Mode]{
			{Mode: flb100sim.Garbage, Want: drivers.ErrFrame},
			{Mode: flb100sim.BadChecksum, Want: drivers.ErrChecksum},
			{Mode: flb100sim.Truncated, Want: drivers.ErrTimeout},
			{Mode: flb100sim.NAKAll, Want: drivers.ErrNAK},
			{Mode: flb100sim.Silent, Want: drivers.ErrTimeout},
			{Mode: flb100sim.Garbage, Want: drivers.ErrFrame},
		},
		Check: func(t *testing.T, mode flb100sim.Mode, r drivers.Reading) {
			drivertest.Near(t, "idle k", r.Values[drivers.KM1], 0.05, 0.011)
			drivertest.Near(t, "idle rpm", r.Values[drivers.RPM], 750, 1)
		},
	}.Run(t, ctx)
	// A request the simulator cannot parse (bad checksum) gets no answer: a timeout.
	sim.SetMode(flb100sim.Busy)
	if _, err := d.Peaks(ctx); !errors.Is(err, drivers.ErrBusy) {
		t.Errorf("busy Peaks: %v", err)
	}
}

// clock is a manual clock for the simulator's engine and warm-up.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestSimFreeAcceleration walks a free-acceleration test against the simulator over a
// pty: warm-up, zero, arm, three accelerations, peaks; k follows the engine.
func TestSimFreeAcceleration(t *testing.T) {
	clk := &clock{t: time.Unix(1700000000, 0)}
	eng := flb100sim.NewEngine(flb100sim.EngineOptions{PeakK: 1.5, Seed: 3})
	sim := flb100sim.New(flb100sim.Options{Engine: eng, Clock: clk.Now, Warmup: time.Minute, ZeroTime: 30 * time.Millisecond})
	d := startSim(t, sim, fast())
	ctx := ctxT(t)

	if st, err := d.Status(ctx); err != nil || st != drivers.Warmup {
		t.Fatalf("Status at power-up = %v, %v", st.Names(), err)
	}
	drivertest.WantErr(t, "flb100", d.Zero(ctx), drivers.ErrNAK) // no zero while warming up
	clk.Add(time.Minute)
	if st, err := d.Status(ctx); err != nil || st != 0 {
		t.Fatalf("Status after warm-up = %v, %v", st.Names(), err)
	}
	if err := d.Zero(ctx); err != nil || sim.Zeros() != 1 {
		t.Fatalf("Zero = %v (zeros %d)", err, sim.Zeros())
	}
	if p, err := d.Peaks(ctx); err != nil || len(p) != 0 {
		t.Fatalf("Peaks before arming = %v, %v", p, err)
	}
	if err := d.StartPeaks(ctx); err != nil || !sim.Armed() {
		t.Fatalf("StartPeaks = %v, armed %v", err, sim.Armed())
	}
	var want []float64
	for i := range 3 {
		peak, ok := eng.Accelerate(clk.Now())
		if !ok {
			t.Fatalf("acceleration %d refused", i)
		}
		want = append(want, peak)
		clk.Add(flb100sim.PeakTime)
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.Near(t, "k at the peak", r.Values[drivers.KM1], peak, 0.006)
		drivertest.Near(t, "rpm at cut-off", r.Values[drivers.RPM], 2600, 1)
		drivertest.Near(t, "N (0.43 m) at the peak", r.Values[drivers.OpacityPct], flb100.NFromK(peak, flb100.StandardPath), 0.06)
		if st, err := d.Status(ctx); err != nil || st != drivers.Busy {
			t.Errorf("Status during acceleration = %v, %v", st.Names(), err)
		}
		if _, err := d.Peaks(ctx); !errors.Is(err, drivers.ErrBusy) {
			t.Errorf("Peaks during acceleration: %v", err)
		}
		clk.Add(flb100sim.SettleTime)
	}
	p, err := d.Peaks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 3 {
		t.Fatalf("Peaks = %v, want %v", p, want)
	}
	for i := range want {
		drivertest.Near(t, "peak", p[i], want[i], 1e-9)
	}
	s, err := d.State(ctx)
	if err != nil || s.S1&flb100.S1AccelOK == 0 || s.S1&flb100.S1Armed == 0 {
		t.Errorf("State after three accelerations = %+v, %v", s, err)
	}
	r, err := d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.Near(t, "k back at idle", r.Values[drivers.KM1], 0.05, 0.011)
	drivertest.Near(t, "oil", r.Values[drivers.OilTempC], 85, 0.01)
	if err := d.Command(ctx, flb100.CmdDirectMode); err != nil || sim.Armed() {
		t.Errorf("direct mode = %v, armed %v", err, sim.Armed())
	}
	if st, err := d.Steady(ctx); err != nil || math.Abs(st.RPM-750) > 1 {
		t.Errorf("Steady = %+v, %v", st, err)
	}
}

func TestZeroNoReply(t *testing.T) {
	sim := flb100sim.New(flb100sim.Options{ZeroTime: 4 * time.Second}) // longer than 3 s: no reply
	d := startSim(t, sim, fast())
	drivertest.WantErr(t, "flb100", d.Zero(ctxT(t)), drivers.ErrTimeout)
}
