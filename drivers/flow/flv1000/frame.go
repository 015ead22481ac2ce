package flv1000

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"imagent/drivers"
)

// Bytes with a fixed meaning on the wire.
const (
	ACK byte = 0x06 // first byte of a good reply
	NAK byte = 0x15 // the whole reply to a refused command [C-doc]
)

// Commands, FLV-1000 manual §8 [C-doc].
const (
	CmdO2           byte = 0x81 // diluted O2, 0.01 %
	CmdPressure     byte = 0x82 // gas pressure, 0.1 kPa
	CmdTemp         byte = 0x83 // gas temperature, 0.1 °C
	CmdFlowActual   byte = 0x84 // flow at actual conditions, 0.1 L/s
	CmdFlowStd      byte = 0x85 // flow at standard conditions, 0.1 L/s
	CmdRawAll       byte = 0x86 // O2, P, T, actual flow
	CmdStdAll       byte = 0x87 // O2, P, T, standard flow
	CmdStatus       byte = 0x88 // status
	CmdVersion      byte = 0x89 // version
	CmdCalO2        byte = 0xA0 // diluted-O2 calibration, 0.01 %
	CmdCalO2Low     byte = 0xA1 // O2 low point (3–6 %)
	CmdCalO2High    byte = 0xA2 // O2 high point (18–21 %)
	CmdCalPressure  byte = 0xA3 // pressure calibration, 0.1 kPa
	CmdCalTemp      byte = 0xA4 // temperature calibration, 0.1 °C
	CmdCalFlow      byte = 0xA6 // single-point flow calibration
	CmdFactoryReset byte = 0xAC // factory reset
)

// Reply lengths.
const (
	ValueLen  = 6  // 06 CMD 05 hi lo CS
	AllLen    = 12 // 06 CMD 0B O2 P T FLOW CS
	StatusLen = 7  // 06 88 06 S1 S2 S3 CS [I]
	AckLen    = 4  // 06 CMD 03 CS
	MinLen    = 4
)

// Status bits of S1 (command 88) [C-doc].
const (
	S1FlowRange   byte = 1 << 0 // flow outside its normal range (80–200 L/s)
	S1PressureBad byte = 1 << 2 // gas pressure outside 50–130 kPa
	S1TempBad     byte = 1 << 3 // gas temperature outside −20–180 °C
	S1O2Warming   byte = 1 << 4 // zirconia O2 sensor warming up (about 2 min after power-up)
)

// Checksum is the request (and short-reply) checksum: not(sum)+1 ("CS2c").
func Checksum(b []byte) byte { return drivers.Neg8(b) }

// DataSum is the checksum of the 86/87 replies: the plain 8-bit sum of the data bytes
// only [C-doc manual; C-code luckyzjian/VMAS].
func DataSum(d []byte) byte { return drivers.Sum8(d) }

// literals are the request frames printed in the manual. Not all of them satisfy the
// stated checksum (domain.md §1.4 [I]); LiteralRequest sends them as printed.
var literals = map[byte][]byte{
	CmdO2:           {0x81, 0x02, 0x7B},
	CmdRawAll:       {0x86, 0x02, 0x78},
	CmdStatus:       {0x88, 0x02, 0x76},
	CmdFactoryReset: {0xAC, 0x02, 0x88},
}

// LiteralRequest returns the manual's printed frame for cmd, if it prints one.
func LiteralRequest(cmd byte) ([]byte, bool) {
	b, ok := literals[cmd]
	return bytes.Clone(b), ok
}

// Request builds CMD LB [DF] CS, LB = length of CMD+LB+DF, CS = CS2c over them.
func Request(cmd byte, data ...byte) []byte {
	b := make([]byte, 0, 3+len(data))
	b = append(b, cmd, byte(2+len(data)))
	b = append(b, data...)
	return append(b, Checksum(b))
}

