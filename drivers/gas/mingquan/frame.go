package mingquan

import (
	"encoding/binary"
	"fmt"
	"math"

	"imagent/drivers"
)

// Frame header bytes.
const (
	STX byte = 0x02 // first byte of a request
	ACK byte = 0x06 // first byte of an answer
	NAK byte = 0x15 // the whole answer to a refused frame (bad length or checksum, unknown command)
)

// Commands of the MQW-50A (domain.md §1.2.3); the MQW-50B adds CmdPEF and CmdDataB.
const (
	CmdData           byte = 0x60 // measured data, DataLen-byte answer
	CmdStatus         byte = 0x61 // status, StatusLen-byte answer
	CmdBackgroundAir  byte = 0x62 // measure background air
	CmdAmbientAir     byte = 0x63 // measure ambient air
	CmdHCResidual     byte = 0x64 // measure HC residual
	CmdAutoBackflush  byte = 0x65 // back-flush, ends by itself
	CmdLeakCheck      byte = 0x66 // leak check
	CmdZero           byte = 0x67 // zero
	CmdZeroGas        byte = 0x68 // set the zero gas: data 00 ambient air, 01 zero gas (N2)
	CmdCalibrate      byte = 0x69 // write the calibration gas and calibrate (EncodeCalibrate)
	CmdLockKeys       byte = 0x6A // lock the keypad
	CmdUnlockKeys     byte = 0x6B // unlock the keypad
	CmdFuel           byte = 0x6C // set the fuel: data 00 gasoline, 01 LPG, 02 NG
	CmdIgnition       byte = 0x6D // set the ignition count
	CmdStrokes        byte = 0x6E // set the engine strokes
	CmdBackgroundData byte = 0x6F // background-air data
	CmdAmbientData    byte = 0x70 // ambient-air data
	CmdHCResidualData byte = 0x71 // HC-residual data
	CmdAutoZero       byte = 0x76 // auto-zero on (00) / off (01)
	CmdDefaults       byte = 0x77 // factory defaults
	CmdStopAction     byte = 0x78 // stop the current action (pump off)
	CmdStartTest      byte = 0x79 // start test
	CmdStopTest       byte = 0x7A // stop test
	CmdPumpProbe      byte = 0x7B // pump from the probe (pump on)
	CmdPumpAir        byte = 0x7C // pump ambient air
	CmdPumpN2         byte = 0x7D // flow zero gas
	CmdSpanGasValve   byte = 0x7E // open the span (calibration) gas valve
	CmdCheckGasValve  byte = 0x7F // open the check gas valve
	CmdBackflush      byte = 0x80 // back-flush until stopped
	CmdLCDOn          byte = 0x88
	CmdLCDOff         byte = 0x89
	CmdPEF            byte = 0x8C // MQW-50B: get PEF (answer layout unknown; not used)
	CmdDataB          byte = 0xA3 // MQW-50B: measured data with PEF, DataBLen-byte answer
)

// Answer lengths (whole frames).
const (
	AckLen    = 4   // 06 CMD 03 CS
	DataLen   = 28  // 06 60 1B, 12 words, CS
	DataBLen  = 24  // 06 A3 17, 10 words, CS
	StatusLen = 11  // 06 61 0A, 7 bytes, CS
	maxLen    = 255 // largest LEN: a frame of 256 bytes
)

// Checksum is the two's complement of the 8-bit sum of b ("CS2c").
func Checksum(b []byte) byte { return drivers.Neg8(b) }

// EncodeFrame builds `head CMD LEN data CS` with LEN = 3+len(data). head is STX for a
// request, ACK for an answer. It returns nil if data is too long for LEN (over 252 bytes).
func EncodeFrame(head, cmd byte, data []byte) []byte {
	if len(data) > maxLen-3 {
		return nil
	}
	b := make([]byte, 0, len(data)+4)
	b = append(b, head, cmd, byte(3+len(data)))
	b = append(b, data...)
	return append(b, Checksum(b))
}

// Frame is a decoded frame; Data aliases the input.
type Frame struct {
	Cmd  byte
	Data []byte
}

