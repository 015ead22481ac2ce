package nhc03sim

import (
	"sync"
	"testing"
	"time"

	"imagent/drivers"
	"imagent/drivers/dyno/nhc03"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

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

func word(t *testing.T, b []byte) uint16 {
	t.Helper()
	_, v, err := nhc03.DecodeWord(b)
	if err != nil {
		t.Fatalf("% x: %v", b, err)
	}
	return v
}

func TestRequests(t *testing.T) {
	c := &fakeClock{t: time.Unix(1700000000, 0)}
	s := New(Options{Clock: c.Now, LiftTime: time.Second})
	ack := func(r nhc03.Request) {
		t.Helper()
		if b := s.Reply(r); len(b) != 1 || b[0] != nhc03.ACK {
			t.Fatalf("%+v answered % x", r, b)
		}
	}
	status := nhc03.Request{Cmd: nhc03.CmdStatus}
	if w := word(t, s.Reply(status)); w != nhc03.StatusLiftDown {
		t.Errorf("status at start %#04x", w)
	}
	ack(nhc03.Request{Cmd: nhc03.CtrlLiftUp})
	if w := word(t, s.Reply(status)); w != 0 {
		t.Errorf("status while rising %#04x", w)
	}
	c.Add(time.Second)
	if w := word(t, s.Reply(status)); w != nhc03.StatusLiftUp {
		t.Errorf("status after 1 s %#04x", w)
	}
	ack(nhc03.Request{Cmd: nhc03.CmdWriteVar, Var: nhc03.VarForceTarget, Value: 700})
	ack(nhc03.Request{Cmd: nhc03.CmdWriteVar, Var: nhc03.VarForceTenths, Value: 4})
	ack(nhc03.Request{Cmd: nhc03.CtrlForce})
	if m, f := s.Roller().Control(); m != drivers.ControlForce || f != 700.4 {
		t.Errorf("control %v %v", m, f)
	}
	if v := word(t, s.Reply(nhc03.Request{Cmd: nhc03.CmdReadVar, Var: nhc03.VarForceTenths})); v != 4 {
		t.Errorf("variable 202 reads %d", v)
	}
	if v := word(t, s.Reply(nhc03.Request{Cmd: nhc03.CmdReadVar, Var: nhc03.VarInertia})); v != 907 {
		t.Errorf("inertia %d", v)
	}
	if b := s.Reply(nhc03.Request{Cmd: 'z'}); len(b) != 1 || b[0] != nhc03.NAK {
		t.Errorf("unknown control word answered % x", b)
	}
	if x, err := nhc03.DecodeRealtime(s.Reply(nhc03.Request{Cmd: nhc03.CmdRealtime})); err != nil || x.SpeedKmh != 0 {
		t.Errorf("real-time %+v %v", x, err)
	}
}

func TestFaultModes(t *testing.T) {
	s := New(Options{Seed: 2})
	rt := nhc03.Request{Cmd: nhc03.CmdRealtime}
	for _, tc := range []struct {
		m    Mode
		okFn func([]byte) bool
	}{
		{Silent, func(b []byte) bool { return b == nil }},
		{NAKAll, func(b []byte) bool { return len(b) == 1 && b[0] == nhc03.NAK }},
		{Garbage, func(b []byte) bool { return len(b) == nhc03.RealtimeLen && b[0] != nhc03.NAK }},
		{BadChecksum, func(b []byte) bool {
			_, err := nhc03.DecodeRealtime(b)
			return err != nil && len(b) == nhc03.RealtimeLen
		}},
		{Truncated, func(b []byte) bool { return len(b) == nhc03.RealtimeLen/2 }},
	} {
		s.SetMode(tc.m)
		if b := s.Reply(rt); !tc.okFn(b) {
			t.Errorf("mode %v: % x", tc.m, b)
		}
	}
	// Requests are found after garbage and a bad checksum.
	good := nhc03.EncodeRequest(rt)
	bad := good
	bad[6]++
	buf := append(append([]byte{0x13, 0x08}, bad[:]...), good[:]...)
	r, rest, ok := s.next(buf)
	if !ok || r != rt || len(rest) != 0 || s.Counters().BadRequests < 1 {
		t.Errorf("next = %+v % x %v, counters %+v", r, rest, ok, s.Counters())
	}
}