// ParseRequest checks a whole request (the simulator's side): LB must match the length,
// and CS must be CS2c or the frame one of the manual's literal frames. lenient accepts
// any CS (lane code sends yet other values).
func ParseRequest(b []byte, lenient bool) (cmd byte, data []byte, err error) {
	if len(b) < 3 {
		return 0, nil, fmt.Errorf("flv1000: request of %d bytes: %w", len(b), drivers.ErrFrame)
	}
	if int(b[1]) != len(b)-1 {
		return 0, nil, fmt.Errorf("flv1000: request LB %d for %d bytes: %w", b[1], len(b), drivers.ErrFrame)
	}
	last := len(b) - 1
	if lit, ok := literals[b[0]]; !lenient && b[last] != Checksum(b[:last]) && !(ok && bytes.Equal(lit, b)) {
		return 0, nil, fmt.Errorf("flv1000: request %w: got %#02x, want %#02x", drivers.ErrChecksum, b[last], Checksum(b[:last]))
	}
	return b[0], b[2:last], nil
}

// reply builds ACK CMD LB data CS; sum selects the data-only checksum of 86/87.
func reply(cmd byte, data []byte, dataSum bool) []byte {
	b := make([]byte, 0, 4+len(data))
	b = append(b, ACK, cmd, byte(3+len(data)))
	b = append(b, data...)
	if dataSum {
		return append(b, DataSum(data))
	}
	return append(b, Checksum(b))
}

// EncodeAck builds the AckLen-byte reply 06 CMD 03 CS.
func EncodeAck(cmd byte) []byte { return reply(cmd, nil, false) }

// decode checks a reply of n bytes to cmd and returns its data.
func decode(b []byte, cmd byte, n int, dataSum bool) ([]byte, error) {
	switch {
	case len(b) == 0:
		return nil, fmt.Errorf("flv1000: cmd %#02x: empty reply: %w", cmd, drivers.ErrFrame)
	case b[0] == NAK:
		return nil, fmt.Errorf("flv1000: cmd %#02x: %w", cmd, drivers.ErrNAK)
	case b[0] != ACK:
		return nil, fmt.Errorf("flv1000: cmd %#02x: first byte %#02x, want %#02x: %w", cmd, b[0], ACK, drivers.ErrFrame)
	case len(b) != n || int(b[2]) != n-1:
		return nil, fmt.Errorf("flv1000: cmd %#02x: %d bytes with LB %d, want %d: %w", cmd, len(b), lb(b), n, drivers.ErrFrame)
	case b[1] != cmd:
		return nil, fmt.Errorf("flv1000: reply to %#02x, asked %#02x: %w", b[1], cmd, drivers.ErrFrame)
	}
	last := n - 1
	d := b[3:last]
	want := Checksum(b[:last])
	if dataSum {
		want = DataSum(d)
	}
	if b[last] != want {
		return nil, fmt.Errorf("flv1000: cmd %#02x: %w: got %#02x, want %#02x", cmd, drivers.ErrChecksum, b[last], want)
	}
	return d, nil
}

func lb(b []byte) int {
	if len(b) < 3 {
		return -1
	}
	return int(b[2])
}

// DecodeAck checks the AckLen-byte reply to a calibration or reset command.
func DecodeAck(b []byte, cmd byte) error {
	_, err := decode(b, cmd, AckLen, false)
	return err
}

// scale is the resolution of each single value [C-doc]: O2 0.01 %, P 0.1 kPa, T 0.1 °C,
// flows 0.1 L/s.
func scale(cmd byte) (float64, bool) {
	switch cmd {
	case CmdO2:
		return 100, true
	case CmdPressure, CmdTemp, CmdFlowActual, CmdFlowStd:
		return 10, true
	}
	return 0, false
}

func s16(b []byte, off int) float64 { return float64(int16(binary.BigEndian.Uint16(b[off:]))) }

func putS16(b []byte, off int, v float64) {
	var w uint16
	switch {
	case math.IsNaN(v):
	case v >= math.MaxInt16:
		w = math.MaxInt16
	case v <= math.MinInt16:
		w = 0x8000
	default:
		w = uint16(int16(math.Round(v)))
	}
	binary.BigEndian.PutUint16(b[off:], w)
}

// DecodeValue decodes the ValueLen-byte reply to a single-value command (81–85) in the
// manual's units: %, kPa, °C, L/s. (luckyzjian/VMAS divides the 84 value by 100, not 10.)
func DecodeValue(b []byte, cmd byte) (float64, error) {
	sc, ok := scale(cmd)
	if !ok {
		return 0, fmt.Errorf("flv1000: %#02x is not a single-value command", cmd)
	}
	d, err := decode(b, cmd, ValueLen, false)
	if err != nil {
		return 0, err
	}
	return s16(d, 0) / sc, nil
}

