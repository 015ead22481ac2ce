package xincheng

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"imagent/drivers"
)

// Frames typed from domain.md §1.5 and the traces in testdata.
var (
	// The vendor document's example: 'ABS' 25.6 km/h, 850.7 N, 20 %, key 00.
	frameDoc = []byte{0x41, 0x42, 0x53, 0xcd, 0xcc, 0xcc, 0x41, 0xcd, 0xac, 0x54, 0x44, 0x00, 0x00, 0xa0, 0x41, 0x00, 0x43}
	// 'ART' 23.5 °C, 61.2 %, 100.8 kPa.
	frameART = []byte{0x41, 0x52, 0x54, 0x00, 0x00, 0xbc, 0x41, 0xcd, 0xcc, 0x74, 0x42, 0x9a, 0x99, 0xc9, 0x42, 0x00, 0x43}
	// Protocol 8.0 'ABP' 25.0 km/h, 1440 N, 24 %.
	frameV80 = []byte{0x41, 0x42, 0x50, 0x00, 0x00, 0xc8, 0x41, 0x00, 0x00, 0xb4, 0x44, 0x00, 0x00, 0xc0, 0x41, 0x43}
	// 'XSS' 40.0 km/h.
	cmdXSS40 = []byte{0x58, 0x53, 0x53, 0x00, 0x00, 0x20, 0x42, 0x60, 0x43}
)

func with(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}

func TestDecodeReply(t *testing.T) {
	nan := math.Float32bits(float32(math.NaN()))
	withNaN := bytes.Clone(frameDoc)
	withNaN[3], withNaN[4], withNaN[5], withNaN[6] = byte(nan), byte(nan>>8), byte(nan>>16), byte(nan>>24)
	artNaN := bytes.Clone(frameART)
	copy(artNaN[3:7], withNaN[3:7])
	for _, tc := range []struct {
		name    string
		b       []byte
		v       Version
		want    Reply
		wantErr error
	}{
		{"doc example", frameDoc, V81, Reply{Func: StreamSpeed, V: [3]float32{25.6, 850.7, 20}}, nil},
		{"ambient", frameART, V81, Reply{Func: ReadAmbient, V: [3]float32{23.5, 61.2, 100.8}}, nil},
		{"8.0 power", frameV80, V80, Reply{Func: StreamPower, V: [3]float32{25, 1440, 24}}, nil},
		{"key byte", with(frameDoc, 15, 0x2d), V81, Reply{Func: StreamSpeed, V: [3]float32{25.6, 850.7, 20}, Key: 0x2d}, nil},
		{"NaN in a non-stream frame", artNaN, V81, Reply{Func: ReadAmbient, V: [3]float32{float32(math.NaN()), 61.2, 100.8}}, nil},
		{"8.1 frame read as 8.0", frameDoc, V80, Reply{}, drivers.ErrFrame},
		{"8.0 frame read as 8.1", frameV80, V81, Reply{}, drivers.ErrFrame},
		{"bad tail", with(frameDoc, 16, 0x44), V81, Reply{}, drivers.ErrFrame},
		{"bad head", with(frameDoc, 0, 0x58), V81, Reply{}, drivers.ErrFrame},
		{"code not letters", with(frameDoc, 2, 0x00), V81, Reply{}, drivers.ErrFrame},
		{"NaN speed", withNaN, V81, Reply{}, drivers.ErrFrame},
		{"empty", nil, V81, Reply{}, drivers.ErrFrame},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeReply(tc.b, tc.v)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !sameReply(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if back := EncodeReply(got, tc.v); !bytes.Equal(back, tc.b) {
				t.Errorf("EncodeReply(DecodeReply(b)) = % x\nwant % x", back, tc.b)
			}
		})
	}
	if _, err := DecodeReply(frameDoc, Version(7)); err == nil {
		t.Error("unknown version decoded")
	}
	if EncodeReply(Reply{}, Version(7)) != nil {
		t.Error("EncodeReply with an unknown version returned bytes")
	}
}

