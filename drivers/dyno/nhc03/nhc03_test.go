package nhc03_test

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
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

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) {
		t.Errorf("%s = %v, want %v ± %v", what, got, want, tol)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
	if !strings.HasPrefix(err.Error(), "nhc03: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
}

func wantReading(t *testing.T, r drivers.Reading, power, force, speed float64, st drivers.Status, rawLen int) {
	t.Helper()
	near(t, "power_kw", r.Values[drivers.PowerKW], power, 1e-9)
	near(t, "force_n", r.Values[drivers.ForceN], force, 1e-9)
	near(t, "speed_kmh", r.Values[drivers.SpeedKmh], speed, 1e-9)
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

var traceCases = map[string]struct {
	opts func() nhc03.Opts
	run  func(t *testing.T, ctx context.Context, d *nhc03.Dev)
}{
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
		wantErr(t, err, drivers.ErrNAK)
		if r.Values != nil || r.Raw != nil {
			t.Errorf("NAK gave a reading %+v", r)
		}
		wantErr(t, d.SetLift(ctx, true), drivers.ErrNAK)
	}},
	"noise.trace": {func() nhc03.Opts { o := fast(); o.NoStatusPoll = true; return o }, func(t *testing.T, ctx context.Context, d *nhc03.Dev) {
		for _, want := range []error{drivers.ErrChecksum, drivers.ErrFrame, drivers.ErrTimeout} {
			r, err := d.Read(ctx)
			wantErr(t, err, want)
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
	files, err := filepath.Glob("testdata/*.trace")
	if err != nil || len(files) == 0 {
		t.Fatalf("no traces: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		tc, ok := traceCases[name]
		if !ok {
			t.Errorf("%s has no entry in traceCases", name)
			continue
		}
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := drivertest.ParseTrace(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(tr.Header, "\n"), "source:") {
			t.Errorf("%s: header has no source: line", name)
		}
		for _, oneByte := range []bool{false, true} {
			t.Run(strings.TrimSuffix(name, ".trace")+map[bool]string{false: "/whole", true: "/bytewise"}[oneByte], func(t *testing.T) {
				p := drivertest.NewPlayback(tr)
				p.OneByte = oneByte
				d, err := nhc03.New(p, tc.opts())
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				tc.run(t, ctx, d)
				if err := p.Close(); err != nil {
					t.Error(err)
				}
			})
		}
	}
	for name := range traceCases {
		if _, err := os.Stat(filepath.Join("testdata", name)); err != nil {
			t.Errorf("traceCases names %s, which does not exist", name)
		}
	}
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

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startSim(t *testing.T, sim *nhc03sim.Sim, o nhc03.Opts) *nhc03.Dev {
	t.Helper()
	sp := drivertest.OpenSimPort(t, sim.Serve, mode9600)
	d, err := nhc03.New(sp.Port, o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSerialNoise: every fault mode gives an error (never a panic or a bogus reading),
// and the same Dev reads correctly once the line is clean again.
func TestSerialNoise(t *testing.T) {
	sim := nhc03sim.New(nhc03sim.Options{Seed: 5})
	sim.Roller().SetThrottle(0.3)
	d := startSim(t, sim, nhc03.Opts{Timeout: 150 * time.Millisecond})
	ctx := ctxT(t)
	for _, tc := range []struct {
		mode nhc03sim.Mode
		want []error
	}{
		{nhc03sim.Garbage, []error{drivers.ErrChecksum, drivers.ErrFrame}},
		{nhc03sim.BadChecksum, []error{drivers.ErrChecksum}},
		{nhc03sim.Truncated, []error{drivers.ErrTimeout}},
		{nhc03sim.NAKAll, []error{drivers.ErrNAK}},
		{nhc03sim.Silent, []error{drivers.ErrTimeout}},
	} {
		sim.SetMode(tc.mode)
		for range 3 {
			r, err := d.Read(ctx)
			if !slicesHas(err, tc.want) {
				t.Errorf("mode %v: Read err = %v, want one of %v", tc.mode, err, tc.want)
			}
			if r.Values != nil {
				t.Errorf("mode %v: Read returned values with an error", tc.mode)
			}
		}
		sim.SetMode(nhc03sim.Normal)
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatalf("after mode %v, Normal: %v", tc.mode, err)
		}
		if r.Values[drivers.SpeedKmh] <= 0 {
			t.Errorf("after mode %v: speed %v with the throttle open", tc.mode, r.Values[drivers.SpeedKmh])
		}
	}
}

func slicesHas(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
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
	near(t, "force at 10 kW, 25 km/h", r.Values[drivers.ForceN], 1440, 50)
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
