package nt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"imagent/drivers"
)

// Bytes with a fixed meaning on the wire.
const (
	Start0 byte = 'N' // every frame starts "NT"
	Start1 byte = 'T'

	KindRequest byte = 'S' // host request
	KindOK      byte = 'A' // good reply
	KindError   byte = 'E' // error reply with a 2-byte code
)

// Frame lengths.
const (
	HeaderLen = 6   // 'N' 'T' a1 a2 kind LEN
	MinLen    = 9   // LEN 3: LEN, CMDhi, CMDlo; then CS
	MaxLen    = 261 // LEN 255
)

// Commands.
const (
	CmdVMTRPM      uint16 = 0x0180 // VMT-2000/VUT-3000: read rpm
	CmdVMTMode     uint16 = 0x0103 // VMT-2000/VUT-3000: set work mode (1 byte)
	CmdFTH2Read    uint16 = 0x0101 // FTH-2: read temperature, humidity, pressure
	CmdFMP1Read    uint16 = 0x0132 // FMP-1: read status and data
	CmdFMP1Cal     uint16 = 0x0134 // FMP-1: span oil temperature and/or pressure
	VMTModeFailure byte   = 0xFF   // CMDlo of a refused mode-set reply
)

// Error codes of 'E' replies (FMP-1 manual).
const (
	CodeBadCommand  uint16 = 0x00F0
	CodeChecksum    uint16 = 0x00F1
	CodeBadStart    uint16 = 0x00F3
	CodeTimeout     uint16 = 0x00F4
	CodeUnspecified uint16 = 0x0000
)

// DeviceError is an 'E' reply. It wraps drivers.ErrNAK.
type DeviceError uint16

func (e DeviceError) Error() string {
	switch uint16(e) {
	case CodeBadCommand:
		return "device error 00F0: bad command"
	case CodeChecksum:
		return "device error 00F1: checksum"
	case CodeBadStart:
		return "device error 00F3: bad start byte"
	case CodeTimeout:
		return "device error 00F4: timeout"
	}
	return fmt.Sprintf("device error %04X", uint16(e))
}

// Unwrap makes errors.Is(err, drivers.ErrNAK) true.
func (e DeviceError) Unwrap() error { return drivers.ErrNAK }

// Frame is one frame of the family: 'N' 'T' a1 a2 kind LEN CMDhi CMDlo data… CS.
type Frame struct {
	Addr [2]byte
	Kind byte   // KindRequest, KindOK or KindError
	Cmd  uint16 // CMDhi CMDlo
	Data []byte // parameters or payload after the command; aliases the decoded bytes
}

// Checksum is the family's checksum over b (LEN through the byte before CS): the one's
// complement of the 8-bit sum.
func Checksum(b []byte) byte { return drivers.Not8(b) }

// Encode builds the frame; LEN counts LEN, the command and the data. It returns nil when
// the data is too long for LEN.
func Encode(f Frame) []byte {
	n := 3 + len(f.Data)
	if n > 255 {
		return nil
	}
	b := make([]byte, 0, HeaderLen+n)
	b = append(b, Start0, Start1, f.Addr[0], f.Addr[1], f.Kind, byte(n), byte(f.Cmd>>8), byte(f.Cmd))
	b = append(b, f.Data...)
	return append(b, Checksum(b[5:]))
}

// Decode checks and splits one complete frame. It never panics and does not allocate
// on success (Data aliases b). An 'E' frame decodes without error: see Frame.Err.
func Decode(b []byte) (Frame, error) {
	if len(b) < MinLen {
		return Frame{}, fmt.Errorf("nt: frame: %d bytes, want at least %d: %w", len(b), MinLen, drivers.ErrFrame)
	}
	if b[0] != Start0 || b[1] != Start1 {
		return Frame{}, fmt.Errorf("nt: frame: starts % x, want 4e 54: %w", b[:2], drivers.ErrFrame)
	}
	switch b[4] {
	case KindRequest, KindOK, KindError:
	default:
		return Frame{}, fmt.Errorf("nt: frame: kind %#02x: %w", b[4], drivers.ErrFrame)
	}
	n := int(b[5])
	if n < 3 || len(b) != HeaderLen+n {
		return Frame{}, fmt.Errorf("nt: frame: LEN %d for %d bytes: %w", n, len(b), drivers.ErrFrame)
	}
	last := len(b) - 1
	if want := Checksum(b[5:last]); b[last] != want {
		return Frame{}, fmt.Errorf("nt: frame: %w: got %#02x, want %#02x", drivers.ErrChecksum, b[last], want)
	}
	return Frame{Addr: [2]byte{b[2], b[3]}, Kind: b[4], Cmd: binary.BigEndian.Uint16(b[6:]), Data: b[8:last]}, nil
}

