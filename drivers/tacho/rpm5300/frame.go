package rpm5300

import (
	"fmt"
	"math"

	"imagent/drivers"
)

// Frame layout: four ASCII characters of engine speed and a carriage return.
const (
	FrameLen      = 5
	CR       byte = 0x0D
	MaxRPM        = 9999
)

// Decode reads one frame: four characters, digits with optional leading spaces (the lane
// software parses them with atoi / double.TryParse), then CR. It never panics and does
// not allocate on success.
func Decode(b []byte) (int, error) {
	if len(b) != FrameLen {
		return 0, fmt.Errorf("rpm5300: frame: %d bytes, want %d: %w", len(b), FrameLen, drivers.ErrFrame)
	}
	if b[4] != CR {
		return 0, fmt.Errorf("rpm5300: frame: ends %#02x, want CR: %w", b[4], drivers.ErrFrame)
	}
	v, ok := digits(b[:4])
	if !ok {
		return 0, fmt.Errorf("rpm5300: frame: %q is not a number: %w", b[:4], drivers.ErrFrame)
	}
	return v, nil
}

// digits parses four characters: leading spaces, then at least one digit, digits only.
func digits(b []byte) (int, bool) {
	i := 0
	for i < len(b) && b[i] == ' ' {
		i++
	}
	if i == len(b) {
		return 0, false
	}
	v := 0
	for ; i < len(b); i++ {
		if b[i] < '0' || b[i] > '9' {
			return 0, false
		}
		v = v*10 + int(b[i]-'0')
	}
	return v, true
}

// Encode builds the frame for rpm, rounded and clamped to 0..9999, zero-padded or, with
// spacePad, space-padded.
func Encode(rpm float64, spacePad bool) [FrameLen]byte {
	r := math.Round(rpm)
	if math.IsNaN(r) || r < 0 {
		r = 0
	}
	v := int(min(r, MaxRPM))
	var b [FrameLen]byte
	for i := 3; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	if spacePad {
		for i := 0; i < 3 && b[i] == '0'; i++ {
			b[i] = ' '
		}
	}
	b[4] = CR
	return b
}

// Scanner finds frames in the byte stream: every CR ends a candidate, whose last four
// characters must be a number; bytes before them are garbage. It keeps at most four
// bytes between calls and does not allocate after NewScanner.
type Scanner struct {
	buf   [scanCap]byte
	start int
	end   int

	// Counters since NewScanner.
	BytesIn   uint64
	Frames    uint64
	Discarded uint64
}

const scanCap = 512

// NewScanner returns an empty scanner.
func NewScanner() *Scanner { return &Scanner{} }

// Space returns the free part of the buffer to read into; Commit(n) then adds n bytes.
func (s *Scanner) Space() []byte {
	if s.start > 0 {
		n := copy(s.buf[:], s.buf[s.start:s.end])
		s.start, s.end = 0, n
	}
	return s.buf[s.end:]
}

// Commit adds the first n bytes of the last Space to the stream.
func (s *Scanner) Commit(n int) {
	n = max(0, min(n, len(s.buf)-s.end))
	s.end += n
	s.BytesIn += uint64(n)
}

// Feed copies as much of p as fits and returns how many bytes it took. Call Next until it
// reports no frame before feeding more.
func (s *Scanner) Feed(p []byte) int {
	k := copy(s.Space(), p)
	s.Commit(k)
	return k
}

// Pending is the number of bytes held as the start of a possible frame.
func (s *Scanner) Pending() int { return s.end - s.start }

// Next returns the next valid frame's rpm and bytes (valid until the next Space or Feed).
// ok is false when no complete frame is left; at most four bytes are kept.
func (s *Scanner) Next() (rpm int, raw []byte, ok bool) {
	for {
		p := s.buf[s.start:s.end]
		cr := -1
		for i, c := range p {
			if c == CR {
				cr = i
				break
			}
		}
		if cr < 0 {
			if extra := len(p) - (FrameLen - 1); extra > 0 { // only the last 4 can start a frame
				s.start += extra
				s.Discarded += uint64(extra)
			}
			return 0, nil, false
		}
		if cr >= FrameLen-1 {
			f := p[cr-(FrameLen-1) : cr+1]
			if v, ok := digits(f[:4]); ok {
				skip := cr - (FrameLen - 1)
				s.Discarded += uint64(skip)
				s.start += cr + 1
				s.Frames++
				return v, f, true
			}
		}
		s.start += cr + 1
		s.Discarded += uint64(cr + 1)
	}
}
