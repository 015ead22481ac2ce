package mingquan

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

// Frames from the traces in testdata.
var (
	frameData   = hx("06 60 1b 05 b4 00 34 00 7b 03 52 00 2d 02 26 03 61 00 ea 09 b0 ff e7 03 f4 03 f0 96")
	frameData2  = hx("06 60 1b 00 04 00 00 ff fd 00 00 08 2a 03 84 00 fa ff c9 00 00 00 00 00 00 03 de 23")
	frameDataB  = hx("06 a3 17 05 b4 00 34 00 7b 03 52 00 2d 03 61 09 b0 ff e7 03 f4 02 08 52")
	frameStatus = hx("06 61 0a 40 c0 04 1f 0a 00 00 62")
	frameCal    = hx("02 69 0e 0f b0 04 32 00 20 4e 30 75 00 00 7f")
)

func with(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}

func TestFrame(t *testing.T) {
	// The literals of domain.md and the lane code.
	for _, tc := range []struct {
		head, cmd byte
		data      []byte
		want      string
	}{
		{STX, CmdPumpProbe, nil, "02 7b 03 80"},
		{ACK, CmdPumpProbe, nil, "06 7b 03 7c"},
		{STX, CmdData, nil, "02 60 03 9b"},
		{STX, CmdStatus, nil, "02 61 03 9a"},
		{ACK, CmdZero, nil, "06 67 03 90"},
		{ACK, CmdCalibrate, nil, "06 69 03 8e"},
		{STX, CmdZeroGas, []byte{0x01}, "02 68 04 01 91"},
		{STX, CmdAutoZero, []byte{0x00}, "02 76 04 00 84"},
	} {
		if got := EncodeFrame(tc.head, tc.cmd, tc.data); !bytes.Equal(got, hx(tc.want)) {
			t.Errorf("EncodeFrame(%#02x, %#02x, % x) = % x, want %s", tc.head, tc.cmd, tc.data, got, tc.want)
		}
	}
	if EncodeFrame(STX, 1, make([]byte, 253)) != nil {
		t.Error("EncodeFrame accepted data too long for LEN")
	}
	if b := EncodeFrame(ACK, 1, make([]byte, 252)); len(b) != 256 || b[2] != 0xff {
		t.Errorf("largest frame: %d bytes, LEN %#02x", len(b), b[2])
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"NAK", []byte{NAK}, drivers.ErrNAK},
		{"short", hx("06 60 03"), drivers.ErrFrame},
		{"header", with(frameData, 0, 0x02), drivers.ErrFrame},
		{"length", with(frameData, 2, 0x1a), drivers.ErrFrame},
		{"checksum", with(frameData, 27, 0x97), drivers.ErrChecksum},
		{"bit flip", with(frameData, 5, 0x01), drivers.ErrChecksum},
	} {
		if _, err := DecodeFrame(tc.b, ACK); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestData(t *testing.T) {
	x, err := DecodeData(frameData)
	want := Data{CO2: 14.6, CO: 0.52, HC: 123, NO: 850, O2: 0.45, RH: 55, OilTemp: 86.5, AmbientTemp: 23.4, RPM: 2480,
		PipeKPa: -2.5, Lambda: 1.012, PressureKPa: 100.8}
	if err != nil || !dataClose(x, want) {
		t.Fatalf("DecodeData = %+v, %v", x, err)
	}
	if back := EncodeData(x); !bytes.Equal(back, frameData) {
		t.Errorf("EncodeData = % x", back)
	}
	x2, err := DecodeData(frameData2)
	if err != nil || x2.AmbientTemp != -5.5 || x2.HC != -3 || x2.O2 != 20.9 {
		t.Errorf("negative frame: %+v, %v", x2, err)
	}
	if _, err := DecodeData(frameStatus); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("status frame as data: %v", err)
	}
	if x, _ := DecodeData(EncodeData(Data{RPM: 1e6, HC: -1e6, CO: math.NaN()})); x.RPM != 65535 || x.HC != -32768 || x.CO != 0 {
		t.Errorf("saturation: %+v", x)
	}
	b, err := DecodeDataB(frameDataB)
	if err != nil || b.PEF != 0.52 || b.Lambda != 1.012 || b.RPM != 2480 || b.OilTemp != 86.5 || b.PipeKPa != -2.5 {
		t.Errorf("DecodeDataB = %+v, %v", b, err)
	}
	if back := EncodeDataB(b); !bytes.Equal(back, frameDataB) {
		t.Errorf("EncodeDataB = % x", back)
	}
	if _, err := DecodeDataB(frameData); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("data as data B: %v", err)
	}
}

