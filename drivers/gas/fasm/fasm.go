package fasm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"imagent/drivers"
)

// Opts configures a Dev. Zero values take the DefaultOpts value.
type Opts struct {
	Addr    byte          // analyzer address, default 0x01
	Timeout time.Duration // answer timeout per transaction, default 1 s
	Quiet   time.Duration // stale input is drained until the line is quiet this long, default 20 ms
	// OpTimeout bounds the wait for the end of a zero or leak check (default 60 s).
	OpTimeout time.Duration
	// CalNOScale multiplies NO (ppm) in the calibration data; the lane code sends ×100,
	// which cannot carry more than 655 ppm. Default 100.
	CalNOScale float64
	Clock      func() time.Time // stamps readings; default time.Now
}

// DefaultOpts are the values used for zero fields of Opts.
var DefaultOpts = Opts{Addr: DefaultAddr, Timeout: time.Second, Quiet: 20 * time.Millisecond, OpTimeout: 60 * time.Second, CalNOScale: 100}

// Dev is one FASM-5000 on a serial link. Its methods may be called from several
// goroutines; transactions are serialized, and a zero or leak check holds the link until
// its end frame arrives.
type Dev struct {
	rw io.ReadWriter
	o  Opts
	mu sync.Mutex
}

var (
	_ drivers.Device       = (*Dev)(nil)
	_ drivers.Zeroer       = (*Dev)(nil)
	_ drivers.LeakChecker  = (*Dev)(nil)
	_ drivers.Pump         = (*Dev)(nil)
	_ drivers.Ambient      = (*Dev)(nil)
	_ drivers.CalGasWriter = (*Dev)(nil)
)