// EncodeValue builds the reply DecodeValue reads; nil for a command that has none.
func EncodeValue(cmd byte, v float64) []byte {
	sc, ok := scale(cmd)
	if !ok {
		return nil
	}
	d := make([]byte, 2)
	putS16(d, 0, v*sc)
	return reply(cmd, d, false)
}

// All is the reply to 86 (Flow at actual conditions) or 87 (at standard conditions).
type All struct {
	O2Pct       float64 // diluted O2, % (0.01)
	PressureKPa float64 // gas pressure, kPa (0.1)
	TempC       float64 // gas temperature, °C (0.1)
	FlowLps     float64 // flow, L/s (0.1)
}

// DecodeAll decodes the AllLen-byte reply 06 CMD 0B O2 P T FLOW CS to 86 or 87, whose
// CS is the plain sum of the 8 data bytes.
func DecodeAll(b []byte, cmd byte) (All, error) {
	if cmd != CmdRawAll && cmd != CmdStdAll {
		return All{}, fmt.Errorf("flv1000: %#02x is not 86 or 87", cmd)
	}
	d, err := decode(b, cmd, AllLen, true)
	if err != nil {
		return All{}, err
	}
	return All{O2Pct: s16(d, 0) / 100, PressureKPa: s16(d, 2) / 10, TempC: s16(d, 4) / 10, FlowLps: s16(d, 6) / 10}, nil
}

// EncodeAll builds the reply DecodeAll reads.
func EncodeAll(cmd byte, a All) []byte {
	d := make([]byte, 8)
	putS16(d, 0, a.O2Pct*100)
	putS16(d, 2, a.PressureKPa*10)
	putS16(d, 4, a.TempC*10)
	putS16(d, 6, a.FlowLps*10)
	return reply(cmd, d, true)
}

// State is the status reply (88): S1 carries the bits the manual names; S2 and S3 are
// kept as received [I].
type State struct{ S1, S2, S3 byte }

// Status maps S1: O2 warming is Warmup, flow out of range LowFlow (it may be too high as
// well), pressure or temperature out of range Fault.
func (s State) Status() drivers.Status {
	var st drivers.Status
	if s.S1&S1O2Warming != 0 {
		st |= drivers.Warmup
	}
	if s.S1&S1FlowRange != 0 {
		st |= drivers.LowFlow
	}
	if s.S1&(S1PressureBad|S1TempBad) != 0 {
		st |= drivers.Fault
	}
	return st
}

// DecodeState decodes the StatusLen-byte reply 06 88 06 S1 S2 S3 CS.
func DecodeState(b []byte) (State, error) {
	d, err := decode(b, CmdStatus, StatusLen, false)
	if err != nil {
		return State{}, err
	}
	return State{S1: d[0], S2: d[1], S3: d[2]}, nil
}

// EncodeState builds the reply DecodeState reads.
func EncodeState(s State) []byte { return reply(CmdStatus, []byte{s.S1, s.S2, s.S3}, false) }

// ReplyLen is the length of the good reply to cmd, 0 if unknown.
func ReplyLen(cmd byte) int {
	switch {
	case cmd >= CmdO2 && cmd <= CmdFlowStd:
		return ValueLen
	case cmd == CmdRawAll || cmd == CmdStdAll:
		return AllLen
	case cmd == CmdStatus:
		return StatusLen
	case cmd >= CmdCalO2 && cmd <= CmdCalFlow, cmd == CmdFactoryReset:
		return AckLen
	}
	return 0
}

// StdFlow converts a flow q (L/s) measured at tempC and pKPa to standard conditions
// (refC, 101.325 kPa) by the ideal gas law.
func StdFlow(q, tempC, pKPa, refC float64) float64 {
	return q * (pKPa / 101.325) * ((273.15 + refC) / (273.15 + tempC))
}

// Rebase converts a flow at standard conditions of fromC to toC (same pressure).
func Rebase(q, fromC, toC float64) float64 { return q * (273.15 + toC) / (273.15 + fromC) }
