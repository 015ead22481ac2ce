package nha506sim

import (
	"context"
	"sync"
	"testing"
	"time"

	"imagent/drivers/gas/nha506"
)

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

func TestReplyStates(t *testing.T) {
	clk := &clock{t: time.Unix(1700000000, 0)}
	s := New(Options{Warmup: 10 * time.Second, ZeroTime: 5 * time.Second, Clock: clk.Now})
	for _, step := range []struct {
		after time.Duration
		want  byte
	}{{0, 'H'}, {9 * time.Second, 'H'}, {time.Second, 'Z'}, {5 * time.Second, 'W'}} {
		clk.Add(step.after)
		if r := s.Reply(nha506.CmdStatus); len(r) != 1 || r[0] != step.want {
			t.Fatalf("status = % x, want %q", r, step.want)
		}
	}
	if r := s.Reply(0x99); r[0] != nha506.NAK {
		t.Errorf("unknown command: % x", r)
	}
	x, err := nha506.DecodeData(s.Reply(nha506.CmdData), false)
	if err != nil || x.O2 != 20.9 {
		t.Errorf("pump off: %+v, %v", x, err)
	}
	s.Reply(nha506.CmdPump)
	if x, _ := nha506.DecodeData(s.Reply(nha506.CmdData), false); x.CO2 < 14 {
		t.Errorf("pump on: %+v", x)
	}
	for _, m := range []Mode{Silent, NAKAll, Garbage, BadChecksum, Truncated} {
		s.SetMode(m)
		r := s.Reply(nha506.CmdData)
		if _, err := nha506.DecodeData(r, false); err == nil {
			t.Errorf("mode %v: data decoded", m)
		}
		if m == Silent || m == NAKAll || m == Garbage {
			r := append(s.Reply(nha506.CmdStatus), 0)
			if st, err := nha506.StatusFromByte(r[0]); err == nil {
				t.Errorf("mode %v: status decoded %v", m, st.Names())
			}
		}
	}
}

func TestServeCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := New(Options{}).Serve(ctx, nil); err != nil {
		t.Errorf("Serve with a done ctx: %v", err)
	}
}
