package mqw510x

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"imagent/drivers"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// The literal requests of luckyzjian/VMAS and domain.md §1.3.3.
func TestRequestLiterals(t *testing.T) {
	for cmd, cs := range map[byte]byte{0x10: 0xe8, 0x11: 0xe7, 0x16: 0xe2, 0x1a: 0xde, 0x1f: 0xd9, 0x21: 0xd7,
		0x30: 0xc8, 0x31: 0xc7, 0x32: 0xc6, 0x54: 0xa4, 0x55: 0xa3, 0x58: 0xa0} {
		if got := Request(cmd); !bytes.Equal(got, []byte{0x05, cmd, 0x03, cs}) {
			t.Errorf("Request(%#02x) = % x", cmd, got)
		}
	}
	if got := Realtime5102Request(true); !bytes.Equal(got, []byte{0x05, 0x30, 0x05, 0x02, 0x01, 0xc3}) {
		t.Errorf("5102 request % x", got)
	}
	if c, d, err := ParseRequest(Realtime5102Request(false)); err != nil || c != CmdRealtime || !bytes.Equal(d, []byte{2, 0}) {
		t.Errorf("ParseRequest = %#02x % x %v", c, d, err)
	}
	for _, b := range [][]byte{nil, {5, 0x30, 3}, {6, 0x30, 3, 0xc7}, {5, 0x30, 4, 0xc7}, {5, 0x30, 3, 0xc9}} {
		if _, _, err := ParseRequest(b); err == nil {
			t.Errorf("ParseRequest(% x) accepted", b)
		}
	}
	if Request(1, make([]byte, 253)...) != nil {
		t.Error("oversized request")
	}
}

func TestData5101(t *testing.T) {
	x := Data5101{NOx: 856, TempC: 23.5, RHpct: 61.2, PressureKPa: 100.85, OilTempC: 86.4, PipeP: 1.2, RPM: 1850,
		N: 28, Ns: 45.3, K: 1.41, GasTemp1: 95, GasTemp2: 96}
	s := Status5101{0x01, 0, 0x01, 0, 0, 0, 0, 0}
	b := EncodeDataStatus5101(x, s)
	if len(b) != DataStatus5101Len || b[2] != DataStatus5101Len-1 {
		t.Fatalf("frame % x", b)
	}
	gx, gs, err := DecodeDataStatus5101(b)
	if err != nil || gs != s {
		t.Fatalf("decode: %v, %v", gs, err)
	}
	for i, p := range gx.fields() {
		if !near(*p, *x.fields()[i]) {
			t.Errorf("field %d = %v, want %v", i, *p, *x.fields()[i])
		}
	}
	r := EncodeRealtime5101(x)
	if len(r) != Realtime5101Len {
		t.Fatalf("realtime frame of %d bytes", len(r))
	}
	if y, err := DecodeRealtime5101(r); err != nil || !near(y.K, 1.41) || y.GasTemp2 != 96 {
		t.Errorf("realtime: %+v, %v", y, err)
	}
	if _, err := DecodeRealtime5101(b); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("32 reply as 30: %v", err)
	}
	if st, err := DecodeStatus5101(EncodeStatus5101(s)); err != nil || st != s {
		t.Errorf("status round trip %v, %v", st, err)
	}
	bad := bytes.Clone(b)
	bad[10]++
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"checksum", bad, drivers.ErrChecksum},
		{"nak", []byte{NAK}, drivers.ErrNAK},
		{"start", append([]byte{5}, b[1:]...), drivers.ErrFrame},
		{"len", b[:DataStatus5101Len-1], drivers.ErrFrame},
		{"empty", nil, drivers.ErrFrame},
		{"short data", EncodeReply(CmdDataStatus, 1, 2), drivers.ErrFrame},
	} {
		if _, _, err := DecodeDataStatus5101(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestStatus5101(t *testing.T) {
	for _, tc := range []struct {
		s    Status5101
		want drivers.Status
	}{
		{Status5101{}, 0},
		{Status5101{0x01, 0, 0x01}, 0},
		{Status5101{4: S4Prepare}, drivers.Warmup},
		{Status5101{1: S1NOZeroing}, drivers.Zeroing},
		{Status5101{1: 0x02}, drivers.Busy},
		{Status5101{2: S2LeakTest}, drivers.LeakCheck},
		{Status5101{4: S4Busy | S4LowFlow}, drivers.Busy | drivers.LowFlow},
		{Status5101{4: S4LeakOK}, 0},
	} {
		if got := tc.s.Status(); got != tc.want {
			t.Errorf("%v.Status() = %v, want %v", tc.s, got.Names(), tc.want.Names())
		}
	}
}

func TestData5102(t *testing.T) {
	x := Data5102{Aux: 0x0102, PipeP: 1.5, OilTempC: 88.2, RPM: 2100, NOx: 1020, CO2: 7.85, N: 20.53, Ns: 34.95, K: 1, GasTempC: 120}
	for _, short := range []bool{false, true} {
		x.Short = short
		b := EncodeRealtime5102(x)
		want := Realtime5102Len
		if short {
			want--
		}
		if len(b) != want {
			t.Fatalf("short=%v: %d bytes", short, len(b))
		}
		y, err := DecodeRealtime5102(b)
		if err != nil {
			t.Fatal(err)
		}
		if y.Aux != x.Aux || y.Short != short || !near(y.CO2, 7.85) || !near(y.Ns, 34.95) || !near(y.K, 1) || y.GasTempC != 120 || y.NOx != 1020 {
			t.Errorf("short=%v: %+v", short, y)
		}
		if back := EncodeRealtime5102(y); !bytes.Equal(back, b) {
			t.Errorf("round trip % x", back)
		}
	}
	if _, err := DecodeRealtime5102(EncodeReply(CmdRealtime, make([]byte, 21)...)); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("22 data bytes: %v", err)
	}
	m, err := DecodeMax5102(EncodeMax5102(Max5102{N: 26.3, Ns: 44, K: 1.35}))
	if err != nil || !near(m.K, 1.35) || !near(m.Ns, 44) {
		t.Errorf("max %+v, %v", m, err)
	}
	if m, err := DecodeMax5102(EncodeReply(CmdGetMax, 0, 99)); err != nil || !near(m.K, 0.99) {
		t.Errorf("one-word max %+v, %v", m, err)
	}
	for _, b := range [][]byte{EncodeReply(CmdGetMax), EncodeReply(CmdGetMax, 1, 2, 3)} {
		if _, err := DecodeMax5102(b); !errors.Is(err, drivers.ErrFrame) {
			t.Errorf("max % x: %v", b, err)
		}
	}
	if err := DecodeAck(EncodeReply(CmdZero), CmdZero); err != nil {
		t.Error(err)
	}
	if err := DecodeAck(EncodeReply(CmdZero), CmdNOxZero); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("ack for another command: %v", err)
	}
	if err := DecodeAck(EncodeReply(CmdZero, 1), CmdZero); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("ack with data: %v", err)
	}
}