func dataClose(a, b Data) bool {
	af := []float64{a.CO2, a.CO, a.HC, a.NO, a.O2, a.RH, a.OilTemp, a.AmbientTemp, a.RPM, a.PipeKPa, a.Lambda, a.PressureKPa}
	bf := []float64{b.CO2, b.CO, b.HC, b.NO, b.O2, b.RH, b.OilTemp, b.AmbientTemp, b.RPM, b.PipeKPa, b.Lambda, b.PressureKPa}
	for i := range af {
		if math.Abs(af[i]-bf[i]) > 1e-9 {
			return false
		}
	}
	return true
}

func TestStatus(t *testing.T) {
	s, err := DecodeStatus(frameStatus)
	if err != nil || s != (Status{State: StateZeroing, Action: ActionBusy | ActionPumpOn, Errors: ErrZero, Calibrating: 0x1f, CalFailed: ChanCO | ChanNO}) {
		t.Fatalf("DecodeStatus = %+v, %v", s, err)
	}
	if back := EncodeStatus(s); !bytes.Equal(back, frameStatus) {
		t.Errorf("EncodeStatus = % x", back)
	}
	if got := strings.Join(ChannelNames(s.CalFailed), ","); got != "CO,NO" {
		t.Errorf("ChannelNames = %s", got)
	}
	for _, tc := range []struct {
		s    Status
		want drivers.Status
	}{
		{Status{}, 0},
		{Status{Action: ActionPumpOn}, 0},
		{Status{State: StateWarmup, Action: ActionBusy}, drivers.Warmup},
		{Status{State: StateZeroing, Action: ActionBusy}, drivers.Zeroing},
		{Status{State: StateLeakCheck, Action: ActionBusy}, drivers.LeakCheck},
		{Status{State: StateLowFlow}, drivers.LowFlow},
		{Status{State: StateBackflush}, drivers.Busy},
		{Status{State: StateHCResidual, Action: ActionBusy}, drivers.Busy},
		{Status{Calibrating: ChanCO, Action: ActionBusy}, drivers.Busy},
		{Status{Action: ActionBusy}, drivers.Busy},
		{Status{Errors: 0xff, CalFailed: 0x1f}, 0},
	} {
		if got := tc.s.Drivers(); got != tc.want {
			t.Errorf("%+v.Drivers() = %v, want %v", tc.s, got.Names(), tc.want.Names())
		}
	}
}

func TestCalibrate(t *testing.T) {
	g := drivers.CalGas{C3H8ppm: 200, COpct: 0.5, CO2pct: 12, NOppm: 300}
	b, err := EncodeCalibrate(g, 100)
	if err != nil || !bytes.Equal(b, frameCal) {
		t.Fatalf("EncodeCalibrate = % x, %v", b, err)
	}
	mask, back, err := DecodeCalibrate(b, 100)
	if err != nil || mask != ChanCO2|ChanCO|ChanHC|ChanNO || back != g {
		t.Errorf("DecodeCalibrate = %#02x %+v %v", mask, back, err)
	}
	// The VMAS ×100 cannot carry a high-range gas; scale 1 can.
	high := drivers.CalGas{C3H8ppm: 3200, COpct: 8, CO2pct: 12, NOppm: 3000, O2pct: 0.5}
	if _, err := EncodeCalibrate(high, 100); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("3200 ppm ×100: %v, want ErrFrame", err)
	}
	b, err = EncodeCalibrate(high, 1)
	if err != nil || b[3] != 0x1f {
		t.Fatalf("scale 1: % x, %v", b, err)
	}
	if _, g2, err := DecodeCalibrate(b, 1); err != nil || g2 != high {
		t.Errorf("scale 1 round trip: %+v, %v", g2, err)
	}
	if _, err := EncodeCalibrate(drivers.CalGas{COpct: -1}, 100); err == nil {
		t.Error("negative CO accepted")
	}
	if _, _, err := DecodeCalibrate(EncodeFrame(STX, CmdCalibrate, []byte{1}), 100); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("short calibration: %v", err)
	}
}

