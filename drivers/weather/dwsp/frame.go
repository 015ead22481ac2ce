package dwsp

import (
	"fmt"
	"math"
	"strings"

	"imagent/drivers"
	"imagent/drivers/internal/modbus"
)

// Field says where one quantity sits in the register block and how to scale it:
// value = raw × Scale, raw read as int16 when Signed, else uint16.
type Field struct {
	Index  uint16  // register offset from Layout.Start
	Scale  float64 // engineering units per count
	Signed bool    // two's-complement register
}

// Layout is a station's register map: the block a read asks for and where temperature (°C),
// relative humidity (%) and pressure (kPa) are in it.
type Layout struct {
	Name     string
	Start    uint16 // first register of the read
	Count    uint16 // registers read
	Temp     Field
	RH       Field
	Pressure Field
}

// DWSPT5 is the DWSP-T5 map: request 01 04 0000 0003; [0] pressure /100 kPa,
// [1] temperature /10 °C, [2] RH /10 %. The lane software reads temperature unsigned; the
// driver reads it signed so frost reads below zero (firmware-notes/weather/dwsp.md).
var DWSPT5 = Layout{
	Name: "DWSP-T5", Start: 0, Count: 3,
	Pressure: Field{Index: 0, Scale: 0.01},
	Temp:     Field{Index: 1, Scale: 0.1, Signed: true},
	RH:       Field{Index: 2, Scale: 0.1},
}

// RZ1 is the RZ-1 map as the lane software reads it: request 01 04 0000 0004;
// [0] temperature ×0.5/100 °C, [1] RH ×2/100 %, [2] pressure ×1.1/100 kPa, [3] unused.
// The scales are odd and unverified.
var RZ1 = Layout{
	Name: "RZ-1", Start: 0, Count: 4,
	Temp:     Field{Index: 0, Scale: 0.005, Signed: true},
	RH:       Field{Index: 1, Scale: 0.02},
	Pressure: Field{Index: 2, Scale: 0.011},
}

// LayoutByName returns a built-in layout ("DWSP-T5", "dwsp_t5", "RZ-1", "rz1").
func LayoutByName(s string) (Layout, error) {
	n := strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToUpper(strings.TrimSpace(s)))
	switch n {
	case "DWSPT5":
		return DWSPT5, nil
	case "RZ1":
		return RZ1, nil
	}
	return Layout{}, fmt.Errorf("dwsp: unknown layout %q (known: %s, %s)", s, DWSPT5.Name, RZ1.Name)
}

// Validate reports whether l can be used.
func (l Layout) Validate() error {
	if l.Count == 0 || l.Count > modbus.MaxReadCount || int(l.Start)+int(l.Count) > 0x10000 {
		return fmt.Errorf("dwsp: layout %q: %d registers from %d", l.Name, l.Count, l.Start)
	}
	fs := l.fields()
	for i, f := range fs {
		if f.Index >= l.Count {
			return fmt.Errorf("dwsp: layout %q: register index %d outside the %d read", l.Name, f.Index, l.Count)
		}
		for _, g := range fs[:i] {
			if g.Index == f.Index {
				return fmt.Errorf("dwsp: layout %q: register index %d used twice", l.Name, f.Index)
			}
		}
		if !(f.Scale > 0) || math.IsInf(f.Scale, 0) {
			return fmt.Errorf("dwsp: layout %q: scale %v", l.Name, f.Scale)
		}
	}
	return nil
}

func (l Layout) fields() [3]Field { return [3]Field{l.Temp, l.RH, l.Pressure} }

// Request is the read request for l to slave addr with function fn (modbus.ReadInput or
// modbus.ReadHolding).
func (l Layout) Request(addr, fn byte) modbus.Request {
	return modbus.Read(addr, fn, l.Start, l.Count)
}

// Values are one reading in canonical units.
type Values struct {
	TempC       float64
	RHpct       float64
	PressureKPa float64
}