// Err is the DeviceError of an 'E' frame (its last two data bytes, or the command
// bytes when there is no data), nil otherwise.
func (f Frame) Err() error {
	if f.Kind != KindError {
		return nil
	}
	if len(f.Data) >= 2 {
		return DeviceError(binary.BigEndian.Uint16(f.Data[len(f.Data)-2:]))
	}
	return DeviceError(f.Cmd)
}

func s16(b []byte, off int) float64 { return float64(int16(binary.BigEndian.Uint16(b[off:]))) }
func u16(b []byte, off int) uint16  { return binary.BigEndian.Uint16(b[off:]) }

// errPayload is returned for a good frame with the wrong command or too little data.
var errPayload = errors.New("unexpected payload")

func payload(f Frame, cmd uint16, n int) error {
	if f.Kind != KindOK {
		return fmt.Errorf("nt: %04x: kind %q, want 'A': %w", cmd, f.Kind, drivers.ErrFrame)
	}
	if f.Cmd != cmd || len(f.Data) < n {
		return fmt.Errorf("nt: %04x: command %04x with %d data bytes (want %d): %w: %w", cmd, f.Cmd, len(f.Data), n, errPayload, drivers.ErrFrame)
	}
	return nil
}

// VMTRPMDataLen is the payload of the rpm reply: rpm (s16) and two bytes of unknown use.
const VMTRPMDataLen = 4

// DecodeVMTRPM reads the rpm from the reply to CmdVMTRPM: the word after the command
// (bytes 8–9 of the frame), signed as the C# lane code reads it.
func DecodeVMTRPM(f Frame) (float64, error) {
	if err := payload(f, CmdVMTRPM, 2); err != nil {
		return 0, err
	}
	return s16(f.Data, 0), nil
}

// EncodeVMTRPM builds the rpm reply the simulator sends (13 bytes, as the lane code
// waits for), rounding and saturating rpm.
func EncodeVMTRPM(addr [2]byte, rpm float64) []byte {
	d := make([]byte, VMTRPMDataLen)
	binary.BigEndian.PutUint16(d, uint16(toS16(rpm)))
	return Encode(Frame{Addr: addr, Kind: KindOK, Cmd: CmdVMTRPM, Data: d})
}

// FMP1Data is the payload of the FMP-1 status-and-data reply (LEN 0x15).
type FMP1Data struct {
	ST01, ST02  byte
	RPM         float64 // r/min (s16)
	Freq        uint16  // vibration frequency word, unit not documented
	Reserved    [4]byte
	OilTempC    float64 // ×10, s16
	TempC       float64 // ×10, s16
	RHpct       float64 // ×10, u16
	PressureKPa float64 // ×10, u16
}

// FMP1DataLen is the payload length of the FMP-1 data reply.
const FMP1DataLen = 18

// FMP-1 ST01 bits.
const (
	FMP1Calibrating  byte = 1 << 0
	FMP1OilCalFailed byte = 1 << 1
	FMP1PresCalFail  byte = 1 << 3
)

// DecodeFMP1 reads the reply to CmdFMP1Read.
func DecodeFMP1(f Frame) (FMP1Data, error) {
	if err := payload(f, CmdFMP1Read, FMP1DataLen); err != nil {
		return FMP1Data{}, err
	}
	d := f.Data
	x := FMP1Data{
		ST01: d[0], ST02: d[1],
		RPM:         s16(d, 2),
		Freq:        u16(d, 4),
		OilTempC:    s16(d, 10) / 10,
		TempC:       s16(d, 12) / 10,
		RHpct:       float64(u16(d, 14)) / 10,
		PressureKPa: float64(u16(d, 16)) / 10,
	}
	copy(x.Reserved[:], d[6:10])
	return x, nil
}

