package fasm_test

import (
	"context"
	"errors"
	"io"
	"math"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
	"imagent/drivers/drivertest"
	"imagent/drivers/gas/fasm"
	"imagent/drivers/gas/fasm/fasmsim"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/gas/nanhua/nanhuasim"
)

var fast = fasm.Opts{Timeout: 200 * time.Millisecond, Quiet: 2 * time.Millisecond, OpTimeout: time.Second}

var lowGas = drivers.CalGas{C3H8ppm: 200, COpct: 0.5, CO2pct: 12, NOppm: 300}

var traceCases = map[string]func(t *testing.T, ctx context.Context, d *fasm.Dev){
	"data.trace": func(t *testing.T, ctx context.Context, d *fasm.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[drivers.Quantity]float64{drivers.HCppm: 123, drivers.COpct: 0.52, drivers.CO2pct: 14.6, drivers.O2pct: 0.45,
			drivers.NOppm: 850, drivers.Lambda: 1.01, drivers.RPM: 2480, drivers.OilTempC: 86.5, drivers.PressureKPa: 100.8,
			drivers.TempC: 23.4, drivers.RHpct: 55}
		if len(r.Values) != len(want) || len(r.Raw) != fasm.DataLen {
			t.Errorf("reading %+v", r)
		}
		for q, v := range want {
			drivertest.Near(t, string(q), r.Values[q], v, 1e-9)
		}
		a, err := d.ReadAmbient(ctx)
		if err != nil || a.Values[drivers.TempC] != -5.5 || a.Values[drivers.PressureKPa] != 99 || a.Values[drivers.RHpct] != 90 {
			t.Errorf("ambient %v, %v", a.Values, err)
		}
	},
	"pump.trace": func(t *testing.T, ctx context.Context, d *fasm.Dev) {
		for _, err := range []error{d.SetPump(ctx, true), d.SetPath(ctx, fasm.PathAir), d.SetPump(ctx, false), d.Backflush(ctx), d.SetZeroGas(ctx, true)} {
			if err != nil {
				t.Fatal(err)
			}
		}
	},
	"zero.trace": func(t *testing.T, ctx context.Context, d *fasm.Dev) {
		if err := d.Zero(ctx); err != nil {
			t.Fatal(err)
		}
		drivertest.WantErr(t, "fasm", d.Zero(ctx), drivers.ErrFailed)
		drivertest.WantErr(t, "fasm", d.Zero(ctx), drivers.ErrNAK)
	},
	"leak.trace": func(t *testing.T, ctx context.Context, d *fasm.Dev) {
		for _, want := range []bool{true, false} {
			if tight, err := d.LeakCheck(ctx); err != nil || tight != want {
				t.Fatalf("LeakCheck = %v, %v; want %v", tight, err, want)
			}
		}
	},
	"calgas.trace": func(t *testing.T, ctx context.Context, d *fasm.Dev) {
		if err := d.WriteCalGas(ctx, lowGas, false); err != nil {
			t.Fatal(err)
		}
	},
	"pef.trace": func(t *testing.T, ctx context.Context, d *fasm.Dev) {
		for range 2 {
			if p, err := d.PEF(ctx); err != nil || math.Abs(p-0.53) > 1e-6 {
				t.Fatalf("PEF = %v, %v", p, err)
			}
		}
	},
	"noise.trace": func(t *testing.T, ctx context.Context, d *fasm.Dev) {
		for i, want := range []error{drivers.ErrFrame, nil, drivers.ErrChecksum, drivers.ErrFrame, drivers.ErrNAK, nil} {
			r, err := d.Read(ctx)
			if want != nil {
				drivertest.WantErr(t, "fasm", err, want)
				if r.Values != nil {
					t.Errorf("read %d: values with an error", i)
				}
				continue
			}
			if err != nil || r.Values[drivers.HCppm] != 123 {
				t.Fatalf("read %d: %v, %v", i, r.Values, err)
			}
		}
	},
}

func TestTraces(t *testing.T) {
	drivertest.ReplayDir(t, "testdata", traceCases, func(t *testing.T, ctx context.Context, p *drivertest.Playback, run func(t *testing.T, ctx context.Context, d *fasm.Dev)) {
		d, err := fasm.New(p, fast)
		if err != nil {
			t.Fatal(err)
		}
		run(t, ctx, d)
	})
}

func TestNew(t *testing.T) {
	p := drivertest.NewPlayback(&drivertest.Trace{})
	for _, o := range []fasm.Opts{{Timeout: -1}, {CalNOScale: -2}, {CalNOScale: 5000}} {
		if _, err := fasm.New(p, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := fasm.New(nil, fasm.DefaultOpts); err == nil {
		t.Error("nil port accepted")
	}
	d, err := fasm.New(p, fasm.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.WriteCalGas(ctx, lowGas, true); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("check gas: %v", err)
	}
	if err := d.WriteCalGas(ctx, drivers.CalGas{NOppm: 3000}, false); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("NO 3000 ×100: %v", err)
	}
	if err := d.SetPath(ctx, 0x42); err == nil {
		t.Error("unknown path accepted")
	}
	if err := p.Close(); err != nil {
		t.Errorf("did I/O: %v", err)
	}
}

var mode9600 = serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}

