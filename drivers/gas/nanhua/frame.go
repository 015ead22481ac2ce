package nanhua

import (
	"encoding/binary"
	"fmt"
	"math"

	"imagent/drivers"
)

// Bytes with a fixed meaning on the wire.
const (
	ACK          byte = 0x06 // first byte of every data reply; the whole reply of simple commands
	NAK          byte = 0x15 // command refused
	ResultOK     byte = 0x00 // zero / leak check: finished, ok (leak check: no leak)
	ResultFailed byte = 0x01 // zero / leak check: failed (leak check: leak found)
	ResultBusy   byte = 0x05 // zero / leak check: still running

	FlowLow uint16 = 0x8888 // flow word: low flow (or leak check failed)
)

// Reply lengths.
const (
	MainLen       = 21 // 06, 9 words, status byte... see Main; CS
	MainLegacyLen = 19 // old firmware: no λ word
	AmbientLen    = 8  // 06, ET, AP, RH, CS
)

// Status codes of the status command and of the FLA-502 status byte.
const (
	StatusReady     byte = 0x00
	StatusWarmup    byte = 0x02
	StatusLeakCheck byte = 0x04
	StatusZeroing   byte = 0x05
)

// Status bits of the NHA-503 (and CDF5000) status byte.
const (
	BitO2Aged byte = 1 << 0
	BitNOAged byte = 1 << 1
)

// Main is the main-data reply (command 1) in engineering units.
type Main struct {
	HC      float64 // ppm n-hexane equivalent
	CO      float64 // % vol
	CO2     float64 // % vol
	O2      float64 // % vol
	NO      float64 // ppm
	RPM     float64 // r/min
	OilTemp float64 // °C
	Flow    uint16  // flow word: 0 normal, FlowLow = low flow
	Status  byte    // status byte; its meaning depends on the model (MainStatus)
	Lambda  float64 // excess-air coefficient; 0 in a legacy frame
	Legacy  bool    // 19-byte old-firmware frame without the λ word
}

// Ambient is the auxiliary-data reply (command 2).
type Ambient struct {
	TempC       float64 // ambient temperature, °C
	PressureKPa float64 // barometric pressure, kPa
	RHpct       float64 // relative humidity, %
}

// Checksum is the family's checksum: the plain 8-bit sum of b (not negated).
func Checksum(b []byte) byte { return drivers.Sum8(b) }

// checkFrame verifies the ACK header, the length (n1 or n2) and the trailing checksum of a
// reply. It allocates only on error.
func checkFrame(what string, b []byte, n1, n2 int) error {
	if len(b) == 0 {
		return fmt.Errorf("nanhua: %s: empty reply: %w", what, drivers.ErrFrame)
	}
	if b[0] == NAK {
		return fmt.Errorf("nanhua: %s: %w", what, drivers.ErrNAK)
	}
	if b[0] != ACK {
		return fmt.Errorf("nanhua: %s: first byte %#02x, want %#02x: %w", what, b[0], ACK, drivers.ErrFrame)
	}
	if len(b) != n1 && len(b) != n2 {
		want := fmt.Sprint(n1)
		if n2 != n1 {
			want = fmt.Sprintf("%d or %d", n1, n2)
		}
		return fmt.Errorf("nanhua: %s: %d bytes, want %s: %w", what, len(b), want, drivers.ErrFrame)
	}
	last := len(b) - 1
	if want := Checksum(b[:last]); b[last] != want {
		return fmt.Errorf("nanhua: %s: %w: got %#02x, want %#02x", what, drivers.ErrChecksum, b[last], want)
	}
	return nil
}

func s16(b []byte, off int) float64 { return float64(int16(binary.BigEndian.Uint16(b[off:]))) }
func u16(b []byte, off int) uint16  { return binary.BigEndian.Uint16(b[off:]) }

// DecodeMain decodes a main-data reply of MainLen (or MainLegacyLen) bytes for model m.
// A NAK gives drivers.ErrNAK, a bad header or length drivers.ErrFrame, a bad sum
// drivers.ErrChecksum. It never panics.
func DecodeMain(b []byte, m Model) (Main, error) {
	mi, err := lookup(m)
	if err != nil {
		return Main{}, err
	}
	if err := checkFrame("main data", b, MainLen, MainLegacyLen); err != nil {
		return Main{}, err
	}
	x := Main{
		HC:      s16(b, 1),
		CO:      s16(b, 3) / mi.coDiv,
		CO2:     s16(b, 5) / 100,
		O2:      s16(b, 7) / 100,
		NO:      s16(b, 9),
		RPM:     float64(u16(b, 11)),
		OilTemp: s16(b, 13) / mi.oilDiv,
		Flow:    u16(b, 15),
		Status:  b[17],
		Legacy:  len(b) == MainLegacyLen,
	}
	if !x.Legacy {
		x.Lambda = s16(b, 18) / 100
	}
	return x, nil
}

