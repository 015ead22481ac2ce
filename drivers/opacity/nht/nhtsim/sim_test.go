package nhtsim

import (
	"bytes"
	"testing"

	"imagent/drivers/opacity/nht"
)

func TestFeedFraming(t *testing.T) {
	s := New(Options{Model: nht.NHT1})
	rt := nht.Request(nht.CmdRealtime)
	// Noise byte, a split request, a known command with a bad sum, an unknown command, one
	// the NHT-1 lacks (B1).
	if r := s.Feed([]byte{0x33, rt[0]}); len(r) != 0 {
		t.Fatalf("answers to an incomplete request: %v", r)
	}
	r := s.Feed(append([]byte{rt[1], 0xa4, 0x00}, append(nht.Request(0x90), nht.Request(nht.CmdTestResults)...)...))
	if len(r) != 4 || len(r[0]) != nht.RealtimeLen {
		t.Fatalf("answers % x", r)
	}
	for i, code := range []byte{NAKChecksum, NAKUnknown, NAKUnknown} {
		if !bytes.Equal(r[i+1], nht.EncodeNAK(code)) {
			t.Errorf("answer %d = % x, want NAK %#02x", i+1, r[i+1], code)
		}
	}
	if r := s.Feed(nht.Request(nht.CmdSetStatus, nht.StatusAccel)); len(r) != 1 || s.Method() != nht.StatusAccel {
		t.Errorf("A0: % x, method %#02x", r, s.Method())
	}
	s.SetMode(Silent)
	if r := s.Feed(nht.Request(0x90)); len(r) != 1 || r[0] != nil {
		t.Errorf("silent refusal % x", r)
	}
	if Mode(42).String() == "" || Garbage.String() != "garbage" {
		t.Error("Mode.String")
	}
}