// Decode scales the registers of a read of l. regs must hold l.Count registers.
func Decode(regs []uint16, l Layout) (Values, error) {
	if len(regs) != int(l.Count) {
		return Values{}, fmt.Errorf("dwsp: %d registers, layout %q has %d: %w", len(regs), l.Name, l.Count, drivers.ErrFrame)
	}
	if err := l.Validate(); err != nil {
		return Values{}, err
	}
	return Values{TempC: l.Temp.value(regs), RHpct: l.RH.value(regs), PressureKPa: l.Pressure.value(regs)}, nil
}

func (f Field) value(regs []uint16) float64 {
	raw := regs[f.Index]
	if f.Signed {
		return float64(int16(raw)) * f.Scale
	}
	return float64(raw) * f.Scale
}

// raw is value's inverse: rounded to the nearest count and saturated to the register range.
func (f Field) raw(v float64) uint16 {
	if math.IsNaN(v) {
		return 0
	}
	n := math.Round(v / f.Scale)
	if f.Signed {
		return uint16(int16(math.Max(math.MinInt16, math.Min(math.MaxInt16, n))))
	}
	return uint16(math.Max(0, math.Min(math.MaxUint16, n)))
}

// Encode is Decode's inverse for the simulator: the l.Count registers holding v (other
// registers zero). Values are rounded to the layout's resolution and saturated.
func Encode(v Values, l Layout) []uint16 {
	if l.Validate() != nil {
		return nil
	}
	regs := make([]uint16, l.Count)
	regs[l.Temp.Index] = l.Temp.raw(v.TempC)
	regs[l.RH.Index] = l.RH.raw(v.RHpct)
	regs[l.Pressure.Index] = l.Pressure.raw(v.PressureKPa)
	return regs
}

// DecodeReply checks a whole RTU reply frame to req (CRC included) and scales it by l.
// Errors wrap drivers.ErrChecksum, drivers.ErrFrame, or drivers.ErrNAK/ErrBusy for a
// Modbus exception (a *modbus.ExceptionError).
func DecodeReply(frame []byte, req modbus.Request, l Layout) (Values, error) {
	regs, err := modbus.DecodeRTU(frame, req)
	if err != nil {
		return Values{}, fmt.Errorf("dwsp: %w", err)
	}
	return Decode(regs, l)
}

// Limits are the plausible ranges of the values. The CRC guards the line, not the
// configuration: a wrong layout or a failed sensor gives values outside them.
type Limits struct {
	TempMin, TempMax float64 // °C
	RHMin, RHMax     float64 // %
	PMin, PMax       float64 // kPa
}

// DefaultLimits cover a lane's working conditions from sea level to about 5,500 m.
var DefaultLimits = Limits{TempMin: -40, TempMax: 60, RHMin: 0, RHMax: 100, PMin: 50, PMax: 110}

// Check reports whether v is plausible; the error wraps drivers.ErrFrame.
func (l Limits) Check(v Values) error {
	for _, c := range [...]struct {
		name      string
		v, lo, hi float64
		unit      string
	}{
		{"temperature", v.TempC, l.TempMin, l.TempMax, "°C"},
		{"humidity", v.RHpct, l.RHMin, l.RHMax, "%"},
		{"pressure", v.PressureKPa, l.PMin, l.PMax, "kPa"},
	} {
		if !(c.v >= c.lo && c.v <= c.hi) {
			return fmt.Errorf("dwsp: implausible %s %g %s, want %g..%g (check the layout): %w", c.name, c.v, c.unit, c.lo, c.hi, drivers.ErrFrame)
		}
	}
	return nil
}

func (l Limits) valid() bool {
	for _, r := range [][2]float64{{l.TempMin, l.TempMax}, {l.RHMin, l.RHMax}, {l.PMin, l.PMax}} {
		if math.IsNaN(r[0]) || math.IsNaN(r[1]) || math.IsInf(r[0], 0) || math.IsInf(r[1], 0) || r[0] >= r[1] {
			return false
		}
	}
	return true
}
