package nhf1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"imagent/drivers"
	"imagent/drivers/internal/modbus"
)

// Opts configures a Dev. Zero durations take the DefaultOpts value.
type Opts struct {
	Addr    byte          // Modbus slave address, default 1
	Timeout time.Duration // reply timeout per transaction, default 1.5 s (sinq123/OBD waits up to 2.5 s)
	Quiet   time.Duration // stale input is drained until the line is quiet this long, default 20 ms
	// Order of pressure and temperature in the data registers; the default OrderPT is
	// sinq123/OBD's (the vendor's library), OrderTP luckyzjian/VMAS's.
	Order Order
	// VMASStatus reads the flow bit of the status register as luckyzjian/VMAS does.
	VMASStatus bool
	// StdFlowAt20C says the standard-flow register is at 20 °C; by default it is taken to
	// be at 0 °C as sinq123/OBD labels it, and rebased to the canonical 20 °C.
	StdFlowAt20C bool
	Clock        func() time.Time // stamps readings; default time.Now
}

// DefaultOpts are the values used for zero fields of Opts.
var DefaultOpts = Opts{Addr: 1, Timeout: 1500 * time.Millisecond, Quiet: 20 * time.Millisecond}

// maxFrame bounds an ASCII reply; the longest, to the data read, is 31 characters.
const maxFrame = 64

// Dev is one NHF-1 on a serial link. Its methods may be called from several goroutines;
// transactions are serialized.
type Dev struct {
	rw io.ReadWriter
	o  Opts
	mu sync.Mutex
}

var (
	_ drivers.Device        = (*Dev)(nil)
	_ drivers.Zeroer        = (*Dev)(nil)
	_ drivers.Pump          = (*Dev)(nil)
	_ drivers.StatusQuerier = (*Dev)(nil)
)

