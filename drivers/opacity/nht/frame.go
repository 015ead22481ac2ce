package nht

import (
	"encoding/binary"
	"fmt"
	"math"

	"imagent/drivers"
)

// NAK is the first byte of a refusal; one error-code byte follows it [C-code sinq123/OBD].
const NAK byte = 0x15

// Commands (the first byte of a request; a good reply echoes it).
const (
	CmdSetStatus   byte = 0xA0 // NHT-6: set status 1..4; NHT-1: set test method
	CmdGetStatus   byte = 0xA1 // NHT-6 and NHT-1: get status / test method
	CmdStopWarmup  byte = 0xA2 // abort warm-up
	CmdAlarm       byte = 0xA3 // alarm information, 16 bits
	CmdZero        byte = 0xA4 // calibrate (zero)
	CmdRealtime    byte = 0xA5 // real-time N, K, rpm, oil temperature
	CmdMax         byte = 0xA6 // max-hold N, K, rpm
	CmdClearMax    byte = 0xA7 // clear the max-hold values
	CmdStatus1L    byte = 0xAD // NHT-1L: get status (0xF1 on newer firmware means 0x01)
	CmdTestResults byte = 0xB1 // NHT-6: manual test data K1, K2, K3, Kavg, low-idle rpm
)

// Reply lengths.
const (
	AckLen      = 2  // CMD CS
	StatusLen   = 3  // CMD code CS
	AlarmLen    = 4  // A3 hi lo CS
	RealtimeLen = 10 // A5 N K RPM OIL CS
	MaxLen      = 8  // A6 N K RPM CS
	ResultsLen  = 12 // B1 K1 K2 K3 Kavg RPM CS
	NAKLen      = 2  // 15 code
)

// OilNone is the oil temperature word when no probe is connected [C-code sinq123/OBD].
const OilNone uint16 = 0xFFFF

// Status codes of CmdGetStatus / CmdStatus1L [C-code luckyzjian/VMAS; see the firmware note].
const (
	StatusWarmup    byte = 0x00 // warming up
	StatusRealtime  byte = 0x01 // direct (real-time) measurement
	StatusAccel     byte = 0x02 // free-acceleration measurement
	StatusRealtime2 byte = 0xF1 // NHT-1L newer firmware: the same as StatusRealtime
	StatusOther     byte = 0xFF // another mode of operation (menu, calibration)
)

// StatusFromCode maps a status code to drivers.Status: warm-up is Warmup, the measuring
// codes are ready, anything else Busy.
func StatusFromCode(c byte) drivers.Status {
	switch c {
	case StatusWarmup:
		return drivers.Warmup
	case StatusRealtime, StatusAccel, StatusRealtime2:
		return 0
	}
	return drivers.Busy
}

// Checksum is the two's complement of the 8-bit sum of b ("CS2c").
func Checksum(b []byte) byte { return drivers.Neg8(b) }

// Request builds CMD [data] CS.
func Request(cmd byte, data ...byte) []byte {
	b := make([]byte, 0, 2+len(data))
	b = append(b, cmd)
	b = append(b, data...)
	return append(b, Checksum(b))
}

// RequestLen is the length of a request for cmd: 3 for A0 (one data byte), 4 for the
// two-data-byte commands B2, B5 and C2 of sinq123/OBD, 2 otherwise.
func RequestLen(cmd byte) int {
	switch cmd {
	case CmdSetStatus:
		return 3
	case 0xB2, 0xB5, 0xC2:
		return 4
	}
	return 2
}

// ParseRequest checks a whole request (the simulator's side) and returns its command and
// data (a sub-slice of b).
func ParseRequest(b []byte) (cmd byte, data []byte, err error) {
	if len(b) < 2 {
		return 0, nil, fmt.Errorf("nht: request of %d bytes: %w", len(b), drivers.ErrFrame)
	}
	if len(b) != RequestLen(b[0]) {
		return 0, nil, fmt.Errorf("nht: request %#02x of %d bytes, want %d: %w", b[0], len(b), RequestLen(b[0]), drivers.ErrFrame)
	}
	last := len(b) - 1
	if want := Checksum(b[:last]); b[last] != want {
		return 0, nil, fmt.Errorf("nht: request %w: got %#02x, want %#02x", drivers.ErrChecksum, b[last], want)
	}
	return b[0], b[1:last], nil
}

// EncodeReply builds CMD [data] CS.
func EncodeReply(cmd byte, data ...byte) []byte { return Request(cmd, data...) }

// EncodeNAK builds the refusal 15 code.
func EncodeNAK(code byte) []byte { return []byte{NAK, code} }

// DecodeReply checks a whole reply of length n to cmd and returns its data (a sub-slice
// of b). A NAK gives drivers.ErrNAK, a wrong echo or length drivers.ErrFrame, a bad sum
// drivers.ErrChecksum. It never panics.
func DecodeReply(b []byte, cmd byte, n int) ([]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("nht: cmd %#02x: empty reply: %w", cmd, drivers.ErrFrame)
	}
	if b[0] == NAK && cmd != NAK {
		if len(b) > 1 {
			return nil, fmt.Errorf("nht: cmd %#02x: error code %#02x: %w", cmd, b[1], drivers.ErrNAK)
		}
		return nil, fmt.Errorf("nht: cmd %#02x: %w", cmd, drivers.ErrNAK)
	}
	if b[0] != cmd {
		return nil, fmt.Errorf("nht: cmd %#02x: reply starts with %#02x: %w", cmd, b[0], drivers.ErrFrame)
	}
	if len(b) != n {
		return nil, fmt.Errorf("nht: cmd %#02x: %d bytes, want %d: %w", cmd, len(b), n, drivers.ErrFrame)
	}
	last := n - 1
	if want := Checksum(b[:last]); b[last] != want {
		return nil, fmt.Errorf("nht: cmd %#02x: %w: got %#02x, want %#02x", cmd, drivers.ErrChecksum, b[last], want)
	}
	return b[1:last], nil
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

