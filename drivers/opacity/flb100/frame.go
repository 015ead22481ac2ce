package flb100

import (
	"encoding/binary"
	"fmt"
	"math"

	"imagent/drivers"
)

// Bytes with a fixed meaning on the wire.
const (
	DID byte = 0x02 // device address of the FLB-100: first byte of every request
	ACK byte = 0x06 // first byte of a good reply
	NAK byte = 0x15 // first byte of a refusal
)

// Commands (the CMD byte of a request), FLB-100 manual pp.16–23 [C-doc].
const (
	CmdStatus        byte = 0x01 // status S1 S2 S3
	CmdMeasure       byte = 0x02 // real-time k, N, gas T, oil T, rpm
	CmdSteady        byte = 0x03 // steady-state value
	CmdAccel         byte = 0x04 // acceleration value: the last 4 peaks and their average
	CmdZero          byte = 0x05 // linearity correction (zero)
	CmdDirectMode    byte = 0x06 // direct-measurement mode
	CmdSteadyMode    byte = 0x07 // steady-state mode
	CmdAccelMode     byte = 0x08 // acceleration (free-acceleration) mode
	CmdStopSteady    byte = 0x09 // stop steady-state measurement
	CmdStartSteady   byte = 0x0A // start steady-state measurement
	CmdTrigger       byte = 0x0B // trigger one acceleration (auto-trigger)
	CmdLinCheckMode  byte = 0x0C // linearity-check mode
	CmdLinCheckValue byte = 0x0D // linearity-check value N
	CmdLatestAccel   byte = 0x0E // latest acceleration main data
	CmdAccelCurve    byte = 0x0F // latest acceleration curve (100 points)
)

// Reply lengths of the fixed-length replies (LB, which counts the whole frame).
const (
	MeasureLen = 13 // 06 0D 02 K N T OIL RPM CS
	SteadyLen  = 12 // 06 0C 03 K N RPM OIL CS
	StatusLen  = 7  // 06 07 01 S1 S2 S3 CS
	AckLen     = 4  // 06 04 CMD CS: the reply of mode and action commands
	MinLen     = 4  // the shortest frame: DID/ACK LB CMD CS
)

// Acceleration reply lengths, one per state.
const (
	AccelNoneLen    = 7  // 06 07 04 00 00 00 EF: no valid acceleration
	AccelRunningLen = 5  // 06 05 04 0F E2: measurement in progress
	AccelValidLen   = 14 // 06 0E 04 Kavg Kn Kn-1 Kn-2 Kn-3 CS
)

// Checksum is the family's checksum over b: not(sum)+1, so that the bytes of a frame
// including CS add up to 0 mod 256 ("CS2c").
func Checksum(b []byte) byte { return drivers.Neg8(b) }

// Request builds a request frame DID LB CMD DF CS; LB is the length of the whole frame.
// It returns nil when the data do not fit a frame.
func Request(cmd byte, data ...byte) []byte {
	n := 4 + len(data)
	if n > math.MaxUint8 {
		return nil
	}
	b := make([]byte, 0, n)
	b = append(b, DID, byte(n), cmd)
	b = append(b, data...)
	return append(b, Checksum(b))
}

// ParseRequest checks a whole request frame (the simulator's side) and returns its
// command and data (a sub-slice of b).
func ParseRequest(b []byte) (cmd byte, data []byte, err error) {
	switch {
	case len(b) < MinLen:
		return 0, nil, fmt.Errorf("flb100: request of %d bytes: %w", len(b), drivers.ErrFrame)
	case b[0] != DID:
		return 0, nil, fmt.Errorf("flb100: request address %#02x, want %#02x: %w", b[0], DID, drivers.ErrFrame)
	case int(b[1]) != len(b):
		return 0, nil, fmt.Errorf("flb100: request LB %d for %d bytes: %w", b[1], len(b), drivers.ErrFrame)
	}
	last := len(b) - 1
	if want := Checksum(b[:last]); b[last] != want {
		return 0, nil, fmt.Errorf("flb100: request %w: got %#02x, want %#02x", drivers.ErrChecksum, b[last], want)
	}
	return b[2], b[3:last], nil
}