// New returns a driver for the flowmeter on rw (a go.bug.st/serial port at 9600 8N1). It
// does no I/O.
func New(rw io.ReadWriter, o Opts) (*Dev, error) {
	if rw == nil {
		return nil, errors.New("nhf1: nil port")
	}
	if o.Addr == 0 {
		o.Addr = DefaultOpts.Addr
	}
	if o.Addr > 247 {
		return nil, fmt.Errorf("nhf1: slave address %d outside 1..247", o.Addr)
	}
	if o.Order != OrderPT && o.Order != OrderTP {
		return nil, fmt.Errorf("nhf1: unknown register order %d", o.Order)
	}
	if err := drivers.DefaultDurations(
		drivers.Dur(&o.Timeout, DefaultOpts.Timeout),
		drivers.Dur(&o.Quiet, DefaultOpts.Quiet),
	); err != nil {
		return nil, fmt.Errorf("nhf1: %w", err)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Dev{rw: rw, o: o}, nil
}

// Read reads the data registers (diluted O2, gas pressure and temperature, flow at actual
// and standard conditions) and the status register. The standard flow is reported at
// 20 °C (drivers.FlowStdLps). Raw is the two reply frames one after the other.
func (d *Dev) Read(ctx context.Context) (drivers.Reading, error) {
	db, err := d.transact(ctx, ReadData(d.o.Addr))
	if err != nil {
		return drivers.Reading{}, err
	}
	x, err := DecodeData(db, d.o.Addr, d.o.Order)
	if err != nil {
		return drivers.Reading{}, err
	}
	sb, err := d.transact(ctx, ReadStatus(d.o.Addr))
	if err != nil {
		return drivers.Reading{}, err
	}
	sv, err := DecodeStatus(sb, d.o.Addr)
	if err != nil {
		return drivers.Reading{}, err
	}
	std := x.StdFlowLps
	if !d.o.StdFlowAt20C {
		std = std * 293.15 / 273.15
	}
	return drivers.Reading{
		Time: d.o.Clock(),
		Values: map[drivers.Quantity]float64{
			drivers.O2DilPct:   x.O2Pct,
			drivers.FlowKPa:    x.PressureKPa,
			drivers.FlowTempC:  x.TempC,
			drivers.FlowLps:    x.FlowLps,
			drivers.FlowStdLps: std,
		},
		Status: StatusFrom(sv, d.o.VMASStatus),
		Raw:    append(db, sb...),
	}, nil
}

// StatusWord reads the raw status register.
func (d *Dev) StatusWord(ctx context.Context) (uint16, error) {
	b, err := d.transact(ctx, ReadStatus(d.o.Addr))
	if err != nil {
		return 0, err
	}
	return DecodeStatus(b, d.o.Addr)
}

// Status reads the status register and maps it with StatusFrom.
func (d *Dev) Status(ctx context.Context) (drivers.Status, error) {
	v, err := d.StatusWord(ctx)
	if err != nil {
		return 0, err
	}
	return StatusFrom(v, d.o.VMASStatus), nil
}

// SetPump switches the dilution blower on or off (register 0x125E).
func (d *Dev) SetPump(ctx context.Context, on bool) error {
	v := uint16(0)
	if on {
		v = 1
	}
	return d.write(ctx, RegBlower, v)
}

// Zero runs the diluted-O2 zero on ambient air (register 0x125F).
func (d *Dev) Zero(ctx context.Context) error { return d.write(ctx, RegO2Zero, 1) }

// O2Point selects an O2 calibration point.
type O2Point uint16

// O2 calibration points (their registers).
const (
	O2High = O2Point(RegCalO2High)
	O2Mid  = O2Point(RegCalO2Mid)
	O2Low  = O2Point(RegCalO2Low)
)

// SpanO2 calibrates an O2 point with a gas of pct % (0.01 %, e.g. 20.8 % → 0x0820).
func (d *Dev) SpanO2(ctx context.Context, p O2Point, pct float64) error {
	if p != O2High && p != O2Mid && p != O2Low {
		return fmt.Errorf("nhf1: unknown O2 point %#04x", uint16(p))
	}
	return d.writeValue(ctx, uint16(p), pct, 100, 0, 25)
}

// CalibratePressure calibrates the gas pressure to kPa (0.01 kPa; 50–400 kPa as
// sinq123/OBD checks).
func (d *Dev) CalibratePressure(ctx context.Context, kPa float64) error {
	return d.writeValue(ctx, RegCalPressure, kPa, 100, 50, 400)
}

// CalibrateTemp calibrates the gas temperature to °C (0.1 °C; −50–100 °C).
func (d *Dev) CalibrateTemp(ctx context.Context, c float64) error {
	return d.writeValue(ctx, RegCalTemp, c, 10, -50, 100)
}

// FlowPoint selects a flow calibration point.
type FlowPoint uint16

// Flow calibration points (their registers).
const (
	FlowHigh   = FlowPoint(RegCalFlowHigh)
	FlowLow    = FlowPoint(RegCalFlowLow)
	FlowSingle = FlowPoint(RegCalFlowSingle)
)

// CalibrateFlow calibrates a flow point with the standard flow lps (sent in CFM, which
// must stay below 390 CFM ≈ 184 L/s as luckyzjian/VMAS notes).
func (d *Dev) CalibrateFlow(ctx context.Context, p FlowPoint, lps float64) error {
	if p != FlowHigh && p != FlowLow && p != FlowSingle {
		return fmt.Errorf("nhf1: unknown flow point %#04x", uint16(p))
	}
	return d.writeValue(ctx, uint16(p), lps, 1/LpsPerCFM, 0.001, 390*LpsPerCFM)
}

// RestoreDefaults restores the factory settings (register 0x126C).
func (d *Dev) RestoreDefaults(ctx context.Context) error { return d.write(ctx, RegRestore, 1) }

func (d *Dev) writeValue(ctx context.Context, reg uint16, v, scale, lo, hi float64) error {
	if !(v >= lo && v <= hi) {
		return fmt.Errorf("nhf1: value %v for register %#04x outside %v..%v", v, reg, lo, hi)
	}
	return d.write(ctx, reg, uint16(int16(math.Round(v*scale))))
}

// write writes one register and checks the device's result.
func (d *Dev) write(ctx context.Context, reg, v uint16) error {
	b, err := d.transact(ctx, modbus.Write(d.o.Addr, reg, v))
	if err != nil {
		return err
	}
	return DecodeWrite(b, d.o.Addr, reg)
}

// transact drains stale input, writes the ASCII frame of r and reads one reply line: the
// first character must be ':' (else drivers.ErrFrame at once; the next drain eats the
// rest), then characters up to LF.
func (d *Dev) transact(ctx context.Context, r modbus.Request) ([]byte, error) {
	req, err := modbus.EncodeASCII(r)
	if err != nil {
		return nil, fmt.Errorf("nhf1: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := drivers.Send(ctx, d.rw, req, d.o.Quiet); err != nil {
		return nil, fmt.Errorf("nhf1: reg %#04x: %w", r.Reg, err)
	}
	deadline := time.Now().Add(d.o.Timeout)
	b := make([]byte, 0, 32)
	var c [1]byte
	for {
		if _, err := drivers.ReadFull(ctx, d.rw, c[:], time.Until(deadline)); err != nil {
			return nil, fmt.Errorf("nhf1: reg %#04x: %w", r.Reg, err)
		}
		if len(b) == 0 && c[0] != ':' {
			return nil, fmt.Errorf("nhf1: reg %#04x: reply starts with %#02x, want ':': %w", r.Reg, c[0], drivers.ErrFrame)
		}
		b = append(b, c[0])
		if c[0] == '\n' {
			return b, nil
		}
		if len(b) >= maxFrame {
			return nil, fmt.Errorf("nhf1: reg %#04x: no LF within %d characters: %w", r.Reg, maxFrame, drivers.ErrFrame)
		}
	}
}
