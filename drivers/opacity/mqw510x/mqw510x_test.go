package mqw510x_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
	"imagent/drivers/drivertest"
	"imagent/drivers/opacity/flb100"
	"imagent/drivers/opacity/flb100/flb100sim"
	"imagent/drivers/opacity/mqw510x"
	"imagent/drivers/opacity/mqw510x/mqw510xsim"
)

func fast(m mqw510x.Model) mqw510x.Opts {
	return mqw510x.Opts{Model: m, Timeout: time.Second, Quiet: 2 * time.Millisecond, PollInterval: time.Millisecond}
}

var good5101 = map[drivers.Quantity]float64{drivers.NOxppm: 856, drivers.TempC: 23.5, drivers.RHpct: 61.2, drivers.PressureKPa: 100.85,
	drivers.OilTempC: 86.4, drivers.RPM: 1850, drivers.OpacityPct: 45.3, drivers.KM1: 1.41}

type traceCase struct {
	opts func() mqw510x.Opts
	run  func(t *testing.T, ctx context.Context, d *mqw510x.Dev)
}

var traceCases = map[string]traceCase{
	"data_status_5101.trace": {func() mqw510x.Opts { return fast(mqw510x.MQW5101) }, func(t *testing.T, ctx context.Context, d *mqw510x.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.WantValues(t, r, good5101)
		if r.Status != 0 || len(r.Raw) != mqw510x.DataStatus5101Len {
			t.Errorf("status %v raw % x", r.Status.Names(), r.Raw)
		}
		r, err = d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.Near(t, "cold T", r.Values[drivers.TempC], -5.2, 1e-9)
		drivertest.Near(t, "P", r.Values[drivers.PressureKPa], 99.3, 1e-9)
		if r.Status != drivers.Warmup|drivers.LowFlow {
			t.Errorf("status %v", r.Status.Names())
		}
	}},
	"realtime_5101.trace": {func() mqw510x.Opts { return fast(mqw510x.MQW5101) }, func(t *testing.T, ctx context.Context, d *mqw510x.Dev) {
		x, err := d.Realtime5101(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if x.NOx != 856 || x.K != 1.41 || x.Ns != 45.3 || x.N != 28 || x.PipeP != 1.2 || x.GasTemp1 != 95 || x.GasTemp2 != 96 {
			t.Errorf("Realtime5101 = %+v", x)
		}
	}},
	"realtime_5102.trace": {func() mqw510x.Opts { return fast(mqw510x.MQW5102) }, func(t *testing.T, ctx context.Context, d *mqw510x.Dev) {
		for range 2 {
			r, err := d.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			drivertest.WantValues(t, r, map[drivers.Quantity]float64{drivers.NOxppm: 1020, drivers.CO2pct: 7.85, drivers.KM1: 1,
				drivers.OpacityPct: 34.95, drivers.RPM: 2100, drivers.OilTempC: 88.2})
		}
	}},
	"zero_5102.trace": {func() mqw510x.Opts { return fast(mqw510x.MQW5102) }, func(t *testing.T, ctx context.Context, d *mqw510x.Dev) {
		if err := d.Zero(ctx); err != nil {
			t.Fatal(err)
		}
	}},
	"pump_leak_5101.trace": {func() mqw510x.Opts { return fast(mqw510x.MQW5101) }, func(t *testing.T, ctx context.Context, d *mqw510x.Dev) {
		if err := d.SetPump(ctx, true); err != nil {
			t.Fatal(err)
		}
		if tight, err := d.LeakCheck(ctx); err != nil || !tight {
			t.Fatalf("LeakCheck = %v, %v", tight, err)
		}
		if err := d.SetPump(ctx, false); err != nil {
			t.Fatal(err)
		}
		if err := d.Zero(ctx); err != nil {
			t.Fatal(err)
		}
	}},
	"peaks_5102.trace": {func() mqw510x.Opts { return fast(mqw510x.MQW5102) }, func(t *testing.T, ctx context.Context, d *mqw510x.Dev) {
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
	"nak.trace": {func() mqw510x.Opts { return fast(mqw510x.MQW5101) }, func(t *testing.T, ctx context.Context, d *mqw510x.Dev) {
		_, err := d.Read(ctx)
		drivertest.WantErr(t, "mqw510x", err, drivers.ErrNAK)
		if _, err := d.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}},
	"noise.trace": {func() mqw510x.Opts { return fast(mqw510x.MQW5101) }, func(t *testing.T, ctx context.Context, d *mqw510x.Dev) {
		for i, want := range []error{drivers.ErrFrame, nil, drivers.ErrChecksum, nil} {
			r, err := d.Read(ctx)
			if want != nil {
				drivertest.WantErr(t, "mqw510x", err, want)
				continue
			}
			if err != nil {
				t.Fatalf("read %d: %v", i, err)
			}
			drivertest.WantValues(t, r, good5101)
		}
	}},
}

func TestTraces(t *testing.T) {
	drivertest.ReplayDir(t, "testdata", traceCases, func(t *testing.T, ctx context.Context, p *drivertest.Playback, tc traceCase) {
		d, err := mqw510x.New(p, tc.opts())
		if err != nil {
			t.Fatal(err)
		}
		tc.run(t, ctx, d)
	})
}

func TestNewOptions(t *testing.T) {
	p := drivertest.NewPlayback(&drivertest.Trace{})
	for _, o := range []mqw510x.Opts{{}, {Model: "MQW-50A"}, {Model: mqw510x.MQW5101, OpTimeout: -1}} {
		if _, err := mqw510x.New(p, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := mqw510x.New(nil, mqw510x.DefaultOpts); err == nil {
		t.Error("nil port accepted")
	}
	ctx := context.Background()
	d1, _ := mqw510x.New(p, mqw510x.DefaultOpts)
	d2, _ := mqw510x.New(p, mqw510x.Opts{Model: mqw510x.MQW5102})
	if d1.Model() != mqw510x.MQW5101 || d2.Model() != mqw510x.MQW5102 {
		t.Fatal("Model")
	}
	for name, err := range map[string]error{
		"5101 StartPeaks": d1.StartPeaks(ctx),
		"5102 SetPump":    d2.SetPump(ctx, true),
		"5102 Status":     func() error { _, err := d2.Status(ctx); return err }(),
		"5102 LeakCheck":  func() error { _, err := d2.LeakCheck(ctx); return err }(),
		"5101 Peaks":      func() error { _, err := d1.Peaks(ctx); return err }(),
		"5102 Realtime":   func() error { _, err := d2.Realtime5101(ctx); return err }(),
	} {
		if !errors.Is(err, mqw510x.ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", name, err)
		}
	}
	if err := p.Close(); err != nil {
		t.Errorf("I/O where none was due: %v", err)
	}
	for in, want := range map[string]mqw510x.Model{"mqw5101": mqw510x.MQW5101, "MQW-5102": mqw510x.MQW5102} {
		if m, err := mqw510x.ParseModel(in); err != nil || m != want {
			t.Errorf("ParseModel(%q) = %v, %v", in, m, err)
		}
	}
	if _, err := mqw510x.ParseModel("MQY-200"); err == nil {
		t.Error("ParseModel accepted MQY-200")
	}
}

var mode9600 = serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}

func TestConformance(t *testing.T) {
	for _, m := range []mqw510x.Model{mqw510x.MQW5101, mqw510x.MQW5102} {
		t.Run(string(m), func(t *testing.T) {
			drivertest.Conformance(t, drivertest.Harness{
				Mode: mode9600,
				Serve: func(ctx context.Context, rw io.ReadWriter) error {
					return mqw510xsim.New(mqw510xsim.Options{Model: m}).Serve(ctx, rw)
				},
				New: func(rw io.ReadWriter) (drivers.Device, error) { return mqw510x.New(rw, mqw510x.Opts{Model: m}) },
			})
		})
	}
}

func startSim(t *testing.T, sim *mqw510xsim.Sim, o mqw510x.Opts) *mqw510x.Dev {
	return drivertest.StartSim(t, sim.Serve, mode9600, mqw510x.New, o)
}

func ctxT(t *testing.T) context.Context { return drivertest.Context(t, 20*time.Second) }

func TestSerialNoise(t *testing.T) {
	for _, m := range []mqw510x.Model{mqw510x.MQW5101, mqw510x.MQW5102} {
		t.Run(string(m), func(t *testing.T) {
			sim := mqw510xsim.New(mqw510xsim.Options{Model: m, Seed: 11})
			o := fast(m)
			o.Timeout = 400 * time.Millisecond
			d := startSim(t, sim, o)
			ctx := ctxT(t)
			drivertest.Noise[mqw510xsim.Mode]{
				Device: d, SetMode: sim.SetMode, Normal: mqw510xsim.Normal,
				Cases: []drivertest.NoiseCase[mqw510xsim.Mode]{
					{Mode: mqw510xsim.Garbage, Want: drivers.ErrFrame},
					{Mode: mqw510xsim.BadChecksum, Want: drivers.ErrChecksum},
					{Mode: mqw510xsim.Truncated, Want: drivers.ErrTimeout},
					{Mode: mqw510xsim.NAKAll, Want: drivers.ErrNAK},
					{Mode: mqw510xsim.Silent, Want: drivers.ErrTimeout},
				},
				Check: func(t *testing.T, mode mqw510xsim.Mode, r drivers.Reading) {
					drivertest.Near(t, "idle k", r.Values[drivers.KM1], 0.05, 0.011)
					drivertest.Near(t, "idle rpm", r.Values[drivers.RPM], 750, 1)
				},
			}.Run(t, ctx)
		})
	}
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

// TestSim5101Session: warm-up, skip, zero, pump, leak check (passes, then fails), low flow,
// NOx that rises with engine speed, calibration, over a pty.
func TestSim5101Session(t *testing.T) {
	clk := &clock{t: time.Unix(1700000000, 0)}
	eng := flb100sim.NewEngine(flb100sim.EngineOptions{Seed: 2})
	sim := mqw510xsim.New(mqw510xsim.Options{Engine: eng, Clock: clk.Now, Warmup: time.Hour, ZeroTime: time.Second,
		LeakTime: 3 * time.Second, Ambient: mqw510xsim.Ambient{TempC: 31.5, RHpct: 72.3, PressureKPa: 99.8}})
	d := startSim(t, sim, fast(mqw510x.MQW5101))
	ctx := ctxT(t)
	r, err := d.Read(ctx)
	if err != nil || r.Status != drivers.Warmup {
		t.Fatalf("Read at power-up: %v, %v", r.Status.Names(), err)
	}
	drivertest.WantErr(t, "mqw510x", d.Zero(ctx), drivers.ErrNAK)
	if err := d.Command(ctx, mqw510x.CmdSkipWarmup); err != nil {
		t.Fatal(err)
	}
	if err := d.Zero(ctx); err != nil || sim.Zeros(mqw510x.CmdZero) != 1 {
		t.Fatalf("Zero = %v, zeros %d", err, sim.Zeros(mqw510x.CmdZero))
	}
	if st, err := d.Status(ctx); err != nil || st != drivers.Zeroing {
		t.Errorf("Status while zeroing = %v, %v", st.Names(), err)
	}
	clk.Add(time.Second)
	if err := d.SetPump(ctx, true); err != nil || !sim.PumpOn() {
		t.Fatalf("SetPump = %v, on %v", err, sim.PumpOn())
	}
	// The leak test runs 3 s of simulated time; advance the clock while LeakCheck polls.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 40 {
			time.Sleep(5 * time.Millisecond)
			clk.Add(100 * time.Millisecond)
		}
	}()
	tight, err := d.LeakCheck(ctx)
	<-done
	if err != nil || !tight {
		t.Fatalf("LeakCheck = %v, %v", tight, err)
	}
	r, err = d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.Near(t, "NOx at idle", r.Values[drivers.NOxppm], 305, 6)
	drivertest.Near(t, "T", r.Values[drivers.TempC], 31.5, 1e-9)
	drivertest.Near(t, "RH", r.Values[drivers.RHpct], 72.3, 1e-9)
	drivertest.Near(t, "P", r.Values[drivers.PressureKPa], 99.8, 1e-9)
	eng.Accelerate(clk.Now())
	clk.Add(2 * time.Second)
	r, err = d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.Near(t, "NOx at cut-off", r.Values[drivers.NOxppm], 1205, 6)
	drivertest.Near(t, "N is Ns at 0.43 m", r.Values[drivers.OpacityPct], flb100.NFromK(r.Values[drivers.KM1], flb100.StandardPath), 0.25) // k has 0.01 resolution
	sim.SetLowFlow(true)
	if r, err := d.Read(ctx); err != nil || r.Status != drivers.LowFlow {
		t.Errorf("low flow: %v, %v", r.Status.Names(), err)
	}
	if err := d.Calibrate(ctx, mqw510x.CmdCalNO, 1500); err != nil || sim.Calibration(mqw510x.CmdCalNO) != 1500 {
		t.Errorf("Calibrate = %v, word %d", err, sim.Calibration(mqw510x.CmdCalNO))
	}
	if err := d.SetPump(ctx, false); err != nil || sim.PumpOn() {
		t.Errorf("pump off = %v, on %v", err, sim.PumpOn())
	}
	if r, err := d.Read(ctx); err != nil || r.Values[drivers.NOxppm] != 0 {
		t.Errorf("NOx with the pump off = %v, %v", r.Values[drivers.NOxppm], err)
	}
}

func TestSim5101LeakFails(t *testing.T) {
	sim := mqw510xsim.New(mqw510xsim.Options{Leak: true, LeakTime: 50 * time.Millisecond})
	o := fast(mqw510x.MQW5101)
	o.PollInterval = 20 * time.Millisecond
	d := startSim(t, sim, o)
	if tight, err := d.LeakCheck(ctxT(t)); err != nil || tight {
		t.Fatalf("LeakCheck with a leak = %v, %v", tight, err)
	}
}

// TestSim5102: zero, NOx/CO2 and the max-hold peak over a pty, the short frame and the
// detached opacimeter.
func TestSim5102(t *testing.T) {
	clk := &clock{t: time.Unix(1700000000, 0)}
	eng := flb100sim.NewEngine(flb100sim.EngineOptions{PeakK: 1.8, Seed: 4})
	sim := mqw510xsim.New(mqw510xsim.Options{Model: mqw510x.MQW5102, Engine: eng, Clock: clk.Now, Short: true})
	d := startSim(t, sim, fast(mqw510x.MQW5102))
	ctx := ctxT(t)
	if err := d.Zero(ctx); err != nil || sim.Zeros(mqw510x.CmdNOxZero) != 1 || sim.Zeros(mqw510x.CmdOpacityZero) != 1 {
		t.Fatalf("Zero = %v", err)
	}
	if err := d.ZeroNOx(ctx); err != nil || sim.Zeros(mqw510x.CmdNOxZero) != 2 {
		t.Fatalf("ZeroNOx = %v", err)
	}
	if err := d.StartPeaks(ctx); err != nil {
		t.Fatal(err)
	}
	peak, _ := eng.Accelerate(clk.Now())
	clk.Add(flb100sim.RiseTime + 500*time.Millisecond)
	r, err := d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.Near(t, "CO2 at cut-off", r.Values[drivers.CO2pct], 8, 0.01)
	if len(r.Raw) != mqw510x.Realtime5102Len-1 {
		t.Errorf("short frame of %d bytes", len(r.Raw))
	}
	clk.Add(flb100sim.SettleTime)
	p, err := d.Peaks(ctx)
	if err != nil || len(p) != 1 {
		t.Fatalf("Peaks = %v, %v", p, err)
	}
	drivertest.Near(t, "peak", p[0], peak, 1e-9)

	o := fast(mqw510x.MQW5102)
	o.NoOpacimeter = true
	d2 := startSim(t, mqw510xsim.New(mqw510xsim.Options{Model: mqw510x.MQW5102}), o)
	r, err = d2.Read(ctx)
	if err != nil || r.Values[drivers.KM1] != 0 || r.Values[drivers.NOxppm] < 300 {
		t.Errorf("detached opacimeter: %v, %v", r.Values, err)
	}
}
