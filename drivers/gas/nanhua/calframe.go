package nanhua

import (
	"encoding/binary"
	"fmt"
	"math"

	"imagent/drivers"
)

// CalGasStyle is how an analyzer takes the calibration- and check-gas concentrations
// (items 9 and 11). The sources disagree, so it is an option; see
// firmware-notes/gas/nanhua.md.
type CalGasStyle int

// Calibration-gas write styles.
const (
	// CalGasAuto is the model's default: CalGasTwoPhase for the NHA-503 and CDF5000,
	// CalGasSingleFrame for the FLA-502.
	CalGasAuto CalGasStyle = iota
	// CalGasTwoPhase (sinq123/OBD NanhuaNha503.cpp): the host sends the item byte, the
	// analyzer answers 06, the host sends CalDataLen bytes (EncodeCalData) and the analyzer
	// answers 00 (accepted) or 01 (checksum error).
	CalGasTwoPhase
	// CalGasSingleFrame (luckyzjian/VMAS Fla502.cs, FLA-502): the host sends one
	// CalFrameLen-byte frame (EncodeCalFrame) and the analyzer answers 06 00.
	CalGasSingleFrame
)

func (s CalGasStyle) String() string {
	switch s {
	case CalGasAuto:
		return "auto"
	case CalGasTwoPhase:
		return "two-phase"
	case CalGasSingleFrame:
		return "single-frame"
	}
	return fmt.Sprintf("CalGasStyle(%d)", int(s))
}

// Lengths of the calibration frames.
const (
	CalDataLen  = 9  // two-phase data: C3H8, CO×100, CO2×100, NO (u16 big-endian) and their 8-bit sum
	CalFrameLen = 12 // single frame: item, C3H8, CO, CO2×100, O2×100, NO and the 8-bit sum of the 10 data bytes
	CalAckLen   = 2  // single-frame answer: 06 00
	SpanLen     = 14 // span/check progress: 05, HC, CO, CO2, O2, NO, PEF×1000 and a checksum byte
	PEFLen      = 2  // item 13 answer: PEF×1000, u16 big-endian, no ACK
)

// calWord converts v to an unsigned word at scale (v×scale, rounded), refusing what the
// word cannot carry: negative, NaN or too large values.
func calWord(what string, v, scale float64) (uint16, error) {
	r := math.Round(v * scale)
	if math.IsNaN(r) || r < 0 || r > math.MaxUint16 {
		return 0, fmt.Errorf("nanhua: %s %v does not fit the frame (0..%v): %w", what, v, math.MaxUint16/scale, drivers.ErrFrame)
	}
	return uint16(r), nil
}

// EncodeCalData builds the second phase of a two-phase gas write: C3H8 ppm, CO %×100,
// CO2 %×100 and NO ppm as big-endian words, then their 8-bit sum. O2 is not sent.
func EncodeCalData(g drivers.CalGas) ([]byte, error) {
	b := make([]byte, CalDataLen)
	for i, f := range []struct {
		what  string
		v, sc float64
	}{{"C3H8", g.C3H8ppm, 1}, {"CO", g.COpct, 100}, {"CO2", g.CO2pct, 100}, {"NO", g.NOppm, 1}} {
		w, err := calWord(f.what, f.v, f.sc)
		if err != nil {
			return nil, err
		}
		binary.BigEndian.PutUint16(b[2*i:], w)
	}
	b[8] = Checksum(b[:8])
	return b, nil
}

// DecodeCalData is the analyzer's side of EncodeCalData (used by the simulator).
func DecodeCalData(b []byte) (drivers.CalGas, error) {
	if len(b) != CalDataLen {
		return drivers.CalGas{}, fmt.Errorf("nanhua: calibration data: %d bytes, want %d: %w", len(b), CalDataLen, drivers.ErrFrame)
	}
	if want := Checksum(b[:8]); b[8] != want {
		return drivers.CalGas{}, fmt.Errorf("nanhua: calibration data: %w: got %#02x, want %#02x", drivers.ErrChecksum, b[8], want)
	}
	w := func(i int) float64 { return float64(binary.BigEndian.Uint16(b[2*i:])) }
	return drivers.CalGas{C3H8ppm: w(0), COpct: w(1) / 100, CO2pct: w(2) / 100, NOppm: w(3)}, nil
}

// EncodeCalFrame builds a single-frame gas write for model m: the item byte, C3H8 ppm,
// CO at the model's resolution (×1000 on the FLA-502), CO2 %×100, O2 %×100 and NO ppm as
// big-endian words, then the 8-bit sum of the 10 data bytes (the item byte is not summed).
func EncodeCalFrame(item byte, g drivers.CalGas, m Model) ([]byte, error) {
	mi, err := lookup(m)
	if err != nil {
		return nil, err
	}
	b := make([]byte, CalFrameLen)
	b[0] = item
	for i, f := range []struct {
		what  string
		v, sc float64
	}{{"C3H8", g.C3H8ppm, 1}, {"CO", g.COpct, mi.coDiv}, {"CO2", g.CO2pct, 100}, {"O2", g.O2pct, 100}, {"NO", g.NOppm, 1}} {
		w, err := calWord(f.what, f.v, f.sc)
		if err != nil {
			return nil, err
		}
		binary.BigEndian.PutUint16(b[1+2*i:], w)
	}
	b[11] = Checksum(b[1:11])
	return b, nil
}