// DecodeFrame checks a whole frame: header head, LEN = len(b)-1, and the checksum. A
// single NAK byte is drivers.ErrNAK. It never panics and does not allocate on success.
func DecodeFrame(b []byte, head byte) (Frame, error) {
	switch {
	case len(b) == 1 && b[0] == NAK:
		return Frame{}, fmt.Errorf("mingquan: %w", drivers.ErrNAK)
	case len(b) < 4:
		return Frame{}, fmt.Errorf("mingquan: frame of %d bytes: %w", len(b), drivers.ErrFrame)
	case b[0] != head:
		return Frame{}, fmt.Errorf("mingquan: first byte %#02x, want %#02x: %w", b[0], head, drivers.ErrFrame)
	case int(b[2]) != len(b)-1:
		return Frame{}, fmt.Errorf("mingquan: length byte %d in a frame of %d bytes: %w", b[2], len(b), drivers.ErrFrame)
	}
	if want := Checksum(b[:len(b)-1]); b[len(b)-1] != want {
		return Frame{}, fmt.Errorf("mingquan: %w: got %#02x, want %#02x", drivers.ErrChecksum, b[len(b)-1], want)
	}
	return Frame{Cmd: b[1], Data: b[3 : len(b)-1]}, nil
}

// decodeAnswer decodes an answer to cmd of exactly n bytes.
func decodeAnswer(b []byte, cmd byte, n int, what string) (Frame, error) {
	f, err := DecodeFrame(b, ACK)
	if err != nil {
		return Frame{}, fmt.Errorf("%w (%s)", err, what)
	}
	if f.Cmd != cmd {
		return Frame{}, fmt.Errorf("mingquan: %s: answer to command %#02x, want %#02x: %w", what, f.Cmd, cmd, drivers.ErrFrame)
	}
	if len(b) != n {
		return Frame{}, fmt.Errorf("mingquan: %s: %d bytes, want %d: %w", what, len(b), n, drivers.ErrFrame)
	}
	return f, nil
}

// Data is the answer to CmdData in engineering units.
type Data struct {
	CO2, CO     float64 // % vol
	HC, NO      float64 // ppm
	O2          float64 // % vol
	RH          float64 // ambient relative humidity, %
	OilTemp     float64 // °C
	AmbientTemp float64 // °C
	RPM         float64 // r/min
	PipeKPa     float64 // sample-line pressure, kPa
	Lambda      float64 // excess-air coefficient (sent ×1000)
	PressureKPa float64 // barometric pressure, kPa
}

// dataScale is the divisor of each word of Data, in wire order; 0 marks the unsigned rpm.
var dataScale = [12]float64{100, 100, 1, 1, 100, 10, 10, 10, 0, 10, 1000, 10}

// words decodes n big-endian words of data with scale (0: unsigned, else signed / scale).
func words(data []byte, scale []float64, out []float64) {
	for i, sc := range scale {
		w := binary.BigEndian.Uint16(data[2*i:])
		if sc == 0 {
			out[i] = float64(w)
		} else {
			out[i] = float64(int16(w)) / sc
		}
	}
}

// putWords is the inverse of words (rounded, saturated).
func putWords(data []byte, scale []float64, in []float64) {
	for i, sc := range scale {
		if sc == 0 {
			binary.BigEndian.PutUint16(data[2*i:], toU16(in[i]))
		} else {
			binary.BigEndian.PutUint16(data[2*i:], uint16(toS16(in[i]*sc)))
		}
	}
}

// DecodeData decodes the DataLen-byte answer to CmdData. Words are big-endian and signed
// except rpm.
func DecodeData(b []byte) (Data, error) {
	f, err := decodeAnswer(b, CmdData, DataLen, "data")
	if err != nil {
		return Data{}, err
	}
	var v [12]float64
	words(f.Data, dataScale[:], v[:])
	return Data{CO2: v[0], CO: v[1], HC: v[2], NO: v[3], O2: v[4], RH: v[5], OilTemp: v[6], AmbientTemp: v[7],
		RPM: v[8], PipeKPa: v[9], Lambda: v[10], PressureKPa: v[11]}, nil
}

