package flv1000_test

import (
	"context"
	"io"
	"math"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
	"imagent/drivers/drivertest"
	"imagent/drivers/flow/flv1000"
	"imagent/drivers/flow/flv1000/flv1000sim"
)

func fast() flv1000.Opts {
	return flv1000.Opts{Timeout: time.Second, Quiet: 2 * time.Millisecond}
}

var goodRead = map[drivers.Quantity]float64{drivers.O2DilPct: 20.9, drivers.FlowKPa: 100.1, drivers.FlowTempC: 35.2,
	drivers.FlowLps: 119.6, drivers.FlowStdLps: 114}

func readGood(t *testing.T, ctx context.Context, d *flv1000.Dev) {
	t.Helper()
	r, err := d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.WantValues(t, r, goodRead)
	if r.Status != 0 || len(r.Raw) != 2*flv1000.AllLen+flv1000.StatusLen || r.Time.IsZero() {
		t.Errorf("status %v raw % x", r.Status.Names(), r.Raw)
	}
}

type traceCase struct {
	opts func() flv1000.Opts
	run  func(t *testing.T, ctx context.Context, d *flv1000.Dev)
}

var traceCases = map[string]traceCase{
	"read.trace": {fast, readGood},
	"std0c.trace": {func() flv1000.Opts { o := fast(); o.StdFlowAt0C = true; return o }, func(t *testing.T, ctx context.Context, d *flv1000.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.Near(t, "std flow rebased to 20 °C", r.Values[drivers.FlowStdLps], 106.2*293.15/273.15, 1e-9)
	}},
	"literal.trace": {func() flv1000.Opts { o := fast(); o.LiteralRequests = true; return o }, func(t *testing.T, ctx context.Context, d *flv1000.Dev) {
		v, err := d.Value(ctx, flv1000.CmdO2)
		if err != nil || v != 18.62 {
			t.Fatalf("O2 = %v, %v", v, err)
		}
		v, err = d.Value(ctx, flv1000.CmdFlowActual)
		if err != nil || v != 119.6 {
			t.Fatalf("flow = %v, %v", v, err)
		}
	}},
	"status.trace": {fast, func(t *testing.T, ctx context.Context, d *flv1000.Dev) {
		for _, want := range []drivers.Status{drivers.Warmup, drivers.LowFlow | drivers.Fault, 0} {
			st, err := d.Status(ctx)
			if err != nil || st != want {
				t.Fatalf("Status = %v, %v; want %v", st.Names(), err, want.Names())
			}
		}
	}},
	"calibrate.trace": {fast, func(t *testing.T, ctx context.Context, d *flv1000.Dev) {
		for _, err := range []error{d.CalibrateO2(ctx, 20.9), d.CalibratePressure(ctx, 101.3), d.CalibrateTemp(ctx, 35)} {
			if err != nil {
				t.Fatal(err)
			}
		}
	}},
	"nak.trace": {fast, func(t *testing.T, ctx context.Context, d *flv1000.Dev) {
		r, err := d.Read(ctx)
		drivertest.WantErr(t, "flv1000", err, drivers.ErrNAK)
		if r.Values != nil {
			t.Errorf("NAK gave values")
		}
		readGood(t, ctx, d)
	}},
	"noise.trace": {fast, func(t *testing.T, ctx context.Context, d *flv1000.Dev) {
		_, err := d.Read(ctx)
		drivertest.WantErr(t, "flv1000", err, drivers.ErrFrame)
		readGood(t, ctx, d)
		_, err = d.Read(ctx)
		drivertest.WantErr(t, "flv1000", err, drivers.ErrChecksum)
		readGood(t, ctx, d)
	}},
}

func TestTraces(t *testing.T) {
	drivertest.ReplayDir(t, "testdata", traceCases, func(t *testing.T, ctx context.Context, p *drivertest.Playback, tc traceCase) {
		d, err := flv1000.New(p, tc.opts())
		if err != nil {
			t.Fatal(err)
		}
		tc.run(t, ctx, d)
	})
}

func TestNewOptions(t *testing.T) {
	p := drivertest.NewPlayback(&drivertest.Trace{})
	if _, err := flv1000.New(p, flv1000.Opts{Quiet: -1}); err == nil {
		t.Error("negative duration accepted")
	}
	if _, err := flv1000.New(nil, flv1000.DefaultOpts); err == nil {
		t.Error("nil port accepted")
	}
	d, err := flv1000.New(p, flv1000.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.CalibrateO2Low(ctx, 10); err == nil {
		t.Error("O2 low point 10 % accepted")
	}
	if err := d.CalibrateTemp(ctx, math.NaN()); err == nil {
		t.Error("NaN accepted")
	}
	if _, err := d.Value(ctx, flv1000.CmdStatus); err == nil {
		t.Error("Value(88) accepted")
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
			return flv1000sim.New(flv1000sim.Options{}).Serve(ctx, rw)
		},
		New: func(rw io.ReadWriter) (drivers.Device, error) { return flv1000.New(rw, flv1000.Opts{}) },
	})
}

func startSim(t *testing.T, sim *flv1000sim.Sim, o flv1000.Opts) *flv1000.Dev {
	return drivertest.StartSim(t, sim.Serve, mode9600, flv1000.New, o)
}

func ctxT(t *testing.T) context.Context { return drivertest.Context(t, 20*time.Second) }

