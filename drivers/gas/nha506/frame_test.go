package nha506

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"imagent/drivers"
)

// The frame of testdata/data.trace.
var frameData = []byte{0x06, 0x00, 0x7b, 0x00, 0x34, 0x05, 0xb4, 0x00, 0x2d, 0x03, 0x52, 0x09, 0xb0, 0x03, 0x61, 0x00, 0x65, 0x72}

func with(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}

func TestDecodeData(t *testing.T) {
	want := Data{HC: 123, CO: 0.52, CO2: 14.6, O2: 0.45, NO: 850, RPM: 2480, OilTemp: 86.5, Lambda: 1.01}
	got, err := DecodeData(frameData, false)
	if err != nil || !close(got, want) {
		t.Fatalf("DecodeData = %+v, %v", got, err)
	}
	if back := EncodeData(got); !bytes.Equal(back, frameData) {
		t.Errorf("EncodeData = % x", back)
	}
	for _, tc := range []struct {
		name   string
		b      []byte
		ignore bool
		want   error
	}{
		{"bad sum", with(frameData, 17, 0), false, drivers.ErrChecksum},
		{"bit flip", with(frameData, 2, 0x7a), false, drivers.ErrChecksum},
		{"short", frameData[:17], false, drivers.ErrFrame},
		{"long", append(bytes.Clone(frameData), 0), false, drivers.ErrFrame},
		{"header", with(frameData, 0, 0x05), false, drivers.ErrFrame},
		{"NAK", []byte{NAK}, false, drivers.ErrNAK},
		{"empty", nil, false, drivers.ErrFrame},
		{"bad sum ignored", with(frameData, 17, 0), true, nil},
	} {
		_, err := DecodeData(tc.b, tc.ignore)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	sat := EncodeData(Data{HC: 1e9, RPM: -1, CO: math.NaN()})
	if x, _ := DecodeData(sat, false); x.HC != 32767 || x.RPM != 0 || x.CO != 0 {
		t.Errorf("saturation: %+v", x)
	}
	if x, _ := DecodeData(EncodeData(Data{RPM: 1e7}), false); x.RPM != 65535 {
		t.Errorf("rpm saturation: %v", x.RPM)
	}
}

func close(a, b Data) bool {
	eq := func(x, y float64) bool { return math.Abs(x-y) < 1e-9 }
	return eq(a.HC, b.HC) && eq(a.CO, b.CO) && eq(a.CO2, b.CO2) && eq(a.O2, b.O2) && eq(a.NO, b.NO) &&
		eq(a.RPM, b.RPM) && eq(a.OilTemp, b.OilTemp) && eq(a.Lambda, b.Lambda)
}

func TestStatus(t *testing.T) {
	for c, want := range map[byte]drivers.Status{'W': 0, 'H': drivers.Warmup, 'Z': drivers.Zeroing} {
		if got, err := StatusFromByte(c); err != nil || got != want {
			t.Errorf("StatusFromByte(%q) = %v, %v", c, got.Names(), err)
		}
		if StatusByte(want) != c {
			t.Errorf("StatusByte(%v) != %q", want.Names(), c)
		}
	}
	if StatusByte(drivers.Warmup|drivers.Zeroing) != 'H' {
		t.Error("warm-up does not win")
	}
	if _, err := StatusFromByte(NAK); !errors.Is(err, drivers.ErrNAK) {
		t.Errorf("NAK: %v", err)
	}
	if _, err := StatusFromByte('w'); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("lower-case w: %v", err)
	}
}

// FuzzDecodeData: never panics; accepted frames have the header, length and sum, finite
// values and re-encode to the same bytes; errors wrap a sentinel; fixed-up frames decode.
func FuzzDecodeData(f *testing.F) {
	f.Add(frameData)
	f.Add([]byte{NAK})
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(b []byte) error {
			x, err := DecodeData(b, false)
			if err != nil {
				if !errors.Is(err, drivers.ErrFrame) && !errors.Is(err, drivers.ErrChecksum) && !errors.Is(err, drivers.ErrNAK) {
					t.Fatalf("% x: error %v wraps no sentinel", b, err)
				}
				return err
			}
			if len(b) != DataLen || b[0] != ACK || Checksum(b[:DataLen-1]) != b[DataLen-1] {
				t.Fatalf("accepted % x", b)
			}
			for _, v := range []float64{x.HC, x.CO, x.CO2, x.O2, x.NO, x.RPM, x.OilTemp, x.Lambda} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("non-finite %+v", x)
				}
			}
			if back := EncodeData(x); !bytes.Equal(back, b) {
				t.Fatalf("round trip\n in  % x\n out % x", b, back)
			}
			return nil
		}
		check(b)
		if len(b) == DataLen {
			fixed := bytes.Clone(b)
			fixed[0] = ACK
			fixed[DataLen-1] = Checksum(fixed[:DataLen-1])
			if err := check(fixed); err != nil {
				t.Fatalf("fixed-up % x: %v", fixed, err)
			}
		}
	})
}

func BenchmarkDecodeData(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeData(frameData, false); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDecodeDataDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { DecodeData(frameData, false) }); n != 0 {
		t.Errorf("DecodeData allocates %v times", n)
	}
}
