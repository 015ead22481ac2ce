package ak_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
	"imagent/drivers/drivertest"
	"imagent/drivers/gas/ak"
	"imagent/drivers/gas/ak/aksim"
)

var fast = ak.Opts{Timeout: 200 * time.Millisecond, Quiet: 2 * time.Millisecond, PollInterval: time.Millisecond}

func wantGood(t *testing.T, r drivers.Reading, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	want := map[drivers.Quantity]float64{drivers.COpct: 0.52, drivers.CO2pct: 14.6, drivers.HCppm: 123, drivers.O2pct: 0.45, drivers.NOppm: 850}
	if len(r.Values) != len(want) || r.Raw[0] != ak.STX || r.Raw[len(r.Raw)-1] != ak.ETX {
		t.Errorf("reading %+v", r)
	}
	for q, v := range want {
		drivertest.Near(t, string(q), r.Values[q], v, 1e-9)
	}
}

var traceCases = map[string]func(t *testing.T, ctx context.Context, d *ak.Dev){
	"akon.trace": func(t *testing.T, ctx context.Context, d *ak.Dev) {
		r, err := d.Read(ctx)
		wantGood(t, r, err)
		if r.Status != 0 {
			t.Errorf("status %v", r.Status.Names())
		}
		r, err = d.Read(ctx)
		if err != nil || r.Status != drivers.Fault || r.Values[drivers.O2pct] != 20.9 {
			t.Errorf("reading with an error active: %+v, %v", r, err)
		}
	},
	"status.trace": func(t *testing.T, ctx context.Context, d *ak.Dev) {
		for _, want := range []drivers.Status{0, drivers.Zeroing, drivers.Busy | drivers.Fault} {
			if st, err := d.Status(ctx); err != nil || st != want {
				t.Fatalf("Status = %v, %v; want %v", st.Names(), err, want.Names())
			}
		}
		if codes, err := d.Errors(ctx); err != nil || !slices.Equal(codes, []string{"E510", "E012"}) {
			t.Errorf("Errors = %v, %v", codes, err)
		}
	},
	"zero.trace": func(t *testing.T, ctx context.Context, d *ak.Dev) {
		if err := d.Zero(ctx); err != nil {
			t.Fatal(err)
		}
		err := d.Zero(ctx)
		drivertest.WantErr(t, "ak", err, drivers.ErrFailed)
		if !strings.Contains(err.Error(), "E510") {
			t.Errorf("error %q does not list the code", err)
		}
	},
	"errors.trace": func(t *testing.T, ctx context.Context, d *ak.Dev) {
		_, err := d.Read(ctx)
		drivertest.WantErr(t, "ak", err, drivers.ErrNAK)
		_, err = d.Call(ctx, "SEMB", "M12")
		drivertest.WantErr(t, "ak", err, drivers.ErrNAK)
		_, err = d.Read(ctx)
		drivertest.WantErr(t, "ak", err, drivers.ErrBusy)
		if err := d.SetPump(ctx, true); err != nil {
			t.Fatalf("SMGA after auto-remote: %v", err)
		}
	},
	"pump.trace": func(t *testing.T, ctx context.Context, d *ak.Dev) {
		if err := d.SetPump(ctx, true); err != nil {
			t.Fatal(err)
		}
		if err := d.SetPump(ctx, false); err != nil {
			t.Fatal(err)
		}
	},
	"flow.trace": func(t *testing.T, ctx context.Context, d *ak.Dev) {
		for range 2 {
			r, err := d.Read(ctx)
			wantGood(t, r, err)
		}
		if err := d.SetPump(ctx, false); err != nil {
			t.Fatal(err)
		}
	},
	"noise.trace": func(t *testing.T, ctx context.Context, d *ak.Dev) {
		for i, want := range []error{drivers.ErrFrame, nil, drivers.ErrFrame, drivers.ErrFrame, nil} {
			r, err := d.Read(ctx)
			if want != nil {
				drivertest.WantErr(t, "ak", err, want)
				if r.Values != nil {
					t.Errorf("read %d: values with an error", i)
				}
				continue
			}
			wantGood(t, r, err)
		}
	},
}

func TestTraces(t *testing.T) {
	drivertest.ReplayDir(t, "testdata", traceCases, func(t *testing.T, ctx context.Context, p *drivertest.Playback, run func(t *testing.T, ctx context.Context, d *ak.Dev)) {
		d, err := ak.New(p, fast)
		if err != nil {
			t.Fatal(err)
		}
		run(t, ctx, d)
	})
}

