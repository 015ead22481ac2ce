package xincheng

import (
	"encoding/binary"
	"fmt"
	"math"

	"imagent/drivers"
)

// Bytes with a fixed meaning on the wire.
const (
	HeadCommand byte = 'X' // first byte of every host command
	HeadReply   byte = 'A' // first byte of every controller reply (stream or answer)
	HeadDebug   byte = 'D' // first byte of a debug text frame, which ends at the next Tail
	Tail        byte = 'C' // last byte of every command, reply and debug frame
)

// Frame lengths.
const (
	CommandLen  = 9  // 'X' c1 c2 float32 sum 'C'
	ReplyLenV80 = 16 // 'A' c1 c2 3×float32 'C' (protocol 8.0: no key byte)
	ReplyLenV81 = 17 // 'A' c1 c2 3×float32 key 'C' (protocol 8.1: photocells and remote keys)
	MaxDebugLen = 64 // longest debug frame the scanner waits for ('D' … 'C')
)

// Version is the protocol revision of the controller. They differ only in the key byte.
type Version int

// Versions.
const (
	V81 Version = iota // 17-byte replies with the key/photocell byte (default)
	V80                // 16-byte replies without it
)

// ReplyLen is the length of a reply frame in version v (0 for an unknown version).
func (v Version) ReplyLen() int {
	switch v {
	case V81:
		return ReplyLenV81
	case V80:
		return ReplyLenV80
	}
	return 0
}

func (v Version) String() string {
	switch v {
	case V81:
		return "8.1"
	case V80:
		return "8.0"
	}
	return fmt.Sprintf("Version(%d)", int(v))
}

// Cmd is the two ASCII characters after 'X' in a command (function and sub-command),
// and after 'A' in the reply that answers it.
type Cmd [2]byte

func (c Cmd) String() string { return string(c[:]) }

// Commands of protocol 8.0/8.1 (domain.md §1.5). The float argument is in the unit named;
// commands without an argument send 0.
var (
	SetSpeed      = Cmd{'S', 'S'} // constant-speed target, km/h
	SetForce      = Cmd{'S', 'F'} // constant-force target, N
	SetPower      = Cmd{'S', 'P'} // constant-power target, kW
	SetDuty       = Cmd{'S', 'I'} // PWM duty, %
	SetForceChan  = Cmd{'S', 'C'} // force channel 1..3
	ZeroForce     = Cmd{'S', 'Z'} // zero the selected force channel
	ClearKey      = Cmd{'S', 'K'} // clear the remote-key value
	SetBaseMass   = Cmd{'S', 'M'} // vehicle base (reference) mass, kg
	SetInertia    = Cmd{'S', 'N'} // dyno base inertia, kg
	StartSpeed    = Cmd{'B', 'S'} // start constant-speed control
	StartForce    = Cmd{'B', 'F'} // start constant-force control
	StartPower    = Cmd{'B', 'P'} // start constant-power control
	StartDuty     = Cmd{'B', 'I'} // output the set PWM duty
	StartInertia  = Cmd{'B', 'M'} // constant power with inertia simulation
	StopControl   = Cmd{'B', 'Q'} // stop control: PWM 0, controller idle
	MotorStart    = Cmd{'E', 'B'} // start the drive motor
	MotorStop     = Cmd{'E', 'S'} // stop the drive motor
	RelayOn       = Cmd{'E', 'Y'}
	RelayOff      = Cmd{'E', 'N'}
	LiftUp        = Cmd{'J', 'U'}
	LiftDown      = Cmd{'J', 'D'}
	CalEnter      = Cmd{'D', 'F'} // enter force calibration (the stream then carries channel voltages)
	CalExit       = Cmd{'D', 'S'}
	ReadAmbient   = Cmd{'R', 'T'} // answer 'ART': temperature °C, RH %, pressure
	ReadForceCoef = Cmd{'R', 'F'} // answered by two frames, 'ARA' and 'ARB'
	ReadSpeedPID  = Cmd{'R', 's'}
	ReadForcePID  = Cmd{'R', 'f'}
	ReadRoller    = Cmd{'R', 'S'} // answer 'ARS': roller diameter cm, encoder pulses per turn
	ReadInertia   = Cmd{'R', 'I'} // answer 'ARI': dyno inertia kg, vehicle base mass kg
)

// Function codes of the streamed data frames: speed km/h, force N and duty %.
var (
	StreamIdle    = Cmd{'I', 'I'}
	StreamSpeed   = StartSpeed
	StreamForce   = StartForce
	StreamPower   = StartPower
	StreamDuty    = StartDuty
	StreamInertia = StartInertia
)

