package nanhuasim

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/simport"
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

func cmd(t *testing.T, m nanhua.Model, c nanhua.Cmd) byte {
	t.Helper()
	b, err := nanhua.CommandByte(m, c, false)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCarRPMLag(t *testing.T) {
	c := NewCar(1)
	t0 := time.Unix(0, 0)
	if e := c.Exhaust(t0); math.Abs(e.RPM-IdleRPM) > 10 {
		t.Fatalf("idle rpm = %v", e.RPM)
	}
	c.SetTargetRPM(2500)
	// First-order lag, τ = 1 s: after 1 s, 63 % of the step.
	want := IdleRPM + (2500-IdleRPM)*(1-math.Exp(-1))
	if e := c.Exhaust(t0.Add(time.Second)); math.Abs(e.RPM-want) > 10 {
		t.Errorf("rpm 1 s after the step = %v, want %v ± 10", e.RPM, want)
	}
	if e := c.Exhaust(t0.Add(6 * time.Second)); math.Abs(e.RPM-2500) > 15 {
		t.Errorf("rpm 6 s after the step = %v, want 2500", e.RPM)
	}
	// Time going backwards does not move the engine.
	before := c.Exhaust(t0.Add(6 * time.Second)).RPM
	if e := c.Exhaust(t0); math.Abs(e.RPM-before) > 15 {
		t.Errorf("rpm jumped to %v when the clock went back", e.RPM)
	}
	c.SetTargetRPM(0)
	if e := c.Exhaust(t0.Add(30 * time.Second)); e.RPM != 0 {
		t.Errorf("engine off reads %v r/min", e.RPM)
	}
}

func TestCarGases(t *testing.T) {
	c := NewCar(2)
	now := time.Unix(0, 0)
	for i := range 200 {
		e := c.Exhaust(now.Add(time.Duration(i) * time.Second))
		if s := e.COpct + e.CO2pct; s < 14.5 || s > 15.5 {
			t.Fatalf("clean CO+CO2 = %v", s)
		}
		if e.HCppm > 50 || e.COpct > 0.3 {
			t.Fatalf("clean car HC %v CO %v would fail the idle limits", e.HCppm, e.COpct)
		}
		if l := Lambda(e, nanhua.Gasoline); l < 0.97 || l > 1.04 {
			t.Fatalf("clean λ = %v", l)
		}
	}
	c.SetDirty(true)
	for i := range 200 {
		e := c.Exhaust(now.Add(time.Duration(200+i) * time.Second))
		if s := e.COpct + e.CO2pct; s < 14.5 || s > 15.5 {
			t.Fatalf("dirty CO+CO2 = %v", s)
		}
		if e.HCppm < 120 || e.COpct < 1 {
			t.Fatalf("dirty car HC %v CO %v would pass", e.HCppm, e.COpct)
		}
		if l := Lambda(e, nanhua.Gasoline); l > 0.99 {
			t.Fatalf("dirty λ = %v, want rich", l)
		}
	}
	c.SetProbe(false)
	c.SetOilTemp(91)
	e := c.Exhaust(now)
	if e.CO2pct != 0.04 || e.O2pct != 20.9 || e.HCppm != 0 || e.COpct != 0 || e.NOppm != 0 || e.OilTempC != 91 {
		t.Errorf("probe out: %+v, want ambient air", e)
	}
	if l := Lambda(e, nanhua.Gasoline); l != 0 {
		t.Errorf("λ of air = %v, want 0", l)
	}
}

func TestReplyStates(t *testing.T) {
	clk := newClock()
	m := nanhua.FLA502
	s := New(Options{Model: m, Warmup: 90 * time.Second, ZeroTime: 10 * time.Second, LeakTime: 5 * time.Second,
		Leak: true, Clock: clk.Now})
	status := func() byte { return s.Reply(cmd(t, m, nanhua.CmdStatus))[0] }
	main := func() nanhua.Main {
		x, err := nanhua.DecodeMain(s.Reply(cmd(t, m, nanhua.CmdMain)), m)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}

	if st := status(); st != nanhua.StatusWarmup {
		t.Errorf("status during warm-up = %#02x", st)
	}
	if w := s.Reply(cmd(t, m, nanhua.CmdWarmup)); w[0] != 0 || w[1] != 90 {
		t.Errorf("warm-up left = % x, want 00 5a", w)
	}
	if x := main(); nanhua.MainStatus(x, m) != drivers.Warmup {
		t.Errorf("main status during warm-up = %#02x", x.Status)
	}
	clk.Add(89500 * time.Millisecond)
	if w := s.Reply(cmd(t, m, nanhua.CmdWarmup)); w[1] != 1 {
		t.Errorf("warm-up left 0.5 s before the end = % x, want 00 01", w)
	}
	clk.Add(time.Second)
	if st := status(); st != nanhua.StatusReady {
		t.Errorf("status after warm-up = %#02x", st)
	}

	// Zero: 05 while running, then 00 once, then a new zero starts.
	zero := cmd(t, m, nanhua.CmdZero)
	for _, step := range []struct {
		after time.Duration
		want  byte
	}{{0, 0x05}, {5 * time.Second, 0x05}, {5 * time.Second, 0x00}, {0, 0x05}} {
		clk.Add(step.after)
		if got := s.Reply(zero)[0]; got != step.want {
			t.Fatalf("zero reply %#02x, want %#02x", got, step.want)
		}
	}
	if st := status(); st != nanhua.StatusZeroing {
		t.Errorf("status while zeroing = %#02x", st)
	}
	if got := s.Reply(cmd(t, m, nanhua.CmdLeakCheck))[0]; got != nanhua.NAK {
		t.Errorf("leak check during a zero = %#02x, want NAK", got)
	}
	clk.Add(10 * time.Second)
	s.Reply(zero)

	// Leak check with Leak set: 05 then 01.
	leak := cmd(t, m, nanhua.CmdLeakCheck)
	if got := s.Reply(leak)[0]; got != 0x05 {
		t.Errorf("leak start = %#02x", got)
	}
	if x := main(); x.Status != nanhua.StatusLeakCheck {
		t.Errorf("main status byte during leak check = %#02x", x.Status)
	}
	clk.Add(5 * time.Second)
	if got := s.Reply(leak)[0]; got != 0x01 {
		t.Errorf("leak result = %#02x, want 01 (leak)", got)
	}

	// Pump: gases are air unless the pump samples from the probe.
	if x := main(); x.O2 != 20.9 || x.CO2 != 0.04 || x.Lambda != 0 {
		t.Errorf("pump off: %+v", x)
	}
	s.Reply(cmd(t, m, nanhua.CmdPumpProbe))
	if x := main(); x.CO+x.CO2 < 14.5 || math.Abs(x.Lambda-1) > 0.04 {
		t.Errorf("pump on: %+v", x)
	}
	s.Reply(cmd(t, m, nanhua.CmdBackflush))
	if x := main(); x.O2 != 20.9 {
		t.Errorf("back-flush: %+v", x)
	}
	if got := s.Reply(0xee); len(got) != 1 || got[0] != nanhua.NAK {
		t.Errorf("unknown command: % x, want NAK", got)
	}
	a, err := nanhua.DecodeAmbient(s.Reply(cmd(t, m, nanhua.CmdAmbient)))
	if err != nil || a != (nanhua.Ambient{TempC: 20, PressureKPa: 101.3, RHpct: 50}) {
		t.Errorf("ambient = %+v, %v", a, err)
	}
}

func TestModes(t *testing.T) {
	m := nanhua.NHA503
	s := New(Options{Model: m, Seed: 9})
	mainCmd, pump := cmd(t, m, nanhua.CmdMain), cmd(t, m, nanhua.CmdPumpProbe)
	s.SetMode(Silent)
	if r := s.Reply(mainCmd); r != nil {
		t.Errorf("silent: % x", r)
	}
	s.SetMode(NAKAll)
	if r := s.Reply(pump); len(r) != 1 || r[0] != nanhua.NAK {
		t.Errorf("nak-all: % x", r)
	}
	s.SetMode(Truncated)
	if r := s.Reply(mainCmd); len(r) != nanhua.MainLen/2 {
		t.Errorf("truncated main: %d bytes", len(r))
	}
	s.SetMode(BadChecksum)
	if _, err := nanhua.DecodeMain(s.Reply(mainCmd), m); !errors.Is(err, drivers.ErrChecksum) {
		t.Errorf("bad-checksum: %v", err)
	}
	s.SetMode(Garbage)
	for range 100 {
		r := s.Reply(mainCmd)
		if len(r) != nanhua.MainLen {
			t.Fatalf("garbage: %d bytes", len(r))
		}
		if _, err := nanhua.DecodeMain(r, m); err == nil {
			t.Fatalf("garbage decoded: % x", r)
		}
		if r := s.Reply(pump); r[0] == nanhua.ACK || r[0] == nanhua.NAK {
			t.Fatalf("garbage for a 1-byte reply is a valid byte %#02x", r[0])
		}
	}
	s.SetMode(Normal)
	if _, err := nanhua.DecodeMain(s.Reply(mainCmd), m); err != nil {
		t.Errorf("normal again: %v", err)
	}
	if Garbage.String() != "garbage" || Mode(42).String() != "Mode(42)" {
		t.Error("Mode.String")
	}
}

func TestBadModel(t *testing.T) {
	err := New(Options{Model: "NHA-999"}).Serve(context.Background(), nil)
	if err == nil {
		t.Fatal("Serve with a bad model returned nil")
	}
}

// TestServePTY: Serve waits through EIO while nobody has the slave open, answers once a
// serial port is opened, survives the port being closed and reopened, and returns nil
// promptly when ctx is cancelled.
func TestServePTY(t *testing.T) {
	pty, err := simport.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(Options{}).Serve(ctx, pty.Master) }()

	time.Sleep(100 * time.Millisecond) // several EIO rounds
	select {
	case err := <-done:
		t.Fatalf("Serve returned while nobody was connected: %v", err)
	default:
	}
	for round := range 2 {
		port, err := serial.Open(pty.SlavePath, &serial.Mode{BaudRate: 9600})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := port.Write([]byte{0x01}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, nanhua.MainLen)
		if _, err := drivers.ReadFull(ctx, port, buf, 2*time.Second); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if _, err := nanhua.DecodeMain(buf, nanhua.NHA503); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		port.Close()
		time.Sleep(60 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return after ctx was cancelled")
	}
}
