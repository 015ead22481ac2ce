package nht_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
	"imagent/drivers/drivertest"
	"imagent/drivers/opacity/flb100"
	"imagent/drivers/opacity/flb100/flb100sim"
	"imagent/drivers/opacity/nht"
	"imagent/drivers/opacity/nht/nhtsim"
)

func fast(m nht.Model) nht.Opts {
	return nht.Opts{Model: m, Timeout: time.Second, Quiet: 2 * time.Millisecond}
}

func checkStatus(t *testing.T, ctx context.Context, d *nht.Dev, want ...drivers.Status) {
	t.Helper()
	for _, w := range want {
		st, err := d.Status(ctx)
		if err != nil || st != w {
			t.Fatalf("Status = %v, %v; want %v", st.Names(), err, w.Names())
		}
	}
}

type traceCase struct {
	opts func() nht.Opts
	run  func(t *testing.T, ctx context.Context, d *nht.Dev)
}

var traceCases = map[string]traceCase{
	"realtime_nht6.trace": {func() nht.Opts { return fast(nht.NHT6) }, func(t *testing.T, ctx context.Context, d *nht.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.WantValues(t, r, map[drivers.Quantity]float64{drivers.OpacityPct: 40.8, drivers.KM1: 1.23, drivers.RPM: 2480, drivers.OilTempC: 86})
		if len(r.Raw) != nht.RealtimeLen || r.Time.IsZero() {
			t.Errorf("raw % x time %v", r.Raw, r.Time)
		}
		r, err = d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.WantValues(t, r, map[drivers.Quantity]float64{drivers.OpacityPct: 1.2, drivers.KM1: 0.03, drivers.RPM: 760})
	}},
	"realtime_celsius.trace": {func() nht.Opts { o := fast(nht.NHT1); o.OilCelsius = true; return o }, func(t *testing.T, ctx context.Context, d *nht.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.WantValues(t, r, map[drivers.Quantity]float64{drivers.OpacityPct: 30, drivers.KM1: 0.84, drivers.RPM: 800, drivers.OilTempC: 88})
	}},
	"status_nht6.trace": {func() nht.Opts { return fast(nht.NHT6) }, func(t *testing.T, ctx context.Context, d *nht.Dev) {
		checkStatus(t, ctx, d, drivers.Warmup, 0, drivers.Busy)
	}},
	"status_nht1l.trace": {func() nht.Opts { return fast(nht.NHT1L) }, func(t *testing.T, ctx context.Context, d *nht.Dev) {
		checkStatus(t, ctx, d, drivers.Warmup)
		if c, err := d.StatusCode(ctx); err != nil || c != nht.StatusRealtime2 {
			t.Fatalf("StatusCode = %#02x, %v", c, err)
		}
	}},
	"zero.trace": {func() nht.Opts { return fast(nht.NHT6) }, func(t *testing.T, ctx context.Context, d *nht.Dev) {
		if err := d.Zero(ctx); err != nil {
			t.Fatal(err)
		}
		if err := d.StopWarmup(ctx); err != nil {
			t.Fatal(err)
		}
	}},
	"peaks_nht6.trace": {func() nht.Opts { return fast(nht.NHT6) }, func(t *testing.T, ctx context.Context, d *nht.Dev) {
		if err := d.StartPeaks(ctx); err != nil {
			t.Fatal(err)
		}
		for _, want := range [][]float64{{1.21, 1.17}, {1.21, 1.17, 1.25}} {
			p, err := d.Peaks(ctx)
			if err != nil || len(p) != len(want) {
				t.Fatalf("Peaks = %v, %v; want %v", p, err, want)
			}
			for i := range want {
				drivertest.Near(t, "peak", p[i], want[i], 1e-9)
			}
		}
	}},
	"peaks_nht1.trace": {func() nht.Opts { return fast(nht.NHT1) }, func(t *testing.T, ctx context.Context, d *nht.Dev) {
		if err := d.StartPeaks(ctx); err != nil {
			t.Fatal(err)
		}
		if p, err := d.Peaks(ctx); err != nil || p == nil || len(p) != 0 {
			t.Fatalf("Peaks with nothing held = %v, %v", p, err)
		}
		p, err := d.Peaks(ctx)
		if err != nil || len(p) != 1 {
			t.Fatalf("Peaks = %v, %v", p, err)
		}
		drivertest.Near(t, "max k", p[0], 1.35, 1e-9)
	}},
	"nak.trace": {func() nht.Opts { return fast(nht.NHT6) }, func(t *testing.T, ctx context.Context, d *nht.Dev) {
		r, err := d.Read(ctx)
		drivertest.WantErr(t, "nht", err, drivers.ErrNAK)
		if r.Values != nil {
			t.Errorf("NAK gave values %v", r.Values)
		}
		if _, err := d.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}},
	"noise.trace": {func() nht.Opts { return fast(nht.NHT6) }, func(t *testing.T, ctx context.Context, d *nht.Dev) {
		for i, want := range []error{drivers.ErrFrame, nil, drivers.ErrChecksum, nil} {
			r, err := d.Read(ctx)
			if want != nil {
				drivertest.WantErr(t, "nht", err, want)
				continue
			}
			if err != nil {
				t.Fatalf("read %d: %v", i, err)
			}
			drivertest.Near(t, "k", r.Values[drivers.KM1], 1.23, 0)
		}
	}},
}