func putU16(b []byte, off int, v float64) {
	var w uint16
	switch {
	case math.IsNaN(v) || v <= 0:
	case v >= math.MaxUint16:
		w = math.MaxUint16
	default:
		w = uint16(math.Round(v))
	}
	binary.BigEndian.PutUint16(b[off:], w)
}

// Realtime is the real-time reply (A5).
type Realtime struct {
	N        float64 // opacity, % (0.1)
	K        float64 // light absorption coefficient, m⁻¹ (0.01)
	RPM      float64 // r/min
	OilTempC float64 // °C; meaningless when !OilOK
	OilOK    bool    // an oil-temperature probe is connected (word ≠ 0xFFFF)
}

// oilOffset is what the oil word carries besides °C: 273 with Kelvin firmware.
func oilOffset(kelvin bool) float64 {
	if kelvin {
		return 273
	}
	return 0
}

// DecodeRealtime decodes the RealtimeLen-byte reply A5 Nhi Nlo Khi Klo RPMhi RPMlo OILhi
// OILlo CS. With kelvin the oil word is in whole kelvin (every source's reading); else
// whole °C (see Opts.OilCelsius).
func DecodeRealtime(b []byte, kelvin bool) (Realtime, error) {
	d, err := DecodeReply(b, CmdRealtime, RealtimeLen)
	if err != nil {
		return Realtime{}, err
	}
	r := Realtime{
		N:   s16(d, 0) / 10,
		K:   s16(d, 2) / 100,
		RPM: float64(binary.BigEndian.Uint16(d[4:])),
	}
	if w := binary.BigEndian.Uint16(d[6:]); w != OilNone {
		r.OilOK = true
		r.OilTempC = float64(w) - oilOffset(kelvin)
	}
	return r, nil
}

// EncodeRealtime builds the reply DecodeRealtime reads.
func EncodeRealtime(r Realtime, kelvin bool) []byte {
	d := make([]byte, RealtimeLen-2)
	putS16(d, 0, r.N*10)
	putS16(d, 2, r.K*100)
	putU16(d, 4, r.RPM)
	if r.OilOK {
		v := math.Min(r.OilTempC+oilOffset(kelvin), float64(OilNone-1))
		putU16(d, 6, v)
	} else {
		binary.BigEndian.PutUint16(d[6:], OilNone)
	}
	return EncodeReply(CmdRealtime, d...)
}

// Max is the max-hold reply (A6).
type Max struct {
	N, K, RPM float64
}

// DecodeMax decodes the MaxLen-byte reply A6 N K RPM CS.
func DecodeMax(b []byte) (Max, error) {
	d, err := DecodeReply(b, CmdMax, MaxLen)
	if err != nil {
		return Max{}, err
	}
	return Max{N: s16(d, 0) / 10, K: s16(d, 2) / 100, RPM: float64(binary.BigEndian.Uint16(d[4:]))}, nil
}

// EncodeMax builds the reply DecodeMax reads.
func EncodeMax(m Max) []byte {
	d := make([]byte, MaxLen-2)
	putS16(d, 0, m.N*10)
	putS16(d, 2, m.K*100)
	putU16(d, 4, m.RPM)
	return EncodeReply(CmdMax, d...)
}

// Results is the NHT-6 manual-test reply (B1): the three accelerations of the last test.
type Results struct {
	K      [3]float64 // K1, K2, K3 in the order measured, m⁻¹
	KAvg   float64    // their average, m⁻¹
	LowRPM float64    // low-idle speed, r/min
}

// DecodeResults decodes the ResultsLen-byte reply B1 K1 K2 K3 Kavg RPM CS.
func DecodeResults(b []byte) (Results, error) {
	d, err := DecodeReply(b, CmdTestResults, ResultsLen)
	if err != nil {
		return Results{}, err
	}
	return Results{
		K:      [3]float64{s16(d, 0) / 100, s16(d, 2) / 100, s16(d, 4) / 100},
		KAvg:   s16(d, 6) / 100,
		LowRPM: s16(d, 8),
	}, nil
}

// EncodeResults builds the reply DecodeResults reads.
func EncodeResults(r Results) []byte {
	d := make([]byte, ResultsLen-2)
	for i, k := range r.K {
		putS16(d, 2*i, k*100)
	}
	putS16(d, 6, r.KAvg*100)
	putS16(d, 8, r.LowRPM)
	return EncodeReply(CmdTestResults, d...)
}

// DecodeStatus decodes the StatusLen-byte reply cmd code CS of CmdGetStatus or CmdStatus1L.
func DecodeStatus(b []byte, cmd byte) (byte, error) {
	d, err := DecodeReply(b, cmd, StatusLen)
	if err != nil {
		return 0, err
	}
	return d[0], nil
}

// DecodeAlarm decodes the AlarmLen-byte reply A3 hi lo CS (16 alarm bits).
func DecodeAlarm(b []byte) (uint16, error) {
	d, err := DecodeReply(b, CmdAlarm, AlarmLen)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(d), nil
}

// DecodeAck checks the AckLen-byte reply CMD CS of a simple command.
func DecodeAck(b []byte, cmd byte) error {
	_, err := DecodeReply(b, cmd, AckLen)
	return err
}