func sameReply(a, b Reply) bool {
	if a.Func != b.Func || a.Key != b.Key {
		return false
	}
	for i := range a.V {
		if math.Float32bits(a.V[i]) != math.Float32bits(b.V[i]) {
			return false
		}
	}
	return true
}

func TestReplyFields(t *testing.T) {
	r := Reply{Key: 0x2d} // key 5, photocells 1 and 3
	if r.Photocells() != 0x05 || r.RemoteKey() != 5 {
		t.Errorf("key 0x2d: photocells %#x, remote key %d", r.Photocells(), r.RemoteKey())
	}
	for _, tc := range []struct {
		c                Cmd
		stream, controls bool
	}{
		{StreamIdle, true, false}, {StreamSpeed, true, true}, {StreamForce, true, true}, {StreamPower, true, true},
		{StreamDuty, true, true}, {StreamInertia, true, true}, {StopControl, false, false}, {ReadAmbient, false, false},
		{Cmd{'B', 'X'}, false, false},
	} {
		if tc.c.IsStream() != tc.stream || tc.c.Controlling() != tc.controls {
			t.Errorf("%v: IsStream %v Controlling %v", tc.c, tc.c.IsStream(), tc.c.Controlling())
		}
	}
	if V81.String() != "8.1" || V80.String() != "8.0" || Version(9).String() != "Version(9)" {
		t.Error("Version.String")
	}
}

func TestCommand(t *testing.T) {
	b := EncodeCommand(SetSpeed, 40)
	if !bytes.Equal(b[:], cmdXSS40) {
		t.Fatalf("EncodeCommand(XSS, 40) = % x, want % x", b, cmdXSS40)
	}
	c, v, err := DecodeCommand(b[:])
	if err != nil || c != SetSpeed || v != 40 {
		t.Fatalf("DecodeCommand = %v %v %v", c, v, err)
	}
	// Dyn.h quotes 'XCA' with b[0] = 1158.4 as cd cc 90 44.
	if b := EncodeCommand(Cmd{'C', 'A'}, 1158.4); !bytes.Equal(b[3:7], []byte{0xcd, 0xcc, 0x90, 0x44}) {
		t.Errorf("1158.4 packs as % x", b[3:7])
	}
	for _, tc := range []struct {
		b    []byte
		want error
	}{
		{with(cmdXSS40, 7, 0x61), drivers.ErrChecksum},
		{with(cmdXSS40, 5, 0x21), drivers.ErrChecksum},
		{with(cmdXSS40, 8, 0x0d), drivers.ErrFrame},
		{with(cmdXSS40, 0, 0x2a), drivers.ErrFrame},
		{with(cmdXSS40, 1, 0x31), drivers.ErrFrame},
		{cmdXSS40[:8], drivers.ErrFrame},
	} {
		if _, _, err := DecodeCommand(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("DecodeCommand(% x) = %v, want %v", tc.b, err, tc.want)
		}
	}
}

// scanAll feeds stream into a scanner in chunks of size chunk and collects the frames.
func scanAll(t testing.TB, v Version, stream []byte, chunk int) (*Scanner, []Reply) {
	s := NewScanner(v)
	var got []Reply
	for len(stream) > 0 {
		k := s.Feed(stream[:min(chunk, len(stream))])
		if k == 0 {
			t.Fatalf("scanner took no bytes with %d pending", s.Pending())
		}
		stream = stream[k:]
		for {
			r, raw, ok := s.Next()
			if !ok {
				break
			}
			if _, err := DecodeReply(raw, v); err != nil {
				t.Fatalf("scanner returned an invalid frame % x: %v", raw, err)
			}
			got = append(got, r)
		}
	}
	return s, got
}

