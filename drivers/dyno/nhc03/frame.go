package nhc03

import (
	"fmt"
	"math"

	"imagent/drivers"
)

// Bytes with a fixed meaning on the wire.
const (
	Head byte = 0x08 // first byte of every request
	Len  byte = 0x07 // third byte of every request: its length
	NAK  byte = 0x15 // the controller refuses a request
	ACK  byte = 0x06 // what the simulator answers to writes and control words (any byte but NAK is accepted)
)

// Frame lengths.
const (
	RequestLen  = 7 // 08 CMD 07 V HI LO CS
	RealtimeLen = 9 // head, power word, force word, force tenths, speed word, CS
	WordLen     = 4 // head, word, CS (status, read variable)
)

// Request command bytes. Any other byte in the command position is a control word.
const (
	CmdRealtime byte = 'C' // power, force, speed
	CmdStatus   byte = 'D' // 16 status bits
	CmdReadVar  byte = 'E' // read variable V
	CmdWriteVar byte = 'F' // write HI LO to variable V
)

// Control words (sent in the command position, answered by one byte).
const (
	CtrlOff           byte = '0' // leave every control mode
	CtrlSpeed         byte = '1' // constant speed (VarSpeedTarget)
	CtrlForce         byte = '2' // constant force (VarForceTarget, VarForceTenths)
	CtrlDriveSim      byte = '3' // driving-resistance simulation
	CtrlASM           byte = '4' // ASM regulator
	CtrlLiftUp        byte = '5'
	CtrlLiftDown      byte = '6'
	CtrlPower         byte = '7' // constant power (VarPowerTarget)
	CtrlResetDistance byte = '9'
	CtrlTimer1On      byte = 'H'
	CtrlTimer1Off     byte = 'I'
	CtrlMotorOn       byte = 'J'
	CtrlMotorOff      byte = 'K'
	CtrlVarLoad       byte = 'Q'
	CtrlTimer2On      byte = 'R'
	CtrlTimer2Off     byte = 'S'
	CtrlConstAccel    byte = 'W'
)

// Variables (RAM numbers) the driver uses.
const (
	VarInertia     byte = 6   // base inertia, kg
	VarSpeedTarget byte = 200 // constant-speed target, 0.01 km/h
	VarForceTarget byte = 201 // constant-force target, whole newtons
	VarForceTenths byte = 202 // constant-force target, tenths of a newton (0..9)
	VarDistance    byte = 225 // distance, m
	VarPowerTarget byte = 228 // constant-power target, 0.01 kW
)

// Status-word bits.
const (
	StatusLiftUp   uint16 = 1 << 0 // lift fully up
	StatusLiftDown uint16 = 1 << 1 // lift fully down (neither: the lift is moving)
)

// Checksum is the request and reply checksum: the plain 8-bit sum of the bytes before it.
func Checksum(b []byte) byte { return drivers.Sum8(b) }

// Request is one host request.
type Request struct {
	Cmd   byte   // CmdRealtime…, or a control word
	Var   byte   // variable number (read/write variable), else 0
	Value uint16 // value written (write variable), else 0
}

// EncodeRequest builds the 7-byte request 08 CMD 07 V HI LO CS.
func EncodeRequest(r Request) [RequestLen]byte {
	b := [RequestLen]byte{Head, r.Cmd, Len, r.Var, byte(r.Value >> 8), byte(r.Value)}
	b[6] = Checksum(b[:6])
	return b
}

// DecodeRequest is the inverse of EncodeRequest (the simulator's side). It never panics.
func DecodeRequest(b []byte) (Request, error) {
	if len(b) != RequestLen {
		return Request{}, fmt.Errorf("nhc03: request: %d bytes, want %d: %w", len(b), RequestLen, drivers.ErrFrame)
	}
	if b[0] != Head || b[2] != Len {
		return Request{}, fmt.Errorf("nhc03: request: header % x: %w", b[:3], drivers.ErrFrame)
	}
	if want := Checksum(b[:6]); b[6] != want {
		return Request{}, fmt.Errorf("nhc03: request: %w: got %#02x, want %#02x", drivers.ErrChecksum, b[6], want)
	}
	return Request{Cmd: b[1], Var: b[3], Value: uint16(b[4])<<8 | uint16(b[5])}, nil
}

