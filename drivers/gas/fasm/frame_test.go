package fasm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"imagent/drivers"
)

func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// Frames of the traces in testdata.
var (
	frameData = hx("a5 a5 01 02 19 00 e4 7b 00 34 00 b4 05 2d 00 52 03 65 00 b0 09 61 03 64 00 f0 03 ea 00 26 02 2b")
	framePEF  = hx("a5 a5 01 03 05 00 f7 14 ae 07 3f f8")
	frameCal  = hx("5a 5a 01 07 09 00 ef c8 00 32 00 b0 04 30 75 ad")
)

func with(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}

func TestEncodeFrame(t *testing.T) {
	// The lane code's literal frames.
	for _, tc := range []struct {
		head, cmd byte
		data      []byte
		want      string
	}{
		{RepHead, CmdPumpAir, nil, "a5 a5 01 0c 00 00 f3"},
		{RepHead, CmdPumpProbe, nil, "a5 a5 01 0b 00 00 f4"},
		{RepHead, CmdStopPump, nil, "a5 a5 01 0a 00 00 f5"},
		{RepHead, CmdZero, nil, "a5 a5 01 15 00 00 ea"},
		{RepHead, CmdLeakCheck, nil, "a5 a5 01 17 00 00 e8"},
		{RepHead, RespSuccess, nil, "a5 a5 01 1a 00 00 e5"},
		{RepHead, RespFail, nil, "a5 a5 01 1b 00 00 e4"},
		{RepHead, RespCantAnswer, nil, "a5 a5 01 19 00 00 e6"},
		{RepHead, CmdPumpSpan, nil, "a5 a5 01 0f 00 00 f0"},
		{ReqHead, CmdBackflush, []byte{0xff}, "5a 5a 01 10 02 00 ed ff 01"},
		{ReqHead, CmdZeroGas, []byte{0x00}, "5a 5a 01 12 02 00 eb 00 00"},
	} {
		if got := EncodeFrame(tc.head, DefaultAddr, tc.cmd, tc.data); !bytes.Equal(got, hx(tc.want)) {
			t.Errorf("EncodeFrame(%#02x, % x) = % x, want %s", tc.cmd, tc.data, got, tc.want)
		}
	}
	if EncodeFrame(ReqHead, 1, 1, make([]byte, MaxData)) != nil {
		t.Error("EncodeFrame accepted too much data")
	}
	// The calibration request header is the one VMAS checks in the answer.
	if got := EncodeFrame(RepHead, 1, CmdWriteCal, make([]byte, 8))[:HeaderLen]; !bytes.Equal(got, hx("a5 a5 01 07 09 00 ef")) {
		t.Errorf("calibration header % x", got)
	}
}

func TestDecode(t *testing.T) {
	x, err := DecodeData(frameData)
	want := Data{HC: 123, CO: 0.52, CO2: 14.6, O2: 0.45, NO: 850, Lambda: 1.01, RPM: 2480, OilTemp: 86.5, Flow: 100,
		PressureKPa: 100.8, TempC: 23.4, RHpct: 55}
	if err != nil || math.Abs(x.CO-want.CO) > 1e-9 || math.Abs(x.OilTemp-want.OilTemp) > 1e-9 || x.RPM != 2480 || x.Flow != 100 || x.HC != 123 {
		t.Fatalf("DecodeData = %+v, %v", x, err)
	}
	if back := EncodeData(DefaultAddr, x); !bytes.Equal(back, frameData) {
		t.Errorf("EncodeData = % x", back)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"short", frameData[:6], drivers.ErrFrame},
		{"head", with(frameData, 1, 0x5a), drivers.ErrFrame},
		{"header sum", with(frameData, 6, 0xe5), drivers.ErrChecksum},
		{"data sum", with(frameData, 31, 0x2c), drivers.ErrChecksum},
		{"bit flip", with(frameData, 9, 0x35), drivers.ErrChecksum},
		{"truncated", frameData[:31], drivers.ErrFrame},
		{"other command", EncodeFrame(RepHead, 1, CmdPEF, make([]byte, 24)), drivers.ErrFrame},
		{"length 1", hx("a5 a5 01 02 01 00 fc"), drivers.ErrFrame},
	} {
		if _, err := DecodeData(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	p, err := DecodePEF(framePEF)
	if err != nil || math.Abs(p-0.53) > 1e-6 {
		t.Errorf("DecodePEF = %v, %v", p, err)
	}
	if p, err := DecodePEF(with(with(framePEF, 3, 0x04), 6, 0xf6)); err != nil || math.Abs(p-0.53) > 1e-6 {
		t.Errorf("PEF with command 04 = %v, %v", p, err)
	}
	if back := EncodePEF(1, 0.53); !bytes.Equal(back, framePEF) {
		t.Errorf("EncodePEF = % x", back)
	}
	for _, bad := range []float64{0, -1, math.NaN(), 12} {
		if _, err := DecodePEF(EncodePEF(1, bad)); !errors.Is(err, drivers.ErrFrame) {
			t.Errorf("PEF %v: %v", bad, err)
		}
	}
}

func TestCalData(t *testing.T) {
	g := drivers.CalGas{C3H8ppm: 200, COpct: 0.5, CO2pct: 12, NOppm: 300, O2pct: 20}
	data, err := EncodeCalData(g, 100)
	if err != nil {
		t.Fatal(err)
	}
	if f := EncodeFrame(ReqHead, 1, CmdWriteCal, data); !bytes.Equal(f, frameCal) {
		t.Errorf("request % x", f)
	}
	back, err := DecodeCalData(data, 100)
	g.O2pct = 0
	if err != nil || back != g {
		t.Errorf("DecodeCalData = %+v, %v", back, err)
	}
	if _, err := EncodeCalData(drivers.CalGas{NOppm: 3000}, 100); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("NO 3000 ×100: %v", err)
	}
	if _, err := EncodeCalData(drivers.CalGas{NOppm: 3000}, 1); err != nil {
		t.Errorf("NO 3000 ×1: %v", err)
	}
	if _, err := DecodeCalData(data[:7], 100); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("short: %v", err)
	}
}