// EncodeData builds the answer DecodeData reads (rounded, saturated).
func EncodeData(x Data) []byte {
	data := make([]byte, 24)
	putWords(data, dataScale[:], []float64{x.CO2, x.CO, x.HC, x.NO, x.O2, x.RH, x.OilTemp, x.AmbientTemp, x.RPM,
		x.PipeKPa, x.Lambda, x.PressureKPa})
	return EncodeFrame(ACK, CmdData, data)
}

// DataB is the MQW-50B answer to CmdDataB.
type DataB struct {
	CO2, CO, HC, NO, O2 float64
	OilTemp, RPM        float64
	PipeKPa, Lambda     float64
	PEF                 float64
}

var dataBScale = [10]float64{100, 100, 1, 1, 100, 10, 0, 10, 1000, 1000}

// DecodeDataB decodes the DataBLen-byte answer to CmdDataB.
func DecodeDataB(b []byte) (DataB, error) {
	f, err := decodeAnswer(b, CmdDataB, DataBLen, "data B")
	if err != nil {
		return DataB{}, err
	}
	var v [10]float64
	words(f.Data, dataBScale[:], v[:])
	return DataB{CO2: v[0], CO: v[1], HC: v[2], NO: v[3], O2: v[4], OilTemp: v[5], RPM: v[6], PipeKPa: v[7],
		Lambda: v[8], PEF: v[9]}, nil
}

// EncodeDataB builds the answer DecodeDataB reads.
func EncodeDataB(x DataB) []byte {
	data := make([]byte, 20)
	putWords(data, dataBScale[:], []float64{x.CO2, x.CO, x.HC, x.NO, x.O2, x.OilTemp, x.RPM, x.PipeKPa, x.Lambda, x.PEF})
	return EncodeFrame(ACK, CmdDataB, data)
}

// Status flag bits, byte by byte (luckyzjian/VMAS Exhaust/MQW_50A.cs Get_Struct).
const (
	// State (byte 3).
	StateWarmup     byte = 0x01
	StateBackflush  byte = 0x02
	StateBackground byte = 0x04 // measuring background air
	StateAmbient    byte = 0x08 // measuring ambient air
	StateLeakCheck  byte = 0x10
	StateHCResidual byte = 0x20
	StateZeroing    byte = 0x40
	StateLowFlow    byte = 0x80
	// Action (byte 4).
	ActionBusy    byte = 0x80 // the system is performing an action
	ActionPumpOn  byte = 0x40
	ActionCalRH   byte = 0x20
	ActionCalTemp byte = 0x10
	ActionCalOil  byte = 0x08
	ActionCalAP   byte = 0x04
	// Errors (byte 5): results of the last operations.
	ErrLeak       byte = 0x01 // leak over the limit
	ErrHCResidual byte = 0x02 // HC residual over the limit
	ErrZero       byte = 0x04 // zero failed
	ErrCalTemp    byte = 0x08
	ErrCalRH      byte = 0x10
	ErrCalPipe    byte = 0x20
	ErrCalAP      byte = 0x40
	ErrCalOil     byte = 0x80
	// Gas channels (bytes 6 and 7, and the calibration mask).
	ChanCO2 byte = 0x01
	ChanCO  byte = 0x02
	ChanHC  byte = 0x04
	ChanNO  byte = 0x08
	ChanO2  byte = 0x10
)

// Status is the answer to CmdStatus.
type Status struct {
	State       byte    // byte 3: StateWarmup...
	Action      byte    // byte 4: ActionBusy...
	Errors      byte    // byte 5: ErrLeak...
	Calibrating byte    // byte 6: gas channels being calibrated
	CalFailed   byte    // byte 7: gas channels whose calibration failed
	Extra       [2]byte // bytes 8, 9: meaning unknown
}

// DecodeStatus decodes the StatusLen-byte answer to CmdStatus.
func DecodeStatus(b []byte) (Status, error) {
	f, err := decodeAnswer(b, CmdStatus, StatusLen, "status")
	if err != nil {
		return Status{}, err
	}
	return Status{State: f.Data[0], Action: f.Data[1], Errors: f.Data[2], Calibrating: f.Data[3], CalFailed: f.Data[4],
		Extra: [2]byte{f.Data[5], f.Data[6]}}, nil
}