func TestNew(t *testing.T) {
	p := drivertest.NewPlayback(&drivertest.Trace{})
	for _, o := range []ak.Opts{
		{Channel: "0 1"}, {ZeroFunc: "zero"}, {Timeout: -1}, {Components: []ak.Component{}},
		{Components: []ak.Component{{Quantity: "co_ppb", Scale: 1}}},
		{Components: []ak.Component{{Quantity: drivers.COpct, Scale: 0}}},
		{Components: []ak.Component{{Quantity: drivers.COpct, Scale: 1}, {Quantity: drivers.COpct, Scale: 1}}},
	} {
		if _, err := ak.New(p, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := ak.New(nil, ak.DefaultOpts); err == nil {
		t.Error("nil port accepted")
	}
	d, err := ak.New(p, ak.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Call(context.Background(), "bad"); err == nil {
		t.Error("Call with a bad function accepted")
	}
	if err := p.Close(); err != nil {
		t.Errorf("did I/O: %v", err)
	}
}

// mode7E1 are the Pierburg AMA4000's settings (XON/XOFF is the driver's business).
var mode7E1 = serial.Mode{BaudRate: 9600, DataBits: 7, Parity: serial.EvenParity, StopBits: serial.OneStopBit}

func TestConformance(t *testing.T) {
	drivertest.Conformance(t, drivertest.Harness{
		Mode: mode7E1,
		Serve: func(ctx context.Context, rw io.ReadWriter) error {
			s := aksim.New(aksim.Options{})
			return s.Serve(ctx, rw)
		},
		New: func(rw io.ReadWriter) (drivers.Device, error) { return ak.New(rw, ak.Opts{Timeout: time.Second}) },
	})
}

// start runs sim behind a pty and returns a Dev on the serial side. Replies get at least
// half a second (a second unless set): the test machine may be loaded.
func start(t *testing.T, sim *aksim.Sim, o ak.Opts) *ak.Dev {
	t.Helper()
	if o.Timeout < 500*time.Millisecond {
		o.Timeout = time.Second
	}
	sp := drivertest.OpenSimPort(t, sim.Serve, mode7E1)
	d, err := ak.New(sp.Port, o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ctxT(t *testing.T) context.Context { return drivertest.Context(t, 20*time.Second) }

func TestSerialNoise(t *testing.T) {
	sim := aksim.New(aksim.Options{Seed: 5})
	o := fast
	o.Timeout = 500 * time.Millisecond
	d := start(t, sim, o)
	ctx := ctxT(t)
	if err := d.SetPump(ctx, true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode aksim.Mode
		want error
	}{
		{aksim.Garbage, drivers.ErrFrame},
		{aksim.Corrupt, drivers.ErrFrame},
		{aksim.Truncated, drivers.ErrTimeout},
		{aksim.NAKAll, drivers.ErrNAK},
		{aksim.BusyAll, drivers.ErrBusy},
		{aksim.Silent, drivers.ErrTimeout},
	} {
		sim.SetMode(tc.mode)
		for range 2 {
			r, err := d.Read(ctx)
			if !errors.Is(err, tc.want) || r.Values != nil {
				t.Errorf("mode %v: Read = %v, %v; want %v", tc.mode, r.Values, err, tc.want)
			}
		}
		sim.SetMode(aksim.Normal)
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", tc.mode, err)
		}
		if s := r.Values[drivers.COpct] + r.Values[drivers.CO2pct]; s < 14.5 || s > 15.5 {
			t.Errorf("after %v: CO+CO2 = %v", tc.mode, s)
		}
	}
}

// TestFlowControl: with XOFF outstanding the driver does not write until XON comes, and
// flow bytes inside answers are dropped.
func TestFlowControl(t *testing.T) {
	sim := aksim.New(aksim.Options{XONDelay: 150 * time.Millisecond})
	d := start(t, sim, ak.Opts{Timeout: time.Second, Quiet: 2 * time.Millisecond})
	ctx := ctxT(t)
	if err := d.SetPump(ctx, true); err != nil {
		t.Fatal(err)
	}
	for _, m := range []aksim.Mode{aksim.FlowHold, aksim.Interleave} {
		sim.SetMode(m)
		for range 3 {
			r, err := d.Read(ctx)
			if err != nil {
				t.Fatalf("%v: %v", m, err)
			}
			if len(r.Values) != 5 || strings.ContainsAny(string(r.Raw), "\x11\x13") {
				t.Errorf("%v: reading %+v", m, r)
			}
		}
	}
	sim.SetMode(aksim.Normal)
	if _, err := d.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if v := sim.Violations(); v != 0 {
		t.Errorf("the driver sent %d bytes while XOFF was outstanding", v)
	}
	// A bench that never sends XON: the driver gives up with ErrBusy instead of writing.
	sim.SetMode(aksim.FlowHold)
	hold := aksim.New(aksim.Options{XONDelay: time.Hour})
	hold.SetMode(aksim.FlowHold)
	d2 := start(t, hold, ak.Opts{Timeout: 200 * time.Millisecond, Quiet: 2 * time.Millisecond})
	if _, err := d2.Read(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := d2.Read(ctx)
	drivertest.WantErr(t, "ak", err, drivers.ErrBusy)
	if v := hold.Violations(); v != 0 {
		t.Errorf("the driver wrote %d bytes into an XOFF", v)
	}
}

func TestSimSession(t *testing.T) {
	sim := aksim.New(aksim.Options{Manual: true, ZeroTime: 100 * time.Millisecond,
		Components: []ak.Component{{drivers.HCppm, 1}, {drivers.COpct, 1e-4}, {drivers.CO2pct, 1}, {drivers.O2pct, 1}, {drivers.NOxppm, 1}}})
	o := fast
	o.PollInterval = 20 * time.Millisecond
	o.Components = []ak.Component{{drivers.HCppm, 1}, {drivers.COpct, 1e-4}, {drivers.CO2pct, 1}, {drivers.O2pct, 1}, {drivers.NOxppm, 1}}
	d := start(t, sim, o)
	ctx := ctxT(t)

	// Manual mode: the first S-function is answered OF; the driver takes remote control.
	if st, err := d.Status(ctx); err != nil || st != drivers.Busy {
		t.Fatalf("Status in manual stand-by = %v, %v", st.Names(), err)
	}
	if err := d.SetPump(ctx, true); err != nil || !sim.Measuring() {
		t.Fatalf("SetPump = %v, measuring %v", err, sim.Measuring())
	}
	if got := sim.Requests(); !slices.Equal(got, []string{"ASTZ", "SMGA", "SREM", "SMGA"}) {
		t.Errorf("requests %v", got)
	}
	r, err := d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.Near(t, "CO (sent in ppm)", r.Values[drivers.COpct], 0.2, 0.02)
	drivertest.Near(t, "NOx", r.Values[drivers.NOxppm], 80, 5)
	if st, err := d.Status(ctx); err != nil || st != 0 {
		t.Errorf("Status measuring = %v, %v", st.Names(), err)
	}
	if err := d.Zero(ctx); err != nil {
		t.Fatal(err)
	}
	if !sim.Measuring() {
		t.Error("Zero did not return to sample gas")
	}
	sim.SetErrors("E042")
	r, err = d.Read(ctx)
	if err != nil || r.Status != drivers.Fault {
		t.Errorf("reading with an error: %v, %v", r.Status.Names(), err)
	}
	if codes, err := d.Errors(ctx); err != nil || !slices.Equal(codes, []string{"E042"}) {
		t.Errorf("Errors = %v, %v", codes, err)
	}
	if _, err := d.Call(ctx, "SEMB", "M9"); err != nil {
		t.Errorf("SEMB M9: %v", err)
	}
	if _, err := d.Call(ctx, "SEMB", "X"); !errors.Is(err, drivers.ErrNAK) {
		t.Errorf("SEMB X: %v", err)
	}
	if err := d.Manual(ctx); err != nil {
		t.Fatal(err)
	}
	noAuto := o
	noAuto.NoAutoRemote = true
	d2 := start(t, sim, noAuto)
	drivertest.WantErr(t, "ak", d2.SetPump(ctx, false), drivers.ErrBusy)
	if err := d2.Remote(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d2.SetPump(ctx, false); err != nil || sim.Measuring() {
		t.Errorf("STBY = %v, measuring %v", err, sim.Measuring())
	}

	failing := aksim.New(aksim.Options{ZeroTime: 50 * time.Millisecond, ZeroFail: true})
	d3 := start(t, failing, o)
	drivertest.WantErr(t, "ak", d3.Zero(ctx), drivers.ErrFailed)
	slow := aksim.New(aksim.Options{ZeroTime: time.Hour})
	o.OpTimeout = 200 * time.Millisecond
	d4 := start(t, slow, o)
	drivertest.WantErr(t, "ak", d4.Zero(ctx), drivers.ErrTimeout)
}
