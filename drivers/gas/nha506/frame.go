package nha506

import (
	"encoding/binary"
	"fmt"
	"math"

	"imagent/drivers"
)

// Command bytes.
const (
	CmdPump   byte = 0x01 // pump on, sample from the probe; answer ACK
	CmdStop   byte = 0x02 // stop; answer ACK
	CmdData   byte = 0x03 // measured data; answer DataLen bytes
	CmdStatus byte = 0x14 // status; answer one ASCII letter
)

// Bytes with a fixed meaning on the wire.
const (
	ACK byte = 0x06
	NAK byte = 0x15

	StatusWarmup  byte = 'H' // 0x48, warming up
	StatusZeroing byte = 'Z' // 0x5A, zeroing
	StatusReady   byte = 'W' // 0x57, ready
)

// DataLen is the length of the data reply.
const DataLen = 18

// Data is the data reply in engineering units.
type Data struct {
	HC      float64 // ppm n-hexane equivalent
	CO      float64 // % vol
	CO2     float64 // % vol
	O2      float64 // % vol
	NO      float64 // ppm
	RPM     float64 // r/min
	OilTemp float64 // °C
	Lambda  float64 // excess-air coefficient
}

// Checksum is the 8-bit sum of b, not negated, as in the rest of the Nanhua family [I].
func Checksum(b []byte) byte { return drivers.Sum8(b) }

// DecodeData decodes a DataLen-byte reply. With ignoreSum the last byte is not checked.
// A NAK gives drivers.ErrNAK, a bad header or length drivers.ErrFrame, a bad sum
// drivers.ErrChecksum. It never panics and does not allocate on success.
func DecodeData(b []byte, ignoreSum bool) (Data, error) {
	switch {
	case len(b) == 0:
		return Data{}, fmt.Errorf("nha506: data: empty reply: %w", drivers.ErrFrame)
	case b[0] == NAK:
		return Data{}, fmt.Errorf("nha506: data: %w", drivers.ErrNAK)
	case b[0] != ACK:
		return Data{}, fmt.Errorf("nha506: data: first byte %#02x, want %#02x: %w", b[0], ACK, drivers.ErrFrame)
	case len(b) != DataLen:
		return Data{}, fmt.Errorf("nha506: data: %d bytes, want %d: %w", len(b), DataLen, drivers.ErrFrame)
	}
	if want := Checksum(b[:DataLen-1]); !ignoreSum && b[DataLen-1] != want {
		return Data{}, fmt.Errorf("nha506: data: %w: got %#02x, want %#02x", drivers.ErrChecksum, b[DataLen-1], want)
	}
	s16 := func(off int) float64 { return float64(int16(binary.BigEndian.Uint16(b[off:]))) }
	return Data{
		HC:      s16(1),
		CO:      s16(3) / 100,
		CO2:     s16(5) / 100,
		O2:      s16(7) / 100,
		NO:      s16(9),
		RPM:     float64(binary.BigEndian.Uint16(b[11:])),
		OilTemp: s16(13) / 10,
		Lambda:  s16(15) / 100,
	}, nil
}

// EncodeData builds the reply DecodeData reads (values rounded to the resolution and
// saturated to the word).
func EncodeData(x Data) []byte {
	b := make([]byte, DataLen)
	b[0] = ACK
	put := func(off int, v float64) { binary.BigEndian.PutUint16(b[off:], uint16(toS16(v))) }
	put(1, x.HC)
	put(3, x.CO*100)
	put(5, x.CO2*100)
	put(7, x.O2*100)
	put(9, x.NO)
	binary.BigEndian.PutUint16(b[11:], toU16(x.RPM))
	put(13, x.OilTemp*10)
	put(15, x.Lambda*100)
	b[DataLen-1] = Checksum(b[:DataLen-1])
	return b
}

// StatusFromByte maps the status letter to drivers.Status. Any other byte is
// drivers.ErrFrame (NAK: drivers.ErrNAK).
func StatusFromByte(c byte) (drivers.Status, error) {
	switch c {
	case StatusReady:
		return 0, nil
	case StatusWarmup:
		return drivers.Warmup, nil
	case StatusZeroing:
		return drivers.Zeroing, nil
	case NAK:
		return 0, fmt.Errorf("nha506: status: %w", drivers.ErrNAK)
	}
	return 0, fmt.Errorf("nha506: status: unknown letter %#02x: %w", c, drivers.ErrFrame)
}

// StatusByte is the letter a device in state s sends: warm-up wins over zeroing.
func StatusByte(s drivers.Status) byte {
	switch {
	case s&drivers.Warmup != 0:
		return StatusWarmup
	case s&drivers.Zeroing != 0:
		return StatusZeroing
	}
	return StatusReady
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
