package ak

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"imagent/drivers"
)

func frame(s string) []byte { return append(append([]byte{STX}, s...), ETX) }

func TestEncodeRequest(t *testing.T) {
	for _, tc := range []struct {
		fn, ch string
		args   []string
		want   string
	}{
		{"AKON", "0", nil, " AKON K0"}, // domain.md: \x02 AKON K0\x03
		{"ASTZ", "V", nil, " ASTZ KV"}, // pereng25/AMACON
		{"SEMB", "0", []string{"M2"}, " SEMB K0 M2"},
		{"EUDP", "0", []string{"7700", "1", "A", "-", "AKON"}, " EUDP K0 7700 1 A - AKON"},
	} {
		got, err := EncodeRequest(tc.fn, tc.ch, tc.args...)
		if err != nil || !bytes.Equal(got, frame(tc.want)) {
			t.Errorf("EncodeRequest(%s) = %q, %v; want %q", tc.fn, got, err, frame(tc.want))
		}
		r, err := DecodeRequest(got)
		if err != nil || r.Func != tc.fn || r.Channel != tc.ch || !slices.Equal(r.Args, tc.args) {
			t.Errorf("DecodeRequest(%q) = %+v, %v", got, r, err)
		}
	}
	for _, bad := range [][]string{{"akon", "0"}, {"AKO", "0"}, {"AKON1", "0"}, {"AKON", ""}, {"AKON", "0 1"}, {"AKON", "0", "a b"}, {"AKON", "0", ""}, {"AKON", "0", "\x03"}} {
		if _, err := EncodeRequest(bad[0], bad[1], bad[2:]...); err == nil {
			t.Errorf("EncodeRequest(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", " AKON", " AKON X0", "AKON K0", " akon K0", " AKON K0  x"} {
		if _, err := DecodeRequest(frame(bad)); !errors.Is(err, drivers.ErrFrame) {
			t.Errorf("DecodeRequest(%q) = %v", bad, err)
		}
	}
}

func TestDecodeResponse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Response
	}{
		{"_AKON 0 0.52 14.6 123 0.45 850", Response{Func: "AKON", Data: []string{"0.52", "14.6", "123", "0.45", "850"}}},
		{" ASTZ 0 SREM SMGA SARE", Response{Func: "ASTZ", Data: []string{"SREM", "SMGA", "SARE"}}},
		{"_SMGA 0", Response{Func: "SMGA"}},
		{"_SMGA 0 ", Response{Func: "SMGA"}},
		{"_ASTF 3 E510", Response{Func: "ASTF", Status: 3, Data: []string{"E510"}}},
		{"_AKON 0 SE", Response{Func: "AKON", Err: ErrTokSyntax}},
		{"_SMGA 1 OF", Response{Func: "SMGA", Status: 1, Err: ErrTokOffline}},
		{"_AKON 0 1.0  2.0", Response{Func: "AKON", Data: []string{"1.0", "2.0"}}},
	} {
		got, err := DecodeResponse(frame(tc.in))
		if err != nil || got.Func != tc.want.Func || got.Status != tc.want.Status || got.Err != tc.want.Err || !slices.Equal(got.Data, tc.want.Data) {
			t.Errorf("DecodeResponse(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range [][]byte{
		nil, frame("_AKO 0"), frame("_akon 0"), frame("_AKON X"), frame("_AKON 00"), frame("_AKON0"),
		[]byte("\x02_AKON 0"), []byte("_AKON 0 1\x03"), frame("_AKON 0 1\x02"), frame("_AKON 0 1\x13"),
		frame("_AKON 0 " + strings.Repeat("1", MaxFrame)),
	} {
		if _, err := DecodeResponse(bad); !errors.Is(err, drivers.ErrFrame) {
			t.Errorf("DecodeResponse(%q) = %v, want ErrFrame", bad, err)
		}
	}
	r := Response{Func: "ASTF", Status: 1, Data: []string{"E1", "E2"}, Err: ErrTokBusy}
	b := EncodeResponse(0, r)
	if !bytes.Equal(b, frame(" ASTF 1 E1 E2 BS")) {
		t.Errorf("EncodeResponse = %q", b)
	}
	if len(r.Data) != 2 {
		t.Error("EncodeResponse changed its argument")
	}
	for _, bad := range []Response{{Func: "astf"}, {Func: "ASTF", Status: 10}, {Func: "ASTF", Data: []string{"a b"}}} {
		if EncodeResponse('_', bad) != nil {
			t.Errorf("EncodeResponse(%+v) accepted", bad)
		}
	}
}

func TestConcentrations(t *testing.T) {
	comps := []Component{{drivers.COpct, 1e-4}, {drivers.HCppm, 1}}
	v, err := Concentrations([]string{"5200", "1.23E+02", "99"}, comps)
	if err != nil || v[drivers.COpct] != 0.52 || v[drivers.HCppm] != 123 || len(v) != 2 {
		t.Errorf("Concentrations = %v, %v", v, err)
	}
	for _, bad := range [][]string{{"1"}, {"x", "1"}, {"NaN", "1"}, {"Inf", "1"}, {"1e300", "1"}} {
		if _, err := Concentrations(bad, comps); !errors.Is(err, drivers.ErrFrame) {
			t.Errorf("Concentrations(%q) = %v", bad, err)
		}
	}
	for modes, want := range map[string]drivers.Status{
		"SREM SMGA SARE": 0, "SREM SNGA": drivers.Zeroing, "SMAN STBY": drivers.Busy, "SATK": drivers.Busy, "": 0,
	} {
		if got := ModeStatus(strings.Fields(modes)); got != want {
			t.Errorf("ModeStatus(%q) = %v, want %v", modes, got.Names(), want.Names())
		}
	}
}

// FuzzDecodeResponse: never panics; what decodes is framed, has a four-letter function
// and a digit, and re-encodes (with a blank for the don't-care byte and single blanks)
// to something that decodes to the same Response; errors wrap ErrFrame.
func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []string{"_AKON 0 0.52 14.6 123 0.45 850", " ASTZ 0 SREM SMGA SARE", "_SMGA 1 OF", ""} {
		f.Add(frame(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResponse(b)
		if err != nil {
			if !errors.Is(err, drivers.ErrFrame) {
				t.Fatalf("%q: %v wraps no sentinel", b, err)
			}
			return
		}
		if b[0] != STX || b[len(b)-1] != ETX || !isFunc(r.Func) || r.Status < 0 || r.Status > 9 {
			t.Fatalf("accepted %q as %+v", b, r)
		}
		again, err := DecodeResponse(EncodeResponse(' ', r))
		if err != nil || again.Func != r.Func || again.Status != r.Status || again.Err != r.Err || !slices.Equal(again.Data, r.Data) {
			t.Fatalf("round trip of %q: %+v -> %+v, %v", b, r, again, err)
		}
		_, _ = Concentrations(r.Data, DefaultComponents())
		_ = ModeStatus(r.Data)
	})
}

// FuzzDecodeRequest: the simulator's request decoder never panics, and what it accepts
// re-encodes to the same bytes.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{" AKON K0", " SEMB K0 M2", " ASTZ KV"} {
		f.Add(frame(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			if !errors.Is(err, drivers.ErrFrame) {
				t.Fatalf("%q: %v wraps no sentinel", b, err)
			}
			return
		}
		back, err := EncodeRequest(r.Func, r.Channel, r.Args...)
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("round trip\n in  %q\n out %q (%v)", b, back, err)
		}
	})
}

var akon = frame("_AKON 0 0.5200 14.6000 123.0 0.4500 850")

func BenchmarkDecodeResponse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		r, err := DecodeResponse(akon)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Concentrations(r.Data, DefaultComponents()); err != nil {
			b.Fatal(err)
		}
	}
}