// New returns a driver for the analyzer on rw. It does no I/O.
func New(rw io.ReadWriter, o Opts) (*Dev, error) {
	if rw == nil {
		return nil, errors.New("fasm: nil port")
	}
	if o.Addr == 0 {
		o.Addr = DefaultOpts.Addr
	}
	if err := drivers.DefaultDurations(
		drivers.Dur(&o.Timeout, DefaultOpts.Timeout),
		drivers.Dur(&o.Quiet, DefaultOpts.Quiet),
		drivers.Dur(&o.OpTimeout, DefaultOpts.OpTimeout),
	); err != nil {
		return nil, fmt.Errorf("fasm: %w", err)
	}
	switch {
	case o.CalNOScale == 0:
		o.CalNOScale = DefaultOpts.CalNOScale
	case !(o.CalNOScale > 0) || o.CalNOScale > 1000:
		return nil, fmt.Errorf("fasm: CalNOScale %v out of range (0, 1000]", o.CalNOScale)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Dev{rw: rw, o: o}, nil
}

// Read polls the data (0x02): HC, CO, CO2, O2, NO, λ, rpm, oil temperature and the
// ambient pressure, temperature and humidity. The raw flow word is not a canonical
// quantity (its unit is unknown); DecodeData on Reading.Raw gives it.
func (d *Dev) Read(ctx context.Context) (drivers.Reading, error) {
	x, raw, err := d.data(ctx)
	if err != nil {
		return drivers.Reading{}, err
	}
	return drivers.Reading{
		Time: d.o.Clock(),
		Values: map[drivers.Quantity]float64{
			drivers.HCppm:       x.HC,
			drivers.COpct:       x.CO,
			drivers.CO2pct:      x.CO2,
			drivers.O2pct:       x.O2,
			drivers.NOppm:       x.NO,
			drivers.Lambda:      x.Lambda,
			drivers.RPM:         x.RPM,
			drivers.OilTempC:    x.OilTemp,
			drivers.PressureKPa: x.PressureKPa,
			drivers.TempC:       x.TempC,
			drivers.RHpct:       x.RHpct,
		},
		Raw: raw,
	}, nil
}

// ReadAmbient returns the ambient temperature, humidity and pressure of the data answer.
func (d *Dev) ReadAmbient(ctx context.Context) (drivers.Reading, error) {
	x, raw, err := d.data(ctx)
	if err != nil {
		return drivers.Reading{}, err
	}
	return drivers.Reading{
		Time:   d.o.Clock(),
		Values: map[drivers.Quantity]float64{drivers.TempC: x.TempC, drivers.RHpct: x.RHpct, drivers.PressureKPa: x.PressureKPa},
		Raw:    raw,
	}, nil
}

func (d *Dev) data(ctx context.Context) (Data, []byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	raw, err := d.transact(ctx, "data", CmdData, nil, CmdData)
	if err != nil {
		return Data{}, nil, err
	}
	x, err := DecodeData(raw)
	return x, raw, err
}

// PEF reads the propane equivalence factor (0x03).
func (d *Dev) PEF(ctx context.Context) (float64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	raw, err := d.transact(ctx, "PEF", CmdPEF, nil, CmdPEF, CmdTestSignal)
	if err != nil {
		return 0, err
	}
	return DecodePEF(raw)
}

// SetPump pumps from the probe (0x0B) or stops the pump (0x0A).
func (d *Dev) SetPump(ctx context.Context, on bool) error {
	if on {
		return d.simple(ctx, "pump probe", CmdPumpProbe, nil)
	}
	return d.simple(ctx, "stop pump", CmdStopPump, nil)
}

// Gas paths the pump can draw from, for SetPath.
const (
	PathAir   = CmdPumpAir     // ambient air
	PathZero  = CmdPumpZeroGas // zero gas
	PathCheck = CmdPumpCheck   // check gas
	PathSpan  = CmdPumpSpan    // span gas
	PathLeak  = CmdLeakPump    // the leak-check pump
)

// SetPath makes the pump draw from another inlet (one of the Path constants).
func (d *Dev) SetPath(ctx context.Context, path byte) error {
	switch path {
	case PathAir, PathZero, PathCheck, PathSpan, PathLeak:
		return d.simple(ctx, "pump path", path, nil)
	}
	return fmt.Errorf("fasm: unknown pump path %#02x", path)
}

// Backflush blows the sample line back (0x10, with the data byte FF the lane code sends).
func (d *Dev) Backflush(ctx context.Context) error {
	return d.simple(ctx, "back-flush", CmdBackflush, []byte{0xff})
}

// SetZeroGas selects the zero gas: ambient air (0x12 00) or bottled zero gas (0x12 01).
func (d *Dev) SetZeroGas(ctx context.Context, bottled bool) error {
	b := byte(0)
	if bottled {
		b = 1
	}
	return d.simple(ctx, "zero gas", CmdZeroGas, []byte{b})
}

// Zero runs a zero (0x15) and waits for its end frame: 0x1A ok, 0x1B failed
// (drivers.ErrFailed), 0x19 cannot answer (drivers.ErrNAK).
func (d *Dev) Zero(ctx context.Context) error {
	ok, err := d.operate(ctx, "zero", CmdZero)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("fasm: zero: %w", drivers.ErrFailed)
	}
	return nil
}

// LeakCheck runs the leak check (0x17) and waits for its end frame: 0x1A tight, 0x1B a
// leak [I].
func (d *Dev) LeakCheck(ctx context.Context) (bool, error) {
	return d.operate(ctx, "leak check", CmdLeakCheck)
}

// WriteCalGas writes the calibration-gas concentrations (0x07): C3H8, CO, CO2 and NO;
// O2 is not sent. There is no check-gas write: check=true gives errors.ErrUnsupported.
// (The sources name no separate span command; the analyzer calibrates with its own
// procedure, so the FASM-5000 has no drivers.Spanner.)
func (d *Dev) WriteCalGas(ctx context.Context, g drivers.CalGas, check bool) error {
	if check {
		return fmt.Errorf("fasm: check-gas concentrations: %w", errors.ErrUnsupported)
	}
	data, err := EncodeCalData(g, d.o.CalNOScale)
	if err != nil {
		return err
	}
	return d.simple(ctx, "write calibration gas", CmdWriteCal, data)
}

