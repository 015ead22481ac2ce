package nhf1_test

import (
	"context"
	"io"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
	"imagent/drivers/drivertest"
	"imagent/drivers/flow/flv1000"
	"imagent/drivers/flow/flv1000/flv1000sim"
	"imagent/drivers/flow/nhf1"
	"imagent/drivers/flow/nhf1/nhf1sim"
)

func fast() nhf1.Opts {
	return nhf1.Opts{Timeout: time.Second, Quiet: 2 * time.Millisecond}
}

func readGood(t *testing.T, ctx context.Context, d *nhf1.Dev) {
	t.Helper()
	r, err := d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[drivers.Quantity]float64{drivers.O2DilPct: 20.9, drivers.FlowKPa: 100.1, drivers.FlowTempC: 35.2,
		drivers.FlowLps: 254 * nhf1.LpsPerCFM, drivers.FlowStdLps: 241 * nhf1.LpsPerCFM * 293.15 / 273.15}
	if len(r.Values) != len(want) {
		t.Errorf("values %v", r.Values)
	}
	for q, v := range want {
		drivertest.Near(t, string(q), r.Values[q], v, 1e-9)
	}
	if r.Status != 0 || !strings.HasPrefix(string(r.Raw), ":01030A") || !strings.HasSuffix(string(r.Raw), "\r\n") {
		t.Errorf("status %v raw %q", r.Status.Names(), r.Raw)
	}
}

type traceCase struct {
	opts func() nhf1.Opts
	run  func(t *testing.T, ctx context.Context, d *nhf1.Dev)
}

var traceCases = map[string]traceCase{
	"read.trace": {fast, readGood},
	"read_tp.trace": {func() nhf1.Opts { o := fast(); o.Order, o.StdFlowAt20C = nhf1.OrderTP, true; return o }, func(t *testing.T, ctx context.Context, d *nhf1.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.Near(t, "T", r.Values[drivers.FlowTempC], 35.2, 1e-9)
		drivertest.Near(t, "P", r.Values[drivers.FlowKPa], 100.1, 1e-9)
		drivertest.Near(t, "std flow at 20 °C as is", r.Values[drivers.FlowStdLps], 241*nhf1.LpsPerCFM, 1e-9)
	}},
	"status.trace": {fast, func(t *testing.T, ctx context.Context, d *nhf1.Dev) {
		for _, want := range []drivers.Status{drivers.Warmup | drivers.LowFlow, 0} {
			st, err := d.Status(ctx)
			if err != nil || st != want {
				t.Fatalf("Status = %v, %v; want %v", st.Names(), err, want.Names())
			}
		}
	}},
	"status_vmas.trace": {func() nhf1.Opts { o := fast(); o.VMASStatus = true; return o }, func(t *testing.T, ctx context.Context, d *nhf1.Dev) {
		for _, want := range []drivers.Status{drivers.Warmup, drivers.LowFlow} {
			st, err := d.Status(ctx)
			if err != nil || st != want {
				t.Fatalf("Status = %v, %v; want %v", st.Names(), err, want.Names())
			}
		}
	}},
	"writes.trace": {fast, func(t *testing.T, ctx context.Context, d *nhf1.Dev) {
		for i, err := range []error{
			d.SetPump(ctx, true), d.Zero(ctx), d.SpanO2(ctx, nhf1.O2High, 20.8), d.CalibratePressure(ctx, 101.33),
			d.CalibrateTemp(ctx, 10.4), d.CalibrateFlow(ctx, nhf1.FlowSingle, 300*nhf1.LpsPerCFM), d.SetPump(ctx, false),
		} {
			if err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
		}
	}},
	"refused.trace": {fast, func(t *testing.T, ctx context.Context, d *nhf1.Dev) {
		drivertest.WantErr(t, "nhf1", d.Zero(ctx), drivers.ErrFailed)
		_, err := d.Read(ctx)
		drivertest.WantErr(t, "nhf1", err, drivers.ErrNAK)
	}},
	"noise.trace": {fast, func(t *testing.T, ctx context.Context, d *nhf1.Dev) {
		_, err := d.Read(ctx)
		drivertest.WantErr(t, "nhf1", err, drivers.ErrFrame)
		readGood(t, ctx, d)
		_, err = d.Read(ctx)
		drivertest.WantErr(t, "nhf1", err, drivers.ErrChecksum)
		readGood(t, ctx, d)
	}},
}

