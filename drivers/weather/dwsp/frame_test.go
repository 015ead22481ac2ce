package dwsp

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"imagent/drivers"
	"imagent/drivers/internal/modbus"
)

// Frames typed from domain.md §1.7 (the same bytes as testdata/read_*.trace).
var (
	reqT5      = []byte{0x01, 0x04, 0x00, 0x00, 0x00, 0x03, 0xb0, 0x0b}
	reqRZ1     = []byte{0x01, 0x04, 0x00, 0x00, 0x00, 0x04, 0xf1, 0xc9}
	replyT5    = []byte{0x01, 0x04, 0x06, 0x27, 0x94, 0x00, 0xea, 0x01, 0xe7, 0x37, 0xb7} // 101.32 kPa, 23.4 °C, 48.7 %
	replyT5Neg = []byte{0x01, 0x04, 0x06, 0x27, 0x01, 0xff, 0xdd, 0x03, 0x8e, 0x7b, 0x3e} // 99.85 kPa, -3.5 °C, 91 %
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestRequests(t *testing.T) {
	for _, tc := range []struct {
		l    Layout
		want []byte
	}{{DWSPT5, reqT5}, {RZ1, reqRZ1}} {
		got, err := modbus.EncodeRTU(tc.l.Request(1, modbus.ReadInput))
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s request = % x, %v; want % x (domain.md §1.7)", tc.l.Name, got, err, tc.want)
		}
	}
}

func TestDecodeReply(t *testing.T) {
	req := DWSPT5.Request(1, modbus.ReadInput)
	for _, tc := range []struct {
		name string
		b    []byte
		want Values
		err  error
	}{
		{"DWSP-T5", replyT5, Values{23.4, 48.7, 101.32}, nil},
		{"negative temperature", replyT5Neg, Values{-3.5, 91, 99.85}, nil},
		{"bad CRC", append(bytes.Clone(replyT5[:10]), 0xb8), Values{}, drivers.ErrChecksum},
		{"short", replyT5[:9], Values{}, drivers.ErrChecksum},
		{"empty", nil, Values{}, drivers.ErrFrame},
		{"exception 02", modbus.EncodeRTUException(1, 4, 2), Values{}, drivers.ErrNAK},
		{"exception 06", modbus.EncodeRTUException(1, 4, 6), Values{}, drivers.ErrBusy},
		{"other slave", modbus.AppendCRC([]byte{2, 4, 6, 0x27, 0x94, 0, 0xea, 1, 0xe7}), Values{}, drivers.ErrFrame},
		{"other function", modbus.AppendCRC([]byte{1, 3, 6, 0x27, 0x94, 0, 0xea, 1, 0xe7}), Values{}, drivers.ErrFrame},
		{"byte count", modbus.AppendCRC([]byte{1, 4, 4, 0x27, 0x94, 0, 0xea}), Values{}, drivers.ErrFrame},
	} {
		got, err := DecodeReply(tc.b, req, DWSPT5)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || !near(got.TempC, tc.want.TempC) || !near(got.RHpct, tc.want.RHpct) || !near(got.PressureKPa, tc.want.PressureKPa) {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	// RZ-1, scales of the lane software.
	rz := modbus.AppendCRC([]byte{1, 4, 8, 0x13, 0x88, 0x09, 0xc4, 0x23, 0xf0, 0, 0})
	v, err := DecodeReply(rz, RZ1.Request(1, modbus.ReadInput), RZ1)
	if err != nil || !near(v.TempC, 25) || !near(v.RHpct, 50) || !near(v.PressureKPa, 101.2) {
		t.Errorf("RZ-1: %+v, %v", v, err)
	}
}

func TestEncode(t *testing.T) {
	for _, l := range []Layout{DWSPT5, RZ1} {
		v := Values{TempC: -12.3, RHpct: 77.7, PressureKPa: 88.88}
		got, err := Decode(Encode(v, l), l)
		res := []float64{l.Temp.Scale, l.RH.Scale, l.Pressure.Scale}
		if err != nil || math.Abs(got.TempC-v.TempC) > res[0]/2+1e-9 || math.Abs(got.RHpct-v.RHpct) > res[1]/2+1e-9 ||
			math.Abs(got.PressureKPa-v.PressureKPa) > res[2]/2+1e-9 {
			t.Errorf("%s: Decode(Encode(%+v)) = %+v, %v", l.Name, v, got, err)
		}
	}
	sat := Encode(Values{TempC: 1e9, RHpct: -5, PressureKPa: math.NaN()}, DWSPT5)
	if sat[1] != 0x7fff || sat[2] != 0 || sat[0] != 0 {
		t.Errorf("saturation: % x", sat)
	}
	if Encode(Values{}, Layout{}) != nil {
		t.Error("Encode with an invalid layout")
	}
	if _, err := Decode([]uint16{1, 2}, DWSPT5); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("Decode of 2 registers: %v", err)
	}
}

func TestLayouts(t *testing.T) {
	for in, want := range map[string]string{"DWSP-T5": "DWSP-T5", "dwsp_t5": "DWSP-T5", "RZ-1": "RZ-1", "rz1": "RZ-1"} {
		if l, err := LayoutByName(in); err != nil || l.Name != want {
			t.Errorf("LayoutByName(%q) = %q, %v", in, l.Name, err)
		}
	}
	if _, err := LayoutByName("FTH-2"); err == nil {
		t.Error("LayoutByName(FTH-2) accepted")
	}
	for _, l := range []Layout{DWSPT5, RZ1} {
		if err := l.Validate(); err != nil {
			t.Error(err)
		}
	}
	bad := []Layout{
		{},
		{Count: 126, Temp: Field{0, 1, false}, RH: Field{1, 1, false}, Pressure: Field{2, 1, false}},
		{Start: 0xFFFF, Count: 3, Temp: Field{0, 1, false}, RH: Field{1, 1, false}, Pressure: Field{2, 1, false}},
		{Count: 3, Temp: Field{0, 1, false}, RH: Field{0, 1, false}, Pressure: Field{2, 1, false}},
		{Count: 3, Temp: Field{0, 1, false}, RH: Field{1, 1, false}, Pressure: Field{3, 1, false}},
		{Count: 3, Temp: Field{0, 0, false}, RH: Field{1, 1, false}, Pressure: Field{2, 1, false}},
		{Count: 3, Temp: Field{0, math.Inf(1), false}, RH: Field{1, 1, false}, Pressure: Field{2, 1, false}},
	}
	for _, l := range bad {
		if err := l.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted", l)
		}
	}
}

