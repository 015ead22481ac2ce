package flv1000

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"imagent/drivers"
)

// From testdata/read.trace.
var (
	frameRaw    = []byte{0x06, 0x86, 0x0b, 0x08, 0x2a, 0x03, 0xe9, 0x01, 0x60, 0x04, 0xac, 0x2f}
	frameStatus = []byte{0x06, 0x88, 0x06, 0x00, 0x00, 0x00, 0x6c}
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestRequests(t *testing.T) {
	// Computed frames: two of the manual's literal frames satisfy CS2c, two do not.
	for cmd, want := range map[byte][]byte{CmdRawAll: {0x86, 0x02, 0x78}, CmdStatus: {0x88, 0x02, 0x76}, CmdO2: {0x81, 0x02, 0x7d}, CmdFactoryReset: {0xac, 0x02, 0x52}} {
		if got := Request(cmd); !bytes.Equal(got, want) {
			t.Errorf("Request(%#02x) = % x, want % x", cmd, got, want)
		}
	}
	for _, lit := range [][]byte{{0x81, 0x02, 0x7b}, {0x86, 0x02, 0x78}, {0x88, 0x02, 0x76}, {0xac, 0x02, 0x88}} {
		got, ok := LiteralRequest(lit[0])
		if !ok || !bytes.Equal(got, lit) {
			t.Errorf("LiteralRequest(%#02x) = % x", lit[0], got)
		}
		if _, _, err := ParseRequest(lit, false); err != nil {
			t.Errorf("ParseRequest(literal % x): %v", lit, err)
		}
	}
	if _, ok := LiteralRequest(CmdStdAll); ok {
		t.Error("literal for 87")
	}
	if c, d, err := ParseRequest(Request(CmdCalO2, 0x08, 0x2a), false); err != nil || c != CmdCalO2 || !bytes.Equal(d, []byte{0x08, 0x2a}) {
		t.Errorf("ParseRequest(A0) = %#02x % x %v", c, d, err)
	}
	vmas := []byte{0x87, 0x02, 0x76} // luckyzjian/VMAS's 87 frame (its CS is neither rule)
	if _, _, err := ParseRequest(vmas, false); !errors.Is(err, drivers.ErrChecksum) {
		t.Errorf("strict: %v", err)
	}
	if _, _, err := ParseRequest(vmas, true); err != nil {
		t.Errorf("lenient: %v", err)
	}
	for _, b := range [][]byte{nil, {0x86, 0x02}, {0x86, 0x03, 0x78}} {
		if _, _, err := ParseRequest(b, true); !errors.Is(err, drivers.ErrFrame) {
			t.Errorf("ParseRequest(% x): %v", b, err)
		}
	}
}

func TestDecodeAll(t *testing.T) {
	a, err := DecodeAll(frameRaw, CmdRawAll)
	if err != nil {
		t.Fatal(err)
	}
	if !near(a.O2Pct, 20.9) || !near(a.PressureKPa, 100.1) || !near(a.TempC, 35.2) || !near(a.FlowLps, 119.6) {
		t.Errorf("got %+v", a)
	}
	if back := EncodeAll(CmdRawAll, a); !bytes.Equal(back, frameRaw) {
		t.Errorf("round trip % x", back)
	}
	// A CS2c over the whole frame is not what 86 carries.
	cs2c := bytes.Clone(frameRaw)
	cs2c[11] = Checksum(cs2c[:11])
	bad := bytes.Clone(frameRaw)
	bad[5]++
	for _, tc := range []struct {
		name string
		b    []byte
		cmd  byte
		want error
	}{
		{"cs2c instead of data sum", cs2c, CmdRawAll, drivers.ErrChecksum},
		{"data bit", bad, CmdRawAll, drivers.ErrChecksum},
		{"nak", []byte{NAK}, CmdRawAll, drivers.ErrNAK},
		{"other cmd", frameRaw, CmdStdAll, drivers.ErrFrame},
		{"short", frameRaw[:11], CmdRawAll, drivers.ErrFrame},
		{"header", append([]byte{0x07}, frameRaw[1:]...), CmdRawAll, drivers.ErrFrame},
		{"empty", nil, CmdRawAll, drivers.ErrFrame},
	} {
		if _, err := DecodeAll(tc.b, tc.cmd); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := DecodeAll(frameRaw, CmdO2); err == nil {
		t.Error("DecodeAll with 81")
	}
}

func TestValuesAndStatus(t *testing.T) {
	for cmd, v := range map[byte]float64{CmdO2: 18.62, CmdPressure: 100.1, CmdTemp: -5.5, CmdFlowActual: 119.6, CmdFlowStd: 114} {
		b := EncodeValue(cmd, v)
		if len(b) != ValueLen || ReplyLen(cmd) != ValueLen {
			t.Fatalf("%#02x: % x", cmd, b)
		}
		got, err := DecodeValue(b, cmd)
		if err != nil || !near(got, v) {
			t.Errorf("%#02x: %v, %v", cmd, got, err)
		}
	}
	if EncodeValue(CmdStatus, 1) != nil {
		t.Error("EncodeValue(88)")
	}
	if _, err := DecodeValue(frameStatus, CmdStatus); err == nil {
		t.Error("DecodeValue(88)")
	}
	s, err := DecodeState(frameStatus)
	if err != nil || s != (State{}) {
		t.Fatalf("DecodeState = %+v, %v", s, err)
	}
	for s1, want := range map[byte]drivers.Status{0: 0, S1O2Warming: drivers.Warmup, S1FlowRange: drivers.LowFlow,
		S1PressureBad: drivers.Fault, S1TempBad | S1FlowRange: drivers.Fault | drivers.LowFlow} {
		if got := (State{S1: s1}).Status(); got != want {
			t.Errorf("S1 %#02x: %v", s1, got.Names())
		}
		if d, err := DecodeState(EncodeState(State{S1: s1, S3: 7})); err != nil || d.S1 != s1 || d.S3 != 7 {
			t.Errorf("state round trip %+v, %v", d, err)
		}
	}
	if err := DecodeAck(EncodeAck(CmdCalTemp), CmdCalTemp); err != nil {
		t.Error(err)
	}
	for cmd, n := range map[byte]int{CmdRawAll: AllLen, CmdStatus: StatusLen, CmdCalO2: AckLen, CmdFactoryReset: AckLen, CmdVersion: 0, 0x42: 0} {
		if ReplyLen(cmd) != n {
			t.Errorf("ReplyLen(%#02x) = %d", cmd, ReplyLen(cmd))
		}
	}
}

func TestStdFlow(t *testing.T) {
	if q := StdFlow(100, 20, 101.325, 20); !near(q, 100) {
		t.Errorf("at reference: %v", q)
	}
	// Hot, thin gas: less at standard conditions.
	if q := StdFlow(100, 40, 95, 20); math.Abs(q-100*95/101.325*293.15/313.15) > 1e-9 || q >= 100 {
		t.Errorf("StdFlow = %v", q)
	}
	if q := Rebase(273.15, 0, 20); !near(q, 293.15) {
		t.Errorf("Rebase = %v", q)
	}
}

// FuzzDecodeReply: no decoder panics; what decodes re-encodes to the same bytes; errors
// wrap a driver sentinel; a payload with header, LB and sum fixed up decodes.
func FuzzDecodeReply(f *testing.F) {
	for _, b := range [][]byte{frameRaw, frameStatus, EncodeValue(CmdO2, 20.9), EncodeAck(CmdCalO2), EncodeAll(CmdStdAll, All{FlowLps: 114}), {NAK}, {}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sentinel := func(err error) {
			if !errors.Is(err, drivers.ErrFrame) && !errors.Is(err, drivers.ErrChecksum) && !errors.Is(err, drivers.ErrNAK) {
				t.Fatalf("% x: error %v wraps no driver sentinel", b, err)
			}
		}
		for _, cmd := range []byte{CmdRawAll, CmdStdAll} {
			if a, err := DecodeAll(b, cmd); err != nil {
				sentinel(err)
			} else if back := EncodeAll(cmd, a); !bytes.Equal(back, b) {
				t.Fatalf("all round trip % x -> % x", b, back)
			}
		}
		for cmd := CmdO2; cmd <= CmdFlowStd; cmd++ {
			if v, err := DecodeValue(b, cmd); err != nil {
				sentinel(err)
			} else if back := EncodeValue(cmd, v); !bytes.Equal(back, b) {
				t.Fatalf("value round trip % x -> % x", b, back)
			}
		}
		if s, err := DecodeState(b); err != nil {
			sentinel(err)
		} else if back := EncodeState(s); !bytes.Equal(back, b) {
			t.Fatalf("state round trip % x -> % x", b, back)
		}
		if len(b) == AllLen {
			fixed := bytes.Clone(b)
			fixed[0], fixed[1], fixed[2] = ACK, CmdRawAll, AllLen-1
			fixed[AllLen-1] = DataSum(fixed[3 : AllLen-1])
			if _, err := DecodeAll(fixed, CmdRawAll); err != nil {
				t.Fatalf("fixed-up % x: %v", fixed, err)
			}
		}
		if _, _, err := ParseRequest(b, false); err != nil {
			sentinel(err)
		}
	})
}

func BenchmarkDecodeAll(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(frameRaw)))
	for b.Loop() {
		if _, err := DecodeAll(frameRaw, CmdRawAll); err != nil {
			b.Fatal(err)
		}
	}
}
