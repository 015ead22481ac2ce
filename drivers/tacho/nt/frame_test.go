package nt

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"imagent/drivers"
)

// Frames typed from testdata/*.trace.
var (
	reqVMT   = []byte{0x4e, 0x54, 0x30, 0xff, 0x53, 0x03, 0x01, 0x80, 0x7b} // literal in the lane code
	frameVMT = []byte{0x4e, 0x54, 0x30, 0xff, 0x41, 0x07, 0x01, 0x80, 0x09, 0xb0, 0x00, 0x00, 0xbe}
	frameFMP = []byte{0x4e, 0x54, 0x30, 0x31, 0x41, 0x15, 0x01, 0x32, 0x00, 0x00, 0x09, 0xb0, 0x00, 0x52, 0x00, 0x00,
		0x00, 0x00, 0x03, 0x61, 0x00, 0xea, 0x02, 0x37, 0x03, 0xf1, 0x31}
	frameFMPCal = []byte{0x4e, 0x54, 0x30, 0x31, 0x41, 0x15, 0x01, 0x32, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0xff, 0x85, 0xff, 0xc9, 0x03, 0x84, 0x03, 0xe8, 0xf8}
	frameFTH = []byte{0x4e, 0x54, 0x33, 0x33, 0x41, 0x0d, 0x01, 0x01, 0x00, 0x00, 0x00, 0xe1, 0x02, 0x4e, 0x03, 0xf5, 0x00, 0x00, 0xc7}
	frameErr = []byte{0x4e, 0x54, 0x30, 0x31, 0x45, 0x05, 0x01, 0x32, 0x00, 0xf0, 0xd7}
)

func with(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}

