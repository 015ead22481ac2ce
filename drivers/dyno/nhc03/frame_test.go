package nhc03

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"imagent/drivers"
)

// Frames typed from testdata/*.trace (sums by a one-off script).
var (
	reqRealtime = []byte{0x08, 0x43, 0x07, 0x00, 0x00, 0x00, 0x52} // literal in the lane code
	reqSpeed40  = []byte{0x08, 0x46, 0x07, 0xc8, 0x0f, 0xa0, 0xcc} // write variable 200 = 4000
	frameRT     = []byte{0x06, 0x03, 0xe8, 0x05, 0xa0, 0x00, 0x09, 0xc4, 0x63}
	frameRT8507 = []byte{0x06, 0x00, 0x00, 0x03, 0x52, 0x07, 0x00, 0x00, 0x62}
	frameWord   = []byte{0x06, 0x03, 0x8b, 0x94} // 907
)

func with(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}

func TestRequest(t *testing.T) {
	for _, tc := range []struct {
		r    Request
		want []byte
	}{
		{Request{Cmd: CmdRealtime}, reqRealtime},
		{Request{Cmd: CmdStatus}, []byte{0x08, 0x44, 0x07, 0x00, 0x00, 0x00, 0x53}},
		{Request{Cmd: CmdWriteVar, Var: VarSpeedTarget, Value: 4000}, reqSpeed40},
	} {
		b := EncodeRequest(tc.r)
		if !bytes.Equal(b[:], tc.want) {
			t.Errorf("EncodeRequest(%+v) = % x, want % x", tc.r, b, tc.want)
		}
		if r, err := DecodeRequest(b[:]); err != nil || r != tc.r {
			t.Errorf("DecodeRequest = %+v, %v", r, err)
		}
	}
	for _, tc := range []struct {
		b    []byte
		want error
	}{
		{with(reqRealtime, 6, 0x53), drivers.ErrChecksum},
		{with(reqRealtime, 0, 0x09), drivers.ErrFrame},
		{with(reqRealtime, 2, 0x08), drivers.ErrFrame},
		{reqRealtime[:6], drivers.ErrFrame},
	} {
		if _, err := DecodeRequest(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("DecodeRequest(% x) = %v, want %v", tc.b, err, tc.want)
		}
	}
}

func TestRealtime(t *testing.T) {
	for _, tc := range []struct {
		name    string
		b       []byte
		want    Realtime
		wantErr error
	}{
		{"ASM load", frameRT, Realtime{Head: 6, PowerKW: 10, ForceN: 1440, SpeedKmh: 25}, nil},
		{"tenths", frameRT8507, Realtime{Head: 6, ForceN: 850.7}, nil},
		{"any head but NAK", with(with(frameRT, 0, 0x43), 8, 0xa0), Realtime{Head: 0x43, PowerKW: 10, ForceN: 1440, SpeedKmh: 25}, nil},
		{"bad sum", with(frameRT, 8, 0x64), Realtime{}, drivers.ErrChecksum},
		{"tenths 10", with(with(frameRT, 5, 0x0a), 8, 0x6d), Realtime{}, drivers.ErrFrame},
		{"short", frameRT[:8], Realtime{}, drivers.ErrFrame},
		{"NAK", []byte{NAK}, Realtime{}, drivers.ErrNAK},
		{"empty", nil, Realtime{}, drivers.ErrFrame},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRealtime(tc.b)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if back := EncodeRealtime(got); !bytes.Equal(back, tc.b) {
				t.Errorf("round trip % x, want % x", back, tc.b)
			}
		})
	}
	// Saturation and rounding.
	got, err := DecodeRealtime(EncodeRealtime(Realtime{Head: 6, PowerKW: -3, ForceN: 1e9, SpeedKmh: math.NaN()}))
	if err != nil || got.PowerKW != 0 || got.ForceN != 65535.9 || got.SpeedKmh != 0 {
		t.Errorf("saturated = %+v, %v", got, err)
	}
	if got, _ := DecodeRealtime(EncodeRealtime(Realtime{Head: 6, ForceN: 99.96})); got.ForceN != 100 {
		t.Errorf("99.96 N encoded as %v", got.ForceN)
	}
}