// EncodeReply builds a good reply ACK LB CMD DF CS. It returns nil when the data do not
// fit a frame.
func EncodeReply(cmd byte, data ...byte) []byte {
	n := 4 + len(data)
	if n > math.MaxUint8 {
		return nil
	}
	b := make([]byte, 0, n)
	b = append(b, ACK, byte(n), cmd)
	b = append(b, data...)
	return append(b, Checksum(b))
}

// DecodeReply checks a whole reply to cmd and returns its data (a sub-slice of b, no
// copy). A NAK gives drivers.ErrNAK, a bad header, length or command drivers.ErrFrame, a
// bad sum drivers.ErrChecksum. It never panics.
func DecodeReply(b []byte, cmd byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("flb100: cmd %#02x: empty reply: %w", cmd, drivers.ErrFrame)
	}
	if b[0] == NAK {
		return nil, fmt.Errorf("flb100: cmd %#02x: %w", cmd, drivers.ErrNAK)
	}
	if b[0] != ACK {
		return nil, fmt.Errorf("flb100: cmd %#02x: first byte %#02x, want %#02x: %w", cmd, b[0], ACK, drivers.ErrFrame)
	}
	if len(b) < MinLen || int(b[1]) != len(b) {
		return nil, fmt.Errorf("flb100: cmd %#02x: %d bytes with LB %d: %w", cmd, len(b), lb(b), drivers.ErrFrame)
	}
	if b[2] != cmd {
		return nil, fmt.Errorf("flb100: reply to cmd %#02x, asked %#02x: %w", b[2], cmd, drivers.ErrFrame)
	}
	last := len(b) - 1
	if want := Checksum(b[:last]); b[last] != want {
		return nil, fmt.Errorf("flb100: cmd %#02x: %w: got %#02x, want %#02x", cmd, drivers.ErrChecksum, b[last], want)
	}
	return b[3:last], nil
}

func lb(b []byte) int {
	if len(b) < 2 {
		return -1
	}
	return int(b[1])
}

func s16(b []byte, off int) float64 { return float64(int16(binary.BigEndian.Uint16(b[off:]))) }
func u16(b []byte, off int) float64 { return float64(binary.BigEndian.Uint16(b[off:])) }

// toS16 rounds v to an int16, saturating; NaN gives 0.
func toS16(v float64) uint16 {
	switch {
	case math.IsNaN(v):
		return 0
	case v >= math.MaxInt16:
		return math.MaxInt16
	case v <= math.MinInt16:
		return 0x8000
	}
	return uint16(int16(math.Round(v)))
}

// toU16 rounds v to a uint16, saturating; NaN gives 0.
func toU16(v float64) uint16 {
	switch {
	case math.IsNaN(v) || v <= 0:
		return 0
	case v >= math.MaxUint16:
		return math.MaxUint16
	}
	return uint16(math.Round(v))
}

func toU8(v float64) byte {
	switch {
	case math.IsNaN(v) || v <= 0:
		return 0
	case v >= math.MaxUint8:
		return math.MaxUint8
	}
	return byte(math.Round(v))
}

// oilDiv is the divisor of the oil temperature word: 10 (0.1 °C, luckyzjian/VMAS) or 1
// (whole degrees, sinq123/OBD). See Opts.OilWholeDegrees.
func oilDiv(whole bool) float64 {
	if whole {
		return 1
	}
	return 10
}

// Measure is the real-time reply (command 02).
type Measure struct {
	K        float64 // light absorption coefficient, m⁻¹ (0.01)
	N        float64 // opacity as displayed (Ns), % (0.1)
	GasTempC float64 // smoke temperature, whole °C (1 byte)
	OilTempC float64 // oil temperature, °C
	RPM      float64 // engine speed, r/min
}

