package nanhua

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"imagent/drivers"
)

// Frames typed from domain.md §1.2.1 (the same bytes as testdata/main_*.trace).
var (
	// HC 123, CO 52, CO2 1460, O2 45, NO 850, rpm 2480, oil 865, flow 0, status 0, λ 101.
	frameNHA = []byte{0x06, 0x00, 0x7b, 0x00, 0x34, 0x05, 0xb4, 0x00, 0x2d, 0x03, 0x52, 0x09, 0xb0, 0x03, 0x61, 0x00, 0x00, 0x00, 0x00, 0x65, 0x72}
	// As frameNHA but CO 523 (FLA-502: 0.523 %) and status 02.
	frameFLA = []byte{0x06, 0x00, 0x7b, 0x02, 0x0b, 0x05, 0xb4, 0x00, 0x2d, 0x03, 0x52, 0x09, 0xb0, 0x03, 0x61, 0x00, 0x00, 0x02, 0x00, 0x65, 0x4d}
	// 19 bytes: HC 30, CO 20, CO2 1480, O2 30, NO 80, rpm 800, oil 86 (CDF5000 °C), flow 0, status 0.
	frameCDF19 = []byte{0x06, 0x00, 0x1e, 0x00, 0x14, 0x05, 0xc8, 0x00, 0x1e, 0x00, 0x50, 0x03, 0x20, 0x00, 0x56, 0x00, 0x00, 0x00, 0xec}
	// HC -3, CO -1, CO2 4, O2 2090, NO -2, rpm 0, oil 250, flow 8888, status 03, λ 0.
	frameNeg = []byte{0x06, 0xff, 0xfd, 0xff, 0xff, 0x00, 0x04, 0x08, 0x2a, 0xff, 0xfe, 0x00, 0x00, 0x00, 0xfa, 0x88, 0x88, 0x03, 0x00, 0x00, 0x40}
	// ET 200, AP 1013, RH 500.
	frameAmb = []byte{0x06, 0x00, 0xc8, 0x03, 0xf5, 0x01, 0xf4, 0xbb}
)

func with(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}

func TestDecodeMain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		b       []byte
		m       Model
		want    Main
		wantErr error
	}{
		{"NHA-503", frameNHA, NHA503, Main{HC: 123, CO: 0.52, CO2: 14.6, O2: 0.45, NO: 850, RPM: 2480, OilTemp: 86.5, Lambda: 1.01}, nil},
		{"FLA-502 CO/1000", frameFLA, FLA502, Main{HC: 123, CO: 0.523, CO2: 14.6, O2: 0.45, NO: 850, RPM: 2480, OilTemp: 86.5, Status: 2, Lambda: 1.01}, nil},
		{"CDF5000 legacy 19", frameCDF19, CDF5000, Main{HC: 30, CO: 0.2, CO2: 14.8, O2: 0.3, NO: 80, RPM: 800, OilTemp: 86, Legacy: true}, nil},
		{"NHA-503 legacy 19", frameCDF19, NHA503, Main{HC: 30, CO: 0.2, CO2: 14.8, O2: 0.3, NO: 80, RPM: 800, OilTemp: 8.6, Legacy: true}, nil},
		{"negative, low flow", frameNeg, NHA503, Main{HC: -3, CO: -0.01, CO2: 0.04, O2: 20.9, NO: -2, RPM: 0, OilTemp: 25, Flow: FlowLow, Status: 3}, nil},
		{"bad checksum", with(frameNHA, 20, 0x73), NHA503, Main{}, drivers.ErrChecksum},
		{"bit flip in data", with(frameNHA, 4, 0x35), NHA503, Main{}, drivers.ErrChecksum},
		{"short", frameNHA[:20], NHA503, Main{}, drivers.ErrFrame},
		{"long", append(bytes.Clone(frameNHA), 0), NHA503, Main{}, drivers.ErrFrame},
		{"empty", nil, NHA503, Main{}, drivers.ErrFrame},
		{"wrong header", with(frameNHA, 0, 0x07), NHA503, Main{}, drivers.ErrFrame},
		{"NAK", []byte{NAK}, NHA503, Main{}, drivers.ErrNAK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeMain(tc.b, tc.m)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !mainClose(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if back := EncodeMain(got, tc.m); !bytes.Equal(back, tc.b) {
				t.Errorf("EncodeMain(DecodeMain(b)) = % x\nwant                         % x", back, tc.b)
			}
		})
	}
	if _, err := DecodeMain(frameNHA, "XYZ-1"); err == nil {
		t.Error("unknown model decoded without error")
	}
}