func TestScanner(t *testing.T) {
	var stream []byte
	stream = append(stream, 0x7e, 0x41, 0x42, 0x53, 0x99) // garbage with a stray 'A'
	stream = append(stream, frameDoc...)                  // frame 1
	stream = append(stream, "Dpid=1.2C"...)               // debug frame
	stream = append(stream, frameDoc[:9]...)              // torn
	stream = append(stream, frameART...)                  // frame 2
	stream = append(stream, 'D', 0x01, 0x02)              // 'D' that starts no debug frame
	stream = append(stream, frameDoc...)                  // frame 3
	stream = append(stream, frameDoc[:12]...)             // incomplete at the end
	for _, chunk := range []int{1, 2, 7, 17, 1000} {
		s, got := scanAll(t, V81, stream, chunk)
		if len(got) != 3 || got[0].Func != StreamSpeed || got[1].Func != ReadAmbient || got[2].Func != StreamSpeed {
			t.Fatalf("chunk %d: frames %+v", chunk, got)
		}
		if s.Frames != 3 || s.Debug != 1 || s.Discarded != 5+9+3 || s.Pending() != 12 || s.BytesIn != uint64(len(stream)) {
			t.Errorf("chunk %d: frames %d debug %d discarded %d pending %d in %d", chunk, s.Frames, s.Debug, s.Discarded, s.Pending(), s.BytesIn)
		}
	}
	if NewScanner(Version(5)) != nil {
		t.Error("NewScanner with an unknown version")
	}
	// A long run of printable text after 'D' without a 'C' is not a debug frame.
	long := append([]byte{'D'}, bytes.Repeat([]byte{'x'}, MaxDebugLen)...)
	s, got := scanAll(t, V81, append(long, frameDoc...), 5)
	if len(got) != 1 || s.Debug != 0 {
		t.Errorf("after an endless debug text: %d frames, %d debug", len(got), s.Debug)
	}
	// Feeding without Next never overflows: the oldest bytes are dropped.
	s = NewScanner(V81)
	for range 3 * scanCap / len(frameDoc) {
		if s.Feed(frameDoc) == 0 {
			t.Fatal("Feed took nothing")
		}
	}
	if s.Pending() > scanCap {
		t.Errorf("pending %d", s.Pending())
	}
}

// FuzzDecodeReply: decoding never panics; what decodes re-encodes to the same bytes and
// has 'A' … 'C', letters and (for stream frames) finite values; errors wrap a sentinel;
// a 16/17-byte input with the framing fixed up decodes unless it is a non-finite stream frame.
func FuzzDecodeReply(f *testing.F) {
	for _, b := range [][]byte{frameDoc, frameART, frameV80, {}, {0x41}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range []Version{V81, V80} {
			checkReply(t, b, v)
			if len(b) == v.ReplyLen() {
				fixed := bytes.Clone(b)
				fixed[0], fixed[len(b)-1] = HeadReply, Tail
				fixed[1], fixed[2] = 'A'+fixed[1]%26, 'a'+fixed[2]%26
				if _, err := DecodeReply(fixed, v); err != nil {
					t.Fatalf("fixed-up frame % x: %v", fixed, err)
				}
				checkReply(t, fixed, v)
			}
		}
	})
}

func checkReply(t *testing.T, b []byte, v Version) {
	r, err := DecodeReply(b, v)
	if err != nil {
		if !errors.Is(err, drivers.ErrFrame) {
			t.Fatalf("% x: error %v wraps no sentinel", b, err)
		}
		return
	}
	if len(b) != v.ReplyLen() || b[0] != HeadReply || b[len(b)-1] != Tail || !letter(b[1]) || !letter(b[2]) {
		t.Fatalf("accepted % x", b)
	}
	if r.Func.IsStream() {
		for _, x := range r.V {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("stream frame % x decoded to %v", b, r.V)
			}
		}
	}
	if back := EncodeReply(r, v); !bytes.Equal(back, b) {
		t.Fatalf("round trip\n in  % x\n out % x", b, back)
	}
}

