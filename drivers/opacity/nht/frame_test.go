package nht

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"imagent/drivers"
)

// Frames from testdata/realtime_nht6.trace and peaks_nht6.trace.
var (
	frameRealtime = []byte{0xa5, 0x01, 0x98, 0x00, 0x7b, 0x09, 0xb0, 0x01, 0x67, 0x26}
	frameNoProbe  = []byte{0xa5, 0x00, 0x0c, 0x00, 0x03, 0x02, 0xf8, 0xff, 0xff, 0x54}
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestRequest(t *testing.T) {
	if got := Request(CmdRealtime); !bytes.Equal(got, []byte{0xa5, 0x5b}) {
		t.Errorf("Request(A5) = % x", got)
	}
	if got := Request(CmdSetStatus, 2); !bytes.Equal(got, []byte{0xa0, 0x02, 0x5e}) {
		t.Errorf("Request(A0 02) = % x", got)
	}
	for _, b := range [][]byte{{0xa5, 0x5b}, {0xa0, 0x02, 0x5e}, {0xc2, 0x01, 0x02, 0x3b}} {
		if _, _, err := ParseRequest(b); err != nil {
			t.Errorf("ParseRequest(% x): %v", b, err)
		}
	}
	for _, b := range [][]byte{nil, {0xa5}, {0xa5, 0x5c}, {0xa0, 0x60}, {0xa5, 0x00, 0x5b}} {
		if _, _, err := ParseRequest(b); err == nil {
			t.Errorf("ParseRequest(% x) accepted", b)
		}
	}
}

func TestDecodeRealtime(t *testing.T) {
	r, err := DecodeRealtime(frameRealtime, true)
	if err != nil {
		t.Fatal(err)
	}
	if !near(r.N, 40.8) || !near(r.K, 1.23) || r.RPM != 2480 || !r.OilOK || r.OilTempC != 86 {
		t.Errorf("got %+v", r)
	}
	if back := EncodeRealtime(r, true); !bytes.Equal(back, frameRealtime) {
		t.Errorf("round trip % x", back)
	}
	c, _ := DecodeRealtime(frameRealtime, false)
	if c.OilTempC != 359 {
		t.Errorf("celsius reading: %v", c.OilTempC)
	}
	n, err := DecodeRealtime(frameNoProbe, true)
	if err != nil || n.OilOK || n.RPM != 760 {
		t.Errorf("no probe: %+v, %v", n, err)
	}
	if back := EncodeRealtime(n, true); !bytes.Equal(back, frameNoProbe) {
		t.Errorf("no-probe round trip % x", back)
	}
	bad := bytes.Clone(frameRealtime)
	bad[9]++
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"checksum", bad, drivers.ErrChecksum},
		{"nak", []byte{NAK, 3}, drivers.ErrNAK},
		{"bare nak", []byte{NAK}, drivers.ErrNAK},
		{"echo", append([]byte{0xa6}, frameRealtime[1:]...), drivers.ErrFrame},
		{"short", frameRealtime[:9], drivers.ErrFrame},
		{"empty", nil, drivers.ErrFrame},
	} {
		if _, err := DecodeRealtime(tc.b, true); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestOtherReplies(t *testing.T) {
	m := Max{N: 44.1, K: 1.35, RPM: 2600}
	got, err := DecodeMax(EncodeMax(m))
	if err != nil || !near(got.N, m.N) || !near(got.K, m.K) || got.RPM != m.RPM {
		t.Errorf("max round trip %+v, %v", got, err)
	}
	r := Results{K: [3]float64{1.21, 1.17, 1.25}, KAvg: 1.21, LowRPM: 750}
	gr, err := DecodeResults(EncodeResults(r))
	if err != nil || gr != r {
		t.Errorf("results round trip %+v, %v", gr, err)
	}
	if c, err := DecodeStatus([]byte{0xad, 0xf1, 0x62}, CmdStatus1L); err != nil || c != StatusRealtime2 {
		t.Errorf("status %#02x, %v", c, err)
	}
	if a, err := DecodeAlarm(EncodeReply(CmdAlarm, 0x80, 0x01)); err != nil || a != 0x8001 {
		t.Errorf("alarm %#04x, %v", a, err)
	}
	if err := DecodeAck([]byte{0xa4, 0x5c}, CmdZero); err != nil {
		t.Errorf("ack: %v", err)
	}
	if err := DecodeAck([]byte{0xa4, 0x5c, 0}, CmdZero); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("long ack: %v", err)
	}
	for c, want := range map[byte]drivers.Status{StatusWarmup: drivers.Warmup, StatusRealtime: 0, StatusAccel: 0, StatusRealtime2: 0, StatusOther: drivers.Busy, 0x07: drivers.Busy} {
		if got := StatusFromCode(c); got != want {
			t.Errorf("StatusFromCode(%#02x) = %v", c, got.Names())
		}
	}
	e := EncodeRealtime(Realtime{N: math.NaN(), K: 1e9, RPM: -1, OilTempC: 1e9, OilOK: true}, true)
	x, err := DecodeRealtime(e, true)
	if err != nil || x.N != 0 || x.K != 327.67 || x.RPM != 0 || !x.OilOK || x.OilTempC != 65534-273 {
		t.Errorf("saturation %+v, %v", x, err)
	}
}

// FuzzDecodeReply: no decoder panics; accepted replies re-encode to the same bytes;
// rejected ones wrap a driver sentinel; a payload with echo and CS fixed up decodes.
func FuzzDecodeReply(f *testing.F) {
	for _, b := range [][]byte{frameRealtime, frameNoProbe, EncodeMax(Max{K: 1}), EncodeResults(Results{}), {NAK, 1}, {}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sentinel := func(err error) {
			if !errors.Is(err, drivers.ErrFrame) && !errors.Is(err, drivers.ErrChecksum) && !errors.Is(err, drivers.ErrNAK) {
				t.Fatalf("% x: error %v wraps no driver sentinel", b, err)
			}
		}
		for _, kelvin := range []bool{false, true} {
			if r, err := DecodeRealtime(b, kelvin); err != nil {
				sentinel(err)
			} else if back := EncodeRealtime(r, kelvin); !bytes.Equal(back, b) {
				t.Fatalf("realtime round trip % x -> % x", b, back)
			}
		}
		if m, err := DecodeMax(b); err != nil {
			sentinel(err)
		} else if back := EncodeMax(m); !bytes.Equal(back, b) {
			t.Fatalf("max round trip % x -> % x", b, back)
		}
		if r, err := DecodeResults(b); err != nil {
			sentinel(err)
		} else if back := EncodeResults(r); !bytes.Equal(back, b) {
			t.Fatalf("results round trip % x -> % x", b, back)
		}
		if len(b) == RealtimeLen {
			fixed := bytes.Clone(b)
			fixed[0] = CmdRealtime
			fixed[len(b)-1] = Checksum(fixed[:len(b)-1])
			if _, err := DecodeRealtime(fixed, true); err != nil {
				t.Fatalf("fixed-up % x: %v", fixed, err)
			}
		}
	})
}

func BenchmarkDecodeRealtime(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(frameRealtime)))
	for b.Loop() {
		if _, err := DecodeRealtime(frameRealtime, true); err != nil {
			b.Fatal(err)
		}
	}
}
