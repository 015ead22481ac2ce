package nha506_test

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
	"imagent/drivers/gas/nanhua/nanhuasim"
	"imagent/drivers/gas/nha506"
	"imagent/drivers/gas/nha506/nha506sim"
)

var fast = nha506.Opts{Timeout: 200 * time.Millisecond, Quiet: 2 * time.Millisecond}

var traceCases = map[string]func(t *testing.T, ctx context.Context, d *nha506.Dev){
	"data.trace": func(t *testing.T, ctx context.Context, d *nha506.Dev) {
		for _, want := range []map[drivers.Quantity]float64{
			{drivers.HCppm: 123, drivers.COpct: 0.52, drivers.CO2pct: 14.6, drivers.O2pct: 0.45, drivers.NOppm: 850,
				drivers.RPM: 2480, drivers.OilTempC: 86.5, drivers.Lambda: 1.01},
			{drivers.HCppm: -2, drivers.COpct: -0.01, drivers.CO2pct: 0.04, drivers.O2pct: 20.9, drivers.NOppm: 0,
				drivers.RPM: 0, drivers.OilTempC: 24.5, drivers.Lambda: 0},
		} {
			r, err := d.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Values) != len(want) || len(r.Raw) != nha506.DataLen || r.Time.IsZero() {
				t.Errorf("reading %+v", r)
			}
			for q, v := range want {
				if math.Abs(r.Values[q]-v) > 1e-9 {
					t.Errorf("%s = %v, want %v", q, r.Values[q], v)
				}
			}
		}
	},
	"status.trace": func(t *testing.T, ctx context.Context, d *nha506.Dev) {
		for _, want := range []drivers.Status{drivers.Warmup, drivers.Zeroing, 0} {
			if st, err := d.Status(ctx); err != nil || st != want {
				t.Fatalf("Status = %v, %v; want %v", st.Names(), err, want.Names())
			}
		}
		_, err := d.Status(ctx)
		drivertest.WantErr(t, "nha506", err, drivers.ErrFrame)
	},
	"pump.trace": func(t *testing.T, ctx context.Context, d *nha506.Dev) {
		if err := d.SetPump(ctx, true); err != nil {
			t.Fatal(err)
		}
		if err := d.SetPump(ctx, false); err != nil {
			t.Fatal(err)
		}
		drivertest.WantErr(t, "nha506", d.SetPump(ctx, true), drivers.ErrNAK)
	},
	"noise.trace": func(t *testing.T, ctx context.Context, d *nha506.Dev) {
		for i, want := range []error{drivers.ErrFrame, nil, drivers.ErrChecksum, nil} {
			r, err := d.Read(ctx)
			if want != nil {
				drivertest.WantErr(t, "nha506", err, want)
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
	drivertest.ReplayDir(t, "testdata", traceCases, func(t *testing.T, ctx context.Context, p *drivertest.Playback, run func(t *testing.T, ctx context.Context, d *nha506.Dev)) {
		d, err := nha506.New(p, fast)
		if err != nil {
			t.Fatal(err)
		}
		run(t, ctx, d)
	})
}

func TestNew(t *testing.T) {
	p := drivertest.NewPlayback(&drivertest.Trace{})
	if _, err := nha506.New(nil, nha506.DefaultOpts); err == nil {
		t.Error("nil port accepted")
	}
	if _, err := nha506.New(p, nha506.Opts{Quiet: -1}); err == nil {
		t.Error("negative duration accepted")
	}
	if _, err := nha506.New(p, nha506.Opts{}); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("New did I/O: %v", err)
	}
}

var mode9600 = serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}

func TestConformance(t *testing.T) {
	drivertest.Conformance(t, drivertest.Harness{
		Mode: mode9600,
		Serve: func(ctx context.Context, rw io.ReadWriter) error {
			return nha506sim.New(nha506sim.Options{}).Serve(ctx, rw)
		},
		New: func(rw io.ReadWriter) (drivers.Device, error) { return nha506.New(rw, nha506.DefaultOpts) },
	})
}

func start(t *testing.T, sim *nha506sim.Sim) *nha506.Dev {
	t.Helper()
	sp := drivertest.OpenSimPort(t, sim.Serve, mode9600)
	o := fast
	o.Timeout = 500 * time.Millisecond // the test machine may be loaded
	d, err := nha506.New(sp.Port, o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ctxT(t *testing.T) context.Context { return drivertest.Context(t, 20*time.Second) }

func TestSerialNoise(t *testing.T) {
	sim := nha506sim.New(nha506sim.Options{Seed: 4})
	d := start(t, sim)
	ctx := ctxT(t)
	if err := d.SetPump(ctx, true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode nha506sim.Mode
		want error
	}{
		{nha506sim.Garbage, drivers.ErrFrame},
		{nha506sim.BadChecksum, drivers.ErrChecksum},
		{nha506sim.Truncated, drivers.ErrTimeout},
		{nha506sim.NAKAll, drivers.ErrNAK},
		{nha506sim.Silent, drivers.ErrTimeout},
	} {
		sim.SetMode(tc.mode)
		for range 2 {
			r, err := d.Read(ctx)
			if !errors.Is(err, tc.want) || r.Values != nil {
				t.Errorf("mode %v: Read = %v, %v; want %v", tc.mode, r.Values, err, tc.want)
			}
		}
		sim.SetMode(nha506sim.Normal)
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
	car := nanhuasim.NewCar(8)
	sim := nha506sim.New(nha506sim.Options{Vehicle: car, Warmup: 200 * time.Millisecond, ZeroTime: 200 * time.Millisecond})
	d := start(t, sim)
	ctx := ctxT(t)
	seen := map[drivers.Status]bool{}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		st, err := d.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen[st] = true
		if st == 0 {
			break
		}
	}
	if !seen[drivers.Warmup] || !seen[drivers.Zeroing] || !seen[0] {
		t.Errorf("states seen %v, want warm-up, zeroing and ready", seen)
	}
	r, err := d.Read(ctx)
	if err != nil || r.Values[drivers.O2pct] != 20.9 {
		t.Fatalf("pump off: %v, %v", r.Values, err)
	}
	if err := d.SetPump(ctx, true); err != nil || !sim.PumpOn() {
		t.Fatalf("SetPump(true) = %v, sim %v", err, sim.PumpOn())
	}
	r, err = d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l := r.Values[drivers.Lambda]; math.Abs(l-1) > 0.04 {
		t.Errorf("λ = %v", l)
	}
	if err := d.SetPump(ctx, false); err != nil || sim.PumpOn() {
		t.Fatalf("SetPump(false) = %v, sim %v", err, sim.PumpOn())
	}
}
