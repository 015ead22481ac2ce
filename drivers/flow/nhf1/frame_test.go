package nhf1

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"imagent/drivers"
	"imagent/drivers/internal/modbus"
)

// From testdata/read.trace.
var frameData = []byte(":01030A082A271A016000FE00F12F\r\n")

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestRequests(t *testing.T) {
	for _, tc := range []struct {
		r    modbus.Request
		want string
	}{
		{ReadData(1), ":0103125800058D\r\n"},
		{ReadStatus(1), ":0103125D00018C\r\n"},
		{modbus.Write(1, RegCalPressure, 0x2795), ":010612602795CB\r\n"},
	} {
		got, err := modbus.EncodeASCII(tc.r)
		if err != nil || string(got) != tc.want {
			t.Errorf("%+v: %q, %v; want %q", tc.r, got, err, tc.want)
		}
	}
}

func TestDecodeData(t *testing.T) {
	d, err := DecodeData(frameData, 1, OrderPT)
	if err != nil {
		t.Fatal(err)
	}
	if !near(d.O2Pct, 20.9) || !near(d.PressureKPa, 100.1) || !near(d.TempC, 35.2) || !near(d.FlowLps, 254*LpsPerCFM) || !near(d.StdFlowLps, 241*LpsPerCFM) {
		t.Errorf("got %+v", d)
	}
	if back := EncodeData(1, OrderPT, d); !bytes.Equal(back, frameData) {
		t.Errorf("round trip %q", back)
	}
	// The same registers read in the other order give an absurd temperature: the option
	// matters.
	tp, err := DecodeData(frameData, 1, OrderTP)
	if err != nil || tp.TempC != 1001 || tp.PressureKPa != 3.52 {
		t.Errorf("OrderTP: %+v, %v", tp, err)
	}
	if _, err := DecodeData(frameData, 2, OrderPT); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("other address: %v", err)
	}
	bad := bytes.Clone(frameData)
	bad[10] = '9'
	if _, err := DecodeData(bad, 1, OrderPT); !errors.Is(err, drivers.ErrChecksum) {
		t.Errorf("bad LRC: %v", err)
	}
	if _, err := DataFromRegs([]uint16{1}, OrderPT); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("short regs: %v", err)
	}
	if r := (Data{O2Pct: math.NaN(), TempC: 1e9, PressureKPa: -1e9}).Regs(OrderPT); r[0] != 0 || r[2] != 0x7fff || r[1] != 0x8000 {
		t.Errorf("saturation % x", r)
	}
}

func TestStatusAndWrites(t *testing.T) {
	for _, tc := range []struct {
		v    uint16
		vmas bool
		want drivers.Status
	}{
		{0x0110, false, 0},
		{0x0001, false, drivers.Warmup | drivers.LowFlow},
		{0x0010, false, drivers.LowFlow},
		{0x0004, true, 0},
		{0x0110, true, drivers.LowFlow},
		{0x0005, true, drivers.Warmup},
	} {
		if got := StatusFrom(tc.v, tc.vmas); got != tc.want {
			t.Errorf("StatusFrom(%#04x, %v) = %v, want %v", tc.v, tc.vmas, got.Names(), tc.want.Names())
		}
	}
	if v, err := DecodeStatus([]byte(":0103020110E9\r\n"), 1); err != nil || v != 0x0110 {
		t.Errorf("DecodeStatus = %#04x, %v", v, err)
	}
	if err := DecodeWrite(EncodeWriteReply(1, RegO2Zero, true), 1, RegO2Zero); err != nil {
		t.Errorf("ok write: %v", err)
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		want  error
	}{
		{"failed", EncodeWriteReply(1, RegO2Zero, false), drivers.ErrFailed},
		{"other register", EncodeWriteReply(1, RegBlower, true), drivers.ErrFrame},
		{"other address", EncodeWriteReply(2, RegO2Zero, true), drivers.ErrFrame},
		{"exception", modbus.EncodeASCIIException(1, modbus.WriteSingle, modbus.ExIllegalAddress), drivers.ErrNAK},
		{"busy", modbus.EncodeASCIIException(1, modbus.WriteSingle, modbus.ExBusy), drivers.ErrBusy},
		{"read reply", frameData, drivers.ErrFrame},
		{"bad lrc", []byte(":0106125F000188\r\n"), drivers.ErrChecksum},
		{"no colon", []byte("0106125F000189\r\n"), drivers.ErrFrame},
	} {
		if err := DecodeWrite(tc.frame, 1, RegO2Zero); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// FuzzDecodeData: DecodeData and friends never panic; accepted data frames re-encode to
// the same characters (up to hex case); errors wrap a driver sentinel.
func FuzzDecodeData(f *testing.F) {
	f.Add(frameData)
	f.Add([]byte(":0103020110E9\r\n"))
	f.Add(EncodeWriteReply(1, RegBlower, true))
	f.Add([]byte(":018302\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sentinel := func(err error) {
			if !errors.Is(err, drivers.ErrFrame) && !errors.Is(err, drivers.ErrChecksum) && !errors.Is(err, drivers.ErrNAK) &&
				!errors.Is(err, drivers.ErrFailed) {
				t.Fatalf("%q: error %v wraps no driver sentinel", b, err)
			}
		}
		for _, o := range []Order{OrderPT, OrderTP} {
			if d, err := DecodeData(b, 1, o); err != nil {
				sentinel(err)
			} else if back := EncodeData(1, o, d); !bytes.EqualFold(back, b) {
				t.Fatalf("round trip %q -> %q", b, back)
			}
		}
		if _, err := DecodeStatus(b, 1); err != nil {
			sentinel(err)
		}
		if err := DecodeWrite(b, 1, RegBlower); err != nil {
			sentinel(err)
		}
	})
}

func BenchmarkDecodeData(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(frameData)))
	for b.Loop() {
		if _, err := DecodeData(frameData, 1, OrderPT); err != nil {
			b.Fatal(err)
		}
	}
}
