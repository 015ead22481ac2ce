package nhf1

import (
	"fmt"
	"math"

	"imagent/drivers"
	"imagent/drivers/internal/modbus"
)

// Registers (holding registers, function 03 to read and 06 to write) [C-code
// sinq123/OBD OBDEquThr/NanhuaNHF1.cpp; luckyzjian/VMAS Exhaust/FLV_1000.cs].
const (
	RegData          uint16 = 0x1258 // 5 registers: O2, P/T, T/P, actual flow, standard flow
	RegStatus        uint16 = 0x125D // status nibbles
	RegBlower        uint16 = 0x125E // write 1 on, 0 off
	RegO2Zero        uint16 = 0x125F // write 1: diluted-O2 zero on ambient air
	RegCalPressure   uint16 = 0x1260 // pressure calibration, 0.01 kPa
	RegCalTemp       uint16 = 0x1261 // temperature calibration, 0.1 °C
	RegCalFlowHigh   uint16 = 0x1262 // flow calibration, high point, CFM
	RegCalFlowLow    uint16 = 0x1263 // flow calibration, low point, CFM
	RegCalFlowSingle uint16 = 0x1264 // flow calibration, single point, CFM
	RegCalO2High     uint16 = 0x1265 // O2 calibration, high point, 0.01 %
	RegCalO2Mid      uint16 = 0x1266 // O2 calibration, middle point
	RegCalO2Low      uint16 = 0x1267 // O2 calibration, low point
	RegRestore       uint16 = 0x126C // write 1: restore factory defaults

	DataCount = 5
)

// LpsPerCFM converts the flow registers (cubic feet per minute) to L/s.
const LpsPerCFM = 28.316846592 / 60

// WriteOK is the value a write reply carries on success: both sources test the last hex
// digit of the reply's value field for '1' [C-code].
const WriteOK uint16 = 0x0001

// Order is the order of pressure and temperature in the data registers; the two sources
// disagree (see firmware-notes/flow/nhf1.md).
type Order int

// Orders.
const (
	// OrderPT: O2, pressure, temperature, actual flow, standard flow (sinq123/OBD, the
	// vendor's own library; the default).
	OrderPT Order = iota
	// OrderTP: O2, temperature, pressure, … (luckyzjian/VMAS).
	OrderTP
)

// Data is the content of the five data registers in engineering units.
type Data struct {
	O2Pct       float64 // diluted O2, % (0.01)
	PressureKPa float64 // gas pressure, kPa (0.01)
	TempC       float64 // gas temperature, °C (0.1)
	FlowLps     float64 // flow at actual conditions, L/s (register in CFM)
	StdFlowLps  float64 // flow at standard conditions, L/s (CFM; 0 °C per sinq123/OBD)
}

// ReadData is the request for the data registers of slave addr.
func ReadData(addr byte) modbus.Request {
	return modbus.Read(addr, modbus.ReadHolding, RegData, DataCount)
}

// ReadStatus is the request for the status register of slave addr.
func ReadStatus(addr byte) modbus.Request { return modbus.Read(addr, modbus.ReadHolding, RegStatus, 1) }

func pt(order Order) (p, t int) {
	if order == OrderTP {
		return 2, 1
	}
	return 1, 2
}

// DataFromRegs converts the five registers (signed words).
func DataFromRegs(r []uint16, order Order) (Data, error) {
	if len(r) != DataCount {
		return Data{}, fmt.Errorf("nhf1: %d data registers, want %d: %w", len(r), DataCount, drivers.ErrFrame)
	}
	s := func(i int) float64 { return float64(int16(r[i])) }
	p, t := pt(order)
	return Data{O2Pct: s(0) / 100, PressureKPa: s(p) / 100, TempC: s(t) / 10, FlowLps: s(3) * LpsPerCFM, StdFlowLps: s(4) * LpsPerCFM}, nil
}

// Regs is the inverse of DataFromRegs (rounded, saturated).
func (d Data) Regs(order Order) []uint16 {
	r := make([]uint16, DataCount)
	p, t := pt(order)
	r[0] = word(d.O2Pct * 100)
	r[p] = word(d.PressureKPa * 100)
	r[t] = word(d.TempC * 10)
	r[3] = word(d.FlowLps / LpsPerCFM)
	r[4] = word(d.StdFlowLps / LpsPerCFM)
	return r
}

