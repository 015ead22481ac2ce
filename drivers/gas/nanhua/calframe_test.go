package nanhua

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"imagent/drivers"
)

// Frames typed from the traces (testdata/calgas_*.trace, span_*.trace, pef.trace).
var (
	calDataHigh  = []byte{0x0c, 0x80, 0x03, 0x20, 0x04, 0xb0, 0x0b, 0xb8, 0x26}
	calFrameFLA  = []byte{0x09, 0x0c, 0x80, 0x1f, 0x40, 0x04, 0xb0, 0x00, 0x00, 0x0b, 0xb8, 0x62}
	spanNHA      = []byte{0x05, 0x06, 0x40, 0x03, 0x1d, 0x04, 0xac, 0x00, 0x00, 0x0b, 0xaf, 0x01, 0xf9, 0xcf}
	spanFLACheck = []byte{0x05, 0x00, 0x65, 0x01, 0xf2, 0x04, 0xae, 0x00, 0x00, 0x01, 0x2b, 0x01, 0xf9, 0x35}
	highGas      = drivers.CalGas{C3H8ppm: 3200, COpct: 8, CO2pct: 12, NOppm: 3000}
)

func TestCalData(t *testing.T) {
	b, err := EncodeCalData(highGas)
	if err != nil || !bytes.Equal(b, calDataHigh) {
		t.Fatalf("EncodeCalData = % x, %v; want % x", b, err, calDataHigh)
	}
	// O2 is not part of the two-phase data.
	withO2 := highGas
	withO2.O2pct = 20.9
	if b2, _ := EncodeCalData(withO2); !bytes.Equal(b2, b) {
		t.Errorf("O2 changed the two-phase data: % x", b2)
	}
	g, err := DecodeCalData(b)
	if err != nil || g != highGas {
		t.Errorf("DecodeCalData = %+v, %v", g, err)
	}
	for _, bad := range []drivers.CalGas{
		{C3H8ppm: -1}, {C3H8ppm: 65536}, {COpct: 655.36}, {CO2pct: math.NaN()}, {NOppm: math.Inf(1)},
	} {
		if _, err := EncodeCalData(bad); !errors.Is(err, drivers.ErrFrame) {
			t.Errorf("EncodeCalData(%+v) err = %v, want ErrFrame", bad, err)
		}
	}
	if _, err := DecodeCalData(with(calDataHigh, 8, 0)); !errors.Is(err, drivers.ErrChecksum) {
		t.Errorf("bad sum: %v", err)
	}
	if _, err := DecodeCalData(calDataHigh[:8]); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("short: %v", err)
	}
}

func TestCalFrame(t *testing.T) {
	b, err := EncodeCalFrame(0x09, highGas, FLA502)
	if err != nil || !bytes.Equal(b, calFrameFLA) {
		t.Fatalf("EncodeCalFrame = % x, %v; want % x", b, err, calFrameFLA)
	}
	item, g, err := DecodeCalFrame(b, FLA502)
	if err != nil || item != 9 || g != highGas {
		t.Errorf("DecodeCalFrame = %#02x %+v %v", item, g, err)
	}
	// On an NHA-503 CO travels at 0.01 %: 8 % is 800 = 03 20.
	nb, err := EncodeCalFrame(0x0b, drivers.CalGas{COpct: 8, O2pct: 0.5}, NHA503)
	if err != nil || nb[0] != 0x0b || nb[3] != 0x03 || nb[4] != 0x20 || nb[7] != 0x00 || nb[8] != 0x32 {
		t.Errorf("NHA-503 frame % x", nb)
	}
	// FLA-502 CO at 0.001 % cannot exceed 65.535 %.
	if _, err := EncodeCalFrame(9, drivers.CalGas{COpct: 70}, FLA502); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("CO 70 %%: %v", err)
	}
	if _, err := EncodeCalFrame(9, highGas, "nope"); err == nil {
		t.Error("unknown model accepted")
	}
	if _, _, err := DecodeCalFrame(with(calFrameFLA, 3, 0x1e), FLA502); !errors.Is(err, drivers.ErrChecksum) {
		t.Errorf("bit flip: %v", err)
	}
	// The item byte is outside the sum.
	if _, _, err := DecodeCalFrame(with(calFrameFLA, 0, 0x11), FLA502); err != nil {
		t.Errorf("item 0x11: %v", err)
	}
	if _, _, err := DecodeCalFrame(calFrameFLA[:11], FLA502); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("short: %v", err)
	}
}

func TestSpan(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		m    Model
		f    SpanFormat
		want Span
		err  error
	}{
		{"NHA-503", spanNHA, NHA503, SpanFormat{}, Span{HC: 1600, CO: 7.97, CO2: 11.96, NO: 2991, PEF: 0.505}, nil},
		{"FLA-502 CO/1000", spanFLACheck, FLA502, SpanFormat{}, Span{HC: 101, CO: 0.498, CO2: 11.98, NO: 299, PEF: 0.505}, nil},
		{"FLA-502 CO100", spanFLACheck, FLA502, SpanFormat{CO100: true}, Span{HC: 101, CO: 4.98, CO2: 11.98, NO: 299, PEF: 0.505}, nil},
		{"bad sum", with(spanNHA, 13, 0), NHA503, SpanFormat{}, Span{}, drivers.ErrChecksum},
		{"bad sum ignored", with(spanNHA, 13, 0), NHA503, SpanFormat{IgnoreChecksum: true}, Span{HC: 1600, CO: 7.97, CO2: 11.96, NO: 2991, PEF: 0.505}, nil},
		{"ok byte", []byte{0x00}, NHA503, SpanFormat{}, Span{}, drivers.ErrFrame},
		{"NAK", []byte{NAK}, NHA503, SpanFormat{}, Span{}, drivers.ErrNAK},
		{"short", spanNHA[:13], NHA503, SpanFormat{}, Span{}, drivers.ErrFrame},
		{"empty", nil, NHA503, SpanFormat{}, Span{}, drivers.ErrFrame},
	} {
		got, err := DecodeSpan(tc.b, tc.m, tc.f)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || !spanClose(got, tc.want) {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
			continue
		}
		if !tc.f.IgnoreChecksum {
			if back := EncodeSpan(got, tc.m, tc.f); !bytes.Equal(back, tc.b) {
				t.Errorf("%s: EncodeSpan = % x, want % x", tc.name, back, tc.b)
			}
		}
	}
	if _, err := DecodeSpan(spanNHA, "XYZ", SpanFormat{}); err == nil {
		t.Error("unknown model accepted")
	}
	if EncodeSpan(Span{}, "XYZ", SpanFormat{}) != nil {
		t.Error("EncodeSpan with unknown model")
	}
}