// DecodeMeasure decodes the MeasureLen-byte reply to command 02:
// 06 0D 02 Khi Klo Nhi Nlo T OILhi OILlo RPMhi RPMlo CS. wholeDegrees selects the oil
// temperature scaling (see Opts.OilWholeDegrees).
func DecodeMeasure(b []byte, wholeDegrees bool) (Measure, error) {
	d, err := DecodeReply(b, CmdMeasure)
	if err != nil {
		return Measure{}, err
	}
	if len(d) != MeasureLen-4 {
		return Measure{}, fmt.Errorf("flb100: measure: %d data bytes, want %d: %w", len(d), MeasureLen-4, drivers.ErrFrame)
	}
	return Measure{
		K:        s16(d, 0) / 100,
		N:        s16(d, 2) / 10,
		GasTempC: float64(d[4]),
		OilTempC: s16(d, 5) / oilDiv(wholeDegrees),
		RPM:      u16(d, 7),
	}, nil
}

// EncodeMeasure builds the reply DecodeMeasure reads (rounded, saturated).
func EncodeMeasure(m Measure, wholeDegrees bool) []byte {
	d := make([]byte, MeasureLen-4)
	binary.BigEndian.PutUint16(d[0:], toS16(m.K*100))
	binary.BigEndian.PutUint16(d[2:], toS16(m.N*10))
	d[4] = toU8(m.GasTempC)
	binary.BigEndian.PutUint16(d[5:], toS16(m.OilTempC*oilDiv(wholeDegrees)))
	binary.BigEndian.PutUint16(d[7:], toU16(m.RPM))
	return EncodeReply(CmdMeasure, d...)
}

// Steady is the steady-state reply (command 03).
type Steady struct {
	K, N, RPM, OilTempC float64
}

// DecodeSteady decodes the SteadyLen-byte reply to command 03:
// 06 0C 03 K N RPM OIL CS (luckyzjian/VMAS and sinq123/OBD read the same offsets).
func DecodeSteady(b []byte, wholeDegrees bool) (Steady, error) {
	d, err := DecodeReply(b, CmdSteady)
	if err != nil {
		return Steady{}, err
	}
	if len(d) != SteadyLen-4 {
		return Steady{}, fmt.Errorf("flb100: steady: %d data bytes, want %d: %w", len(d), SteadyLen-4, drivers.ErrFrame)
	}
	return Steady{K: s16(d, 0) / 100, N: s16(d, 2) / 10, RPM: u16(d, 4), OilTempC: s16(d, 6) / oilDiv(wholeDegrees)}, nil
}

// EncodeSteady builds the reply DecodeSteady reads.
func EncodeSteady(s Steady, wholeDegrees bool) []byte {
	d := make([]byte, SteadyLen-4)
	binary.BigEndian.PutUint16(d[0:], toS16(s.K*100))
	binary.BigEndian.PutUint16(d[2:], toS16(s.N*10))
	binary.BigEndian.PutUint16(d[4:], toU16(s.RPM))
	binary.BigEndian.PutUint16(d[6:], toS16(s.OilTempC*oilDiv(wholeDegrees)))
	return EncodeReply(CmdSteady, d...)
}

// AccelState is what the acceleration reply says.
type AccelState int

// Acceleration states.
const (
	AccelNone    AccelState = iota // no valid acceleration held
	AccelRunning                   // an acceleration measurement is in progress
	AccelValid                     // peaks are held
)

func (s AccelState) String() string {
	switch s {
	case AccelNone:
		return "none"
	case AccelRunning:
		return "running"
	case AccelValid:
		return "valid"
	}
	return fmt.Sprintf("AccelState(%d)", int(s))
}

// Accel is the acceleration reply (command 04).
type Accel struct {
	State AccelState
	Avg   float64    // average of the four peaks, m⁻¹ (as the device computed it)
	Peaks [4]float64 // the last four peaks k, m⁻¹, oldest first: Kn-3, Kn-2, Kn-1, Kn
}

// The literal data of the two short acceleration replies [C-doc].
const accelRunningMark = 0x0F