// word rounds v to an int16 register, saturating; NaN gives 0.
func word(v float64) uint16 {
	switch {
	case math.IsNaN(v):
		return 0
	case v >= math.MaxInt16:
		return math.MaxInt16
	case v <= math.MinInt16:
		return 0x8000
	}
	return uint16(int16(math.Round(v)))
}

// DecodeData decodes the ASCII reply frame (':' through CR LF) to ReadData(addr).
func DecodeData(frame []byte, addr byte, order Order) (Data, error) {
	r, err := modbus.DecodeASCII(frame, ReadData(addr))
	if err != nil {
		return Data{}, fmt.Errorf("nhf1: data: %w", err)
	}
	return DataFromRegs(r, order)
}

// EncodeData builds the reply DecodeData reads.
func EncodeData(addr byte, order Order, d Data) []byte {
	b, _ := modbus.EncodeASCIIReply(ReadData(addr), d.Regs(order))
	return b
}

// Status bits of the status register. The layout is from sinq123/OBD (hex digits of the
// value: 1st flow, 2nd fan, 3rd machine state); luckyzjian/VMAS reads only the last digit,
// with bit 2 as "flow normal" (StatusVMAS).
const (
	StatusWarmup   uint16 = 0x0001 // the zirconia O2 sensor warms up (both sources)
	StatusBlower   uint16 = 0x0010 // blower running (sinq123)
	StatusFlowOK   uint16 = 0x0100 // flow normal (sinq123)
	StatusFlowVMAS uint16 = 0x0004 // flow normal (luckyzjian/VMAS)
)

// StatusFrom maps the status register to drivers.Status: warm-up is Warmup, flow not
// normal LowFlow. vmas selects the luckyzjian/VMAS reading of the flow bit.
func StatusFrom(v uint16, vmas bool) drivers.Status {
	var st drivers.Status
	if v&StatusWarmup != 0 {
		st |= drivers.Warmup
	}
	ok := StatusFlowOK
	if vmas {
		ok = StatusFlowVMAS
	}
	if v&ok == 0 {
		st |= drivers.LowFlow
	}
	return st
}

// DecodeStatus decodes the ASCII reply frame to ReadStatus(addr).
func DecodeStatus(frame []byte, addr byte) (uint16, error) {
	r, err := modbus.DecodeASCII(frame, ReadStatus(addr))
	if err != nil {
		return 0, fmt.Errorf("nhf1: status: %w", err)
	}
	return r[0], nil
}

// DecodeWrite checks the ASCII reply frame to a write of reg on slave addr: address,
// function 06 and register must match; the value is the device's result, WriteOK (last
// digit 1) on success, else drivers.ErrFailed. An exception reply wraps drivers.ErrNAK.
func DecodeWrite(frame []byte, addr byte, reg uint16) error {
	m, err := modbus.ParseASCIIFrame(frame)
	if err != nil {
		return fmt.Errorf("nhf1: write %#04x: %w", reg, err)
	}
	w := modbus.Write(addr, reg, 0)
	if len(m) == 3 {
		_, err := modbus.ParseReply(m, w)
		return fmt.Errorf("nhf1: write %#04x: %w", reg, err)
	}
	if len(m) != 6 || m[0] != addr || m[1] != modbus.WriteSingle || uint16(m[2])<<8|uint16(m[3]) != reg {
		return fmt.Errorf("nhf1: write %#04x: reply % X does not match: %w", reg, m, drivers.ErrFrame)
	}
	if v := uint16(m[4])<<8 | uint16(m[5]); v&0x000F != WriteOK {
		return fmt.Errorf("nhf1: write %#04x: result %#04x: %w", reg, v, drivers.ErrFailed)
	}
	return nil
}

// EncodeWriteReply builds the reply to a write of reg (the simulator's side): value
// WriteOK on success, 0 on failure.
func EncodeWriteReply(addr byte, reg uint16, ok bool) []byte {
	v := uint16(0)
	if ok {
		v = WriteOK
	}
	return modbus.ASCIIFrame(modbus.Write(addr, reg, v).PDU())
}