func TestTraces(t *testing.T) {
	drivertest.ReplayDir(t, "testdata", traceCases, func(t *testing.T, ctx context.Context, p *drivertest.Playback, tc traceCase) {
		d, err := nhf1.New(p, tc.opts())
		if err != nil {
			t.Fatal(err)
		}
		tc.run(t, ctx, d)
	})
}

func TestNewOptions(t *testing.T) {
	p := drivertest.NewPlayback(&drivertest.Trace{})
	for _, o := range []nhf1.Opts{{Addr: 248}, {Order: 7}, {Timeout: -1}} {
		if _, err := nhf1.New(p, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := nhf1.New(nil, nhf1.DefaultOpts); err == nil {
		t.Error("nil port accepted")
	}
	d, err := nhf1.New(p, nhf1.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, err := range map[string]error{
		"O2 point":   d.SpanO2(ctx, 0x1234, 20),
		"O2 range":   d.SpanO2(ctx, nhf1.O2Low, 30),
		"flow point": d.CalibrateFlow(ctx, 7, 100),
		"flow range": d.CalibrateFlow(ctx, nhf1.FlowHigh, 200),
		"pressure":   d.CalibratePressure(ctx, math.NaN()),
		"temp":       d.CalibrateTemp(ctx, 150),
	} {
		if err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if err := p.Close(); err != nil {
		t.Errorf("I/O where none was due: %v", err)
	}
}

var mode9600 = serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}

func TestConformance(t *testing.T) {
	drivertest.Conformance(t, drivertest.Harness{
		Mode: mode9600,
		Serve: func(ctx context.Context, rw io.ReadWriter) error {
			return nhf1sim.New(nhf1sim.Options{}).Serve(ctx, rw)
		},
		New: func(rw io.ReadWriter) (drivers.Device, error) {
			return nhf1.New(rw, nhf1.Opts{Timeout: 600 * time.Millisecond})
		},
	})
}

func startSim(t *testing.T, sim *nhf1sim.Sim, o nhf1.Opts) *nhf1.Dev {
	return drivertest.StartSim(t, sim.Serve, mode9600, nhf1.New, o)
}

func ctxT(t *testing.T) context.Context { return drivertest.Context(t, 20*time.Second) }

func TestSerialNoise(t *testing.T) {
	sim := nhf1sim.New(nhf1sim.Options{Seed: 9})
	o := fast()
	o.Timeout = 400 * time.Millisecond
	d := startSim(t, sim, o)
	ctx := ctxT(t)
	drivertest.Noise[nhf1sim.Mode]{
		Device: d, SetMode: sim.SetMode, Normal: nhf1sim.Normal,
		Cases: []drivertest.NoiseCase[nhf1sim.Mode]{
			{Mode: nhf1sim.Garbage, Want: drivers.ErrFrame},
			{Mode: nhf1sim.BadChecksum, Want: drivers.ErrChecksum},
			{Mode: nhf1sim.Truncated, Want: drivers.ErrTimeout},
			{Mode: nhf1sim.NAKAll, Want: drivers.ErrNAK},
			{Mode: nhf1sim.Busy, Want: drivers.ErrBusy},
			{Mode: nhf1sim.Silent, Want: drivers.ErrTimeout},
		},
		Check: func(t *testing.T, mode nhf1sim.Mode, r drivers.Reading) {
			drivertest.Near(t, "O2", r.Values[drivers.O2DilPct], 20.9, 1e-9)
			drivertest.Near(t, "flow", r.Values[drivers.FlowLps], 120, 1.6)
		},
	}.Run(t, ctx)
	sim.SetMode(nhf1sim.Refuse)
	drivertest.WantErr(t, "nhf1", d.Zero(ctx), drivers.ErrFailed)
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

// TestSimSession: warm-up, blower off and on, zero refused while warming then done, a
// vehicle on the hose, the standard flow against the gas law, calibrations reaching the
// device, in both register orders.
func TestSimSession(t *testing.T) {
	for _, order := range []nhf1.Order{nhf1.OrderPT, nhf1.OrderTP} {
		clk := &clock{t: time.Unix(1700000000, 0)}
		dil := flv1000sim.NewDilution(flv1000sim.DilutionOptions{TempC: 42})
		sim := nhf1sim.New(nhf1sim.Options{Dilution: dil, Clock: clk.Now, Warmup: time.Minute, Order: order})
		o := fast()
		o.Order = order
		d := startSim(t, sim, o)
		ctx := ctxT(t)
		if err := d.SetPump(ctx, false); err != nil || dil.Blower() {
			t.Fatalf("blower off: %v, %v", err, dil.Blower())
		}
		r, err := d.Read(ctx)
		if err != nil || r.Status != drivers.Warmup|drivers.LowFlow || r.Values[drivers.FlowLps] != 0 {
			t.Fatalf("warming, blower off: %v %v, %v", r.Status.Names(), r.Values, err)
		}
		drivertest.WantErr(t, "nhf1", d.Zero(ctx), drivers.ErrFailed)
		clk.Add(time.Minute)
		if err := d.SetPump(ctx, true); err != nil || !dil.Blower() {
			t.Fatalf("blower on: %v", err)
		}
		if err := d.Zero(ctx); err != nil {
			t.Fatal(err)
		}
		dil.SetExhaust(true)
		r, err = d.Read(ctx)
		if err != nil || r.Status != 0 {
			t.Fatalf("Read: %v, %v", r.Status.Names(), err)
		}
		drivertest.Near(t, "O2 with exhaust", r.Values[drivers.O2DilPct], 18.6, 1e-9)
		drivertest.Near(t, "T", r.Values[drivers.FlowTempC], 50, 0.6)
		drivertest.Near(t, "P", r.Values[drivers.FlowKPa], 100.1, 0.01)
		q, tc, p := r.Values[drivers.FlowLps], r.Values[drivers.FlowTempC], r.Values[drivers.FlowKPa]
		drivertest.Near(t, "std flow", r.Values[drivers.FlowStdLps], flv1000.StdFlow(q, tc, p, 20), 0.6) // CFM resolution ≈ 0.47 L/s
		if err := d.SpanO2(ctx, nhf1.O2Mid, 12.5); err != nil {
			t.Fatal(err)
		}
		if v, ok := sim.Written(nhf1.RegCalO2Mid); !ok || v != 1250 {
			t.Errorf("O2 mid reached the device as %d, %v", v, ok)
		}
		if err := d.CalibrateFlow(ctx, nhf1.FlowHigh, 150); err != nil {
			t.Fatal(err)
		}
		if v, _ := sim.Written(nhf1.RegCalFlowHigh); v != 318 { // 150 L/s = 317.8 CFM
			t.Errorf("flow high point %d CFM", v)
		}
		if err := d.RestoreDefaults(ctx); err != nil {
			t.Fatal(err)
		}
		if w, err := d.StatusWord(ctx); err != nil || w != nhf1.StatusBlower|nhf1.StatusFlowOK {
			t.Errorf("StatusWord = %#04x, %v", w, err)
		}
	}
}

func TestSimFeed(t *testing.T) {
	sim := nhf1sim.New(nhf1sim.Options{})
	if r := sim.Feed([]byte("xx:0103125800058D\r")); len(r) != 0 {
		t.Fatalf("answer before LF: %q", r)
	}
	if r := sim.Feed([]byte("\n:0203125800058C\r\n:0103125800058E\r\n")); len(r) != 1 || !strings.HasPrefix(string(r[0]), ":01030A") {
		t.Fatalf("answers %q (want one: another slave and a bad LRC get none)", r)
	}
	if r := sim.Feed([]byte(":010310000001EB\r\n")); len(r) != 1 || !strings.HasPrefix(string(r[0]), ":018302") {
		t.Errorf("unknown register: %q", r)
	}
	if nhf1sim.Mode(99).String() == "" || nhf1sim.Busy.String() != "busy" {
		t.Error("Mode.String")
	}
}