func mainClose(a, b Main) bool {
	eq := func(x, y float64) bool { return math.Abs(x-y) < 1e-9 }
	return eq(a.HC, b.HC) && eq(a.CO, b.CO) && eq(a.CO2, b.CO2) && eq(a.O2, b.O2) && eq(a.NO, b.NO) &&
		eq(a.RPM, b.RPM) && eq(a.OilTemp, b.OilTemp) && eq(a.Lambda, b.Lambda) &&
		a.Flow == b.Flow && a.Status == b.Status && a.Legacy == b.Legacy
}

func TestEncodeMainSaturatesAndRounds(t *testing.T) {
	x := Main{HC: 1e9, CO: 100, CO2: -1e9, O2: math.NaN(), NO: 12.5, RPM: -5, OilTemp: math.Inf(1), Lambda: 0.996}
	got, err := DecodeMain(EncodeMain(x, FLA502), FLA502)
	if err != nil {
		t.Fatal(err)
	}
	want := Main{HC: 32767, CO: 32.767, CO2: -327.68, O2: 0, NO: 13, RPM: 0, OilTemp: 3276.7, Lambda: 1.0}
	if !mainClose(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if b := EncodeMain(x, "nope"); b != nil {
		t.Errorf("EncodeMain with unknown model = % x, want nil", b)
	}
	if b := EncodeMain(Main{RPM: 1e6}, NHA503); b[11] != 0xff || b[12] != 0xff {
		t.Errorf("rpm 1e6 encoded as %02x %02x, want ff ff", b[11], b[12])
	}
}

func TestMainStatus(t *testing.T) {
	for _, tc := range []struct {
		m      Model
		status byte
		flow   uint16
		want   drivers.Status
	}{
		{FLA502, 0x00, 0, 0},
		{FLA502, 0x02, 0, drivers.Warmup},
		{FLA502, 0x04, 0, drivers.LeakCheck},
		{FLA502, 0x05, 0, drivers.Zeroing},
		{FLA502, 0x09, 0, drivers.Busy},
		{FLA502, 0x00, FlowLow, drivers.LowFlow},
		{FLA502, 0x01, 0, drivers.Busy}, // bit0 is not "O2 aged" on the FLA-502
		{NHA503, 0x00, 0, 0},
		{NHA503, 0x01, 0, drivers.SensorAged},
		{NHA503, 0x02, 0, drivers.SensorAged},
		{NHA503, 0x03, FlowLow, drivers.SensorAged | drivers.LowFlow},
		{NHA503, 0x04, 0, 0},
		{NHA503, 0x00, 0x8887, 0},
		{CDF5000, 0x02, 0, drivers.SensorAged},
		{"bogus", 0x00, 0, drivers.Fault},
	} {
		if got := MainStatus(Main{Status: tc.status, Flow: tc.flow}, tc.m); got != tc.want {
			t.Errorf("MainStatus(%s, status %#02x, flow %#04x) = %v, want %v", tc.m, tc.status, tc.flow, got.Names(), tc.want.Names())
		}
	}
	// EncodeMainStatus inverts MainStatus for what each model can express.
	for _, m := range []Model{NHA503, FLA502, CDF5000} {
		for _, s := range []drivers.Status{0, drivers.Warmup, drivers.Zeroing, drivers.LeakCheck, drivers.SensorAged} {
			got := MainStatus(Main{Status: EncodeMainStatus(s, m)}, m)
			expressible := s
			if m == FLA502 {
				expressible &^= drivers.SensorAged
			} else {
				expressible &= drivers.SensorAged
			}
			if got != expressible {
				t.Errorf("%s: MainStatus(EncodeMainStatus(%v)) = %v, want %v", m, s.Names(), got.Names(), expressible.Names())
			}
		}
	}
	for _, c := range []byte{StatusReady, StatusWarmup, StatusZeroing, StatusLeakCheck} {
		if got := StatusCode(StatusFromCode(c)); got != c {
			t.Errorf("StatusCode(StatusFromCode(%#02x)) = %#02x", c, got)
		}
	}
}

func TestAmbient(t *testing.T) {
	a, err := DecodeAmbient(frameAmb)
	if err != nil {
		t.Fatal(err)
	}
	if a != (Ambient{TempC: 20, PressureKPa: 101.3, RHpct: 50}) {
		t.Errorf("DecodeAmbient = %+v", a)
	}
	if b := EncodeAmbient(a); !bytes.Equal(b, frameAmb) {
		t.Errorf("EncodeAmbient = % x, want % x", b, frameAmb)
	}
	neg := EncodeAmbient(Ambient{TempC: -5.5, PressureKPa: 100, RHpct: 90})
	if neg[1] != 0xff || neg[2] != 0xc9 {
		t.Errorf("-5.5 °C encoded as %02x %02x, want ff c9", neg[1], neg[2])
	}
	for _, tc := range []struct {
		b    []byte
		want error
	}{
		{with(frameAmb, 7, 0), drivers.ErrChecksum},
		{frameAmb[:7], drivers.ErrFrame},
		{[]byte{NAK}, drivers.ErrNAK},
		{with(frameAmb, 0, 0x02), drivers.ErrFrame},
	} {
		if _, err := DecodeAmbient(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("DecodeAmbient(% x) err = %v, want %v", tc.b, err, tc.want)
		}
	}
}

func TestCommandByte(t *testing.T) {
	for _, tc := range []struct {
		m    Model
		c    Cmd
		hex  bool
		want byte
	}{
		{NHA503, CmdMain, false, 0x01},
		{NHA503, CmdZero, false, 0x08},
		{NHA503, CmdStatus, false, 0x26},
		{NHA503, CmdWarmup, false, 0x27},
		{NHA503, CmdFuelGasoline, false, 0x28},
		{NHA503, CmdFuelEthanol, false, 0x2b},
		{CDF5000, CmdStatus, false, 0x26},
		{FLA502, CmdStatus, false, 0x22},
		{FLA502, CmdWarmup, false, 0x23},
		{FLA502, CmdFuelLPG, false, 0x25},
		{FLA502, CmdStatus, true, 0x34},
		{FLA502, CmdWarmup, true, 0x35},
		{FLA502, CmdFuelEthanol, true, 0x39},
		{FLA502, CmdZero, true, 0x08}, // items below 10 read the same either way
		{NHA503, CmdCalGas, false, 0x09},
		{NHA503, CmdSpan, false, 0x0a},
		{NHA503, CmdCheckGas, false, 0x0b},
		{NHA503, CmdGasCheck, false, 0x0c},
		{NHA503, CmdPEF, false, 0x0d},
		{FLA502, CmdSpan, false, 0x0a},
		{FLA502, CmdCalGas, true, 0x09},
		{FLA502, CmdSpan, true, 0x10}, // VMAS cmdDemarcate
		{FLA502, CmdCheckGas, true, 0x11},
		{FLA502, CmdGasCheck, true, 0x12},
		{FLA502, CmdPEF, true, 0x13}, // VMAS cmdGetPEF
	} {
		got, err := CommandByte(tc.m, tc.c, tc.hex)
		if err != nil || got != tc.want {
			t.Errorf("CommandByte(%s, %v, hex=%v) = %#02x, %v; want %#02x", tc.m, tc.c, tc.hex, got, err, tc.want)
		}
	}
	if _, err := CommandByte(NHA503, CmdStatus, true); err == nil {
		t.Error("hex command bytes accepted for NHA-503")
	}
	if _, err := CommandByte(NHA503, Cmd(99), false); err == nil {
		t.Error("unknown Cmd accepted")
	}
	// No two functions share a byte on any model, or the simulator could not tell them apart.
	for m := range models {
		for _, hex := range []bool{false, models[m].hexItems} {
			seen := map[byte]Cmd{}
			for _, c := range Cmds() {
				b, _ := CommandByte(m, c, hex)
				if prev, dup := seen[b]; dup {
					t.Errorf("%s hex=%v: %v and %v both %#02x", m, hex, prev, c, b)
				}
				seen[b] = c
			}
		}
	}
}

func TestParseModel(t *testing.T) {
	for in, want := range map[string]Model{
		"NHA-503": NHA503, "nha504": NHA503, "NHA-508": NHA503, " fla-502 ": FLA502,
		"FLA502": FLA502, "CDF5000": CDF5000, "cdf-5000": CDF5000,
	} {
		if got, err := ParseModel(in); err != nil || got != want {
			t.Errorf("ParseModel(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "NHA-506", "MQW-50A", "FLA-501"} {
		if _, err := ParseModel(in); err == nil {
			t.Errorf("ParseModel(%q) accepted", in)
		}
	}
}

func TestLambda(t *testing.T) {
	for _, tc := range []struct {
		name            string
		hc, co, co2, o2 float64
		f               Fuel
		want            float64
	}{
		// Reference values computed by hand from domain.md §2.6.
		{"clean idle", 30, 0.2, 14.8, 0.3, Gasoline, 1.006997},
		{"rich", 150, 1.2, 13.8, 0.3, Gasoline, 0.972753},
		{"trace frame", 123, 0.52, 14.6, 0.45, Gasoline, 1.000892},
		{"LPG", 30, 0.2, 14.8, 0.3, LPG, 1.005479},
		{"NG", 30, 0.2, 14.8, 0.3, NaturalGas, 1.003539},
		{"no CO, CO2", 0, 0, 0, 20.9, Gasoline, 0},
		{"ambient air (> 100)", 0, 0, 0.04, 20.9, Gasoline, 0},
		{"CO but no CO2", 10, 1, 0, 1, Gasoline, 0},
		{"NaN", math.NaN(), 0.2, 14.8, 0.3, Gasoline, 0},
		{"unknown fuel", 30, 0.2, 14.8, 0.3, Fuel(9), 0},
	} {
		if got := lambda(tc.hc, tc.co, tc.co2, tc.o2, tc.f); math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("%s: lambda = %.6f, want %.6f", tc.name, got, tc.want)
		}
	}
}

// FuzzDecodeMain checks, for every model: decoding never panics; whatever decodes has the
// right header, length and sum, finite values, and re-encodes to exactly the same bytes;
// what does not decode fails with one of the driver sentinels; and any 19/21-byte payload
// with the header and sum fixed up decodes and round-trips.
func FuzzDecodeMain(f *testing.F) {
	for _, b := range [][]byte{frameNHA, frameFLA, frameCDF19, frameNeg, {NAK}, {}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range []Model{NHA503, FLA502, CDF5000} {
			checkMain(t, b, m)
			if n := len(b); n == MainLen || n == MainLegacyLen {
				fixed := bytes.Clone(b)
				fixed[0] = ACK
				fixed[n-1] = Checksum(fixed[:n-1])
				if _, err := DecodeMain(fixed, m); err != nil {
					t.Fatalf("%s: fixed-up frame % x: %v", m, fixed, err)
				}
				checkMain(t, fixed, m)
			}
		}
	})
}

func checkMain(t *testing.T, b []byte, m Model) {
	x, err := DecodeMain(b, m)
	if err != nil {
		if !errors.Is(err, drivers.ErrFrame) && !errors.Is(err, drivers.ErrChecksum) && !errors.Is(err, drivers.ErrNAK) {
			t.Fatalf("%s: % x: error %v wraps no driver sentinel", m, b, err)
		}
		return
	}
	if len(b) != MainLen && len(b) != MainLegacyLen || b[0] != ACK || Checksum(b[:len(b)-1]) != b[len(b)-1] {
		t.Fatalf("%s: accepted a bad frame % x", m, b)
	}
	if x.Legacy != (len(b) == MainLegacyLen) {
		t.Fatalf("%s: Legacy = %v for %d bytes", m, x.Legacy, len(b))
	}
	for _, v := range []float64{x.HC, x.CO, x.CO2, x.O2, x.NO, x.RPM, x.OilTemp, x.Lambda} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("%s: % x decoded to a non-finite value: %+v", m, b, x)
		}
	}
	if back := EncodeMain(x, m); !bytes.Equal(back, b) {
		t.Fatalf("%s: round trip\n in  % x\n out % x", m, b, back)
	}
	_ = MainStatus(x, m)
	if l := lambda(x.HC, x.CO, x.CO2, x.O2, Gasoline); math.IsNaN(l) || l < 0 || l > 100 {
		t.Fatalf("%s: lambda(%+v) = %v", m, x, l)
	}
}

