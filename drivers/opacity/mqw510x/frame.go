package mqw510x

import (
	"encoding/binary"
	"fmt"
	"math"

	"imagent/drivers"
)

// Bytes with a fixed meaning on the wire.
const (
	Start byte = 0x05 // first byte of every request
	ACK   byte = 0x06 // first byte of a good reply
	NAK   byte = 0x15 // first byte of a refusal
)

// Commands (luckyzjian/VMAS Exhaust/FLB_100.cs for the MQW-5101; domain.md §1.3.3 and an
// STM32 host firmware (MQW5102.c) for the MQW-5102).
const (
	CmdPumpSample      byte = 0x10 // pump sample from the probe
	CmdPumpAir         byte = 0x11 // pump ambient air
	CmdBackflush       byte = 0x12 // manual back-flow
	CmdSpanGas         byte = 0x13 // span gas
	CmdCheckGas        byte = 0x14 // check gas
	CmdZeroGas         byte = 0x15 // zero gas
	CmdStop            byte = 0x16 // stop (pump off)
	CmdAutoBackflush   byte = 0x17 // automatic back-flow
	CmdBackgroundAir   byte = 0x18 // background air measurement
	CmdAmbientAir      byte = 0x19 // ambient air measurement
	CmdLeakTest        byte = 0x1A // leak test
	CmdSkipWarmup      byte = 0x1F // leave warm-up (prepare)
	CmdZero            byte = 0x21 // MQW-5101: zero
	CmdCalNO           byte = 0x22 // MQW-5101: NO calibration, word = ppm
	CmdCalTemp         byte = 0x24 // MQW-5101: temperature calibration, word = 0.1 °C
	CmdCalRH           byte = 0x25 // MQW-5101: humidity calibration, word = 0.1 %
	CmdCalPressure     byte = 0x26 // MQW-5101: pressure calibration
	CmdCalOilTemp      byte = 0x27 // MQW-5101: oil temperature calibration, 0.1 °C
	CmdCalPipePressure byte = 0x28 // MQW-5101: pipe pressure calibration
	CmdNOxZero         byte = 0x29 // MQW-5102: NOx zero
	CmdOpacityZero     byte = 0x2A // MQW-5102: opacimeter zero
	CmdRealtime        byte = 0x30 // real-time data
	CmdStatus          byte = 0x31 // MQW-5101: status
	CmdDataStatus      byte = 0x32 // MQW-5101: real-time data and status
	CmdLockKeys        byte = 0x54
	CmdUnlockKeys      byte = 0x55
	CmdFactoryReset    byte = 0x58
	CmdClearMax        byte = 0x63 // MQW-5102: clear the max-hold
	CmdGetMax          byte = 0x64 // MQW-5102: read the max-hold
	CmdCalCO2NO        byte = 0x69 // MQW-5102: CO2/NO calibration
)

// Frame lengths.
const (
	MinLen            = 4  // 05|06 CMD LEN CS
	AckLen            = 4  // 06 CMD 03 CS
	Realtime5101Len   = 26 // 06 30 19 + 10 words + 2 bytes + CS
	Status5101Len     = 12 // 06 31 0B + 8 status bytes + CS
	DataStatus5101Len = 34 // 06 32 21 + the real-time data + 8 status bytes + CS
	Realtime5102Len   = 24 // 06 30 17 + aux word + 9 words + CS (MQW5102.c); 23 with a 1-byte gas T
	Max5102Len        = 10 // 06 64 09 + N, Ns, K words + CS [I]
)

// Checksum is the two's complement of the 8-bit sum of b ("CS2c").
func Checksum(b []byte) byte { return drivers.Neg8(b) }

// Request builds 05 CMD LEN [data] CS; LEN counts the bytes before CS. It returns nil
// when the data do not fit.
func Request(cmd byte, data ...byte) []byte { return frame(Start, cmd, data) }

// EncodeReply builds a good reply 06 CMD LEN [data] CS.
func EncodeReply(cmd byte, data ...byte) []byte { return frame(ACK, cmd, data) }

func frame(first, cmd byte, data []byte) []byte {
	n := 3 + len(data)
	if n > math.MaxUint8 {
		return nil
	}
	b := make([]byte, 0, n+1)
	b = append(b, first, cmd, byte(n))
	b = append(b, data...)
	return append(b, Checksum(b))
}