func TestLimits(t *testing.T) {
	if err := DefaultLimits.Check(Values{23.4, 48.7, 101.32}); err != nil {
		t.Error(err)
	}
	for _, v := range []Values{{-40.1, 50, 100}, {25, 100.1, 100}, {25, 50, 655.35}, {math.NaN(), 50, 100}} {
		if err := DefaultLimits.Check(v); !errors.Is(err, drivers.ErrFrame) {
			t.Errorf("Check(%+v) = %v", v, err)
		}
	}
}

// FuzzDecodeReply checks, for both layouts: decoding never panics; what decodes is a
// well-formed reply whose registers re-encode to exactly the same bytes; what does not
// decode fails with a driver sentinel; and any reply with the right head, length and a
// fixed-up CRC decodes.
func FuzzDecodeReply(f *testing.F) {
	for _, b := range [][]byte{replyT5, replyT5Neg, modbus.EncodeRTUException(1, 4, 4), {0x07, 0xa1, 0x33, 0x10}, {}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, l := range []Layout{DWSPT5, RZ1} {
			req := l.Request(1, modbus.ReadInput)
			check(t, b, req, l)
			if len(b) == modbus.RTUReplyLen(req) {
				fixed := bytes.Clone(b[:len(b)-2])
				fixed[0], fixed[1], fixed[2] = 1, 4, byte(2*l.Count)
				fixed = modbus.AppendCRC(fixed)
				if _, err := DecodeReply(fixed, req, l); err != nil {
					t.Fatalf("%s: fixed-up reply % x: %v", l.Name, fixed, err)
				}
				check(t, fixed, req, l)
			}
		}
	})
}

func check(t *testing.T, b []byte, req modbus.Request, l Layout) {
	v, err := DecodeReply(b, req, l)
	if err != nil {
		if !errors.Is(err, drivers.ErrFrame) && !errors.Is(err, drivers.ErrChecksum) && !errors.Is(err, drivers.ErrNAK) {
			t.Fatalf("%s: % x: error %v wraps no driver sentinel", l.Name, b, err)
		}
		return
	}
	for _, x := range []float64{v.TempC, v.RHpct, v.PressureKPa} {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			t.Fatalf("%s: % x decoded to %+v", l.Name, b, v)
		}
	}
	regs, err := modbus.DecodeRTU(b, req)
	if err != nil {
		t.Fatal(err)
	}
	back, err := modbus.EncodeRTUReply(req, regs)
	if err != nil || !bytes.Equal(back, b) {
		t.Fatalf("%s: round trip % x → % x (%v)", l.Name, b, back, err)
	}
	_ = DefaultLimits.Check(v)
}

func BenchmarkDecodeReply(b *testing.B) {
	req := DWSPT5.Request(1, modbus.ReadInput)
	b.ReportAllocs()
	b.SetBytes(int64(len(replyT5)))
	for b.Loop() {
		if _, err := DecodeReply(replyT5, req, DWSPT5); err != nil {
			b.Fatal(err)
		}
	}
}