// FuzzDecodeAmbient checks the same properties for the ambient reply.
func FuzzDecodeAmbient(f *testing.F) {
	f.Add(frameAmb)
	f.Add([]byte{NAK})
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(b []byte) {
			a, err := DecodeAmbient(b)
			if err != nil {
				if !errors.Is(err, drivers.ErrFrame) && !errors.Is(err, drivers.ErrChecksum) && !errors.Is(err, drivers.ErrNAK) {
					t.Fatalf("% x: error %v wraps no driver sentinel", b, err)
				}
				return
			}
			if back := EncodeAmbient(a); !bytes.Equal(back, b) {
				t.Fatalf("round trip\n in  % x\n out % x", b, back)
			}
		}
		check(b)
		if len(b) == AmbientLen {
			fixed := bytes.Clone(b)
			fixed[0] = ACK
			fixed[7] = Checksum(fixed[:7])
			if _, err := DecodeAmbient(fixed); err != nil {
				t.Fatalf("fixed-up frame % x: %v", fixed, err)
			}
			check(fixed)
		}
	})
}

func BenchmarkDecodeMain(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeMain(frameNHA, NHA503); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDecodeMainDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { DecodeMain(frameNHA, NHA503) }); n != 0 {
		t.Errorf("DecodeMain allocates %v times per call on a good frame", n)
	}
}