// EncodeFMP1 builds the FMP-1 data reply (rounded, saturated).
func EncodeFMP1(addr [2]byte, x FMP1Data) []byte {
	d := make([]byte, FMP1DataLen)
	d[0], d[1] = x.ST01, x.ST02
	put := binary.BigEndian.PutUint16
	put(d[2:], uint16(toS16(x.RPM)))
	put(d[4:], x.Freq)
	copy(d[6:10], x.Reserved[:])
	put(d[10:], uint16(toS16(x.OilTempC*10)))
	put(d[12:], uint16(toS16(x.TempC*10)))
	put(d[14:], toU16(x.RHpct*10))
	put(d[16:], toU16(x.PressureKPa*10))
	return Encode(Frame{Addr: addr, Kind: KindOK, Cmd: CmdFMP1Read, Data: d})
}

// FMP1Status maps ST01 to drivers.Status: calibrating is Busy, a failed calibration of
// oil temperature or pressure is Fault.
func FMP1Status(st01 byte) drivers.Status {
	var s drivers.Status
	if st01&FMP1Calibrating != 0 {
		s |= drivers.Busy
	}
	if st01&(FMP1OilCalFailed|FMP1PresCalFail) != 0 {
		s |= drivers.Fault
	}
	return s
}

// FTH2Data is the payload of the FTH-2 weather reply (19-byte frame).
type FTH2Data struct {
	ST          [2]byte // bytes 8–9, meaning not documented
	TempC       float64 // bytes 10–11, ×10, read as s16
	RHpct       float64 // bytes 12–13, ×10
	PressureKPa float64 // bytes 14–15, ×10
	Tail        [2]byte // bytes 16–17, meaning not documented
}

// FTH2DataLen is the payload length of the FTH-2 reply.
const FTH2DataLen = 10

// DecodeFTH2 reads the reply to CmdFTH2Read.
func DecodeFTH2(f Frame) (FTH2Data, error) {
	if err := payload(f, CmdFTH2Read, FTH2DataLen); err != nil {
		return FTH2Data{}, err
	}
	d := f.Data
	return FTH2Data{
		ST:          [2]byte{d[0], d[1]},
		TempC:       s16(d, 2) / 10,
		RHpct:       float64(u16(d, 4)) / 10,
		PressureKPa: float64(u16(d, 6)) / 10,
		Tail:        [2]byte{d[8], d[9]},
	}, nil
}

// EncodeFTH2 builds the FTH-2 reply (rounded, saturated).
func EncodeFTH2(addr [2]byte, x FTH2Data) []byte {
	d := make([]byte, FTH2DataLen)
	d[0], d[1] = x.ST[0], x.ST[1]
	binary.BigEndian.PutUint16(d[2:], uint16(toS16(x.TempC*10)))
	binary.BigEndian.PutUint16(d[4:], toU16(x.RHpct*10))
	binary.BigEndian.PutUint16(d[6:], toU16(x.PressureKPa*10))
	d[8], d[9] = x.Tail[0], x.Tail[1]
	return Encode(Frame{Addr: addr, Kind: KindOK, Cmd: CmdFTH2Read, Data: d})
}

// Calibration masks of CmdFMP1Cal.
const (
	CalOilTemp  byte = 1 << 0
	CalPressure byte = 1 << 2
)

// FMP1CalData is the parameter block of CmdFMP1Cal: mask, pressure ×10, oil T ×10.
func FMP1CalData(mask byte, pressureKPa, oilTempC float64) []byte {
	d := make([]byte, 5)
	d[0] = mask
	binary.BigEndian.PutUint16(d[1:], toU16(pressureKPa*10))
	binary.BigEndian.PutUint16(d[3:], uint16(toS16(oilTempC*10)))
	return d
}

// toS16 rounds v to the nearest integer and saturates it to the int16 range (NaN → 0).
func toS16(v float64) int16 {
	switch r := math.Round(v); {
	case math.IsNaN(r):
		return 0
	case r > math.MaxInt16:
		return math.MaxInt16
	case r < math.MinInt16:
		return math.MinInt16
	default:
		return int16(r)
	}
}

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
