package mingquan_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
	"imagent/drivers/drivertest"
	"imagent/drivers/gas/mingquan"
	"imagent/drivers/gas/mingquan/mingquansim"
	"imagent/drivers/gas/nanhua/nanhuasim"
)

func fast(m mingquan.Model) mingquan.Opts {
	return mingquan.Opts{Model: m, Timeout: 200 * time.Millisecond, Quiet: 2 * time.Millisecond, PollInterval: time.Millisecond}
}

var lowGas = drivers.CalGas{C3H8ppm: 200, COpct: 0.5, CO2pct: 12, NOppm: 300}

type traceCase struct {
	model mingquan.Model
	run   func(t *testing.T, ctx context.Context, d *mingquan.Dev)
}

var traceCases = map[string]traceCase{
	"data_mqw50a.trace": {mingquan.MQW50A, func(t *testing.T, ctx context.Context, d *mingquan.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[drivers.Quantity]float64{drivers.CO2pct: 14.6, drivers.COpct: 0.52, drivers.HCppm: 123, drivers.NOppm: 850,
			drivers.O2pct: 0.45, drivers.RHpct: 55, drivers.OilTempC: 86.5, drivers.TempC: 23.4, drivers.RPM: 2480,
			drivers.Lambda: 1.012, drivers.PressureKPa: 100.8}
		if len(r.Values) != len(want) || len(r.Raw) != mingquan.DataLen || r.Status != 0 {
			t.Errorf("reading %+v", r)
		}
		for q, v := range want {
			drivertest.Near(t, string(q), r.Values[q], v, 1e-9)
		}
		a, err := d.ReadAmbient(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Values) != 3 || a.Values[drivers.TempC] != -5.5 || a.Values[drivers.RHpct] != 90 || a.Values[drivers.PressureKPa] != 99 {
			t.Errorf("ambient %v", a.Values)
		}
	}},
	"data_mqw50b.trace": {mingquan.MQW50B, func(t *testing.T, ctx context.Context, d *mingquan.Dev) {
		if pef, err := d.PEF(ctx); err != nil || pef != 0.52 {
			t.Fatalf("PEF = %v, %v", pef, err)
		}
	}},
	"status.trace": {mingquan.MQW50A, func(t *testing.T, ctx context.Context, d *mingquan.Dev) {
		for _, want := range []drivers.Status{drivers.Warmup, drivers.LowFlow, 0} {
			if st, err := d.Status(ctx); err != nil || st != want {
				t.Fatalf("Status = %v, %v; want %v", st.Names(), err, want.Names())
			}
		}
	}},
	"pump.trace": {mingquan.MQW50A, func(t *testing.T, ctx context.Context, d *mingquan.Dev) {
		for _, err := range []error{d.SetPump(ctx, true), d.Backflush(ctx), d.PumpAir(ctx), d.SetPump(ctx, false), d.SetFuel(ctx, mingquan.LPG)} {
			if err != nil {
				t.Fatal(err)
			}
		}
	}},
	"zero.trace": {mingquan.MQW50A, func(t *testing.T, ctx context.Context, d *mingquan.Dev) {
		if err := d.Zero(ctx); err != nil {
			t.Fatal(err)
		}
		drivertest.WantErr(t, "mingquan", d.Zero(ctx), drivers.ErrFailed)
	}},
	"leak.trace": {mingquan.MQW50A, func(t *testing.T, ctx context.Context, d *mingquan.Dev) {
		for _, want := range []bool{true, false} {
			if tight, err := d.LeakCheck(ctx); err != nil || tight != want {
				t.Fatalf("LeakCheck = %v, %v; want %v", tight, err, want)
			}
		}
	}},
	"hc_residual.trace": {mingquan.MQW50A, func(t *testing.T, ctx context.Context, d *mingquan.Dev) {
		if ok, err := d.HCResidualCheck(ctx); err != nil || ok {
			t.Fatalf("HCResidualCheck = %v, %v; want false", ok, err)
		}
	}},
	"span.trace": {mingquan.MQW50A, func(t *testing.T, ctx context.Context, d *mingquan.Dev) {
		if err := d.WriteCalGas(ctx, lowGas, false); err != nil {
			t.Fatal(err)
		}
		r, err := d.Span(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.Near(t, "HC", r.Values[drivers.HCppm], 104, 0)
		drivertest.Near(t, "CO", r.Values[drivers.COpct], 0.5, 1e-9)
		drivertest.Near(t, "NO", r.Values[drivers.NOppm], 300, 0)
	}},
	"span_failed.trace": {mingquan.MQW50A, func(t *testing.T, ctx context.Context, d *mingquan.Dev) {
		if err := d.WriteCalGas(ctx, lowGas, false); err != nil {
			t.Fatal(err)
		}
		_, err := d.Span(ctx)
		drivertest.WantErr(t, "mingquan", err, drivers.ErrFailed)
		if !strings.Contains(err.Error(), "CO, NO") {
			t.Errorf("error %q does not name the failed channels", err)
		}
	}},
	"noise.trace": {mingquan.MQW50A, func(t *testing.T, ctx context.Context, d *mingquan.Dev) {
		for i, want := range []error{drivers.ErrNAK, drivers.ErrFrame, nil, drivers.ErrChecksum, drivers.ErrFrame, nil} {
			r, err := d.Read(ctx)
			if want != nil {
				drivertest.WantErr(t, "mingquan", err, want)
				if r.Values != nil {
					t.Errorf("read %d: values with an error", i)
				}
				continue
			}
			if err != nil || r.Values[drivers.HCppm] != 123 {
				t.Fatalf("read %d: %v, %v", i, r.Values, err)
			}
		}
	}},
}

func TestTraces(t *testing.T) {
	drivertest.ReplayDir(t, "testdata", traceCases, func(t *testing.T, ctx context.Context, p *drivertest.Playback, tc traceCase) {
		d, err := mingquan.New(p, fast(tc.model))
		if err != nil {
			t.Fatal(err)
		}
		tc.run(t, ctx, d)
	})
}

func TestNew(t *testing.T) {
	p := drivertest.NewPlayback(&drivertest.Trace{})
	for _, o := range []mingquan.Opts{{Model: "MQW-511"}, {Timeout: -1}, {CalHCNOScale: -1}, {CalHCNOScale: 1e6}} {
		if _, err := mingquan.New(p, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := mingquan.New(nil, mingquan.DefaultOpts); err == nil {
		t.Error("nil port accepted")
	}
	d, err := mingquan.New(p, mingquan.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := d.PEF(ctx); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("PEF on the 50A: %v", err)
	}
	if err := d.WriteCalGas(ctx, lowGas, true); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("check gas: %v", err)
	}
	if err := d.WriteCalGas(ctx, drivers.CalGas{C3H8ppm: 3200}, false); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("3200 ppm at ×100: %v", err)
	}
	if _, err := d.Span(ctx); err == nil {
		t.Error("span without gas succeeded")
	}
	if err := d.SetFuel(ctx, 7); err == nil {
		t.Error("fuel 7 accepted")
	}
	if err := p.Close(); err != nil {
		t.Errorf("did I/O: %v", err)
	}
	for in, want := range map[string]mingquan.Model{"MQW-50A": mingquan.MQW50A, "mqw50b": mingquan.MQW50B} {
		if m, err := mingquan.ParseModel(in); err != nil || m != want {
			t.Errorf("ParseModel(%q) = %v, %v", in, m, err)
		}
	}
	if _, err := mingquan.ParseModel("MQW-511"); err == nil {
		t.Error("ParseModel accepted MQW-511")
	}
}

var mode9600 = serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}