// EncodeMain builds the reply DecodeMain reads: 21 bytes, or 19 when x.Legacy. Values are
// rounded to the model's resolution and saturated to the word's range. It returns nil
// for an unknown model.
func EncodeMain(x Main, m Model) []byte {
	mi, err := lookup(m)
	if err != nil {
		return nil
	}
	n := MainLen
	if x.Legacy {
		n = MainLegacyLen
	}
	b := make([]byte, n)
	b[0] = ACK
	put := binary.BigEndian.PutUint16
	put(b[1:], uint16(toS16(x.HC)))
	put(b[3:], uint16(toS16(x.CO*mi.coDiv)))
	put(b[5:], uint16(toS16(x.CO2*100)))
	put(b[7:], uint16(toS16(x.O2*100)))
	put(b[9:], uint16(toS16(x.NO)))
	put(b[11:], toU16(x.RPM))
	put(b[13:], uint16(toS16(x.OilTemp*mi.oilDiv)))
	put(b[15:], x.Flow)
	b[17] = x.Status
	if !x.Legacy {
		put(b[18:], uint16(toS16(x.Lambda*100)))
	}
	b[n-1] = Checksum(b[:n-1])
	return b
}

// DecodeAmbient decodes the AmbientLen-byte auxiliary-data reply.
func DecodeAmbient(b []byte) (Ambient, error) {
	if err := checkFrame("ambient", b, AmbientLen, AmbientLen); err != nil {
		return Ambient{}, err
	}
	return Ambient{TempC: s16(b, 1) / 10, PressureKPa: s16(b, 3) / 10, RHpct: s16(b, 5) / 10}, nil
}

// EncodeAmbient builds the reply DecodeAmbient reads (0.1 resolution, saturated).
func EncodeAmbient(a Ambient) []byte {
	b := make([]byte, AmbientLen)
	b[0] = ACK
	binary.BigEndian.PutUint16(b[1:], uint16(toS16(a.TempC*10)))
	binary.BigEndian.PutUint16(b[3:], uint16(toS16(a.PressureKPa*10)))
	binary.BigEndian.PutUint16(b[5:], uint16(toS16(a.RHpct*10)))
	b[7] = Checksum(b[:7])
	return b
}

// MainStatus maps the flow word and the status byte of x to drivers.Status for model m.
func MainStatus(x Main, m Model) drivers.Status {
	var s drivers.Status
	if x.Flow == FlowLow {
		s |= drivers.LowFlow
	}
	mi, err := lookup(m)
	if err != nil {
		return s | drivers.Fault
	}
	switch mi.mainStatus {
	case statusCode:
		s |= StatusFromCode(x.Status)
	case statusBits:
		if x.Status&(BitO2Aged|BitNOAged) != 0 {
			s |= drivers.SensorAged
		}
	}
	return s
}

// StatusFromCode maps a status code (the reply of the status command on every model, and
// byte 17 on the FLA-502) to drivers.Status. A code not in the table means the analyzer is
// doing something we do not know about: Busy.
func StatusFromCode(c byte) drivers.Status {
	switch c {
	case StatusReady:
		return 0
	case StatusWarmup:
		return drivers.Warmup
	case StatusLeakCheck:
		return drivers.LeakCheck
	case StatusZeroing:
		return drivers.Zeroing
	}
	return drivers.Busy
}

// StatusCode is the inverse of StatusFromCode: the code a device in state s reports.
// Warm-up wins over zeroing, zeroing over leak check; other bits have no code.
func StatusCode(s drivers.Status) byte {
	switch {
	case s&drivers.Warmup != 0:
		return StatusWarmup
	case s&drivers.Zeroing != 0:
		return StatusZeroing
	case s&drivers.LeakCheck != 0:
		return StatusLeakCheck
	}
	return StatusReady
}

// EncodeMainStatus is the status byte (byte 17) a model-m device in state s sends: a
// StatusCode on the FLA-502, the two aged-cell bits for SensorAged on the others.
// LowFlow travels in the flow word, not here. It is the inverse of MainStatus for the
// bits the model can express.
func EncodeMainStatus(s drivers.Status, m Model) byte {
	mi, err := lookup(m)
	if err != nil {
		return 0
	}
	switch mi.mainStatus {
	case statusCode:
		return StatusCode(s)
	case statusBits:
		if s&drivers.SensorAged != 0 {
			return BitO2Aged | BitNOAged
		}
	}
	return 0
}

// toS16 rounds v to the nearest integer and saturates it to the int16 range (NaN -> 0).
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

// toU16 rounds v and saturates it to the uint16 range (NaN -> 0).
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

// lambda is the Brettschneider excess-air coefficient (domain.md §2.6) from HC in ppm and
// CO, CO2, O2 in % vol, for fuel f. Like the lane software it returns 0 when CO+CO2 is not
// positive or the result is outside (0, 100].
func lambda(hc, co, co2, o2 float64, f Fuel) float64 {
	const k = 3.5   // water-gas equilibrium constant
	const k1 = 6e-4 // HC ppm -> % carbon
	hcv, ocv, ok := f.ratios()
	sum := co + co2
	if !ok || !(sum > 0) || !(co2 > 0) {
		return 0
	}
	num := co2 + co/2 + o2 + (hcv/4*k/(k+co/co2)-ocv/2)*sum
	den := (1 + hcv/4 - ocv/2) * (sum + k1*hc)
	l := num / den
	if math.IsNaN(l) || l <= 0 || l > 100 {
		return 0
	}
	return l
}
