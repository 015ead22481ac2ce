package mingquansim

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"imagent/drivers"
	"imagent/drivers/gas/mingquan"
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

func feed(s *Sim, b []byte) []byte {
	var out []byte
	for _, c := range b {
		out = append(out, s.Reply(c)...)
	}
	return out
}

func req(cmd byte, data ...byte) []byte { return mingquan.EncodeFrame(mingquan.STX, cmd, data) }

func TestFraming(t *testing.T) {
	clk := &clock{t: time.Unix(1700000000, 0)}
	s := New(Options{Clock: clk.Now})
	// Noise before a frame is ignored; the frame is answered once complete.
	if r := feed(s, []byte{0x00, 0xff, 0x06}); r != nil {
		t.Errorf("noise answered % x", r)
	}
	if r := feed(s, req(mingquan.CmdPumpProbe)); !bytes.Equal(r, []byte{0x06, 0x7b, 0x03, 0x7c}) {
		t.Errorf("pump probe = % x", r)
	}
	// A bad checksum or an unknown command is answered NAK.
	bad := req(mingquan.CmdData)
	bad[3]++
	if r := feed(s, bad); !bytes.Equal(r, []byte{mingquan.NAK}) {
		t.Errorf("bad checksum = % x", r)
	}
	if r := feed(s, req(0x5f)); !bytes.Equal(r, []byte{mingquan.NAK}) {
		t.Errorf("unknown command = % x", r)
	}
	if r := feed(s, []byte{0x02, 0x60, 0x01}); !bytes.Equal(r, []byte{mingquan.NAK}) {
		t.Errorf("length 1 = % x", r)
	}
	// A frame abandoned half way is forgotten after a second.
	feed(s, []byte{0x02, 0x60})
	clk.Add(2 * time.Second)
	if r := feed(s, req(mingquan.CmdStatus)); len(r) != mingquan.StatusLen {
		t.Errorf("status after a stale frame = % x", r)
	}
	// The MQW-50A has no 0xA3.
	if r := feed(s, req(mingquan.CmdDataB)); !bytes.Equal(r, []byte{mingquan.NAK}) {
		t.Errorf("0xA3 on the 50A = % x", r)
	}
	if got := s.Commands(); len(got) != 4 || got[0] != mingquan.CmdPumpProbe {
		t.Errorf("commands = % x", got)
	}
}

func TestOperations(t *testing.T) {
	clk := &clock{t: time.Unix(1700000000, 0)}
	s := New(Options{Clock: clk.Now, Warmup: 10 * time.Second, OpTime: 5 * time.Second, Leak: true})
	status := func() mingquan.Status {
		t.Helper()
		st, err := mingquan.DecodeStatus(feed(s, req(mingquan.CmdStatus)))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := status(); st.Drivers() != drivers.Warmup || !st.Busy() {
		t.Errorf("warm-up status %+v", st)
	}
	if r := feed(s, req(mingquan.CmdZero)); r[0] != mingquan.NAK {
		t.Errorf("zero during warm-up = % x", r)
	}
	clk.Add(10 * time.Second)
	feed(s, req(mingquan.CmdLeakCheck))
	if st := status(); st.Drivers() != drivers.LeakCheck || !st.Busy() {
		t.Errorf("leak check status %+v", st)
	}
	if r := feed(s, req(mingquan.CmdZero)); r[0] != mingquan.NAK {
		t.Errorf("zero during a leak check = % x", r)
	}
	x, err := mingquan.DecodeData(feed(s, req(mingquan.CmdData)))
	if err != nil || x.O2 != 20.9 {
		t.Errorf("data during leak check %+v, %v", x, err)
	}
	clk.Add(5 * time.Second)
	if st := status(); st.Busy() || st.Errors != mingquan.ErrLeak {
		t.Errorf("after the leak check %+v", st)
	}
	cal, err := mingquan.EncodeCalibrate(drivers.CalGas{C3H8ppm: 200, COpct: 0.5, CO2pct: 12, NOppm: 300, O2pct: 1}, 100)
	if err != nil {
		t.Fatal(err)
	}
	feed(s, req(mingquan.CmdSpanGasValve))
	if r := feed(s, cal); !bytes.Equal(r, []byte{0x06, 0x69, 0x03, 0x8e}) {
		t.Errorf("calibrate = % x", r)
	}
	if st := status(); st.Calibrating != 0x1f || st.Drivers() != drivers.Busy {
		t.Errorf("calibrating status %+v", st)
	}
	x, _ = mingquan.DecodeData(feed(s, req(mingquan.CmdData)))
	if x.HC != 104 || x.CO != 0.5 || x.O2 != 1 {
		t.Errorf("span gas reads %+v", x)
	}
}

func TestServeCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := New(Options{}).Serve(ctx, nil); err != nil {
		t.Errorf("Serve with a done ctx: %v", err)
	}
}