// IsStream reports whether c is the function code of a streamed data frame (idle or one
// of the control modes).
func (c Cmd) IsStream() bool {
	if c == StreamIdle {
		return true
	}
	if c[0] != 'B' {
		return false
	}
	switch c[1] {
	case 'S', 'F', 'P', 'I', 'M':
		return true
	}
	return false
}

// Controlling reports whether a stream frame with code c says the controller is in a
// control mode.
func (c Cmd) Controlling() bool { return c.IsStream() && c != StreamIdle }

func letter(b byte) bool { return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' }

// Checksum is the command checksum: the plain 8-bit sum of the first 7 bytes, 'X'
// included (the byte before the trailing 'C').
func Checksum(b []byte) byte { return drivers.Sum8(b) }

// EncodeCommand builds the 9-byte command 'X' c v sum 'C' (v little-endian IEEE-754).
func EncodeCommand(c Cmd, v float32) [CommandLen]byte {
	var b [CommandLen]byte
	b[0] = HeadCommand
	b[1], b[2] = c[0], c[1]
	binary.LittleEndian.PutUint32(b[3:], math.Float32bits(v))
	b[7] = Checksum(b[:7])
	b[8] = Tail
	return b
}

// DecodeCommand is the inverse of EncodeCommand (the simulator's side). It never panics.
func DecodeCommand(b []byte) (Cmd, float32, error) {
	if len(b) != CommandLen {
		return Cmd{}, 0, fmt.Errorf("xincheng: command: %d bytes, want %d: %w", len(b), CommandLen, drivers.ErrFrame)
	}
	if b[0] != HeadCommand || b[8] != Tail {
		return Cmd{}, 0, fmt.Errorf("xincheng: command: framing %#02x…%#02x, want 'X'…'C': %w", b[0], b[8], drivers.ErrFrame)
	}
	if !letter(b[1]) || !letter(b[2]) {
		return Cmd{}, 0, fmt.Errorf("xincheng: command: code %q: %w", b[1:3], drivers.ErrFrame)
	}
	if want := Checksum(b[:7]); b[7] != want {
		return Cmd{}, 0, fmt.Errorf("xincheng: command: %w: got %#02x, want %#02x", drivers.ErrChecksum, b[7], want)
	}
	return Cmd{b[1], b[2]}, math.Float32frombits(binary.LittleEndian.Uint32(b[3:])), nil
}

// Reply is a controller frame: a streamed data frame (speed km/h, force N, duty %) or the
// answer to a read command (three values whose meaning depends on Func).
type Reply struct {
	Func Cmd
	V    [3]float32
	Key  byte // 8.1 only: bits 0..2 photocell inputs (1 = high), bits 3.. remote key number
}

// Photocells returns the three photocell inputs of the key byte (bit i = input i+1).
func (r Reply) Photocells() byte { return r.Key & 0x07 }

// RemoteKey returns the remote-control key number (1..12, 0 for none) of the key byte.
func (r Reply) RemoteKey() byte { return r.Key >> 3 }

// EncodeReply builds the reply frame DecodeReply reads for version v (nil for an unknown
// version). The key byte is dropped in version 8.0.
func EncodeReply(r Reply, v Version) []byte {
	n := v.ReplyLen()
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	putReply(b, r)
	return b
}

func putReply(b []byte, r Reply) {
	b[0] = HeadReply
	b[1], b[2] = r.Func[0], r.Func[1]
	for i, f := range r.V {
		binary.LittleEndian.PutUint32(b[3+4*i:], math.Float32bits(f))
	}
	if len(b) == ReplyLenV81 {
		b[15] = r.Key
	}
	b[len(b)-1] = Tail
}

// DecodeReply decodes one reply frame of version v. The frame has no checksum (the
// vendor's layout is 'A' c1 c2 3×float32 [key] 'C'), so the decoder is strict about
// everything else: length, 'A' and 'C', a two-letter function code and, in stream
// frames, finite numbers. It never panics and does not allocate on success.
func DecodeReply(b []byte, v Version) (Reply, error) {
	n := v.ReplyLen()
	if n == 0 {
		return Reply{}, fmt.Errorf("xincheng: unknown protocol version %d", int(v))
	}
	if len(b) != n {
		return Reply{}, fmt.Errorf("xincheng: reply: %d bytes, want %d: %w", len(b), n, drivers.ErrFrame)
	}
	if b[0] != HeadReply || b[n-1] != Tail {
		return Reply{}, fmt.Errorf("xincheng: reply: framing %#02x…%#02x, want 'A'…'C': %w", b[0], b[n-1], drivers.ErrFrame)
	}
	if !letter(b[1]) || !letter(b[2]) {
		return Reply{}, fmt.Errorf("xincheng: reply: code %#02x %#02x: %w", b[1], b[2], drivers.ErrFrame)
	}
	r := Reply{Func: Cmd{b[1], b[2]}}
	for i := range r.V {
		r.V[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[3+4*i:]))
	}
	if r.Func.IsStream() {
		for _, f := range r.V {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return Reply{}, fmt.Errorf("xincheng: reply %v: non-finite value: %w", r.Func, drivers.ErrFrame)
			}
		}
	}
	if n == ReplyLenV81 {
		r.Key = b[15]
	}
	return r, nil
}