// FuzzDecodeAnswer: DecodeFrame and the answer decoders built on it never panic; what
// they accept has the header, a LEN that matches, a zero byte sum and (for the typed
// decoders) the right command and length, and re-encodes to the same bytes; errors wrap a
// sentinel; a fixed-up frame always decodes.
func FuzzDecodeAnswer(f *testing.F) {
	for _, b := range [][]byte{frameData, frameData2, frameDataB, frameStatus, {NAK}, hx("06 7b 03 7c")} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sentinel := func(err error) {
			if !errors.Is(err, drivers.ErrFrame) && !errors.Is(err, drivers.ErrChecksum) && !errors.Is(err, drivers.ErrNAK) {
				t.Fatalf("% x: error %v wraps no sentinel", b, err)
			}
		}
		check := func(b []byte) {
			fr, err := DecodeFrame(b, ACK)
			if err != nil {
				sentinel(err)
				return
			}
			if b[0] != ACK || int(b[2]) != len(b)-1 || drivers.Sum8(b) != 0 {
				t.Fatalf("accepted % x", b)
			}
			if back := EncodeFrame(ACK, fr.Cmd, fr.Data); !bytes.Equal(back, b) {
				t.Fatalf("frame round trip\n in  % x\n out % x", b, back)
			}
			if x, err := DecodeData(b); err != nil {
				sentinel(err)
			} else if back := EncodeData(x); !bytes.Equal(back, b) {
				t.Fatalf("data round trip\n in  % x\n out % x", b, back)
			}
			if x, err := DecodeDataB(b); err != nil {
				sentinel(err)
			} else if back := EncodeDataB(x); !bytes.Equal(back, b) {
				t.Fatalf("data B round trip\n in  % x\n out % x", b, back)
			}
			if x, err := DecodeStatus(b); err != nil {
				sentinel(err)
			} else if back := EncodeStatus(x); !bytes.Equal(back, b) {
				t.Fatalf("status round trip\n in  % x\n out % x", b, back)
			} else {
				_ = x.Drivers()
			}
		}
		check(b)
		if len(b) >= 4 && len(b) <= 255 {
			fixed := bytes.Clone(b)
			fixed[0], fixed[2] = ACK, byte(len(b)-1)
			fixed[len(b)-1] = Checksum(fixed[:len(b)-1])
			if _, err := DecodeFrame(fixed, ACK); err != nil {
				t.Fatalf("fixed-up % x: %v", fixed, err)
			}
			check(fixed)
		}
	})
}

// FuzzDecodeCalibrate: the simulator's decoder of the calibration request never panics
// and what it accepts re-encodes to the same bytes (at scale 1, every word is exact).
func FuzzDecodeCalibrate(f *testing.F) {
	f.Add(frameCal)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		mask, g, err := DecodeCalibrate(b, 1)
		if err != nil {
			if !errors.Is(err, drivers.ErrFrame) && !errors.Is(err, drivers.ErrChecksum) && !errors.Is(err, drivers.ErrNAK) {
				t.Fatalf("% x: error %v wraps no sentinel", b, err)
			}
			return
		}
		back, err := EncodeCalibrate(g, 1)
		if err != nil {
			t.Fatalf("% x decoded to %+v, which does not encode: %v", b, g, err)
		}
		// EncodeCalibrate derives the mask from the values; the rest must match.
		back[3] = mask
		back[len(back)-1] = Checksum(back[:len(back)-1])
		if !bytes.Equal(back, b) {
			t.Fatalf("round trip\n in  % x\n out % x", b, back)
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