// EncodeStatus builds the answer DecodeStatus reads.
func EncodeStatus(s Status) []byte {
	return EncodeFrame(ACK, CmdStatus, []byte{s.State, s.Action, s.Errors, s.Calibrating, s.CalFailed, s.Extra[0], s.Extra[1]})
}

// Busy reports whether the analyzer is performing an action (zero, leak check, HC
// residual, calibration, warm-up...).
func (s Status) Busy() bool { return s.Action&ActionBusy != 0 }

// Drivers maps s to drivers.Status: warm-up, zeroing, leak check and low flow have their
// own bits; back-flush, background/ambient-air and HC-residual measurements, gas
// calibration and any other action the busy flag reports are drivers.Busy.
func (s Status) Drivers() drivers.Status {
	var st drivers.Status
	if s.State&StateWarmup != 0 {
		st |= drivers.Warmup
	}
	if s.State&StateZeroing != 0 {
		st |= drivers.Zeroing
	}
	if s.State&StateLeakCheck != 0 {
		st |= drivers.LeakCheck
	}
	if s.State&StateLowFlow != 0 {
		st |= drivers.LowFlow
	}
	if s.State&(StateBackflush|StateBackground|StateAmbient|StateHCResidual) != 0 || s.Calibrating != 0 ||
		s.Busy() && s.State&(StateWarmup|StateZeroing|StateLeakCheck) == 0 {
		st |= drivers.Busy
	}
	return st
}

// ChannelNames lists the gas channels set in mask.
func ChannelNames(mask byte) []string {
	var out []string
	for i, n := range []string{"CO2", "CO", "HC", "NO", "O2"} {
		if mask&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// CalFrameLen is the length of the calibration request.
const CalFrameLen = 15

// EncodeCalibrate builds the calibration request: 02 69 0E MASK, then CO2 %×100, CO %×100,
// C3H8 ppm×scaleHCNO, NO ppm×scaleHCNO and O2 %×100 as little-endian words, then CS. MASK
// has the channel bit of every value above 0. Values the words cannot carry are refused.
func EncodeCalibrate(g drivers.CalGas, scaleHCNO float64) ([]byte, error) {
	data := make([]byte, 11)
	for i, f := range []struct {
		what  string
		v, sc float64
		ch    byte
	}{{"CO2", g.CO2pct, 100, ChanCO2}, {"CO", g.COpct, 100, ChanCO}, {"C3H8", g.C3H8ppm, scaleHCNO, ChanHC},
		{"NO", g.NOppm, scaleHCNO, ChanNO}, {"O2", g.O2pct, 100, ChanO2}} {
		r := math.Round(f.v * f.sc)
		if math.IsNaN(r) || r < 0 || r > math.MaxUint16 {
			return nil, fmt.Errorf("mingquan: calibration %s %v does not fit the frame (0..%v): %w", f.what, f.v, math.MaxUint16/f.sc, drivers.ErrFrame)
		}
		if r > 0 {
			data[0] |= f.ch
		}
		binary.LittleEndian.PutUint16(data[1+2*i:], uint16(r))
	}
	return EncodeFrame(STX, CmdCalibrate, data), nil
}

// DecodeCalibrate is the analyzer's side of EncodeCalibrate (used by the simulator).
func DecodeCalibrate(b []byte, scaleHCNO float64) (mask byte, g drivers.CalGas, err error) {
	f, err := DecodeFrame(b, STX)
	if err != nil {
		return 0, g, err
	}
	if f.Cmd != CmdCalibrate || len(b) != CalFrameLen {
		return 0, g, fmt.Errorf("mingquan: calibration: command %#02x, %d bytes: %w", f.Cmd, len(b), drivers.ErrFrame)
	}
	w := func(i int) float64 { return float64(binary.LittleEndian.Uint16(f.Data[1+2*i:])) }
	return f.Data[0], drivers.CalGas{CO2pct: w(0) / 100, COpct: w(1) / 100, C3H8ppm: w(2) / scaleHCNO, NOppm: w(3) / scaleHCNO, O2pct: w(4) / 100}, nil
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