// FuzzDecodeReply: no decoder panics; accepted frames re-encode to the same bytes;
// rejected ones wrap a driver sentinel; a frame with header, LEN and CS fixed decodes.
func FuzzDecodeReply(f *testing.F) {
	for _, b := range [][]byte{EncodeDataStatus5101(Data5101{K: 1}, Status5101{}), EncodeRealtime5101(Data5101{}),
		EncodeRealtime5102(Data5102{NOx: 5}), EncodeRealtime5102(Data5102{Short: true}), EncodeMax5102(Max5102{K: 1}),
		EncodeStatus5101(Status5101{}), {NAK}, {}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sentinel := func(err error) {
			if !errors.Is(err, drivers.ErrFrame) && !errors.Is(err, drivers.ErrChecksum) && !errors.Is(err, drivers.ErrNAK) {
				t.Fatalf("% x: error %v wraps no driver sentinel", b, err)
			}
		}
		if x, s, err := DecodeDataStatus5101(b); err != nil {
			sentinel(err)
		} else if back := EncodeDataStatus5101(x, s); !bytes.Equal(back, b) {
			t.Fatalf("5101 round trip % x -> % x", b, back)
		}
		if x, err := DecodeRealtime5102(b); err != nil {
			sentinel(err)
		} else if back := EncodeRealtime5102(x); !bytes.Equal(back, b) {
			t.Fatalf("5102 round trip % x -> % x", b, back)
		}
		if s, err := DecodeStatus5101(b); err != nil {
			sentinel(err)
		} else if back := EncodeStatus5101(s); !bytes.Equal(back, b) {
			t.Fatalf("status round trip % x -> % x", b, back)
		}
		if _, err := DecodeMax5102(b); err != nil {
			sentinel(err)
		}
		if len(b) >= MinLen && len(b) <= 256 {
			fixed := bytes.Clone(b)
			fixed[0], fixed[2] = ACK, byte(len(b)-1)
			fixed[len(b)-1] = Checksum(fixed[:len(b)-1])
			if d, err := DecodeReply(fixed, fixed[1]); err != nil || !bytes.Equal(d, fixed[3:len(b)-1]) {
				t.Fatalf("fixed-up % x: %v", fixed, err)
			}
		}
	})
}

func BenchmarkDecodeDataStatus5101(b *testing.B) {
	f := EncodeDataStatus5101(Data5101{NOx: 856, K: 1.41, RPM: 1850}, Status5101{1})
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if _, _, err := DecodeDataStatus5101(f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRealtime5102(b *testing.B) {
	f := EncodeRealtime5102(Data5102{NOx: 1020, K: 1})
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if _, err := DecodeRealtime5102(f); err != nil {
			b.Fatal(err)
		}
	}
}