// ParseRequest checks a whole request (the simulator's side) and returns its command and
// data (a sub-slice of b).
func ParseRequest(b []byte) (cmd byte, data []byte, err error) {
	d, err := check(b, Start, 0)
	if err != nil {
		return 0, nil, err
	}
	return b[1], d, nil
}

// check verifies first byte, LEN and CS and returns the data; cmd names the request a
// reply answers (0 for a request).
func check(b []byte, first, cmd byte) ([]byte, error) {
	what := "request"
	if first == ACK {
		what = "reply"
	}
	switch {
	case len(b) < MinLen:
		return nil, fmt.Errorf("mqw510x: %s (cmd %#02x) of %d bytes: %w", what, cmd, len(b), drivers.ErrFrame)
	case b[0] != first:
		return nil, fmt.Errorf("mqw510x: %s (cmd %#02x) starts with %#02x, want %#02x: %w", what, cmd, b[0], first, drivers.ErrFrame)
	case int(b[2]) != len(b)-1:
		return nil, fmt.Errorf("mqw510x: %s (cmd %#02x) LEN %d for %d bytes: %w", what, cmd, b[2], len(b), drivers.ErrFrame)
	}
	last := len(b) - 1
	if want := Checksum(b[:last]); b[last] != want {
		return nil, fmt.Errorf("mqw510x: %s (cmd %#02x) %w: got %#02x, want %#02x", what, cmd, drivers.ErrChecksum, b[last], want)
	}
	return b[3:last], nil
}

// DecodeReply checks a whole reply to cmd and returns its data (a sub-slice of b). A NAK
// gives drivers.ErrNAK, a bad header, LEN or command drivers.ErrFrame, a bad sum
// drivers.ErrChecksum. It never panics.
func DecodeReply(b []byte, cmd byte) ([]byte, error) {
	if len(b) > 0 && b[0] == NAK {
		return nil, fmt.Errorf("mqw510x: cmd %#02x: %w", cmd, drivers.ErrNAK)
	}
	d, err := check(b, ACK, cmd)
	if err != nil {
		return nil, err
	}
	if b[1] != cmd {
		return nil, fmt.Errorf("mqw510x: reply to %#02x, asked %#02x: %w", b[1], cmd, drivers.ErrFrame)
	}
	return d, nil
}