func TestWordAndStatus(t *testing.T) {
	h, v, err := DecodeWord(frameWord)
	if err != nil || h != 6 || v != 907 {
		t.Fatalf("DecodeWord = %v %v %v", h, v, err)
	}
	if !bytes.Equal(EncodeWord(6, 907), frameWord) {
		t.Error("EncodeWord")
	}
	if _, _, err := DecodeWord(with(frameWord, 3, 0)); !errors.Is(err, drivers.ErrChecksum) {
		t.Errorf("bad sum: %v", err)
	}
	for w, want := range map[uint16]drivers.Status{
		0x0002: 0, 0x0001: drivers.LiftUp, 0x0000: drivers.Busy, 0xfff2: 0, 0x0003: drivers.LiftUp,
	} {
		if got := StatusFromWord(w); got != want {
			t.Errorf("StatusFromWord(%#04x) = %v, want %v", w, got.Names(), want.Names())
		}
	}
}

func checkErr(t *testing.T, b []byte, err error) {
	if !errors.Is(err, drivers.ErrFrame) && !errors.Is(err, drivers.ErrChecksum) && !errors.Is(err, drivers.ErrNAK) {
		t.Fatalf("% x: error %v wraps no sentinel", b, err)
	}
}

// FuzzDecodeRealtime: never panics; what decodes round-trips byte for byte with values in
// range; a 9-byte input with the sum fixed up (and a valid tenths byte, not NAK first)
// always decodes.
func FuzzDecodeRealtime(f *testing.F) {
	for _, b := range [][]byte{frameRT, frameRT8507, {NAK}, {}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(b []byte) {
			x, err := DecodeRealtime(b)
			if err != nil {
				checkErr(t, b, err)
				return
			}
			if x.PowerKW < 0 || x.PowerKW > 655.35 || x.ForceN < 0 || x.ForceN > 65535.9 || x.SpeedKmh < 0 || x.SpeedKmh > 655.35 {
				t.Fatalf("% x decoded out of range: %+v", b, x)
			}
			if back := EncodeRealtime(x); !bytes.Equal(back, b) {
				t.Fatalf("round trip\n in  % x\n out % x", b, back)
			}
		}
		check(b)
		if len(b) == RealtimeLen {
			fixed := bytes.Clone(b)
			if fixed[0] == NAK {
				fixed[0] = ACK
			}
			fixed[5] %= 10
			fixed[8] = Checksum(fixed[:8])
			if _, err := DecodeRealtime(fixed); err != nil {
				t.Fatalf("fixed-up % x: %v", fixed, err)
			}
			check(fixed)
		}
	})
}

// FuzzDecodeWord: the same properties for the 4-byte word reply.
func FuzzDecodeWord(f *testing.F) {
	f.Add(frameWord)
	f.Add([]byte{NAK})
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(b []byte) {
			h, v, err := DecodeWord(b)
			if err != nil {
				checkErr(t, b, err)
				return
			}
			if back := EncodeWord(h, v); !bytes.Equal(back, b) {
				t.Fatalf("round trip\n in  % x\n out % x", b, back)
			}
			_ = StatusFromWord(v)
		}
		check(b)
		if len(b) == WordLen {
			fixed := bytes.Clone(b)
			if fixed[0] == NAK {
				fixed[0] = ACK
			}
			fixed[3] = Checksum(fixed[:3])
			if _, _, err := DecodeWord(fixed); err != nil {
				t.Fatalf("fixed-up % x: %v", fixed, err)
			}
			check(fixed)
		}
	})
}

// FuzzDecodeRequest: the simulator's decoder never panics, round-trips, and accepts any
// 7-byte input once head, length and sum are fixed up.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(reqRealtime)
	f.Add(reqSpeed40)
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(b []byte) {
			r, err := DecodeRequest(b)
			if err != nil {
				checkErr(t, b, err)
				return
			}
			if back := EncodeRequest(r); !bytes.Equal(back[:], b) {
				t.Fatalf("round trip\n in  % x\n out % x", b, back)
			}
		}
		check(b)
		if len(b) == RequestLen {
			fixed := bytes.Clone(b)
			fixed[0], fixed[2] = Head, Len
			fixed[6] = Checksum(fixed[:6])
			if _, err := DecodeRequest(fixed); err != nil {
				t.Fatalf("fixed-up % x: %v", fixed, err)
			}
			check(fixed)
		}
	})
}

func BenchmarkDecodeRealtime(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(RealtimeLen)
	for b.Loop() {
		if _, err := DecodeRealtime(frameRT); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeWord(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(WordLen)
	for b.Loop() {
		if _, _, err := DecodeWord(frameWord); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { DecodeRealtime(frameRT); DecodeWord(frameWord) }); n != 0 {
		t.Errorf("decoders allocate %v times per good frame", n)
	}
}