func TestConformance(t *testing.T) {
	drivertest.Conformance(t, drivertest.Harness{
		Mode: mode9600,
		Serve: func(ctx context.Context, rw io.ReadWriter) error {
			return fasmsim.New(fasmsim.Options{}).Serve(ctx, rw)
		},
		New: func(rw io.ReadWriter) (drivers.Device, error) { return fasm.New(rw, fasm.DefaultOpts) },
	})
}

// start runs sim behind a pty and returns a Dev on the serial side. Replies get at least
// half a second (a second unless set): the test machine may be loaded.
func start(t *testing.T, sim *fasmsim.Sim, o fasm.Opts) *fasm.Dev {
	t.Helper()
	if o.Timeout < 500*time.Millisecond {
		o.Timeout = time.Second
	}
	sp := drivertest.OpenSimPort(t, sim.Serve, mode9600)
	d, err := fasm.New(sp.Port, o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ctxT(t *testing.T) context.Context { return drivertest.Context(t, 20*time.Second) }

func TestSerialNoise(t *testing.T) {
	sim := fasmsim.New(fasmsim.Options{Seed: 2})
	o := fast
	o.Timeout = 500 * time.Millisecond
	d := start(t, sim, o)
	ctx := ctxT(t)
	if err := d.SetPump(ctx, true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode fasmsim.Mode
		want error
	}{
		{fasmsim.Garbage, drivers.ErrFrame},
		{fasmsim.BadChecksum, drivers.ErrChecksum},
		{fasmsim.Truncated, drivers.ErrTimeout},
		{fasmsim.NAKAll, drivers.ErrNAK},
		{fasmsim.Silent, drivers.ErrTimeout},
	} {
		sim.SetMode(tc.mode)
		for range 2 {
			r, err := d.Read(ctx)
			if !errors.Is(err, tc.want) || r.Values != nil {
				t.Errorf("mode %v: Read = %v, %v; want %v", tc.mode, r.Values, err, tc.want)
			}
		}
		sim.SetMode(fasmsim.Normal)
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", tc.mode, err)
		}
		if s := r.Values[drivers.COpct] + r.Values[drivers.CO2pct]; s < 14.5 || s > 15.5 {
			t.Errorf("after %v: CO+CO2 = %v", tc.mode, s)
		}
	}
}

func TestSimSession(t *testing.T) {
	car := nanhuasim.NewCar(9)
	sim := fasmsim.New(fasmsim.Options{Vehicle: car, Warmup: 300 * time.Millisecond, OpTime: 150 * time.Millisecond, Leak: true, PEF: 0.52})
	d := start(t, sim, fast)
	ctx := ctxT(t)
	drivertest.WantErr(t, "fasm", d.Zero(ctx), drivers.ErrNAK) // cannot answer while warming up
	time.Sleep(350 * time.Millisecond)
	if err := d.Zero(ctx); err != nil {
		t.Fatal(err)
	}
	if tight, err := d.LeakCheck(ctx); err != nil || tight {
		t.Fatalf("LeakCheck with a leak = %v, %v", tight, err)
	}
	if err := d.SetPump(ctx, true); err != nil || sim.Path() != fasm.CmdPumpProbe {
		t.Fatalf("SetPump = %v, path %#02x", err, sim.Path())
	}
	r, err := d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.Near(t, "λ", r.Values[drivers.Lambda], 1, 0.04)
	if p, err := d.PEF(ctx); err != nil || math.Abs(p-0.52) > 1e-6 {
		t.Errorf("PEF = %v, %v", p, err)
	}
	if err := d.WriteCalGas(ctx, lowGas, false); err != nil {
		t.Fatal(err)
	}
	if g, ok := sim.CalGas(); !ok || g != lowGas {
		t.Errorf("simulator gas %+v, %v", g, ok)
	}
	if err := d.SetPath(ctx, fasm.PathSpan); err != nil {
		t.Fatal(err)
	}
	r, err = d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.Near(t, "span HC", r.Values[drivers.HCppm], 104, 0.5)
	if err := d.SetZeroGas(ctx, false); err != nil || sim.ZeroGas() != 0 {
		t.Errorf("SetZeroGas = %v, %d", err, sim.ZeroGas())
	}
	if err := d.Backflush(ctx); err != nil || sim.Path() != fasm.CmdBackflush {
		t.Errorf("Backflush = %v, path %#02x", err, sim.Path())
	}
	sim.SetAmbient(nanhua.Ambient{TempC: 35.5, PressureKPa: 98.2, RHpct: 20})
	a, err := d.ReadAmbient(ctx)
	if err != nil || a.Values[drivers.TempC] != 35.5 {
		t.Errorf("ambient %v, %v", a.Values, err)
	}

	slow := fasmsim.New(fasmsim.Options{OpTime: time.Hour})
	o := fast
	o.OpTimeout = 200 * time.Millisecond
	d2 := start(t, slow, o)
	drivertest.WantErr(t, "fasm", d2.Zero(ctx), drivers.ErrTimeout)
}