// FuzzDecodeFrame: DecodeFrame, DecodeData and DecodePEF never panic; what they accept
// has both heads, a length that matches and good checksums, and re-encodes to the same
// bytes; errors wrap a sentinel; a fixed-up frame always decodes.
func FuzzDecodeFrame(f *testing.F) {
	for _, b := range [][]byte{frameData, framePEF, hx("a5 a5 01 1a 00 00 e5"), {}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sentinel := func(err error) {
			if !errors.Is(err, drivers.ErrFrame) && !errors.Is(err, drivers.ErrChecksum) {
				t.Fatalf("% x: error %v wraps no sentinel", b, err)
			}
		}
		check := func(b []byte) error {
			fr, err := DecodeFrame(b, RepHead)
			if err != nil {
				sentinel(err)
				return err
			}
			if b[0] != RepHead || b[1] != RepHead || drivers.Sum8(b[2:HeaderLen]) != 0 ||
				len(b) > HeaderLen && drivers.Sum8(b[HeaderLen:]) != 0 {
				t.Fatalf("accepted % x", b)
			}
			if back := EncodeFrame(RepHead, fr.Addr, fr.Cmd, fr.Data); !bytes.Equal(back, b) {
				t.Fatalf("frame round trip\n in  % x\n out % x", b, back)
			}
			if x, err := DecodeData(b); err != nil {
				sentinel(err)
			} else if back := EncodeData(fr.Addr, x); !bytes.Equal(back, b) {
				t.Fatalf("data round trip\n in  % x\n out % x", b, back)
			}
			if p, err := DecodePEF(b); err != nil {
				sentinel(err)
			} else if math.IsNaN(p) || p <= 0 || p >= 10 {
				t.Fatalf("PEF %v accepted", p)
			}
			return nil
		}
		check(b)
		if len(b) >= HeaderLen+2 && len(b) <= HeaderLen+MaxData {
			fixed := bytes.Clone(b)
			fixed[0], fixed[1] = RepHead, RepHead
			fixed[4], fixed[5] = byte(len(b)-HeaderLen), byte((len(b)-HeaderLen)>>8)
			fixed[6] = Checksum(fixed[2:6])
			fixed[len(b)-1] = Checksum(fixed[HeaderLen : len(b)-1])
			if err := check(fixed); err != nil {
				t.Fatalf("fixed-up % x: %v", fixed, err)
			}
		}
	})
}

// FuzzDecodeCalData: the simulator's decoder of the calibration data never panics and
// what it accepts re-encodes to the same bytes.
func FuzzDecodeCalData(f *testing.F) {
	f.Add(frameCal[HeaderLen : len(frameCal)-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := DecodeCalData(b, 1)
		if err != nil {
			if !errors.Is(err, drivers.ErrFrame) {
				t.Fatalf("% x: %v", b, err)
			}
			return
		}
		back, err := EncodeCalData(g, 1)
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("round trip\n in  % x\n out % x (%v)", b, back, err)
		}
	})
}

func BenchmarkDecodeData(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeData(frameData); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDecodeDataDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { DecodeData(frameData) }); n != 0 {
		t.Errorf("DecodeData allocates %v times", n)
	}
}