// DecodeCalFrame is the analyzer's side of EncodeCalFrame (used by the simulator).
func DecodeCalFrame(b []byte, m Model) (item byte, g drivers.CalGas, err error) {
	mi, err := lookup(m)
	if err != nil {
		return 0, g, err
	}
	if len(b) != CalFrameLen {
		return 0, g, fmt.Errorf("nanhua: calibration frame: %d bytes, want %d: %w", len(b), CalFrameLen, drivers.ErrFrame)
	}
	if want := Checksum(b[1:11]); b[11] != want {
		return 0, g, fmt.Errorf("nanhua: calibration frame: %w: got %#02x, want %#02x", drivers.ErrChecksum, b[11], want)
	}
	w := func(i int) float64 { return float64(binary.BigEndian.Uint16(b[1+2*i:])) }
	return b[0], drivers.CalGas{C3H8ppm: w(0), COpct: w(1) / mi.coDiv, CO2pct: w(2) / 100, O2pct: w(3) / 100, NOppm: w(4)}, nil
}

// Span is the progress data an analyzer sends after 05 while a span (item 10) or an
// automatic gas check (item 12) runs: what it reads of the gas, in engineering units.
type Span struct {
	HC, CO, CO2, O2, NO float64 // ppm, %, %, %, ppm as in Main
	PEF                 float64 // propane equivalence factor the analyzer uses
}

// SpanFormat says how to read span progress data; the sources disagree on the CO scale
// and neither checks the last byte (see firmware-notes/gas/nanhua.md).
type SpanFormat struct {
	// CO100 reads CO at 0.01 % on every model (sinq123/OBD FuLiFLA502.cpp); by default
	// CO has the model's main-data resolution (luckyzjian/VMAS: 0.001 % on the FLA-502).
	CO100 bool
	// IgnoreChecksum accepts any last byte; by default it must be the 8-bit sum of the
	// 13 bytes before it [I].
	IgnoreChecksum bool
}

func (f SpanFormat) coDiv(mi modelInfo) float64 {
	if f.CO100 {
		return 100
	}
	return mi.coDiv
}

// DecodeSpan decodes a SpanLen-byte progress frame (first byte ResultBusy).
func DecodeSpan(b []byte, m Model, f SpanFormat) (Span, error) {
	mi, err := lookup(m)
	if err != nil {
		return Span{}, err
	}
	switch {
	case len(b) == 0:
		return Span{}, fmt.Errorf("nanhua: span data: empty: %w", drivers.ErrFrame)
	case b[0] == NAK:
		return Span{}, fmt.Errorf("nanhua: span data: %w", drivers.ErrNAK)
	case b[0] != ResultBusy:
		return Span{}, fmt.Errorf("nanhua: span data: first byte %#02x, want %#02x: %w", b[0], ResultBusy, drivers.ErrFrame)
	case len(b) != SpanLen:
		return Span{}, fmt.Errorf("nanhua: span data: %d bytes, want %d: %w", len(b), SpanLen, drivers.ErrFrame)
	}
	if want := Checksum(b[:SpanLen-1]); !f.IgnoreChecksum && b[SpanLen-1] != want {
		return Span{}, fmt.Errorf("nanhua: span data: %w: got %#02x, want %#02x", drivers.ErrChecksum, b[SpanLen-1], want)
	}
	return Span{
		HC:  s16(b, 1),
		CO:  s16(b, 3) / f.coDiv(mi),
		CO2: s16(b, 5) / 100,
		O2:  s16(b, 7) / 100,
		NO:  s16(b, 9),
		PEF: s16(b, 11) / 1000,
	}, nil
}

// EncodeSpan builds the frame DecodeSpan reads (the simulator's side). It returns nil for
// an unknown model.
func EncodeSpan(x Span, m Model, f SpanFormat) []byte {
	mi, err := lookup(m)
	if err != nil {
		return nil
	}
	b := make([]byte, SpanLen)
	b[0] = ResultBusy
	for i, v := range []float64{x.HC, x.CO * f.coDiv(mi), x.CO2 * 100, x.O2 * 100, x.NO, x.PEF * 1000} {
		binary.BigEndian.PutUint16(b[1+2*i:], uint16(toS16(v)))
	}
	b[SpanLen-1] = Checksum(b[:SpanLen-1])
	return b
}

// DecodePEF decodes the PEFLen-byte answer to item 13: PEF×1000, big-endian, no ACK and
// no checksum. A first byte of NAK is drivers.ErrNAK (a PEF of 5.376 or more is not
// physical, so the byte cannot be data).
func DecodePEF(b []byte) (float64, error) {
	switch {
	case len(b) > 0 && b[0] == NAK:
		return 0, fmt.Errorf("nanhua: PEF: %w", drivers.ErrNAK)
	case len(b) != PEFLen:
		return 0, fmt.Errorf("nanhua: PEF: %d bytes, want %d: %w", len(b), PEFLen, drivers.ErrFrame)
	}
	return float64(binary.BigEndian.Uint16(b)) / 1000, nil
}

// EncodePEF builds the answer to item 13 (PEF rounded to 0.001, saturated).
func EncodePEF(pef float64) []byte {
	b := make([]byte, PEFLen)
	binary.BigEndian.PutUint16(b, toU16(pef*1000))
	return b
}
