package fasm

import (
	"encoding/binary"
	"fmt"
	"math"

	"imagent/drivers"
)

// Frame bytes.
const (
	ReqHead     byte = 0x5A // both first bytes of a request
	RepHead     byte = 0xA5 // both first bytes of an answer
	DefaultAddr byte = 0x01 // the address the lane code uses
	HeaderLen        = 7    // head, head, addr, cmd, len lo, len hi, cs
	// MaxData bounds LEN: no known frame comes near it, and a garbage length must not make
	// the driver wait for kilobytes.
	MaxData = 512
)

// Commands (domain.md §1.2.4; luckyzjian/VMAS Exhaust/Fla502.cs).
const (
	CmdData        byte = 0x02 // measured data, DataLen-byte answer
	CmdPEF         byte = 0x03 // PEF, float32 in the answer
	CmdTestSignal  byte = 0x04 // test signal (layout unknown)
	CmdStatus      byte = 0x05 // status (layout unknown)
	CmdWriteCal    byte = 0x07 // write the calibration gas (EncodeCalData)
	CmdStopPump    byte = 0x0A
	CmdPumpProbe   byte = 0x0B
	CmdPumpAir     byte = 0x0C
	CmdPumpZeroGas byte = 0x0D
	CmdPumpCheck   byte = 0x0E // check gas
	CmdPumpSpan    byte = 0x0F // span gas
	CmdBackflush   byte = 0x10 // data FF (meaning unknown, as the lane code sends it)
	CmdLeakPump    byte = 0x11 // leak-check pump
	CmdZeroGas     byte = 0x12 // set the zero gas: data 00 ambient air, 01 zero gas
	CmdVehicle     byte = 0x13 // vehicle information (layout unknown)
	CmdZero        byte = 0x15 // zero; ends with RespSuccess/RespFail
	CmdLeakCheck   byte = 0x17 // leak check; ends with RespSuccess/RespFail
	RespCantAnswer byte = 0x19 // the analyzer cannot execute the command now
	RespSuccess    byte = 0x1A // a zero or leak check succeeded
	RespFail       byte = 0x1B // a zero or leak check failed (leak check: a leak)
)

// Checksum is the two's complement of the 8-bit sum of b.
func Checksum(b []byte) byte { return drivers.Neg8(b) }

// EncodeFrame builds a frame with header byte head (ReqHead or RepHead). With data, LEN
// is len(data)+1 and the data and their checksum follow the header. It returns nil if data
// is longer than MaxData-1.
func EncodeFrame(head, addr, cmd byte, data []byte) []byte {
	if len(data) >= MaxData {
		return nil
	}
	n := 0
	if len(data) > 0 {
		n = len(data) + 1
	}
	b := make([]byte, HeaderLen, HeaderLen+n)
	b[0], b[1], b[2], b[3] = head, head, addr, cmd
	binary.LittleEndian.PutUint16(b[4:], uint16(n))
	b[6] = Checksum(b[2:6])
	if n > 0 {
		b = append(b, data...)
		b = append(b, Checksum(data))
	}
	return b
}

// Header is a decoded frame header.
type Header struct {
	Addr, Cmd byte
	Len       int // bytes that follow the header (data and data checksum)
}

// DecodeHeader checks the HeaderLen bytes of a header with head bytes head.
func DecodeHeader(b []byte, head byte) (Header, error) {
	switch {
	case len(b) != HeaderLen:
		return Header{}, fmt.Errorf("fasm: header of %d bytes: %w", len(b), drivers.ErrFrame)
	case b[0] != head || b[1] != head:
		return Header{}, fmt.Errorf("fasm: header % x, want %02x %02x: %w", b[:2], head, head, drivers.ErrFrame)
	}
	if want := Checksum(b[2:6]); b[6] != want {
		return Header{}, fmt.Errorf("fasm: header %w: got %#02x, want %#02x", drivers.ErrChecksum, b[6], want)
	}
	n := int(binary.LittleEndian.Uint16(b[4:]))
	if n == 1 || n > MaxData {
		return Header{}, fmt.Errorf("fasm: length %d: %w", n, drivers.ErrFrame)
	}
	return Header{Addr: b[2], Cmd: b[3], Len: n}, nil
}

// Frame is a decoded frame; Data aliases the input and excludes the data checksum.
type Frame struct {
	Header
	Data []byte
}

// DecodeFrame checks a whole frame: header, length and both checksums. It never panics
// and does not allocate on success.
func DecodeFrame(b []byte, head byte) (Frame, error) {
	if len(b) < HeaderLen {
		return Frame{}, fmt.Errorf("fasm: frame of %d bytes: %w", len(b), drivers.ErrFrame)
	}
	h, err := DecodeHeader(b[:HeaderLen], head)
	if err != nil {
		return Frame{}, err
	}
	if len(b) != HeaderLen+h.Len {
		return Frame{}, fmt.Errorf("fasm: frame of %d bytes, header says %d: %w", len(b), HeaderLen+h.Len, drivers.ErrFrame)
	}
	f := Frame{Header: h}
	if h.Len > 0 {
		data := b[HeaderLen : len(b)-1]
		if want := Checksum(data); b[len(b)-1] != want {
			return Frame{}, fmt.Errorf("fasm: data %w: got %#02x, want %#02x", drivers.ErrChecksum, b[len(b)-1], want)
		}
		f.Data = data
	}
	return f, nil
}

// DataLen is the length of the answer to CmdData: header, 12 words, checksum.
const DataLen = HeaderLen + 24 + 1

