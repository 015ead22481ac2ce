package rpm5300

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"imagent/drivers"
)

func TestDecodeEncode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		err  bool
	}{
		{"2480\r", 2480, false}, {"0750\r", 750, false}, {" 750\r", 750, false}, {"   0\r", 0, false},
		{"9999\r", 9999, false}, {"    \r", 0, true}, {"7 50\r", 0, true}, {"-750\r", 0, true},
		{"2480\n", 0, true}, {"2480", 0, true}, {"24800\r", 0, true}, {"+750\r", 0, true},
	} {
		v, err := Decode([]byte(tc.in))
		if tc.err {
			if !errors.Is(err, drivers.ErrFrame) {
				t.Errorf("Decode(%q) = %v, %v; want ErrFrame", tc.in, v, err)
			}
			continue
		}
		if err != nil || v != tc.want {
			t.Errorf("Decode(%q) = %v, %v", tc.in, v, err)
		}
	}
	for _, tc := range []struct {
		rpm   float64
		space bool
		want  string
	}{
		{2480, false, "2480\r"}, {750.4, false, "0750\r"}, {750.5, true, " 751\r"}, {0, true, "   0\r"},
		{-3, false, "0000\r"}, {12000, false, "9999\r"}, {math.NaN(), false, "0000\r"},
	} {
		if b := Encode(tc.rpm, tc.space); string(b[:]) != tc.want {
			t.Errorf("Encode(%v, %v) = %q, want %q", tc.rpm, tc.space, b, tc.want)
		}
	}
}

func scanAll(t testing.TB, stream []byte, chunk int) (*Scanner, []int) {
	s := NewScanner()
	var got []int
	for len(stream) > 0 {
		k := s.Feed(stream[:min(chunk, len(stream))])
		if k == 0 {
			t.Fatalf("scanner took nothing with %d pending", s.Pending())
		}
		stream = stream[k:]
		for {
			v, raw, ok := s.Next()
			if !ok {
				break
			}
			if w, err := Decode(raw); err != nil || w != v {
				t.Fatalf("scanner gave %q = %d: %v", raw, v, err)
			}
			got = append(got, v)
		}
	}
	return s, got
}

func TestScanner(t *testing.T) {
	stream := []byte("\x13\xff 750\r08x0\r242480\r\r\r0812\r99")
	for _, chunk := range []int{1, 3, 5, 100} {
		s, got := scanAll(t, stream, chunk)
		if len(got) != 3 || got[0] != 750 || got[1] != 2480 || got[2] != 812 {
			t.Errorf("chunk %d: %v", chunk, got)
		}
		if s.Frames != 3 || s.Discarded != 2+5+2+2 || s.Pending() != 2 || s.BytesIn != uint64(len(stream)) {
			t.Errorf("chunk %d: frames %d discarded %d pending %d", chunk, s.Frames, s.Discarded, s.Pending())
		}
	}
	// A long run without CR keeps only four bytes.
	s, got := scanAll(t, bytes.Repeat([]byte("12"), 1000), 7)
	if len(got) != 0 || s.Pending() != 4 {
		t.Errorf("no CR: %v, pending %d", got, s.Pending())
	}
}

// FuzzDecode: never panics; what decodes is spaces-then-digits with the value Atoi gives,
// and both encodings of that value decode to it; any four digits and CR decode.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"2480\r", " 750\r", "08x0\r", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Decode(b)
		if err != nil {
			if !errors.Is(err, drivers.ErrFrame) {
				t.Fatalf("%q: %v wraps no sentinel", b, err)
			}
		} else {
			// The same value by another route, and both encodings of it decode to it.
			// (" 000" and "0007" decode too: the parse is lenient, the encoding canonical.)
			want, aerr := strconv.Atoi(strings.TrimLeft(string(b[:4]), " "))
			if aerr != nil || want != v || b[4] != CR || strings.ContainsAny(string(b[:4]), "+-") {
				t.Fatalf("%q decoded to %d (Atoi: %d, %v)", b, v, want, aerr)
			}
			for _, pad := range []bool{false, true} {
				e := Encode(float64(v), pad)
				if w, err := Decode(e[:]); err != nil || w != v {
					t.Fatalf("Encode(%d, %v) = %q decodes to %d, %v", v, pad, e, w, err)
				}
			}
		}
		if len(b) == FrameLen {
			d := bytes.Clone(b)
			for i := range 4 {
				d[i] = '0' + d[i]%10
			}
			d[4] = CR
			if _, err := Decode(d); err != nil {
				t.Fatalf("%q: %v", d, err)
			}
		}
	})
}

// FuzzScanner: any stream in any chunking never panics, gives the same frames, keeps at
// most four bytes pending, and a frame after garbage without CR is always found.
func FuzzScanner(f *testing.F) {
	f.Add([]byte("\x13\xff 750\r08x0\r242480\r"), uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		c := int(chunk%16) + 1
		s1, a := scanAll(t, stream, c)
		_, b := scanAll(t, stream, len(stream)+1)
		if len(a) != len(b) {
			t.Fatalf("chunking changed the frames: %v vs %v", a, b)
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("chunking changed the frames: %v vs %v", a, b)
			}
		}
		if s1.Pending() > FrameLen-1 {
			t.Fatalf("pending %d", s1.Pending())
		}
		clean := bytes.ReplaceAll(stream, []byte{CR}, nil)
		_, got := scanAll(t, append(clean, "0815\r"...), c)
		if len(got) == 0 || got[len(got)-1] != 815 {
			t.Fatalf("frame after %q not found: %v", clean, got)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	frame := []byte("2480\r")
	b.ReportAllocs()
	b.SetBytes(FrameLen)
	for b.Loop() {
		if _, err := Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanStream parses a stream with a little garbage in 16-byte reads.
func BenchmarkScanStream(b *testing.B) {
	var stream []byte
	for i := range 1000 {
		stream = append(stream, "2480\r"...)
		if i%10 == 0 {
			stream = append(stream, 0x13)
		}
	}
	s := NewScanner()
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	frames := 0
	for b.Loop() {
		for p := stream; len(p) > 0; {
			p = p[s.Feed(p[:min(16, len(p))]):]
			for {
				if _, _, ok := s.Next(); !ok {
					break
				}
				frames++
			}
		}
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "frames/s")
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	frame := []byte("2480\r")
	s := NewScanner()
	if n := testing.AllocsPerRun(100, func() {
		Decode(frame)
		s.Feed(frame)
		s.Next()
	}); n != 0 {
		t.Errorf("%v allocations per frame", n)
	}
}