// operate sends cmd, takes its acknowledgement and waits up to OpTimeout for the end
// frame, holding the link: another transaction could swallow the frame.
func (d *Dev) operate(ctx context.Context, what string, cmd byte) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.transact(ctx, what, cmd, nil, cmd); err != nil {
		return false, err
	}
	head := make([]byte, HeaderLen)
	if _, err := drivers.ReadFull(ctx, d.rw, head, d.o.OpTimeout); err != nil {
		if errors.Is(err, drivers.ErrTimeout) {
			return false, fmt.Errorf("fasm: %s not finished within %v: %w", what, d.o.OpTimeout, err)
		}
		return false, fmt.Errorf("fasm: %s: %w", what, err)
	}
	h, err := DecodeHeader(head, RepHead)
	if err != nil {
		return false, fmt.Errorf("%w (%s result)", err, what)
	}
	switch {
	case h.Len != 0:
		return false, fmt.Errorf("fasm: %s result: %d data bytes: %w", what, h.Len, drivers.ErrFrame)
	case h.Cmd == RespSuccess:
		return true, nil
	case h.Cmd == RespFail:
		return false, nil
	case h.Cmd == RespCantAnswer:
		return false, fmt.Errorf("fasm: %s: analyzer cannot answer: %w", what, drivers.ErrNAK)
	}
	return false, fmt.Errorf("fasm: %s result: command %#02x: %w", what, h.Cmd, drivers.ErrFrame)
}

// simple sends cmd with data and accepts any well-formed answer to cmd.
func (d *Dev) simple(ctx context.Context, what string, cmd byte, data []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, err := d.transact(ctx, what, cmd, data, cmd)
	return err
}

// transact drains stale input, writes the request and reads one answer frame, which must
// come from our address and carry one of the commands want. 0x19 is drivers.ErrNAK and
// 0x1B drivers.ErrFailed. A first byte other than A5 is reported at once; the next
// transaction's drain discards the rest. Callers hold d.mu.
func (d *Dev) transact(ctx context.Context, what string, cmd byte, data []byte, want ...byte) ([]byte, error) {
	if err := drivers.Send(ctx, d.rw, EncodeFrame(ReqHead, d.o.Addr, cmd, data), d.o.Quiet); err != nil {
		return nil, fmt.Errorf("fasm: %s: %w", what, err)
	}
	deadline := time.Now().Add(d.o.Timeout)
	b := make([]byte, HeaderLen, DataLen)
	if _, err := drivers.ReadFull(ctx, d.rw, b[:1], d.o.Timeout); err != nil {
		return nil, fmt.Errorf("fasm: %s: %w", what, err)
	}
	if b[0] != RepHead {
		return nil, fmt.Errorf("fasm: %s: first byte %#02x, want %#02x: %w", what, b[0], RepHead, drivers.ErrFrame)
	}
	if _, err := drivers.ReadFull(ctx, d.rw, b[1:], time.Until(deadline)); err != nil {
		return nil, fmt.Errorf("fasm: %s: %w", what, err)
	}
	h, err := DecodeHeader(b, RepHead)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, what)
	}
	if h.Addr != d.o.Addr {
		return nil, fmt.Errorf("fasm: %s: answer from address %#02x, want %#02x: %w", what, h.Addr, d.o.Addr, drivers.ErrFrame)
	}
	switch h.Cmd {
	case RespCantAnswer:
		return nil, fmt.Errorf("fasm: %s: analyzer cannot answer: %w", what, drivers.ErrNAK)
	case RespFail:
		return nil, fmt.Errorf("fasm: %s: %w", what, drivers.ErrFailed)
	}
	ok := false
	for _, c := range want {
		ok = ok || h.Cmd == c
	}
	if !ok {
		return nil, fmt.Errorf("fasm: %s: answer to command %#02x: %w", what, h.Cmd, drivers.ErrFrame)
	}
	b = append(b, make([]byte, h.Len)...)
	if _, err := drivers.ReadFull(ctx, d.rw, b[HeaderLen:], time.Until(deadline)); err != nil {
		return nil, fmt.Errorf("fasm: %s: %w", what, err)
	}
	if _, err := DecodeFrame(b, RepHead); err != nil {
		return nil, fmt.Errorf("%w (%s)", err, what)
	}
	return b, nil
}
