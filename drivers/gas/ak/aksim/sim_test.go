package aksim

import (
	"context"
	"strings"
	"testing"

	"imagent/drivers/gas/ak"
)

func feed(s *Sim, b []byte) []byte {
	var out []byte
	for _, c := range b {
		out = append(out, s.Reply(c)...)
	}
	return out
}

func req(t *testing.T, fn string, args ...string) []byte {
	t.Helper()
	b, err := ak.EncodeRequest(fn, "0", args...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReplies(t *testing.T) {
	s := New(Options{})
	if r := feed(s, []byte("noise")); r != nil {
		t.Errorf("noise answered %q", r)
	}
	// A frame whose bytes carry a parity bit is still understood (7-bit link).
	b := req(t, "ASTZ")
	for i := range b {
		b[i] |= 0x80
	}
	r, err := ak.DecodeResponse(feed(s, b))
	if err != nil || strings.Join(r.Data, " ") != "SREM STBY SARE" {
		t.Errorf("ASTZ = %+v, %v", r, err)
	}
	r, _ = ak.DecodeResponse(feed(s, req(t, "XXXX")))
	if r.Err != ak.ErrTokSyntax {
		t.Errorf("unknown function: %+v", r)
	}
	feed(s, req(t, "SARA"))
	r, _ = ak.DecodeResponse(feed(s, req(t, "ASTZ")))
	if strings.Join(r.Data, " ") != "SREM STBY" {
		t.Errorf("after SARA: %+v", r)
	}
	r, _ = ak.DecodeResponse(feed(s, req(t, "AKON")))
	if len(r.Data) != 5 || r.Data[3] != "20.9000" {
		t.Errorf("AKON in stand-by: %+v", r)
	}
	s.SetManual(true)
	r, _ = ak.DecodeResponse(feed(s, req(t, "SMGA")))
	if r.Err != ak.ErrTokOffline {
		t.Errorf("SMGA in manual mode: %+v", r)
	}
	if s.Measuring() {
		t.Error("manual mode obeyed SMGA")
	}
	s.SetErrors("E1")
	r, _ = ak.DecodeResponse(feed(s, req(t, "ASTF")))
	if r.Status != 1 || strings.Join(r.Data, " ") != "E1" {
		t.Errorf("ASTF: %+v", r)
	}
	feed(s, req(t, "SREM"))
	feed(s, req(t, "SRES"))
	r, _ = ak.DecodeResponse(feed(s, req(t, "ASTF")))
	if r.Status != 0 || r.Data != nil {
		t.Errorf("ASTF after SRES: %+v", r)
	}
	s.SetMode(Interleave)
	if out := feed(s, req(t, "ASTZ")); out[0] != ak.XOFF || strings.Count(string(out), "\x11") != 2 {
		t.Errorf("interleave: %q", out)
	}
	if Interleave.String() != "interleave" || Mode(99).String() != "Mode(99)" {
		t.Error("Mode.String")
	}
}

func TestServeCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := New(Options{}).Serve(ctx, nil); err != nil {
		t.Errorf("Serve with a done ctx: %v", err)
	}
}
