package xinchengsim

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"imagent/drivers"
	"imagent/drivers/drivertest"
	"imagent/drivers/dyno/xincheng"
)

// fakeClock is a test clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1700000000, 0)} }
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// run advances the roller by d in 10 ms frames and returns the last state.
func run(r *Roller, c *fakeClock, d time.Duration) RollerState {
	var st RollerState
	for end := c.Now().Add(d); c.Now().Before(end); {
		c.Add(10 * time.Millisecond)
		st = r.Step(c.Now())
	}
	return st
}

func TestRollerASM(t *testing.T) {
	c := newClock()
	r := NewRoller(RollerOptions{NoiseN: -1})
	r.Step(c.Now())
	r.SetDriveSpeed(25)
	st := run(r, c, 5*time.Second)
	drivertest.Near(t, "speed, no load", st.SpeedKmh, 25, 0.1)
	drivertest.Near(t, "force, no load", st.ForceN, 0, 1e-9)
	// ASM 5025 for a 1480 kg car: 10 kW at 25 km/h.
	r.SetControl(drivers.ControlPower, 10)
	st = run(r, c, 5*time.Second)
	drivertest.Near(t, "speed under load", st.SpeedKmh, 25, 0.1)
	drivertest.Near(t, "power", st.PowerKW, 10, 0.05)
	drivertest.Near(t, "force", st.ForceN, 1440, 10)
	drivertest.Near(t, "duty", st.DutyPct, 24, 0.5)
	// Constant force.
	r.SetControl(drivers.ControlForce, 800)
	st = run(r, c, 3*time.Second)
	drivertest.Near(t, "constant force", st.ForceN, 800, 1)
	// Constant speed beats the driver: the absorber holds 40 while the driver aims at 45.
	r.SetControl(drivers.ControlSpeed, 40)
	r.SetDriveSpeed(45)
	st = run(r, c, 5*time.Second)
	drivertest.Near(t, "held speed", st.SpeedKmh, 40, 0.3)
	if st.ForceN <= 0 {
		t.Errorf("holding 40 against the driver takes a braking force, got %v", st.ForceN)
	}
	if st.DistanceM < 50 {
		t.Errorf("distance %v m after 18 s on the rollers", st.DistanceM)
	}
}

func TestRollerCoastDownAndLift(t *testing.T) {
	c := newClock()
	r := NewRoller(RollerOptions{NoiseN: -1})
	r.Step(c.Now())
	r.SetMotor(true)
	st := run(r, c, 10*time.Second)
	drivertest.Near(t, "motor spin-up", st.SpeedKmh, 80, 1)
	r.SetMotor(false)
	st = run(r, c, time.Second)
	if st.SpeedKmh >= 80 || st.SpeedKmh < 70 {
		t.Errorf("coasting 1 s from 80 km/h on parasitic losses alone: %v km/h", st.SpeedKmh)
	}
	r.SetControl(drivers.ControlForce, 1000) // a coast-down under load is faster
	prev := st.SpeedKmh
	st = run(r, c, time.Second)
	if prev-st.SpeedKmh < 3.5 { // 1000 N on 907 kg: 1.1 m/s², 4 km/h per second
		t.Errorf("1000 N load slowed %v→%v km/h in 1 s", prev, st.SpeedKmh)
	}
	r.SetLift(true)
	st = run(r, c, 3*time.Second)
	if st.SpeedKmh != 0 || st.ForceN != 0 || !st.Lift {
		t.Errorf("lift up: %+v", st)
	}
	r.SetThrottle(1) // the wheels on a raised lift cannot turn the rollers
	if st = run(r, c, time.Second); st.SpeedKmh != 0 {
		t.Errorf("rollers turn with the lift up: %v", st.SpeedKmh)
	}
	// A clock that goes back does not move the rollers.
	before := r.State()
	if st := r.Step(c.Now().Add(-time.Hour)); st.DistanceM != before.DistanceM {
		t.Error("clock going back moved the rollers")
	}
}