func TestSerialNoise(t *testing.T) {
	sim := flv1000sim.New(flv1000sim.Options{Seed: 3})
	o := fast()
	o.Timeout = 400 * time.Millisecond
	d := startSim(t, sim, o)
	ctx := ctxT(t)
	drivertest.Noise[flv1000sim.Mode]{
		Device: d, SetMode: sim.SetMode, Normal: flv1000sim.Normal,
		Cases: []drivertest.NoiseCase[flv1000sim.Mode]{
			{Mode: flv1000sim.Garbage, Want: drivers.ErrFrame},
			{Mode: flv1000sim.BadChecksum, Want: drivers.ErrChecksum},
			{Mode: flv1000sim.Truncated, Want: drivers.ErrTimeout},
			{Mode: flv1000sim.NAKAll, Want: drivers.ErrNAK},
			{Mode: flv1000sim.Silent, Want: drivers.ErrTimeout},
		},
		Check: func(t *testing.T, mode flv1000sim.Mode, r drivers.Reading) {
			drivertest.Near(t, "O2", r.Values[drivers.O2DilPct], 20.9, 1e-9)
			drivertest.Near(t, "flow", r.Values[drivers.FlowLps], 120, 1.3)
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

// TestSimSession: O2 warm-up, a vehicle on the hose, standard flow consistent with the
// gas law, flow out of range, the calibrations reaching the device, literal and lenient
// requests.
func TestSimSession(t *testing.T) {
	clk := &clock{t: time.Unix(1700000000, 0)}
	dil := flv1000sim.NewDilution(flv1000sim.DilutionOptions{})
	sim := flv1000sim.New(flv1000sim.Options{Dilution: dil, Clock: clk.Now, Warmup: 2 * time.Minute})
	o := fast()
	o.LiteralRequests = true // 81 goes out as the manual prints it (81-02-7B)
	d := startSim(t, sim, o)
	ctx := ctxT(t)
	r, err := d.Read(ctx)
	if err != nil || r.Status != drivers.Warmup {
		t.Fatalf("Read at power-up: %v, %v", r.Status.Names(), err)
	}
	clk.Add(2 * time.Minute)
	dil.SetExhaust(true)
	r, err = d.Read(ctx)
	if err != nil || r.Status != 0 {
		t.Fatalf("Read: %v, %v", r.Status.Names(), err)
	}
	drivertest.Near(t, "diluted O2 with exhaust", r.Values[drivers.O2DilPct], 18.6, 1e-9)
	q, tc, p := r.Values[drivers.FlowLps], r.Values[drivers.FlowTempC], r.Values[drivers.FlowKPa]
	drivertest.Near(t, "standard flow", r.Values[drivers.FlowStdLps], flv1000.StdFlow(q, tc, p, 20), 0.1)
	if v, err := d.Value(ctx, flv1000.CmdO2); err != nil || v != 18.6 {
		t.Errorf("literal 81: %v, %v", v, err)
	}
	dil.SetFlow(60)
	if st, err := d.Status(ctx); err != nil || st != drivers.LowFlow {
		t.Errorf("Status at 60 L/s = %v, %v", st.Names(), err)
	}
	if err := d.CalibrateO2High(ctx, 20.8); err != nil {
		t.Fatal(err)
	}
	if v, ok := sim.Calibration(flv1000.CmdCalO2High); !ok || v != 20.8 {
		t.Errorf("O2 high point reached the device as %v, %v", v, ok)
	}
	if err := d.CalibratePressure(ctx, 101.3); err != nil {
		t.Fatal(err)
	}
	if v, _ := sim.Calibration(flv1000.CmdCalPressure); v != 101.3 {
		t.Errorf("pressure calibration %v", v)
	}
}

func TestSimFeed(t *testing.T) {
	sim := flv1000sim.New(flv1000sim.Options{})
	// luckyzjian/VMAS frames: wrong checksum and a trailing 00. Strict: NAK; lenient: data.
	vmas := []byte{0x87, 0x02, 0x76, 0x00}
	if r := sim.Feed(vmas); len(r) != 1 || len(r[0]) != 1 || r[0][0] != flv1000.NAK {
		t.Errorf("strict: % x", r)
	}
	lenient := flv1000sim.New(flv1000sim.Options{Lenient: true})
	if r := lenient.Feed(append(vmas, vmas...)); len(r) != 2 || len(r[0]) != flv1000.AllLen || len(r[1]) != flv1000.AllLen {
		t.Errorf("lenient: % x", r)
	}
	if r := sim.Feed([]byte{0x00, 0x33, 0x86}); len(r) != 0 {
		t.Errorf("noise answered % x", r)
	}
	if r := sim.Feed([]byte{0x02, 0x78}); len(r) != 1 || len(r[0]) != flv1000.AllLen {
		t.Errorf("split request: % x", r)
	}
	if r := sim.Feed(flv1000.Request(flv1000.CmdCalO2)); len(r) != 1 || r[0][0] != flv1000.NAK {
		t.Errorf("A0 without data: % x", r)
	}
	if r := sim.Feed(flv1000.Request(flv1000.CmdFactoryReset)); len(r) != 1 || len(r[0]) != flv1000.AckLen {
		t.Errorf("AC: % x", r)
	}
	if flv1000sim.Mode(7).String() == "" || flv1000sim.Truncated.String() != "truncated" {
		t.Error("Mode.String")
	}
}