// DecodeAck checks the AckLen-byte reply 06 CMD 03 CS of a simple command.
func DecodeAck(b []byte, cmd byte) error {
	d, err := DecodeReply(b, cmd)
	if err != nil {
		return err
	}
	if len(d) != 0 {
		return fmt.Errorf("mqw510x: cmd %#02x: %d data bytes in an acknowledgement: %w", cmd, len(d), drivers.ErrFrame)
	}
	return nil
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

// Data5101 is the MQW-5101 real-time data (command 30, and the first part of 32).
// Words are signed, big-endian [C-code luckyzjian/VMAS].
type Data5101 struct {
	NOx         float64 // ppm (the NO cell; VMAS names it NO)
	TempC       float64 // ambient temperature, °C (0.1)
	RHpct       float64 // relative humidity, % (0.1)
	PressureKPa float64 // barometric pressure, kPa (0.01)
	OilTempC    float64 // °C (0.1)
	PipeP       float64 // pipe pressure (0.1; unit not stated in the source)
	RPM         float64 // r/min
	N           float64 // opacity N, % (0.1)
	Ns          float64 // opacity Ns (standard path), % (0.1)
	K           float64 // m⁻¹ (0.01)
	GasTemp1    byte    // gas temperatures, whole °C [I]
	GasTemp2    byte
}

const data5101Len = 22 // 10 words + 2 bytes

var scales5101 = [10]float64{1, 10, 10, 100, 10, 10, 1, 10, 10, 100}

func (x *Data5101) fields() [10]*float64 {
	return [10]*float64{&x.NOx, &x.TempC, &x.RHpct, &x.PressureKPa, &x.OilTempC, &x.PipeP, &x.RPM, &x.N, &x.Ns, &x.K}
}

func decode5101(d []byte) Data5101 {
	var x Data5101
	for i, p := range x.fields() {
		*p = s16(d, 2*i) / scales5101[i]
	}
	x.GasTemp1, x.GasTemp2 = d[20], d[21]
	return x
}

func encode5101(x Data5101) []byte {
	d := make([]byte, data5101Len)
	for i, p := range x.fields() {
		putS16(d, 2*i, *p*scales5101[i])
	}
	d[20], d[21] = x.GasTemp1, x.GasTemp2
	return d
}

// DecodeRealtime5101 decodes the Realtime5101Len-byte reply to command 30.
func DecodeRealtime5101(b []byte) (Data5101, error) {
	d, err := DecodeReply(b, CmdRealtime)
	if err != nil {
		return Data5101{}, err
	}
	if len(d) != data5101Len {
		return Data5101{}, fmt.Errorf("mqw510x: real-time data: %d data bytes, want %d: %w", len(d), data5101Len, drivers.ErrFrame)
	}
	return decode5101(d), nil
}

// EncodeRealtime5101 builds the reply DecodeRealtime5101 reads.
func EncodeRealtime5101(x Data5101) []byte { return EncodeReply(CmdRealtime, encode5101(x)...) }

// Status bits of the MQW-5101 status bytes (S[0..7]) [C-code luckyzjian/VMAS].
const (
	S0PumpSample = 1 << 0 // S[0]: sampling from the probe
	S0PumpAir    = 1 << 1
	S0Backflush  = 1 << 2
	S1NOZeroing  = 1 << 0 // S[1]: NO zeroing; bits 1..6 other calibrations
	S1Calibrate  = 0x7E
	S2Testing    = 1 << 0 // S[2]: measuring
	S2LeakTest   = 1 << 1 // leak test running
	S4Prepare    = 1 << 0 // S[4]: preparing (warm-up)
	S4Busy       = 1 << 1
	S4LowFlow    = 1 << 6
	S4LeakOK     = 1 << 7 // the last leak test passed
)

// Status5101 is the MQW-5101's eight status bytes.
type Status5101 [8]byte

// Status maps the bytes to drivers.Status.
func (s Status5101) Status() drivers.Status {
	var st drivers.Status
	if s[4]&S4Prepare != 0 {
		st |= drivers.Warmup
	}
	if s[1]&S1NOZeroing != 0 {
		st |= drivers.Zeroing
	}
	if s[2]&S2LeakTest != 0 {
		st |= drivers.LeakCheck
	}
	if s[4]&S4Busy != 0 || s[1]&S1Calibrate != 0 {
		st |= drivers.Busy
	}
	if s[4]&S4LowFlow != 0 {
		st |= drivers.LowFlow
	}
	return st
}

// DecodeStatus5101 decodes the Status5101Len-byte reply to command 31.
func DecodeStatus5101(b []byte) (Status5101, error) {
	d, err := DecodeReply(b, CmdStatus)
	if err != nil {
		return Status5101{}, err
	}
	if len(d) != 8 {
		return Status5101{}, fmt.Errorf("mqw510x: status: %d data bytes, want 8: %w", len(d), drivers.ErrFrame)
	}
	return Status5101(d), nil
}

// EncodeStatus5101 builds the reply DecodeStatus5101 reads.
func EncodeStatus5101(s Status5101) []byte { return EncodeReply(CmdStatus, s[:]...) }

// DecodeDataStatus5101 decodes the DataStatus5101Len-byte reply to command 32.
func DecodeDataStatus5101(b []byte) (Data5101, Status5101, error) {
	d, err := DecodeReply(b, CmdDataStatus)
	if err != nil {
		return Data5101{}, Status5101{}, err
	}
	if len(d) != data5101Len+8 {
		return Data5101{}, Status5101{}, fmt.Errorf("mqw510x: data and status: %d data bytes, want %d: %w", len(d), data5101Len+8, drivers.ErrFrame)
	}
	return decode5101(d), Status5101(d[data5101Len:]), nil
}

// EncodeDataStatus5101 builds the reply DecodeDataStatus5101 reads.
func EncodeDataStatus5101(x Data5101, s Status5101) []byte {
	return EncodeReply(CmdDataStatus, append(encode5101(x), s[:]...)...)
}

// Realtime5102Request is the MQW-5102 real-time request 05 30 05 02 attached CS; attached
// says whether an opacimeter is connected (MQW5102.c: 1 = connected).
func Realtime5102Request(attached bool) []byte {
	var a byte
	if attached {
		a = 1
	}
	return Request(CmdRealtime, 0x02, a)
}

// Data5102 is the MQW-5102 real-time data. Words are big-endian from offset 5
// (MQW5102.c); the two bytes before them are not explained by any source (Aux).
type Data5102 struct {
	Aux      uint16  // bytes 3..4, meaning unknown
	PipeP    float64 // pipe pressure (0.1)
	OilTempC float64 // °C (0.1)
	RPM      float64 // r/min
	NOx      float64 // ppm
	CO2      float64 // % vol (0.01)
	N        float64 // opacity, % (0.01)
	Ns       float64 // opacity at the standard path, % (0.01)
	K        float64 // m⁻¹ (0.01)
	GasTempC float64 // gas temperature, °C: a word (24-byte frame) or a byte (23-byte frame)
	Short    bool    // the 23-byte frame of domain.md, with a 1-byte gas temperature
}

var scales5102 = [8]float64{10, 10, 1, 1, 100, 100, 100, 100}

func (x *Data5102) fields() [8]*float64 {
	return [8]*float64{&x.PipeP, &x.OilTempC, &x.RPM, &x.NOx, &x.CO2, &x.N, &x.Ns, &x.K}
}

// DecodeRealtime5102 decodes the reply to the MQW-5102 real-time request, 24 bytes (gas
// temperature word) or 23 (gas temperature byte).
func DecodeRealtime5102(b []byte) (Data5102, error) {
	d, err := DecodeReply(b, CmdRealtime)
	if err != nil {
		return Data5102{}, err
	}
	var x Data5102
	switch len(d) {
	case Realtime5102Len - 4:
	case Realtime5102Len - 5:
		x.Short = true
	default:
		return Data5102{}, fmt.Errorf("mqw510x: MQW-5102 real-time data: %d data bytes, want %d or %d: %w",
			len(d), Realtime5102Len-4, Realtime5102Len-5, drivers.ErrFrame)
	}
	x.Aux = binary.BigEndian.Uint16(d)
	for i, p := range x.fields() {
		*p = s16(d, 2+2*i) / scales5102[i]
	}
	if x.Short {
		x.GasTempC = float64(d[18])
	} else {
		x.GasTempC = s16(d, 18)
	}
	return x, nil
}

// EncodeRealtime5102 builds the reply DecodeRealtime5102 reads.
func EncodeRealtime5102(x Data5102) []byte {
	n := Realtime5102Len - 4
	if x.Short {
		n--
	}
	d := make([]byte, n)
	binary.BigEndian.PutUint16(d, x.Aux)
	for i, p := range x.fields() {
		putS16(d, 2+2*i, *p*scales5102[i])
	}
	if x.Short {
		switch g := x.GasTempC; {
		case math.IsNaN(g) || g <= 0:
		case g >= 255:
			d[18] = 255
		default:
			d[18] = byte(math.Round(g))
		}
	} else {
		putS16(d, 18, x.GasTempC)
	}
	return EncodeReply(CmdRealtime, d...)
}

// Max5102 is the MQW-5102 max-hold reply. Its layout is inferred [I] (no source shows it):
// words N, Ns, K in the real-time scaling; the driver relies only on K being the last word.
type Max5102 struct {
	N, Ns, K float64
}

// DecodeMax5102 decodes a reply to command 64: one or more words, K the last.
func DecodeMax5102(b []byte) (Max5102, error) {
	d, err := DecodeReply(b, CmdGetMax)
	if err != nil {
		return Max5102{}, err
	}
	if len(d) == 0 || len(d)%2 != 0 {
		return Max5102{}, fmt.Errorf("mqw510x: max-hold: %d data bytes: %w", len(d), drivers.ErrFrame)
	}
	var m Max5102
	m.K = s16(d, len(d)-2) / 100
	if len(d) == 6 {
		m.N, m.Ns = s16(d, 0)/100, s16(d, 2)/100
	}
	return m, nil
}

// EncodeMax5102 builds the Max5102Len-byte reply DecodeMax5102 reads.
func EncodeMax5102(m Max5102) []byte {
	d := make([]byte, 6)
	putS16(d, 0, m.N*100)
	putS16(d, 2, m.Ns*100)
	putS16(d, 4, m.K*100)
	return EncodeReply(CmdGetMax, d...)
}