// DecodeAccel decodes a reply to command 04 of any of its three lengths.
func DecodeAccel(b []byte) (Accel, error) {
	d, err := DecodeReply(b, CmdAccel)
	if err != nil {
		return Accel{}, err
	}
	switch len(d) {
	case AccelNoneLen - 4:
		if d[0] != 0 || d[1] != 0 || d[2] != 0 {
			break
		}
		return Accel{State: AccelNone}, nil
	case AccelRunningLen - 4:
		if d[0] != accelRunningMark {
			break
		}
		return Accel{State: AccelRunning}, nil
	case AccelValidLen - 4:
		a := Accel{State: AccelValid, Avg: s16(d, 0) / 100}
		for i := range 4 { // wire order Kn, Kn-1, Kn-2, Kn-3
			a.Peaks[3-i] = s16(d, 2+2*i) / 100
		}
		return a, nil
	}
	return Accel{}, fmt.Errorf("flb100: acceleration reply data % X: %w", d, drivers.ErrFrame)
}

// EncodeAccel builds the reply DecodeAccel reads; it returns nil for an unknown state.
func EncodeAccel(a Accel) []byte {
	switch a.State {
	case AccelNone:
		return EncodeReply(CmdAccel, 0, 0, 0)
	case AccelRunning:
		return EncodeReply(CmdAccel, accelRunningMark)
	case AccelValid:
		d := make([]byte, AccelValidLen-4)
		binary.BigEndian.PutUint16(d[0:], toS16(a.Avg*100))
		for i := range 4 {
			binary.BigEndian.PutUint16(d[2+2*i:], toS16(a.Peaks[3-i]*100))
		}
		return EncodeReply(CmdAccel, d...)
	}
	return nil
}

// Status bits of S1 and S2 (command 01) [C-doc].
const (
	S1Steady      byte = 1 << 0 // steady-state mode
	S1Warmup      byte = 1 << 1 // warming up
	S1Direct      byte = 1 << 2 // direct-measurement mode
	S1Accel       byte = 1 << 3 // acceleration mode
	S1Menu        byte = 1 << 4 // in a menu
	S1AccelOK     byte = 1 << 5 // acceleration data meet the standard
	S1SteadyStart byte = 1 << 6 // steady-state measurement started
	S1Armed       byte = 1 << 7 // auto-trigger armed
	S2AccelBusy   byte = 1 << 3 // acceleration measurement in progress
)

// State is the status reply (command 01): three status bytes.
type State struct{ S1, S2, S3 byte }

// Status maps the state to drivers.Status: warm-up is Warmup, a running acceleration
// measurement is Busy.
func (s State) Status() drivers.Status {
	var st drivers.Status
	if s.S1&S1Warmup != 0 {
		st |= drivers.Warmup
	}
	if s.S2&S2AccelBusy != 0 {
		st |= drivers.Busy
	}
	return st
}

// DecodeState decodes the StatusLen-byte reply 06 07 01 S1 S2 S3 CS.
func DecodeState(b []byte) (State, error) {
	d, err := DecodeReply(b, CmdStatus)
	if err != nil {
		return State{}, err
	}
	if len(d) != StatusLen-4 {
		return State{}, fmt.Errorf("flb100: status: %d data bytes, want %d: %w", len(d), StatusLen-4, drivers.ErrFrame)
	}
	return State{S1: d[0], S2: d[1], S3: d[2]}, nil
}

// EncodeState builds the reply DecodeState reads.
func EncodeState(s State) []byte { return EncodeReply(CmdStatus, s.S1, s.S2, s.S3) }

// DecodeAck checks the AckLen-byte reply ACK 04 CMD CS of a mode or action command.
func DecodeAck(b []byte, cmd byte) error {
	d, err := DecodeReply(b, cmd)
	if err != nil {
		return err
	}
	if len(d) != 0 {
		return fmt.Errorf("flb100: cmd %#02x: %d data bytes in an acknowledgement: %w", cmd, len(d), drivers.ErrFrame)
	}
	return nil
}