// FuzzDecodeCommand: the simulator's decoder never panics, round-trips what it accepts,
// and accepts every 9-byte input once its framing and sum are fixed up.
func FuzzDecodeCommand(f *testing.F) {
	f.Add(cmdXSS40)
	f.Add([]byte{0x58})
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(b []byte) {
			c, v, err := DecodeCommand(b)
			if err != nil {
				if !errors.Is(err, drivers.ErrFrame) && !errors.Is(err, drivers.ErrChecksum) {
					t.Fatalf("% x: error %v wraps no sentinel", b, err)
				}
				return
			}
			if back := EncodeCommand(c, v); !bytes.Equal(back[:], b) {
				t.Fatalf("round trip\n in  % x\n out % x", b, back)
			}
		}
		check(b)
		if len(b) == CommandLen {
			fixed := bytes.Clone(b)
			fixed[0], fixed[8] = HeadCommand, Tail
			fixed[1], fixed[2] = 'A'+fixed[1]%26, 'a'+fixed[2]%26
			fixed[7] = Checksum(fixed[:7])
			if _, _, err := DecodeCommand(fixed); err != nil {
				t.Fatalf("fixed-up command % x: %v", fixed, err)
			}
			check(fixed)
		}
	})
}

// FuzzScanner: any byte stream in any chunking never panics the scanner, never yields an
// invalid frame, keeps the pending bytes below the debug-frame limit, accounts for every
// byte, and gives the same frames whatever the chunking. A valid frame after garbage
// free of 'A' and 'D' is always found.
func FuzzScanner(f *testing.F) {
	f.Add(append(append([]byte{0x7e, 0x41, 0x42}, frameDoc...), "Dx=1C"...), uint8(3))
	f.Add(frameART, uint8(1))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		c := int(chunk%32) + 1
		s1, got1 := scanAll(t, V81, stream, c)
		s2, got2 := scanAll(t, V81, stream, len(stream)+1)
		if len(got1) != len(got2) {
			t.Fatalf("chunk %d found %d frames, whole stream %d", c, len(got1), len(got2))
		}
		for i := range got1 {
			if !sameReply(got1[i], got2[i]) {
				t.Fatalf("frame %d differs by chunking: %+v vs %+v", i, got1[i], got2[i])
			}
		}
		for _, s := range []*Scanner{s1, s2} {
			if s.Pending() >= MaxDebugLen {
				t.Fatalf("pending %d", s.Pending())
			}
			if used := s.Frames*ReplyLenV81 + s.Discarded + uint64(s.Pending()); used > s.BytesIn || s.BytesIn != uint64(len(stream)) {
				t.Fatalf("bytes: in %d, frames %d, discarded %d, pending %d", s.BytesIn, s.Frames, s.Discarded, s.Pending())
			}
		}
		clean := make([]byte, 0, len(stream)+len(frameDoc))
		for _, b := range stream {
			if b != HeadReply && b != HeadDebug {
				clean = append(clean, b)
			}
		}
		_, got := scanAll(t, V81, append(clean, frameDoc...), c)
		if len(got) == 0 || !sameReply(got[len(got)-1], Reply{Func: StreamSpeed, V: [3]float32{25.6, 850.7, 20}}) {
			t.Fatalf("frame after garbage % x not found: %+v", clean, got)
		}
	})
}

func BenchmarkDecodeReply(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(frameDoc)))
	for b.Loop() {
		if _, err := DecodeReply(frameDoc, V81); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanStream parses a stream of frames with a little garbage between them, as a
// serial port delivers it in 64-byte reads: decode throughput of the stream path.
func BenchmarkScanStream(b *testing.B) {
	var stream []byte
	for i := range 1000 {
		stream = append(stream, frameDoc...)
		if i%10 == 0 {
			stream = append(stream, 0x13, 0x7e)
		}
	}
	s := NewScanner(V81)
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	frames := 0
	for b.Loop() {
		for p := stream; len(p) > 0; {
			k := s.Feed(p[:min(64, len(p))])
			p = p[k:]
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
	if n := testing.AllocsPerRun(100, func() { DecodeReply(frameDoc, V81) }); n != 0 {
		t.Errorf("DecodeReply allocates %v times per good frame", n)
	}
	s := NewScanner(V81)
	if n := testing.AllocsPerRun(100, func() {
		s.Feed(frameDoc)
		s.Next()
	}); n != 0 {
		t.Errorf("Scanner allocates %v times per frame", n)
	}
}