func TestCommands(t *testing.T) {
	c := newClock()
	sim := New(Options{Clock: c.Now, Seed: 1, Ambient: Ambient{TempC: 15, RHpct: 40, PressureKPa: 95}})
	send := func(code xincheng.Cmd, v float32) []byte { return sim.Command(code, v) }
	if out := send(xincheng.SetSpeed, 30); out != nil {
		t.Errorf("set speed answered % x", out)
	}
	send(xincheng.StartSpeed, 0)
	if m, v := sim.Roller().Control(); m != drivers.ControlSpeed || v != 30 {
		t.Errorf("control %v %v", m, v)
	}
	f, err := xincheng.DecodeReply(sim.StreamFrame(), xincheng.V81)
	if err != nil || f.Func != xincheng.StreamSpeed {
		t.Fatalf("stream frame %+v %v", f, err)
	}
	out := send(xincheng.ReadAmbient, 0)
	a, err := xincheng.DecodeReply(out, xincheng.V81)
	if err != nil || a.Func != xincheng.ReadAmbient {
		t.Fatalf("ambient answer % x: %v", out, err)
	}
	drivertest.Near(t, "ambient T", float64(a.V[0]), 15, 0.2)
	drivertest.Near(t, "ambient P", float64(a.V[2]), 95, 0.05)
	send(xincheng.StopControl, 0)
	send(xincheng.LiftUp, 0)
	send(xincheng.MotorStart, 0)
	if st := sim.Roller().State(); st.Mode != drivers.ControlOff || !st.Lift || !st.Motor {
		t.Errorf("state %+v", st)
	}
	sim.SetKey(0x2d)
	send(xincheng.ClearKey, 0)
	if f, _ := xincheng.DecodeReply(sim.StreamFrame(), xincheng.V81); f.Key != 0x05 {
		t.Errorf("key after XSK = %#x, want photocells only", f.Key)
	}

	// parse: garbage, a bad checksum and a split command.
	var answers [][]byte
	cmd := xincheng.EncodeCommand(xincheng.ReadRoller, 0)
	bad := cmd
	bad[7]++
	stream := append([]byte{0x13, 'X', 0x00}, bad[:]...)
	stream = append(stream, cmd[:]...)
	rest := sim.parse(stream[:len(stream)-3], func(b []byte) { answers = append(answers, b) })
	rest = sim.parse(append(rest, stream[len(stream)-3:]...), func(b []byte) { answers = append(answers, b) })
	if len(answers) != 1 || len(rest) != 0 {
		t.Fatalf("answers %d, rest % x", len(answers), rest)
	}
	if r, _ := xincheng.DecodeReply(answers[0], xincheng.V81); r.Func != xincheng.ReadRoller || r.V[0] != 21.8 {
		t.Errorf("roller answer %+v", r)
	}
	if n := sim.Counters().BadCommands; n == 0 {
		t.Error("bad checksum not counted")
	}
}

func TestFaultModes(t *testing.T) {
	sim := New(Options{Seed: 3})
	good := sim.StreamFrame()
	for _, tc := range []struct {
		m     Mode
		check func([]byte) bool
	}{
		{Silent, func(b []byte) bool { return b == nil }},
		{Garbage, func(b []byte) bool {
			return len(b) == len(good) && !bytes.ContainsAny(b, "ADC")
		}},
		{Corrupt, func(b []byte) bool { return len(b) == len(good) && b[len(b)-1] != xincheng.Tail }},
		{Truncated, func(b []byte) bool { return len(b) == len(good)/2 }},
		{Noisy, func(b []byte) bool {
			return len(b) > len(good) && b[len(b)-1] == xincheng.Tail
		}},
	} {
		sim.SetMode(tc.m)
		if b := sim.StreamFrame(); !tc.check(b) {
			t.Errorf("mode %v: % x", tc.m, b)
		}
		if tc.m.String() == "" {
			t.Error("no name")
		}
	}
	if New(Options{Version: 9}).Serve(context.Background(), nil) == nil {
		t.Error("Serve with a bad version did not fail")
	}
}