// Data is the answer to CmdData.
type Data struct {
	HC, CO, CO2, O2, NO float64 // ppm, %, %, %, ppm
	Lambda              float64
	RPM                 float64 // r/min
	OilTemp             float64 // °C
	Flow                float64 // sample flow, raw word (unit unknown)
	PressureKPa         float64 // ambient pressure, kPa
	TempC               float64 // ambient temperature, °C
	RHpct               float64 // ambient relative humidity, %
}

// dataScale divides each little-endian signed word; 0 marks the unsigned rpm.
var dataScale = [12]float64{1, 100, 100, 100, 1, 100, 0, 10, 1, 10, 10, 10}

// DecodeData decodes the DataLen-byte answer to CmdData.
func DecodeData(b []byte) (Data, error) {
	f, err := DecodeFrame(b, RepHead)
	if err != nil {
		return Data{}, fmt.Errorf("%w (data)", err)
	}
	if f.Cmd != CmdData || len(b) != DataLen {
		return Data{}, fmt.Errorf("fasm: data: command %#02x, %d bytes: %w", f.Cmd, len(b), drivers.ErrFrame)
	}
	var v [12]float64
	for i, sc := range dataScale {
		w := binary.LittleEndian.Uint16(f.Data[2*i:])
		if sc == 0 {
			v[i] = float64(w)
		} else {
			v[i] = float64(int16(w)) / sc
		}
	}
	return Data{HC: v[0], CO: v[1], CO2: v[2], O2: v[3], NO: v[4], Lambda: v[5], RPM: v[6], OilTemp: v[7], Flow: v[8],
		PressureKPa: v[9], TempC: v[10], RHpct: v[11]}, nil
}

// EncodeData builds the answer DecodeData reads (rounded, saturated) from address addr.
func EncodeData(addr byte, x Data) []byte {
	data := make([]byte, 24)
	for i, v := range []float64{x.HC, x.CO, x.CO2, x.O2, x.NO, x.Lambda, x.RPM, x.OilTemp, x.Flow, x.PressureKPa, x.TempC, x.RHpct} {
		if dataScale[i] == 0 {
			binary.LittleEndian.PutUint16(data[2*i:], toU16(v))
		} else {
			binary.LittleEndian.PutUint16(data[2*i:], uint16(toS16(v*dataScale[i])))
		}
	}
	return EncodeFrame(RepHead, addr, CmdData, data)
}

// DecodePEF decodes the answer to CmdPEF: the PEF is a little-endian float32 at the start
// of the data. The lane code checks the answer's command byte against 0x04, not 0x03;
// both are accepted. A PEF that is not a number between 0 and 10 is drivers.ErrFrame.
func DecodePEF(b []byte) (float64, error) {
	f, err := DecodeFrame(b, RepHead)
	if err != nil {
		return 0, fmt.Errorf("%w (PEF)", err)
	}
	if f.Cmd != CmdPEF && f.Cmd != CmdTestSignal || len(f.Data) < 4 {
		return 0, fmt.Errorf("fasm: PEF: command %#02x, %d data bytes: %w", f.Cmd, len(f.Data), drivers.ErrFrame)
	}
	p := float64(math.Float32frombits(binary.LittleEndian.Uint32(f.Data)))
	if !(p > 0 && p < 10) {
		return 0, fmt.Errorf("fasm: PEF %v out of range: %w", p, drivers.ErrFrame)
	}
	return p, nil
}

// EncodePEF builds an answer DecodePEF reads (command CmdPEF, 4 data bytes).
func EncodePEF(addr byte, pef float64) []byte {
	data := make([]byte, 4)
	binary.LittleEndian.PutUint32(data, math.Float32bits(float32(pef)))
	return EncodeFrame(RepHead, addr, CmdPEF, data)
}

// CalDataLen is the number of data bytes of CmdWriteCal (without the data checksum).
const CalDataLen = 8

// EncodeCalData builds the data of CmdWriteCal: C3H8 ppm, CO %×100, CO2 %×100 and NO
// ppm×noScale as little-endian words (the lane code sends NO ×100). O2 is not sent.
func EncodeCalData(g drivers.CalGas, noScale float64) ([]byte, error) {
	data := make([]byte, CalDataLen)
	for i, f := range []struct {
		what  string
		v, sc float64
	}{{"C3H8", g.C3H8ppm, 1}, {"CO", g.COpct, 100}, {"CO2", g.CO2pct, 100}, {"NO", g.NOppm, noScale}} {
		r := math.Round(f.v * f.sc)
		if math.IsNaN(r) || r < 0 || r > math.MaxUint16 {
			return nil, fmt.Errorf("fasm: calibration %s %v does not fit the frame (0..%v): %w", f.what, f.v, math.MaxUint16/f.sc, drivers.ErrFrame)
		}
		binary.LittleEndian.PutUint16(data[2*i:], uint16(r))
	}
	return data, nil
}

// DecodeCalData is the analyzer's side of EncodeCalData (used by the simulator).
func DecodeCalData(data []byte, noScale float64) (drivers.CalGas, error) {
	if len(data) != CalDataLen {
		return drivers.CalGas{}, fmt.Errorf("fasm: calibration data of %d bytes: %w", len(data), drivers.ErrFrame)
	}
	w := func(i int) float64 { return float64(binary.LittleEndian.Uint16(data[2*i:])) }
	return drivers.CalGas{C3H8ppm: w(0), COpct: w(1) / 100, CO2pct: w(2) / 100, NOppm: w(3) / noScale}, nil
}

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
