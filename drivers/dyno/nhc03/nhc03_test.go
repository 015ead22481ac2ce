package nhc03_test

import (
	"context"
	"io"
	"math"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
	"imagent/drivers/drivertest"
	"imagent/drivers/dyno/nhc03"
	"imagent/drivers/dyno/nhc03/nhc03sim"
)

// fast are options for replays: tiny drain time, a short reply timeout.
func fast() nhc03.Opts {
	return nhc03.Opts{Timeout: 100 * time.Millisecond, Quiet: 2 * time.Millisecond}
}

func wantReading(t *testing.T, r drivers.Reading, power, force, speed float64, st drivers.Status, rawLen int) {
	t.Helper()
	drivertest.Near(t, "power_kw", r.Values[drivers.PowerKW], power, 1e-9)
	drivertest.Near(t, "force_n", r.Values[drivers.ForceN], force, 1e-9)
	drivertest.Near(t, "speed_kmh", r.Values[drivers.SpeedKmh], speed, 1e-9)
	if len(r.Values) != 3 || r.Status != st || len(r.Raw) != rawLen || r.Time.IsZero() {
		t.Errorf("reading %+v, want status %v and %d raw bytes", r, st.Names(), rawLen)
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type traceCase struct {
	opts func() nhc03.Opts
	run  func(t *testing.T, ctx context.Context, d *nhc03.Dev)
}

var traceCases = map[string]traceCase{
	"realtime.trace": {fast, func(t *testing.T, ctx context.Context, d *nhc03.Dev) {
		r, err := d.Read(ctx)
		mustOK(t, err)
		wantReading(t, r, 10, 1440, 25, 0, nhc03.RealtimeLen+nhc03.WordLen)
	}},
	"lift.trace": {fast, func(t *testing.T, ctx context.Context, d *nhc03.Dev) {
		mustOK(t, d.SetLift(ctx, true))
		r, err := d.Read(ctx)
		mustOK(t, err)
		wantReading(t, r, 0, 850.7, 0, drivers.LiftUp, nhc03.RealtimeLen+nhc03.WordLen)
		mustOK(t, d.SetLift(ctx, false))
		st, err := d.Status(ctx)
		if err != nil || st != drivers.Busy {
			t.Errorf("Status while the lift travels = %v, %v; want busy", st.Names(), err)
		}
	}},
	"control.trace": {fast, func(t *testing.T, ctx context.Context, d *nhc03.Dev) {
		mustOK(t, d.SetControl(ctx, drivers.ControlSpeed, 40))
		r, err := d.Read(ctx)
		mustOK(t, err)
		wantReading(t, r, 1.31, 118, 39.98, drivers.Controlling, nhc03.RealtimeLen+nhc03.WordLen)
		mustOK(t, d.SetControl(ctx, drivers.ControlForce, 1200.5))
		mustOK(t, d.SetControl(ctx, drivers.ControlPower, 10))
		mustOK(t, d.SetControl(ctx, drivers.ControlOff, 0))
	}},
	"motor_vars.trace": {fast, func(t *testing.T, ctx context.Context, d *nhc03.Dev) {
		mustOK(t, d.SetMotor(ctx, true))
		mustOK(t, d.SetMotor(ctx, false))
		if m, err := d.ReadDistance(ctx); err != nil || m != 291 {
			t.Errorf("ReadDistance = %v, %v", m, err)
		}
		mustOK(t, d.ResetDistance(ctx))
		if kg, err := d.ReadInertia(ctx); err != nil || kg != 907 {
			t.Errorf("ReadInertia = %v, %v", kg, err)
		}
	}},
	"nak.trace": {fast, func(t *testing.T, ctx context.Context, d *nhc03.Dev) {
		r, err := d.Read(ctx)
		drivertest.WantErr(t, "nhc03", err, drivers.ErrNAK)
		if r.Values != nil || r.Raw != nil {
			t.Errorf("NAK gave a reading %+v", r)
		}
		drivertest.WantErr(t, "nhc03", d.SetLift(ctx, true), drivers.ErrNAK)
	}},
	"noise.trace": {func() nhc03.Opts { o := fast(); o.NoStatusPoll = true; return o }, func(t *testing.T, ctx context.Context, d *nhc03.Dev) {
		for _, want := range []error{drivers.ErrChecksum, drivers.ErrFrame, drivers.ErrTimeout} {
			r, err := d.Read(ctx)
			drivertest.WantErr(t, "nhc03", err, want)
			if r.Values != nil {
				t.Errorf("%v came with values", err)
			}
		}
		r, err := d.Read(ctx)
		mustOK(t, err)
		wantReading(t, r, 10, 1440, 25, 0, nhc03.RealtimeLen)
	}},
}

func TestTraces(t *testing.T) {
	drivertest.ReplayDir(t, "testdata", traceCases, func(t *testing.T, ctx context.Context, p *drivertest.Playback, tc traceCase) {
		d, err := nhc03.New(p, tc.opts())
		if err != nil {
			t.Fatal(err)
		}
		tc.run(t, ctx, d)
	})
}

func TestNewOptions(t *testing.T) {
	p := drivertest.NewPlayback(&drivertest.Trace{})
	for _, o := range []nhc03.Opts{{Timeout: -1}, {Quiet: -time.Second}} {
		if _, err := nhc03.New(p, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := nhc03.New(nil, nhc03.DefaultOpts); err == nil {
		t.Error("New(nil port) accepted")
	}
	d, err := nhc03.New(p, nhc03.DefaultOpts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		mode   drivers.ControlMode
		target float64
	}{{drivers.ControlSpeed, -1}, {drivers.ControlSpeed, 700}, {drivers.ControlPower, 656}, {drivers.ControlForce, 1e6},
		{drivers.ControlForce, math.NaN()}, {drivers.ControlMode(7), 0}} {
		if err := d.SetControl(ctx, tc.mode, tc.target); err == nil {
			t.Errorf("SetControl(%v, %v) accepted", tc.mode, tc.target)
		}
	}
	if err := p.Close(); err != nil {
		t.Errorf("New or a rejected SetControl did I/O: %v", err)
	}
}

var mode9600 = serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}

func TestConformance(t *testing.T) {
	drivertest.Conformance(t, drivertest.Harness{
		Mode: mode9600,
		Serve: func(ctx context.Context, rw io.ReadWriter) error {
			return nhc03sim.New(nhc03sim.Options{}).Serve(ctx, rw)
		},
		New: func(rw io.ReadWriter) (drivers.Device, error) { return nhc03.New(rw, nhc03.DefaultOpts) },
	})
}

func ctxT(t *testing.T) context.Context { return drivertest.Context(t, 30*time.Second) }

func startSim(t *testing.T, sim *nhc03sim.Sim, o nhc03.Opts) *nhc03.Dev {
	return drivertest.StartSim(t, sim.Serve, mode9600, nhc03.New, o)
}

// TestSerialNoise: every fault mode gives an error (never a panic or a bogus reading),
// and the same Dev reads correctly once the line is clean again.
func TestSerialNoise(t *testing.T) {
	sim := nhc03sim.New(nhc03sim.Options{Seed: 5})
	sim.Roller().SetThrottle(0.3)
	d := startSim(t, sim, nhc03.Opts{Timeout: 150 * time.Millisecond})
	ctx := ctxT(t)
	drivertest.Noise[nhc03sim.Mode]{
		Device: d, SetMode: sim.SetMode, Normal: nhc03sim.Normal, Reads: 3,
		Cases: []drivertest.NoiseCase[nhc03sim.Mode]{
			{Mode: nhc03sim.Garbage, Want: drivers.ErrChecksum, Or: drivers.ErrFrame},
			{Mode: nhc03sim.BadChecksum, Want: drivers.ErrChecksum},
			{Mode: nhc03sim.Truncated, Want: drivers.ErrTimeout},
			{Mode: nhc03sim.NAKAll, Want: drivers.ErrNAK},
			{Mode: nhc03sim.Silent, Want: drivers.ErrTimeout},
		},
		Check: func(t *testing.T, mode nhc03sim.Mode, r drivers.Reading) {
			if r.Values[drivers.SpeedKmh] <= 0 {
				t.Errorf("after mode %v: speed %v with the throttle open", mode, r.Values[drivers.SpeedKmh])
			}
		},
	}.Run(t, ctx)
}

// TestSimSession: the lane's steps against the simulator over a pty: lift down (it
// travels), vehicle at 25 km/h, constant power, constant speed, motor, distance.
func TestSimSession(t *testing.T) {
	sim := nhc03sim.New(nhc03sim.Options{Seed: 6, LiftTime: 300 * time.Millisecond})
	d := startSim(t, sim, nhc03.Opts{})
	ctx := ctxT(t)

	mustOK(t, d.SetLift(ctx, true))
	if st, err := d.Status(ctx); err != nil || st != drivers.Busy {
		t.Errorf("Status while the lift rises = %v, %v", st.Names(), err)
	}
	waitFor(t, ctx, d, "lift up", func(r drivers.Reading) bool { return r.Status == drivers.LiftUp })
	mustOK(t, d.SetLift(ctx, false))
	waitFor(t, ctx, d, "lift down", func(r drivers.Reading) bool { return r.Status == 0 })

	sim.Roller().SetDriveSpeed(25)
	waitFor(t, ctx, d, "25 km/h", func(r drivers.Reading) bool { return math.Abs(r.Values[drivers.SpeedKmh]-25) < 0.5 })
	mustOK(t, d.SetControl(ctx, drivers.ControlPower, 10))
	if sim.Var(nhc03.VarPowerTarget) != 1000 {
		t.Errorf("variable 228 = %d", sim.Var(nhc03.VarPowerTarget))
	}
	r := waitFor(t, ctx, d, "10 kW", func(r drivers.Reading) bool {
		return math.Abs(r.Values[drivers.PowerKW]-10) < 0.3 && math.Abs(r.Values[drivers.SpeedKmh]-25) < 0.5
	})
	drivertest.Near(t, "force at 10 kW, 25 km/h", r.Values[drivers.ForceN], 1440, 50)
	if r.Status != drivers.Controlling {
		t.Errorf("status %v", r.Status.Names())
	}
	mustOK(t, d.SetControl(ctx, drivers.ControlForce, 800.3))
	if m, f := sim.Roller().Control(); m != drivers.ControlForce || math.Abs(f-800.3) > 1e-9 {
		t.Errorf("simulator control %v %v", m, f)
	}
	mustOK(t, d.SetControl(ctx, drivers.ControlSpeed, 20))
	sim.Roller().SetDriveSpeed(30)
	waitFor(t, ctx, d, "held at 20 km/h", func(r drivers.Reading) bool { return math.Abs(r.Values[drivers.SpeedKmh]-20) < 0.5 })
	if m, err := d.ReadDistance(ctx); err != nil || m < 10 {
		t.Errorf("distance %v m, %v", m, err)
	}
	mustOK(t, d.ResetDistance(ctx))
	if m, err := d.ReadDistance(ctx); err != nil || m > 5 {
		t.Errorf("distance after reset %v m, %v", m, err)
	}
	mustOK(t, d.SetControl(ctx, drivers.ControlOff, 0))
	sim.Roller().SetThrottle(0)
	mustOK(t, d.SetMotor(ctx, true))
	r = waitFor(t, ctx, d, "motor spin-up", func(r drivers.Reading) bool { return r.Values[drivers.SpeedKmh] > 30 })
	if r.Status != drivers.MotorOn {
		t.Errorf("status %v", r.Status.Names())
	}
	mustOK(t, d.SetMotor(ctx, false))
	if kg, err := d.ReadInertia(ctx); err != nil || kg != 907 {
		t.Errorf("ReadInertia = %v, %v", kg, err)
	}
	if c := sim.Counters(); c.BadRequests != 0 {
		t.Errorf("counters %+v", c)
	}
}

func waitFor(t *testing.T, ctx context.Context, d *nhc03.Dev, what string, ok func(drivers.Reading) bool) drivers.Reading {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var r drivers.Reading
	var err error
	for time.Now().Before(deadline) {
		if r, err = d.Read(ctx); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok(r) {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s within 15 s; last reading %v %v", what, r.Values, r.Status.Names())
	return r
}