func TestFrame(t *testing.T) {
	// The literal requests of the lane code and the FMP-1 manual.
	for _, tc := range []struct {
		f    Frame
		want string
	}{
		{Frame{Addr: [2]byte{'0', 0xff}, Kind: KindRequest, Cmd: CmdVMTRPM}, "4e5430ff530301807b"},
		{Frame{Addr: [2]byte{'0', '1'}, Kind: KindRequest, Cmd: CmdFMP1Read}, "4e54303153030132c9"},
		{Frame{Addr: [2]byte{'3', '3'}, Kind: KindRequest, Cmd: CmdFTH2Read}, "4e54333353030101fa"},
	} {
		if got := Encode(tc.f); hexs(got) != tc.want {
			t.Errorf("Encode(%+v) = %s, want %s", tc.f, hexs(got), tc.want)
		}
	}
	f, err := Decode(reqVMT)
	if err != nil || f.Cmd != CmdVMTRPM || f.Kind != KindRequest || len(f.Data) != 0 || f.Addr != [2]byte{'0', 0xff} {
		t.Fatalf("Decode(request) = %+v, %v", f, err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"bad sum", with(frameVMT, 12, 0xbf), drivers.ErrChecksum},
		{"bad start", with(frameVMT, 0, 0x4f), drivers.ErrFrame},
		{"bad kind", with(frameVMT, 4, 0x42), drivers.ErrFrame},
		{"LEN too big", with(frameVMT, 5, 0x08), drivers.ErrFrame},
		{"LEN below 3", with(reqVMT, 5, 0x02), drivers.ErrFrame},
		{"short", frameVMT[:8], drivers.ErrFrame},
	} {
		if _, err := Decode(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if Encode(Frame{Data: make([]byte, 253)}) != nil {
		t.Error("Encode accepted data longer than LEN allows")
	}
	if b := Encode(Frame{Data: make([]byte, 252)}); len(b) != MaxLen {
		t.Errorf("largest frame is %d bytes", len(b))
	}
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestPayloads(t *testing.T) {
	f, _ := Decode(frameVMT)
	if rpm, err := DecodeVMTRPM(f); err != nil || rpm != 2480 {
		t.Errorf("rpm %v %v", rpm, err)
	}
	if !bytes.Equal(EncodeVMTRPM([2]byte{'0', 0xff}, 2480), frameVMT) {
		t.Error("EncodeVMTRPM")
	}
	if _, err := DecodeFMP1(f); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("rpm frame read as FMP-1: %v", err)
	}
	f, _ = Decode(frameFMP)
	x, err := DecodeFMP1(f)
	want := FMP1Data{RPM: 2480, Freq: 82, OilTempC: 86.5, TempC: 23.4, RHpct: 56.7, PressureKPa: 100.9}
	if err != nil || x != want {
		t.Errorf("FMP-1 %+v %v", x, err)
	}
	if !bytes.Equal(EncodeFMP1([2]byte{'0', '1'}, x), frameFMP) {
		t.Error("EncodeFMP1")
	}
	f, _ = Decode(frameFMPCal)
	if x, _ := DecodeFMP1(f); x.OilTempC != -12.3 || x.TempC != -5.5 || FMP1Status(x.ST01) != drivers.Busy {
		t.Errorf("FMP-1 calibrating %+v", x)
	}
	if FMP1Status(FMP1PresCalFail) != drivers.Fault || FMP1Status(FMP1OilCalFailed|FMP1Calibrating) != drivers.Fault|drivers.Busy {
		t.Error("FMP1Status")
	}
	f, _ = Decode(frameFTH)
	y, err := DecodeFTH2(f)
	if err != nil || y != (FTH2Data{TempC: 22.5, RHpct: 59, PressureKPa: 101.3}) {
		t.Errorf("FTH-2 %+v %v", y, err)
	}
	if !bytes.Equal(EncodeFTH2([2]byte{'3', '3'}, y), frameFTH) {
		t.Error("EncodeFTH2")
	}
	f, err = Decode(frameErr)
	if err != nil {
		t.Fatal(err)
	}
	var de DeviceError
	if e := f.Err(); !errors.As(e, &de) || de != DeviceError(CodeBadCommand) || !errors.Is(e, drivers.ErrNAK) {
		t.Errorf("Err() = %v", e)
	}
	if (Frame{Kind: KindError, Cmd: 0x00f4}).Err() != DeviceError(CodeTimeout) || (Frame{Kind: KindOK}).Err() != nil {
		t.Error("Err without data")
	}
	for _, c := range []uint16{CodeBadCommand, CodeChecksum, CodeBadStart, CodeTimeout, 0x1234} {
		if DeviceError(c).Error() == "" {
			t.Error("empty message")
		}
	}
	if _, err := DecodeVMTRPM(f); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("rpm from an 'E' frame: %v", err)
	}
	if d := FMP1CalData(CalOilTemp|CalPressure, 100.9, 86.5); hexs(d) != "0503f10361" {
		t.Errorf("FMP1CalData = %s", hexs(d))
	}
	// Saturation.
	if b := EncodeFTH2([2]byte{}, FTH2Data{TempC: 1e6, RHpct: -1, PressureKPa: math.NaN()}); b[10] != 0x7f || b[12] != 0 || b[14] != 0 {
		t.Errorf("saturated % x", b)
	}
}

func checkErr(t *testing.T, b []byte, err error) {
	if !errors.Is(err, drivers.ErrFrame) && !errors.Is(err, drivers.ErrChecksum) {
		t.Fatalf("% x: error %v wraps no sentinel", b, err)
	}
}

// fixUp makes a frame of b: "NT", a known kind, LEN from the length and the checksum.
func fixUp(b []byte) []byte {
	if len(b) < MinLen || len(b) > MaxLen {
		return nil
	}
	c := bytes.Clone(b)
	c[0], c[1] = Start0, Start1
	c[4] = []byte{KindRequest, KindOK, KindError}[int(c[4])%3]
	c[5] = byte(len(c) - HeaderLen)
	c[len(c)-1] = Checksum(c[5 : len(c)-1])
	return c
}

// FuzzDecodeFrame: never panics; what decodes re-encodes to the same bytes; errors wrap a
// sentinel; any 9..261-byte input with start, kind, LEN and sum fixed up decodes.
func FuzzDecodeFrame(f *testing.F) {
	for _, b := range [][]byte{reqVMT, frameVMT, frameFMP, frameFTH, frameErr, {}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(b []byte) {
			fr, err := Decode(b)
			if err != nil {
				checkErr(t, b, err)
				return
			}
			if back := Encode(fr); !bytes.Equal(back, b) {
				t.Fatalf("round trip\n in  % x\n out % x", b, back)
			}
			_ = fr.Err()
		}
		check(b)
		if c := fixUp(b); c != nil {
			if _, err := Decode(c); err != nil {
				t.Fatalf("fixed-up % x: %v", c, err)
			}
			check(c)
		}
	})
}

