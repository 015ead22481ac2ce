package flb100

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"imagent/drivers"
)

// Frames typed from testdata/*.trace (built from the manual's layout, see the headers).
var (
	frameMeasure = []byte{0x06, 0x0d, 0x02, 0x00, 0x7b, 0x01, 0x98, 0x4b, 0x03, 0x61, 0x09, 0xb0, 0x6f}
	frameState   = []byte{0x06, 0x07, 0x01, 0x88, 0x08, 0x00, 0x62}
	frameValid   = []byte{0x06, 0x0e, 0x04, 0x00, 0x76, 0x00, 0x79, 0x00, 0x75, 0x00, 0x77, 0x00, 0x73, 0x9a}
	frameRunning = []byte{0x06, 0x05, 0x04, 0x0f, 0xe2} // literal in the manual
	frameNone    = []byte{0x06, 0x07, 0x04, 0x00, 0x00, 0x00, 0xef}
	frameZeroAck = []byte{0x06, 0x04, 0x05, 0xf1}
)

func with(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}

func TestRequestLiterals(t *testing.T) {
	// The fixed request frames printed in the manual: 02 04 01 F9 … 02 04 0F EB.
	want := map[byte][]byte{
		CmdStatus: {0x02, 0x04, 0x01, 0xf9}, CmdMeasure: {0x02, 0x04, 0x02, 0xf8}, CmdSteady: {0x02, 0x04, 0x03, 0xf7},
		CmdAccel: {0x02, 0x04, 0x04, 0xf6}, CmdZero: {0x02, 0x04, 0x05, 0xf5}, CmdAccelCurve: {0x02, 0x04, 0x0f, 0xeb},
	}
	for cmd, w := range want {
		if got := Request(cmd); !bytes.Equal(got, w) {
			t.Errorf("Request(%#02x) = % x, want % x", cmd, got, w)
		}
		c, d, err := ParseRequest(w)
		if err != nil || c != cmd || len(d) != 0 {
			t.Errorf("ParseRequest(% x) = %#02x, % x, %v", w, c, d, err)
		}
	}
	if Request(1, make([]byte, 252)...) != nil {
		t.Error("Request accepted 256 bytes")
	}
	for _, bad := range [][]byte{nil, {0x02, 0x04, 0x01}, {0x03, 0x04, 0x01, 0xf8}, {0x02, 0x05, 0x01, 0xf9}, {0x02, 0x04, 0x01, 0xf8}} {
		if _, _, err := ParseRequest(bad); err == nil {
			t.Errorf("ParseRequest(% x) accepted", bad)
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestDecodeMeasure(t *testing.T) {
	m, err := DecodeMeasure(frameMeasure, false)
	if err != nil {
		t.Fatal(err)
	}
	want := Measure{K: 1.23, N: 40.8, GasTempC: 75, OilTempC: 86.5, RPM: 2480}
	if !near(m.K, want.K) || !near(m.N, want.N) || m.GasTempC != 75 || !near(m.OilTempC, 86.5) || m.RPM != 2480 {
		t.Errorf("got %+v, want %+v", m, want)
	}
	if back := EncodeMeasure(m, false); !bytes.Equal(back, frameMeasure) {
		t.Errorf("round trip % x", back)
	}
	w, _ := DecodeMeasure(frameMeasure, true)
	if w.OilTempC != 865 {
		t.Errorf("whole degrees: oil %v", w.OilTempC)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"checksum", with(frameMeasure, 12, 0x70), drivers.ErrChecksum},
		{"data bit", with(frameMeasure, 4, 0x7c), drivers.ErrChecksum},
		{"nak", []byte{NAK}, drivers.ErrNAK},
		{"header", with(frameMeasure, 0, 0x07), drivers.ErrFrame},
		{"lb", with(frameMeasure, 1, 0x0c), drivers.ErrFrame},
		{"short", frameMeasure[:12], drivers.ErrFrame},
		{"empty", nil, drivers.ErrFrame},
		{"other cmd", EncodeSteady(Steady{}, false), drivers.ErrFrame},
		{"wrong length", EncodeReply(CmdMeasure, 1, 2, 3), drivers.ErrFrame},
	} {
		if _, err := DecodeMeasure(tc.b, false); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestEncodeSaturates(t *testing.T) {
	m, err := DecodeMeasure(EncodeMeasure(Measure{K: 1e9, N: math.NaN(), GasTempC: 300, OilTempC: -1e9, RPM: -3}, false), false)
	if err != nil {
		t.Fatal(err)
	}
	if m.K != 327.67 || m.N != 0 || m.GasTempC != 255 || m.OilTempC != -3276.8 || m.RPM != 0 {
		t.Errorf("saturated %+v", m)
	}
}

func TestSteady(t *testing.T) {
	s := Steady{K: 0.85, N: 30.6, RPM: 1800, OilTempC: 80.2}
	b := EncodeSteady(s, false)
	if len(b) != SteadyLen || b[1] != SteadyLen {
		t.Fatalf("steady frame % x", b)
	}
	got, err := DecodeSteady(b, false)
	if err != nil || !near(got.K, s.K) || !near(got.N, s.N) || got.RPM != s.RPM || !near(got.OilTempC, s.OilTempC) {
		t.Errorf("DecodeSteady = %+v, %v", got, err)
	}
	if _, err := DecodeSteady(frameMeasure, false); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("measure frame as steady: %v", err)
	}
}

func TestDecodeAccel(t *testing.T) {
	a, err := DecodeAccel(frameValid)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != AccelValid || !near(a.Avg, 1.18) || a.Peaks != [4]float64{1.15, 1.19, 1.17, 1.21} {
		t.Errorf("valid: %+v", a)
	}
	if back := EncodeAccel(a); !bytes.Equal(back, frameValid) {
		t.Errorf("round trip % x", back)
	}
	for _, tc := range []struct {
		b    []byte
		want AccelState
	}{{frameRunning, AccelRunning}, {frameNone, AccelNone}} {
		a, err := DecodeAccel(tc.b)
		if err != nil || a.State != tc.want {
			t.Errorf("DecodeAccel(% x) = %v, %v", tc.b, a.State, err)
		}
		if back := EncodeAccel(a); !bytes.Equal(back, tc.b) {
			t.Errorf("EncodeAccel(%v) = % x, want % x", a.State, back, tc.b)
		}
	}
	for _, bad := range [][]byte{EncodeReply(CmdAccel, 0x0e), EncodeReply(CmdAccel, 0, 1, 0), EncodeReply(CmdAccel, 1, 2)} {
		if _, err := DecodeAccel(bad); !errors.Is(err, drivers.ErrFrame) {
			t.Errorf("DecodeAccel(% x) err = %v", bad, err)
		}
	}
	if EncodeAccel(Accel{State: 9}) != nil {
		t.Error("EncodeAccel of an unknown state")
	}
	if AccelState(9).String() == "" || AccelValid.String() != "valid" {
		t.Error("AccelState.String")
	}
}

func TestState(t *testing.T) {
	s, err := DecodeState(frameState)
	if err != nil || s != (State{S1: 0x88, S2: 0x08}) {
		t.Fatalf("DecodeState = %+v, %v", s, err)
	}
	if s.Status() != drivers.Busy {
		t.Errorf("status %v", s.Status().Names())
	}
	if (State{S1: S1Warmup}).Status() != drivers.Warmup || (State{S1: S1Direct}).Status() != 0 {
		t.Error("status mapping")
	}
	if !bytes.Equal(EncodeState(s), frameState) {
		t.Error("EncodeState")
	}
	if err := DecodeAck(frameZeroAck, CmdZero); err != nil {
		t.Errorf("DecodeAck: %v", err)
	}
	if err := DecodeAck(frameState, CmdStatus); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("DecodeAck of a data frame: %v", err)
	}
	if _, err := DecodeState(frameZeroAck); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("DecodeState of an ack: %v", err)
	}
}

func TestOptics(t *testing.T) {
	for _, k := range []float64{0, 0.01, 0.5, 1.2, 2.5, 10} {
		for _, l := range []float64{PathLength, StandardPath} {
			if got := KFromN(NFromK(k, l), l); math.Abs(got-k) > 1e-9 {
				t.Errorf("KFromN(NFromK(%v, %v)) = %v", k, l, got)
			}
		}
	}
	// k = 1 m⁻¹ over 0.43 m: N = 100(1 − e^−0.43) = 34.94 %.
	if n := NFromK(1, StandardPath); math.Abs(n-34.9491) > 1e-3 {
		t.Errorf("NFromK(1, 0.43) = %v", n)
	}
	// The same smoke reads less opaque over the FLB-100's shorter path.
	if n := Rescale(NFromK(1, StandardPath), StandardPath, PathLength); math.Abs(n-NFromK(1, PathLength)) > 1e-9 || n >= 34.9 {
		t.Errorf("Rescale = %v", n)
	}
	if !math.IsInf(KFromN(100, PathLength), 1) || !math.IsNaN(KFromN(10, 0)) || !math.IsNaN(NFromK(1, -1)) || !math.IsNaN(KFromN(math.NaN(), 1)) {
		t.Error("edge cases")
	}
	if KFromN(-0.1, PathLength) >= 0 {
		t.Error("negative N must give negative k")
	}
}

// FuzzDecodeReply: no decoder panics; accepted frames are well formed and re-encode to
// the same bytes; rejected ones wrap a driver sentinel; a frame with LB and CS fixed up
// always passes DecodeReply.
func FuzzDecodeReply(f *testing.F) {
	for _, b := range [][]byte{frameMeasure, frameState, frameValid, frameRunning, frameNone, frameZeroAck, {NAK}, {}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sentinel := func(err error) {
			if !errors.Is(err, drivers.ErrFrame) && !errors.Is(err, drivers.ErrChecksum) && !errors.Is(err, drivers.ErrNAK) {
				t.Fatalf("% x: error %v wraps no driver sentinel", b, err)
			}
		}
		if m, err := DecodeMeasure(b, false); err != nil {
			sentinel(err)
		} else if back := EncodeMeasure(m, false); !bytes.Equal(back, b) {
			t.Fatalf("measure round trip % x -> % x", b, back)
		}
		if s, err := DecodeSteady(b, true); err != nil {
			sentinel(err)
		} else if back := EncodeSteady(s, true); !bytes.Equal(back, b) {
			t.Fatalf("steady round trip % x -> % x", b, back)
		}
		if a, err := DecodeAccel(b); err != nil {
			sentinel(err)
		} else if back := EncodeAccel(a); !bytes.Equal(back, b) {
			t.Fatalf("accel round trip % x -> % x", b, back)
		}
		if s, err := DecodeState(b); err != nil {
			sentinel(err)
		} else if back := EncodeState(s); !bytes.Equal(back, b) {
			t.Fatalf("state round trip % x -> % x", b, back)
		}
		if len(b) >= MinLen && len(b) <= 255 {
			fixed := bytes.Clone(b)
			fixed[0], fixed[1] = ACK, byte(len(b))
			fixed[len(b)-1] = Checksum(fixed[:len(b)-1])
			d, err := DecodeReply(fixed, fixed[2])
			if err != nil || !bytes.Equal(d, fixed[3:len(b)-1]) {
				t.Fatalf("fixed-up % x: %v", fixed, err)
			}
			if back := EncodeReply(fixed[2], d...); !bytes.Equal(back, fixed) {
				t.Fatalf("EncodeReply % x", back)
			}
		}
	})
}

func BenchmarkDecodeMeasure(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(frameMeasure)))
	for b.Loop() {
		if _, err := DecodeMeasure(frameMeasure, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeAccel(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(frameValid)))
	for b.Loop() {
		if _, err := DecodeAccel(frameValid); err != nil {
			b.Fatal(err)
		}
	}
}
