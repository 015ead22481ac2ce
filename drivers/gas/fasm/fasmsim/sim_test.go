package fasmsim

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"imagent/drivers/gas/fasm"
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

func req(cmd byte, data ...byte) []byte { return fasm.EncodeFrame(fasm.ReqHead, 1, cmd, data) }

func TestReplies(t *testing.T) {
	clk := &clock{t: time.Unix(1700000000, 0)}
	s := New(Options{Clock: clk.Now, Warmup: 10 * time.Second, OpTime: 5 * time.Second, ZeroFail: true})
	cant := fasm.EncodeFrame(fasm.RepHead, 1, fasm.RespCantAnswer, nil)
	if r := feed(s, append([]byte{0x00, 0x5a, 0x11}, req(fasm.CmdPumpProbe)...)); !bytes.Equal(r, fasm.EncodeFrame(fasm.RepHead, 1, fasm.CmdPumpProbe, nil)) {
		t.Errorf("pump probe after noise = % x", r)
	}
	if r := feed(s, req(fasm.CmdZero)); !bytes.Equal(r, cant) {
		t.Errorf("zero while warming up = % x", r)
	}
	if r := feed(s, fasm.EncodeFrame(fasm.ReqHead, 2, fasm.CmdData, nil)); r != nil {
		t.Errorf("frame to address 2 answered % x", r)
	}
	bad := req(fasm.CmdData)
	bad[6]++
	if r := feed(s, bad); !bytes.Equal(r, cant) {
		t.Errorf("bad header sum = % x", r)
	}
	if r := feed(s, req(0x42)); !bytes.Equal(r, cant) {
		t.Errorf("unknown command = % x", r)
	}
	clk.Add(10 * time.Second)
	if r := feed(s, req(fasm.CmdZero)); !bytes.Equal(r, fasm.EncodeFrame(fasm.RepHead, 1, fasm.CmdZero, nil)) {
		t.Fatalf("zero = % x", r)
	}
	if r := s.Poll(); r != nil {
		t.Errorf("result before the end: % x", r)
	}
	if r := feed(s, req(fasm.CmdLeakCheck)); !bytes.Equal(r, cant) {
		t.Errorf("leak check during a zero = % x", r)
	}
	clk.Add(5 * time.Second)
	if r := s.Poll(); !bytes.Equal(r, fasm.EncodeFrame(fasm.RepHead, 1, fasm.RespFail, nil)) {
		t.Errorf("zero result = % x, want 1B", r)
	}
	if r := s.Poll(); r != nil {
		t.Errorf("second result % x", r)
	}
	// A frame abandoned half way is forgotten.
	feed(s, req(fasm.CmdData)[:4])
	clk.Add(2 * time.Second)
	if r := feed(s, req(fasm.CmdData)); len(r) != fasm.DataLen {
		t.Errorf("data after a stale frame: % x", r)
	}
}

func TestServeCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := New(Options{}).Serve(ctx, nil); err != nil {
		t.Errorf("Serve with a done ctx: %v", err)
	}
}