// Scanner finds frames in the byte stream of the controller: it keeps at most one
// incomplete frame between calls, skips garbage one byte at a time until a valid frame
// starts, and recognises (and skips) debug text frames. It does not allocate after
// NewScanner. The zero Scanner is not usable.
type Scanner struct {
	v        Version
	frameLen int
	buf      [scanCap]byte
	start    int // first unparsed byte
	end      int // one past the last byte

	// Counters since NewScanner.
	BytesIn   uint64 // bytes given to the scanner
	Frames    uint64 // valid reply frames found
	Debug     uint64 // debug frames skipped
	Discarded uint64 // bytes dropped while resynchronising
}

// scanCap is the scanner's buffer: far more than one read of a serial port holds at the
// stream's rate, and at least MaxDebugLen.
const scanCap = 1024

// NewScanner returns a scanner for version v (nil for an unknown version).
func NewScanner(v Version) *Scanner {
	n := v.ReplyLen()
	if n == 0 {
		return nil
	}
	return &Scanner{v: v, frameLen: n}
}

// Space returns the free part of the buffer to read into; Commit(n) then adds n bytes.
// The space is never empty: Next leaves fewer than MaxDebugLen bytes behind, and Space
// compacts first.
func (s *Scanner) Space() []byte {
	if s.start > 0 && (s.end == len(s.buf) || s.start == s.end) {
		n := copy(s.buf[:], s.buf[s.start:s.end])
		s.start, s.end = 0, n
	}
	if s.end == len(s.buf) { // only if the caller never called Next
		s.Discarded += uint64(s.end - s.start)
		s.start, s.end = 0, 0
	}
	return s.buf[s.end:]
}

// Commit adds the first n bytes of the last Space to the stream.
func (s *Scanner) Commit(n int) {
	n = max(0, min(n, len(s.buf)-s.end))
	s.end += n
	s.BytesIn += uint64(n)
}

// Feed copies as much of p as fits into the buffer and returns how many bytes it took.
// Call Next until it reports no frame before feeding more.
func (s *Scanner) Feed(p []byte) int {
	k := copy(s.Space(), p)
	s.Commit(k)
	return k
}

// Pending is the number of bytes held back as the start of a possible frame.
func (s *Scanner) Pending() int { return s.end - s.start }

// Next returns the next valid reply frame in the stream and its bytes (which stay valid
// until the next Space or Write), skipping garbage and debug frames. ok is false when
// the buffer holds no complete frame; the bytes that may start one are kept.
func (s *Scanner) Next() (r Reply, raw []byte, ok bool) {
	for s.start < s.end {
		p := s.buf[s.start:s.end]
		switch p[0] {
		case HeadReply:
			if len(p) < s.frameLen {
				return Reply{}, nil, false
			}
			if r, err := DecodeReply(p[:s.frameLen], s.v); err == nil {
				s.start += s.frameLen
				s.Frames++
				return r, p[:s.frameLen], true
			}
		case HeadDebug:
			n, complete := debugFrame(p)
			if !complete {
				return Reply{}, nil, false
			}
			if n > 0 {
				s.start += n
				s.Debug++
				continue
			}
		}
		s.start++
		s.Discarded++
	}
	return Reply{}, nil, false
}

// debugFrame looks at p, which starts with 'D': a debug frame is printable ASCII up to
// the next 'C', at most MaxDebugLen bytes. It returns the frame's length, 0 if p cannot
// start one, and complete=false if more bytes are needed to decide.
func debugFrame(p []byte) (n int, complete bool) {
	for i := 1; i < len(p) && i < MaxDebugLen; i++ {
		switch c := p[i]; {
		case c == Tail:
			return i + 1, true
		case c < 0x20 || c > 0x7e:
			return 0, true
		}
	}
	if len(p) >= MaxDebugLen {
		return 0, true
	}
	return 0, false
}