func spanClose(a, b Span) bool {
	eq := func(x, y float64) bool { return math.Abs(x-y) < 1e-9 }
	return eq(a.HC, b.HC) && eq(a.CO, b.CO) && eq(a.CO2, b.CO2) && eq(a.O2, b.O2) && eq(a.NO, b.NO) && eq(a.PEF, b.PEF)
}

func TestPEF(t *testing.T) {
	if p, err := DecodePEF([]byte{0x01, 0xf9}); err != nil || p != 0.505 {
		t.Errorf("DecodePEF = %v, %v", p, err)
	}
	if b := EncodePEF(0.505); !bytes.Equal(b, []byte{0x01, 0xf9}) {
		t.Errorf("EncodePEF = % x", b)
	}
	if _, err := DecodePEF([]byte{NAK}); !errors.Is(err, drivers.ErrNAK) {
		t.Errorf("NAK: %v", err)
	}
	if _, err := DecodePEF([]byte{0x01}); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("short: %v", err)
	}
	for _, s := range []CalGasStyle{CalGasAuto, CalGasTwoPhase, CalGasSingleFrame, 9} {
		if s.String() == "" {
			t.Errorf("CalGasStyle(%d) has no name", int(s))
		}
	}
}

// FuzzDecodeSpan: never panics; what decodes (with the checksum checked) is a SpanLen
// frame starting 05 with a good sum and finite values, and re-encodes to the same bytes;
// errors wrap a driver sentinel; a fixed-up frame always decodes.
func FuzzDecodeSpan(f *testing.F) {
	for _, b := range [][]byte{spanNHA, spanFLACheck, {NAK}, {0x00}, {}} {
		f.Add(b, false)
	}
	f.Fuzz(func(t *testing.T, b []byte, co100 bool) {
		for _, m := range []Model{NHA503, FLA502, CDF5000} {
			sf := SpanFormat{CO100: co100}
			check := func(b []byte) error {
				x, err := DecodeSpan(b, m, sf)
				if err != nil {
					if !errors.Is(err, drivers.ErrFrame) && !errors.Is(err, drivers.ErrChecksum) && !errors.Is(err, drivers.ErrNAK) {
						t.Fatalf("%s: % x: error %v wraps no sentinel", m, b, err)
					}
					return err
				}
				if len(b) != SpanLen || b[0] != ResultBusy || Checksum(b[:SpanLen-1]) != b[SpanLen-1] {
					t.Fatalf("%s: accepted % x", m, b)
				}
				for _, v := range []float64{x.HC, x.CO, x.CO2, x.O2, x.NO, x.PEF} {
					if math.IsNaN(v) || math.IsInf(v, 0) {
						t.Fatalf("%s: non-finite %+v", m, x)
					}
				}
				if back := EncodeSpan(x, m, sf); !bytes.Equal(back, b) {
					t.Fatalf("%s: round trip\n in  % x\n out % x", m, b, back)
				}
				return nil
			}
			check(b)
			if len(b) == SpanLen {
				fixed := bytes.Clone(b)
				fixed[0] = ResultBusy
				fixed[SpanLen-1] = Checksum(fixed[:SpanLen-1])
				if err := check(fixed); err != nil {
					t.Fatalf("%s: fixed-up % x: %v", m, fixed, err)
				}
			}
		}
	})
}

// FuzzDecodeCalGas: the simulator's decoders of both write styles never panic, accept
// only frames with a good sum, and what they accept re-encodes to the same bytes.
func FuzzDecodeCalGas(f *testing.F) {
	f.Add(calDataHigh)
	f.Add(calFrameFLA)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		sentinel := func(err error) {
			if !errors.Is(err, drivers.ErrFrame) && !errors.Is(err, drivers.ErrChecksum) {
				t.Fatalf("% x: error %v wraps no sentinel", b, err)
			}
		}
		if g, err := DecodeCalData(b); err != nil {
			sentinel(err)
		} else if back, err := EncodeCalData(g); err != nil || !bytes.Equal(back, b) {
			t.Fatalf("two-phase round trip\n in  % x\n out % x (%v)", b, back, err)
		}
		for _, m := range []Model{NHA503, FLA502} {
			item, g, err := DecodeCalFrame(b, m)
			if err != nil {
				sentinel(err)
				continue
			}
			if back, err := EncodeCalFrame(item, g, m); err != nil || !bytes.Equal(back, b) {
				t.Fatalf("%s: single-frame round trip\n in  % x\n out % x (%v)", m, b, back, err)
			}
		}
	})
}

func BenchmarkDecodeSpan(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeSpan(spanNHA, NHA503, SpanFormat{}); err != nil {
			b.Fatal(err)
		}
	}
}
