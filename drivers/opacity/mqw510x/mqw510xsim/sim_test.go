package mqw510xsim

import (
	"bytes"
	"testing"

	"imagent/drivers/opacity/mqw510x"
)

func TestFeedFraming(t *testing.T) {
	s := New(Options{})
	req := mqw510x.Request(mqw510x.CmdStatus)
	bad := mqw510x.Request(mqw510x.CmdStatus)
	bad[3]++
	if r := s.Feed(append([]byte{0x42, 0x05}, req[1:2]...)); len(r) != 0 {
		t.Fatalf("answers to an incomplete request: % x", r)
	}
	r := s.Feed(append(append(req[2:], bad...), mqw510x.Request(0x77)...))
	if len(r) != 3 || len(r[0]) != mqw510x.Status5101Len {
		t.Fatalf("answers % x", r)
	}
	if !bytes.Equal(r[1], []byte{mqw510x.NAK}) || !bytes.Equal(r[2], []byte{mqw510x.NAK}) {
		t.Errorf("bad checksum / unknown command answers % x, % x", r[1], r[2])
	}
	// Wrong data length for a calibration, and a 5102-only command on a 5101.
	for _, q := range [][]byte{mqw510x.Request(mqw510x.CmdCalNO, 1), mqw510x.Request(mqw510x.CmdNOxZero)} {
		if r := s.Feed(q); len(r) != 1 || !bytes.Equal(r[0], []byte{mqw510x.NAK}) {
			t.Errorf("% x answered % x", q, r)
		}
	}
	s5102 := New(Options{Model: mqw510x.MQW5102})
	if r := s5102.Feed(mqw510x.Request(mqw510x.CmdRealtime)); !bytes.Equal(r[0], []byte{mqw510x.NAK}) {
		t.Errorf("5102 real-time without data bytes answered % x", r[0])
	}
	if r := s5102.Feed(mqw510x.Realtime5102Request(true)); len(r[0]) != mqw510x.Realtime5102Len {
		t.Errorf("5102 real-time % x", r[0])
	}
	s.SetMode(Silent)
	if r := s.Feed(bad); len(r) != 1 || r[0] != nil {
		t.Errorf("silent refusal % x", r)
	}
	if Mode(9).String() == "" || NAKAll.String() != "nak-all" {
		t.Error("Mode.String")
	}
}
