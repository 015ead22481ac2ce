package xce100

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"imagent/drivers"
)

func TestDecodeFrame(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Frame
	}{
		{"T25.3H56.0P101.3E", Frame{25.3, 56, 101.3}},
		{"T-5.2H85.5P98.75E", Frame{-5.2, 85.5, 98.75}},
		{"T -5.2H 85.5P 98.75E", Frame{-5.2, 85.5, 98.75}},
		{"T+20H50P100E", Frame{20, 50, 100}},
		{"T 0.125 H100.0 P1013.2E", Frame{0.125, 100, 1013.2}},
		{"T9999.999H0P0E", Frame{9999.999, 0, 0}},
	} {
		got, err := DecodeFrame([]byte(tc.in))
		if err != nil {
			t.Errorf("DecodeFrame(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("DecodeFrame(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{
		"", "T", "E", "TE", "THPE", "T25.3H56.0P101.3", "25.3H56.0P101.3E", "xT25.3H56.0P101.3E",
		"T25.3H56.0P101.3E\r", "T25.3H56.0P101.3EE",
		"T25.3P101.3H56.0E", "T25.3H56.0E", "T25.3H56.0P101.3P1E", "T25.3H56.0H1P101.3E",
		"T25.3H5.6.0P101.3E", "T25.H56.0P101.3E", "T.5H56.0P101.3E", "T25.3456H56.0P101.3E",
		"T12345H56.0P101.3E", "T2 5H56.0P101.3E", "T--5H56.0P101.3E", "T- 5H56.0P101.3E",
		"T1e2H56.0P101.3E", "T1,000H56.0P101.3E", "T0x10H56.0P101.3E", "T25.3H56.0P\t101.3E",
		"T" + strings.Repeat(" ", 13) + "1H2P3E", "T1H2P3" + strings.Repeat(" ", 40) + "E",
		"T25.3H56.0P１01.3E",
	} {
		f, err := DecodeFrame([]byte(in))
		if !errors.Is(err, drivers.ErrFrame) {
			t.Errorf("DecodeFrame(%q) = %+v, %v; want ErrFrame", in, f, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "xce100: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
}

func TestAppendFrame(t *testing.T) {
	for _, tc := range []struct {
		f    Frame
		want string
	}{
		{Frame{25.3, 56, 101.3}, "T25.3H56.0P101.3E"},
		{Frame{-5.24, 85.55, 98.75}, "T-5.2H85.6P98.8E"},
		{Frame{-0.04, 0, 1e9}, "T0.0H0.0P9999.9E"},
		{Frame{math.NaN(), math.Inf(-1), math.Inf(1)}, "T0.0H-9999.9P9999.9E"},
	} {
		b := AppendFrame([]byte("x"), tc.f)
		if string(b) != "x"+tc.want {
			t.Errorf("AppendFrame(%+v) = %q, want %q", tc.f, b[1:], tc.want)
		}
		if _, err := DecodeFrame(b[1:]); err != nil {
			t.Errorf("AppendFrame(%+v) = %q does not decode: %v", tc.f, b[1:], err)
		}
	}
}

func TestScan(t *testing.T) {
	for _, tc := range []struct {
		in, newest, keep string
		garbage          int
	}{
		{"", "", "", 0},
		{"T25.3H56.0P101.3E", "T25.3H56.0P101.3E", "", 0},
		{"3P100.9E\r\nT22.4H55.0P100.9E\r\nT22.4H5", "T22.4H55.0P100.9E", "T22.4H5", 12},
		{"T22.4H55.0P100.9ET22.5H55.0P100.9E", "T22.5H55.0P100.9E", "", 0},
		{"TT22.6H55.3P100.8E", "T22.6H55.3P100.8E", "", 1},
		{"T22.6H5T22.7H55.3P100.8E\n", "T22.7H55.3P100.8E", "", 8},
		{"T" + strings.Repeat("1", MaxFrameLen), "", "", MaxFrameLen + 1},
		{"T" + strings.Repeat("1", MaxFrameLen-2), "", "T" + strings.Repeat("1", MaxFrameLen-2), 0},
		{"\x00\xffgarbage", "", "", 9},
	} {
		newest, keep, garbage := Scan([]byte(tc.in), nil)
		if string(newest) != tc.newest || tc.in[keep:] != tc.keep || garbage != tc.garbage {
			t.Errorf("Scan(%q) = %q, keep %q, garbage %d; want %q, %q, %d", tc.in, newest, tc.in[keep:], garbage, tc.newest, tc.keep, tc.garbage)
		}
	}
	// accept skips frames without counting them as garbage.
	in := []byte("T21.1H60.1P100.9ET99.9H60.1P100.9E")
	newest, keep, garbage := Scan(in, func(f Frame) bool { return f.TempC < 60 })
	if string(newest) != "T21.1H60.1P100.9E" || keep != len(in) || garbage != 0 {
		t.Errorf("Scan with accept = %q, %d, %d", newest, keep, garbage)
	}
}

func TestLimits(t *testing.T) {
	l := DefaultLimits
	for _, ok := range [][3]float64{{25, 50, 101.3}, {-40, 0, 50}, {60, 100, 110}} {
		if err := l.Check(ok[0], ok[1], ok[2]); err != nil {
			t.Errorf("Check(%v): %v", ok, err)
		}
	}
	for _, bad := range [][3]float64{{-40.1, 50, 101}, {60.1, 50, 101}, {25, -0.1, 101}, {25, 100.1, 101},
		{25, 50, 49.9}, {25, 50, 1013}, {math.NaN(), 50, 101}, {25, math.Inf(1), 101}} {
		if err := l.Check(bad[0], bad[1], bad[2]); !errors.Is(err, drivers.ErrFrame) {
			t.Errorf("Check(%v) = %v, want ErrFrame", bad, err)
		}
	}
	if (Limits{}).valid() || !DefaultLimits.valid() || (Limits{0, 1, 0, 1, 2, 1}).valid() {
		t.Error("valid() is wrong")
	}
}

func TestCalCommand(t *testing.T) {
	for _, tc := range []struct {
		tag  byte
		v    float64
		want string
	}{
		{TagTemp, 25.3, "B 253T"},
		{TagTemp, -5, "B -50T"},
		{TagTemp, 0.04, "B   0T"},
		{TagRH, 99.85, "B 999H"}, // half away from zero, as .NET's ToString("0")
		{TagPressure, 101.32, "B1013P"},
		{TagPressure, 999.9, "B9999P"},
		{TagTemp, -99.9, "B-999T"},
	} {
		b, err := CalCommand(tc.tag, tc.v)
		if err != nil || string(b) != tc.want {
			t.Errorf("CalCommand(%c, %v) = %q, %v; want %q", tc.tag, tc.v, b, err, tc.want)
			continue
		}
		tag, v, err := ParseCalCommand(b)
		if err != nil || tag != tc.tag || math.Abs(v-tc.v) > 0.05+1e-9 {
			t.Errorf("ParseCalCommand(%q) = %c, %v, %v", b, tag, v, err)
		}
	}
	for _, tc := range []struct {
		tag byte
		v   float64
	}{{TagPressure, 1013.2}, {TagTemp, -100}, {'X', 1}, {TagTemp, math.NaN()}, {TagRH, math.Inf(1)}} {
		if b, err := CalCommand(tc.tag, tc.v); err == nil {
			t.Errorf("CalCommand(%c, %v) = %q, want an error", tc.tag, tc.v, b)
		}
	}
	for _, in := range []string{"", "B 253", "B 253X", "X 253T", "B2 53T", "B    T", "B +25T", "B 2.5T"} {
		if _, _, err := ParseCalCommand([]byte(in)); !errors.Is(err, drivers.ErrFrame) {
			t.Errorf("ParseCalCommand(%q) = %v, want ErrFrame", in, err)
		}
	}
}

// FuzzDecodeFrame: decoding never panics; what decodes has the frame's shape, finite
// values within ±9999.999, and survives a canonical re-encoding within rounding; what does
// not decode is drivers.ErrFrame.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{"T25.3H56.0P101.3E", "T -5.2H 85.5P 98.75E", "T150.0H56.0P101.3E",
		"T25.3P101.3H56.0E", "T25.3H5", "\x07\xa1T2", "T22.6H55.3P100.8E"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := DecodeFrame(b)
		if err != nil {
			if !errors.Is(err, drivers.ErrFrame) {
				t.Fatalf("%q: error %v is not ErrFrame", b, err)
			}
			return
		}
		if len(b) < 7 || len(b) > MaxFrameLen || b[0] != 'T' || b[len(b)-1] != 'E' {
			t.Fatalf("accepted %q", b)
		}
		for _, v := range []float64{x.TempC, x.RH, x.P} {
			if math.IsNaN(v) || math.Abs(v) > 9999.999 {
				t.Fatalf("%q decoded to %+v", b, x)
			}
		}
		canon := AppendFrame(nil, x)
		y, err := DecodeFrame(canon)
		if err != nil {
			t.Fatalf("%q: canonical %q does not decode: %v", b, canon, err)
		}
		if math.Abs(y.TempC-x.TempC) > 0.1 || math.Abs(y.RH-x.RH) > 0.1 || math.Abs(y.P-x.P) > 0.1 {
			t.Fatalf("%q → %+v → %q → %+v", b, x, canon, y)
		}
		if again := AppendFrame(nil, y); !bytes.Equal(again, canon) {
			t.Fatalf("canonical form not stable: %q → %q", canon, again)
		}
		_ = DefaultLimits.Check(x.TempC, x.RH, x.P)
	})
}

// FuzzScan: Scan never panics; its newest frame decodes and lies in the input; keep is
// within the input and leaves less than a frame; a valid frame appended to any input
// (after an 'E' that closes whatever is open) is found as the newest.
func FuzzScan(f *testing.F) {
	for _, s := range []string{"3H55.1P100.9E\r\nT22.4H55.0P100.9E\r\nT22.4H5", "\xff\x00TTT\x81E\r\n",
		"T21.1H60.1P100.9ET21.1H6O.1P100.9E", ""} {
		f.Add([]byte(s))
	}
	good := []byte("T22.6H55.3P100.8E")
	f.Fuzz(func(t *testing.T, b []byte) {
		newest, keep, garbage := Scan(b, nil)
		if keep < 0 || keep > len(b) || garbage < 0 || garbage > len(b) {
			t.Fatalf("Scan(%q): keep %d garbage %d", b, keep, garbage)
		}
		if len(b)-keep >= MaxFrameLen {
			t.Fatalf("Scan(%q) keeps %d bytes", b, len(b)-keep)
		}
		if newest != nil {
			if _, err := DecodeFrame(newest); err != nil || !bytes.Contains(b, newest) {
				t.Fatalf("Scan(%q) newest %q: %v", b, newest, err)
			}
		}
		in := append(bytes.Clone(b), 'E')
		in = append(in, good...)
		if n, _, _ := Scan(in, nil); !bytes.Equal(n, good) {
			t.Fatalf("Scan(%q) newest = %q, want %q", in, n, good)
		}
	})
}

var benchFrame = []byte("T25.3H56.0P101.3E")

func BenchmarkDecodeFrame(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchFrame)))
	for b.Loop() {
		if _, err := DecodeFrame(benchFrame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScan(b *testing.B) {
	stream := bytes.Repeat(append(bytes.Clone(benchFrame), '\r', '\n'), 10)
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		if n, _, _ := Scan(stream, nil); n == nil {
			b.Fatal("no frame")
		}
	}
}

func TestDecodeFrameDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { DecodeFrame(benchFrame) }); n != 0 {
		t.Errorf("DecodeFrame allocates %v times per good frame", n)
	}
}