// Realtime is the real-time data reply in engineering units.
type Realtime struct {
	Head     byte    // first byte as received (lane software only checks it is not NAK)
	PowerKW  float64 // 0.01 kW steps, 0..655.35
	ForceN   float64 // 0.1 N steps, 0..65535.9
	SpeedKmh float64 // 0.01 km/h steps, 0..655.35
}

// checkReply verifies length, NAK and checksum. It allocates only on error.
func checkReply(what string, b []byte, n int) error {
	if len(b) > 0 && b[0] == NAK {
		return fmt.Errorf("nhc03: %s: %w", what, drivers.ErrNAK)
	}
	if len(b) != n {
		return fmt.Errorf("nhc03: %s: %d bytes, want %d: %w", what, len(b), n, drivers.ErrFrame)
	}
	if want := Checksum(b[:n-1]); b[n-1] != want {
		return fmt.Errorf("nhc03: %s: %w: got %#02x, want %#02x", what, drivers.ErrChecksum, b[n-1], want)
	}
	return nil
}

func u16(b []byte, off int) uint16 { return uint16(b[off])<<8 | uint16(b[off+1]) }

// DecodeRealtime decodes the 9-byte real-time reply: power word /100 kW, force word N
// plus a tenths byte, speed word /100 km/h, checksum. A tenths byte above 9 is ErrFrame.
// It never panics and does not allocate on success.
func DecodeRealtime(b []byte) (Realtime, error) {
	if err := checkReply("real-time data", b, RealtimeLen); err != nil {
		return Realtime{}, err
	}
	if b[5] > 9 {
		return Realtime{}, fmt.Errorf("nhc03: real-time data: force tenths %d: %w", b[5], drivers.ErrFrame)
	}
	return Realtime{
		Head:     b[0],
		PowerKW:  float64(u16(b, 1)) / 100,
		ForceN:   float64(u16(b, 3)) + float64(b[5])/10,
		SpeedKmh: float64(u16(b, 6)) / 100,
	}, nil
}

// EncodeRealtime builds the reply DecodeRealtime reads, rounding to the resolution and
// saturating to the range (NaN → 0).
func EncodeRealtime(x Realtime) []byte {
	b := make([]byte, RealtimeLen)
	b[0] = x.Head
	putU16(b[1:], toU16(x.PowerKW*100))
	tenths := math.Round(x.ForceN * 10)
	if math.IsNaN(tenths) || tenths < 0 {
		tenths = 0
	}
	tenths = min(tenths, math.MaxUint16*10+9)
	putU16(b[3:], uint16(tenths/10))
	b[5] = byte(math.Mod(tenths, 10))
	putU16(b[6:], toU16(x.SpeedKmh*100))
	b[8] = Checksum(b[:8])
	return b
}

// DecodeWord decodes a 4-byte word reply (status, read variable): head, big-endian word,
// checksum. It returns the head byte too, for a byte-exact round trip.
func DecodeWord(b []byte) (head byte, v uint16, err error) {
	if err := checkReply("word reply", b, WordLen); err != nil {
		return 0, 0, err
	}
	return b[0], u16(b, 1), nil
}

// EncodeWord builds the reply DecodeWord reads.
func EncodeWord(head byte, v uint16) []byte {
	b := []byte{head, byte(v >> 8), byte(v), 0}
	b[3] = Checksum(b[:3])
	return b
}

func putU16(b []byte, v uint16) { b[0], b[1] = byte(v>>8), byte(v) }

// toU16 rounds v and saturates it to the uint16 range (NaN → 0).
func toU16(v float64) uint16 {
	switch r := math.Round(v); {
	case math.IsNaN(r), r < 0:
		return 0
	case r > math.MaxUint16:
		return math.MaxUint16
	default:
		return uint16(r)
	}
}

// StatusFromWord maps the status word to drivers.Status: LiftUp from bit 0, Busy while
// the lift is between its end positions (neither bit 0 nor bit 1). The other 14 bits
// are not documented in any source we have.
func StatusFromWord(w uint16) drivers.Status {
	var s drivers.Status
	if w&StatusLiftUp != 0 {
		s |= drivers.LiftUp
	}
	if w&(StatusLiftUp|StatusLiftDown) == 0 {
		s |= drivers.Busy
	}
	return s
}