// fuzzPayload checks a payload decoder: on any frame it never panics and errors wrap
// ErrFrame; on a good frame of its command it round-trips through enc.
func fuzzPayload[T any](t *testing.T, b []byte, cmd uint16, n int, dec func(Frame) (T, error), enc func([2]byte, T) []byte) {
	body := make([]byte, 0, 8+n+1)
	body = append(body, 'N', 'T', 0x30, 0x31, KindOK, 0, byte(cmd>>8), byte(cmd))
	body = append(body, b...)
	body = append(body, 0)
	c := fixUp(body)
	if c == nil {
		return
	}
	c[4] = KindOK
	c[len(c)-1] = Checksum(c[5 : len(c)-1])
	fr, err := Decode(c)
	if err != nil {
		t.Fatalf("% x: %v", c, err)
	}
	x, err := dec(fr)
	if err != nil {
		if !errors.Is(err, drivers.ErrFrame) || len(b) >= n {
			t.Fatalf("% x: %v", c, err)
		}
		return
	}
	if len(b) == n {
		if back := enc(fr.Addr, x); !bytes.Equal(back, c) {
			t.Fatalf("round trip\n in  % x\n out % x", c, back)
		}
	}
}

// FuzzDecodeVMTRPM, FuzzDecodeFMP1 and FuzzDecodeFTH2 feed arbitrary payloads in good
// frames of their command: never a panic, a decode whenever the payload is long enough,
// a byte-exact round trip at the nominal length.
func FuzzDecodeVMTRPM(f *testing.F) {
	f.Add(frameVMT[8:12])
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzPayload(t, b, CmdVMTRPM, VMTRPMDataLen, DecodeVMTRPM, func(a [2]byte, rpm float64) []byte {
			out := EncodeVMTRPM(a, rpm)
			copy(out[10:12], b[2:4]) // the two bytes of unknown use are not decoded
			out[12] = Checksum(out[5:12])
			return out
		})
	})
}

func FuzzDecodeFMP1(f *testing.F) {
	f.Add(frameFMP[8:26])
	f.Add(frameFMPCal[8:26])
	f.Fuzz(func(t *testing.T, b []byte) { fuzzPayload(t, b, CmdFMP1Read, FMP1DataLen, DecodeFMP1, EncodeFMP1) })
}

func FuzzDecodeFTH2(f *testing.F) {
	f.Add(frameFTH[8:18])
	f.Fuzz(func(t *testing.T, b []byte) { fuzzPayload(t, b, CmdFTH2Read, FTH2DataLen, DecodeFTH2, EncodeFTH2) })
}

func BenchmarkDecodeFMP1(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(frameFMP)))
	for b.Loop() {
		f, err := Decode(frameFMP)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeFMP1(f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeVMTRPM(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(frameVMT)))
	for b.Loop() {
		f, err := Decode(frameVMT)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeVMTRPM(f); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		f, _ := Decode(frameFMP)
		DecodeFMP1(f)
		g, _ := Decode(frameFTH)
		DecodeFTH2(g)
	}); n != 0 {
		t.Errorf("decoders allocate %v times per good frame", n)
	}
}