func TestTraces(t *testing.T) {
	drivertest.ReplayDir(t, "testdata", traceCases, func(t *testing.T, ctx context.Context, p *drivertest.Playback, tc traceCase) {
		d, err := nht.New(p, tc.opts())
		if err != nil {
			t.Fatal(err)
		}
		tc.run(t, ctx, d)
	})
}

func TestNewOptions(t *testing.T) {
	p := drivertest.NewPlayback(&drivertest.Trace{})
	for _, o := range []nht.Opts{{}, {Model: "NHT-9"}, {Model: nht.NHT6, Quiet: -1}} {
		if _, err := nht.New(p, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := nht.New(nil, nht.DefaultOpts); err == nil {
		t.Error("nil port accepted")
	}
	d, err := nht.New(p, nht.Opts{Model: nht.NHT1L})
	if err != nil || d.Model() != nht.NHT1L {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.SetStatus(ctx, 1); err == nil {
		t.Error("NHT-1L accepted A0")
	}
	if _, err := d.Results(ctx); err == nil {
		t.Error("NHT-1L accepted B1")
	}
	if err := p.Close(); err != nil {
		t.Errorf("I/O where none was due: %v", err)
	}
	for in, want := range map[string]nht.Model{"nht6": nht.NHT6, "NHT-1": nht.NHT1, " nht-1l ": nht.NHT1L} {
		if m, err := nht.ParseModel(in); err != nil || m != want {
			t.Errorf("ParseModel(%q) = %v, %v", in, m, err)
		}
	}
	if _, err := nht.ParseModel("NHA-503"); err == nil {
		t.Error("ParseModel accepted an analyzer")
	}
	if c, err := nht.StatusCommand(nht.NHT1L); err != nil || c != nht.CmdStatus1L {
		t.Errorf("StatusCommand = %#02x, %v", c, err)
	}
}

var mode9600 = serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}

func TestConformance(t *testing.T) {
	for _, m := range []nht.Model{nht.NHT6, nht.NHT1L} {
		t.Run(string(m), func(t *testing.T) {
			drivertest.Conformance(t, drivertest.Harness{
				Mode: mode9600,
				Serve: func(ctx context.Context, rw io.ReadWriter) error {
					return nhtsim.New(nhtsim.Options{Model: m}).Serve(ctx, rw)
				},
				New: func(rw io.ReadWriter) (drivers.Device, error) { return nht.New(rw, nht.Opts{Model: m}) },
			})
		})
	}
}

func startSim(t *testing.T, sim *nhtsim.Sim, o nht.Opts) *nht.Dev {
	return drivertest.StartSim(t, sim.Serve, mode9600, nht.New, o)
}

func ctxT(t *testing.T) context.Context { return drivertest.Context(t, 20*time.Second) }

func TestSerialNoise(t *testing.T) {
	sim := nhtsim.New(nhtsim.Options{Seed: 5})
	o := fast(nht.NHT6)
	o.Timeout = 400 * time.Millisecond
	d := startSim(t, sim, o)
	ctx := ctxT(t)
	drivertest.Noise[nhtsim.Mode]{
		Device: d, SetMode: sim.SetMode, Normal: nhtsim.Normal,
		Cases: []drivertest.NoiseCase[nhtsim.Mode]{
			{Mode: nhtsim.Garbage, Want: drivers.ErrFrame},
			{Mode: nhtsim.BadChecksum, Want: drivers.ErrChecksum},
			{Mode: nhtsim.Truncated, Want: drivers.ErrTimeout},
			{Mode: nhtsim.NAKAll, Want: drivers.ErrNAK},
			{Mode: nhtsim.Silent, Want: drivers.ErrTimeout},
		},
		Check: func(t *testing.T, mode nhtsim.Mode, r drivers.Reading) {
			drivertest.Near(t, "idle k", r.Values[drivers.KM1], 0.05, 0.011)
			drivertest.Near(t, "oil", r.Values[drivers.OilTempC], 85, 1)
		},
	}.Run(t, ctx)
}

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

// TestSimNHT6Test: warm-up, abort warm-up, calibration, a three-acceleration test with
// B1 peaks, the max-hold and the alarm word, over a pty.
func TestSimNHT6Test(t *testing.T) {
	clk := &clock{t: time.Unix(1700000000, 0)}
	eng := flb100sim.NewEngine(flb100sim.EngineOptions{PeakK: 0.9, Seed: 9})
	sim := nhtsim.New(nhtsim.Options{Engine: eng, Clock: clk.Now, Warmup: time.Hour})
	d := startSim(t, sim, fast(nht.NHT6))
	ctx := ctxT(t)
	checkStatus(t, ctx, d, drivers.Warmup)
	drivertest.WantErr(t, "nht", d.Zero(ctx), drivers.ErrNAK)
	if err := d.StopWarmup(ctx); err != nil {
		t.Fatal(err)
	}
	checkStatus(t, ctx, d, 0)
	if err := d.Zero(ctx); err != nil || sim.Zeros() != 1 {
		t.Fatalf("Zero = %v, zeros %d", err, sim.Zeros())
	}
	if err := d.StartPeaks(ctx); err != nil || sim.Method() != nht.StatusAccel {
		t.Fatalf("StartPeaks = %v, method %#02x", err, sim.Method())
	}
	var want []float64
	for range 3 {
		peak, _ := eng.Accelerate(clk.Now())
		want = append(want, peak)
		clk.Add(flb100sim.PeakTime)
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.Near(t, "k at the peak", r.Values[drivers.KM1], peak, 0.006)
		drivertest.Near(t, "N at the peak", r.Values[drivers.OpacityPct], flb100.NFromK(peak, flb100.StandardPath), 0.06)
		clk.Add(flb100sim.SettleTime)
	}
	p, err := d.Peaks(ctx)
	if err != nil || len(p) != 3 {
		t.Fatalf("Peaks = %v, %v; want %v", p, err, want)
	}
	for i := range want {
		drivertest.Near(t, "peak", p[i], want[i], 1e-9)
	}
	res, err := d.Results(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.Near(t, "Kavg", res.KAvg, (want[0]+want[1]+want[2])/3, 0.006)
	drivertest.Near(t, "low-idle rpm", res.LowRPM, 750, 0)
	m, err := d.Max(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.Near(t, "max k", m.K, max(want[0], want[1], want[2]), 1e-9)
	drivertest.Near(t, "max rpm", m.RPM, 2600, 0)
	if err := d.ClearMax(ctx); err != nil {
		t.Fatal(err)
	}
	if m, err := d.Max(ctx); err != nil || m.K > 0.06 {
		t.Errorf("max after clear = %+v, %v", m, err)
	}
	sim.SetAlarm(0x0104)
	if a, err := d.Alarm(ctx); err != nil || a != 0x0104 {
		t.Errorf("Alarm = %#04x, %v", a, err)
	}
}

// TestSimMaxHold: on the NHT-1L the peak is the max-hold, re-armed per acceleration; no
// oil probe leaves the oil temperature out of the reading.
func TestSimMaxHold(t *testing.T) {
	clk := &clock{t: time.Unix(1700000000, 0)}
	eng := flb100sim.NewEngine(flb100sim.EngineOptions{PeakK: 2.0, Seed: 1})
	sim := nhtsim.New(nhtsim.Options{Model: nht.NHT1L, Engine: eng, Clock: clk.Now, NoOilProbe: true})
	d := startSim(t, sim, fast(nht.NHT1L))
	ctx := ctxT(t)
	if c, err := d.StatusCode(ctx); err != nil || c != nht.StatusRealtime2 {
		t.Fatalf("StatusCode = %#02x, %v", c, err)
	}
	if err := d.SetStatus(ctx, 1); err == nil {
		t.Error("SetStatus on an NHT-1L")
	}
	for range 2 {
		clk.Add(time.Minute)
		if err := d.StartPeaks(ctx); err != nil {
			t.Fatal(err)
		}
		if p, err := d.Peaks(ctx); err != nil || len(p) != 1 || p[0] > 0.06 {
			t.Fatalf("Peaks before the acceleration = %v, %v", p, err)
		}
		peak, _ := eng.Accelerate(clk.Now())
		clk.Add(flb100sim.SettleTime)
		p, err := d.Peaks(ctx)
		if err != nil || len(p) != 1 {
			t.Fatalf("Peaks = %v, %v", p, err)
		}
		drivertest.Near(t, "max-hold peak", p[0], peak, 1e-9)
	}
	r, err := d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Values[drivers.OilTempC]; ok {
		t.Errorf("oil temperature without a probe: %v", r.Values)
	}
}