func TestConformance(t *testing.T) {
	for _, m := range []mingquan.Model{mingquan.MQW50A, mingquan.MQW50B} {
		t.Run(string(m), func(t *testing.T) {
			drivertest.Conformance(t, drivertest.Harness{
				Mode: mode9600,
				Serve: func(ctx context.Context, rw io.ReadWriter) error {
					return mingquansim.New(mingquansim.Options{Model: m}).Serve(ctx, rw)
				},
				New: func(rw io.ReadWriter) (drivers.Device, error) { return mingquan.New(rw, mingquan.Opts{Model: m}) },
			})
		})
	}
}

// start runs sim behind a pty and returns a Dev on the serial side. Replies get at least
// a second: the test machine may be loaded.
func start(t *testing.T, sim *mingquansim.Sim, o mingquan.Opts) *mingquan.Dev {
	t.Helper()
	if o.Timeout < 500*time.Millisecond {
		o.Timeout = time.Second
	}
	sp := drivertest.OpenSimPort(t, sim.Serve, mode9600)
	d, err := mingquan.New(sp.Port, o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ctxT(t *testing.T) context.Context { return drivertest.Context(t, 20*time.Second) }

func TestSerialNoise(t *testing.T) {
	sim := mingquansim.New(mingquansim.Options{Seed: 3})
	o := fast(mingquan.MQW50A)
	o.Timeout = 500 * time.Millisecond
	d := start(t, sim, o)
	ctx := ctxT(t)
	if err := d.SetPump(ctx, true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode mingquansim.Mode
		want error
	}{
		{mingquansim.Garbage, drivers.ErrFrame},
		{mingquansim.BadChecksum, drivers.ErrChecksum},
		{mingquansim.Truncated, drivers.ErrTimeout},
		{mingquansim.NAKAll, drivers.ErrNAK},
		{mingquansim.Silent, drivers.ErrTimeout},
	} {
		sim.SetMode(tc.mode)
		for range 2 {
			r, err := d.Read(ctx)
			if !errors.Is(err, tc.want) || r.Values != nil {
				t.Errorf("mode %v: Read = %v, %v; want %v", tc.mode, r.Values, err, tc.want)
			}
		}
		sim.SetMode(mingquansim.Normal)
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", tc.mode, err)
		}
		if s := r.Values[drivers.COpct] + r.Values[drivers.CO2pct]; s < 14.5 || s > 15.5 {
			t.Errorf("after %v: CO+CO2 = %v", tc.mode, s)
		}
	}
}

// TestSimSession: warm-up, zero, leak check, HC residual, pump, fuel, calibration and
// status against the simulator over a pty.
func TestSimSession(t *testing.T) {
	car := nanhuasim.NewCar(6)
	sim := mingquansim.New(mingquansim.Options{Model: mingquan.MQW50B, Vehicle: car, Warmup: 300 * time.Millisecond,
		OpTime: 100 * time.Millisecond, Leak: true, PEF: 0.515})
	o := fast(mingquan.MQW50B)
	o.PollInterval = 20 * time.Millisecond
	d := start(t, sim, o)
	ctx := ctxT(t)

	if st, err := d.Status(ctx); err != nil || st != drivers.Warmup {
		t.Fatalf("Status at power-up = %v, %v", st.Names(), err)
	}
	drivertest.WantErr(t, "mingquan", d.Zero(ctx), drivers.ErrNAK) // refused while warming up
	for st := drivers.Warmup; st != 0; {
		time.Sleep(50 * time.Millisecond)
		var err error
		if st, err = d.Status(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Zero(ctx); err != nil {
		t.Fatal(err)
	}
	if tight, err := d.LeakCheck(ctx); err != nil || tight {
		t.Fatalf("LeakCheck with a leak = %v, %v", tight, err)
	}
	if ok, err := d.HCResidualCheck(ctx); err != nil || !ok {
		t.Fatalf("HCResidualCheck = %v, %v", ok, err)
	}
	if err := d.SetFuel(ctx, mingquan.NaturalGas); err != nil || sim.Fuel() != 2 {
		t.Fatalf("SetFuel = %v, sim %d", err, sim.Fuel())
	}
	if err := d.SetFuel(ctx, mingquan.Gasoline); err != nil {
		t.Fatal(err)
	}
	if err := d.SetPump(ctx, true); err != nil || !sim.PumpOn() {
		t.Fatalf("SetPump = %v, sim %v", err, sim.PumpOn())
	}
	r, err := d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.Near(t, "λ", r.Values[drivers.Lambda], 1, 0.04)
	drivertest.Near(t, "ambient T", r.Values[drivers.TempC], 20, 1e-9)
	if pef, err := d.PEF(ctx); err != nil || pef != 0.515 {
		t.Errorf("PEF = %v, %v", pef, err)
	}
	sim.SetLowFlow(true)
	if st, err := d.Status(ctx); err != nil || st != drivers.LowFlow {
		t.Errorf("low flow status = %v, %v", st.Names(), err)
	}
	sim.SetLowFlow(false)

	if err := d.WriteCalGas(ctx, lowGas, false); err != nil {
		t.Fatal(err)
	}
	r, err = d.Span(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.Near(t, "span HC (C3H8 × PEF)", r.Values[drivers.HCppm], 200*0.515, 1)
	drivertest.Near(t, "span CO2", r.Values[drivers.CO2pct], 12, 1e-9)
	if g, mask := sim.CalGas(); g != lowGas || mask != mingquan.ChanCO2|mingquan.ChanCO|mingquan.ChanHC|mingquan.ChanNO {
		t.Errorf("simulator got %+v mask %#02x", g, mask)
	}
	if sim.PumpOn() {
		t.Error("span left the gas path open")
	}
	sim.SetAmbient(mingquansim.Ambient{TempC: -3, RHpct: 80, PressureKPa: 95.5})
	a, err := d.ReadAmbient(ctx)
	if err != nil || a.Values[drivers.TempC] != -3 || a.Values[drivers.PressureKPa] != 95.5 {
		t.Errorf("ambient %v, %v", a.Values, err)
	}
}

func TestSimFailures(t *testing.T) {
	sim := mingquansim.New(mingquansim.Options{OpTime: 50 * time.Millisecond, ZeroFail: true, SpanFail: true, HCHigh: true})
	o := fast(mingquan.MQW50A)
	o.PollInterval = 20 * time.Millisecond
	d := start(t, sim, o)
	ctx := ctxT(t)
	drivertest.WantErr(t, "mingquan", d.Zero(ctx), drivers.ErrFailed)
	if ok, err := d.HCResidualCheck(ctx); err != nil || ok {
		t.Errorf("HCResidualCheck = %v, %v; want false", ok, err)
	}
	if err := d.WriteCalGas(ctx, lowGas, false); err != nil {
		t.Fatal(err)
	}
	_, err := d.Span(ctx)
	drivertest.WantErr(t, "mingquan", err, drivers.ErrFailed)

	slow := mingquansim.New(mingquansim.Options{OpTime: time.Hour})
	o.OpTimeout = 200 * time.Millisecond
	d2 := start(t, slow, o)
	drivertest.WantErr(t, "mingquan", d2.Zero(ctx), drivers.ErrTimeout)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := d2.LeakCheck(short); err == nil {
		t.Error("leak check with an expiring ctx succeeded")
	}
}
