package nanhua

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"imagent/drivers"
)

// Opts configures a Dev. Zero durations take the DefaultOpts value.
type Opts struct {
	Model   Model         // required
	Timeout time.Duration // reply timeout per transaction, default 1 s
	Quiet   time.Duration // stale input is drained until the line is quiet this long, default 20 ms

	// PollInterval is the pause between two polls of a running zero or leak check
	// (default 500 ms); OpTimeout bounds the whole operation (default 60 s).
	PollInterval time.Duration
	OpTimeout    time.Duration

	// Legacy19 says the firmware answers main data with 19 bytes and no λ word (old
	// CDF5000 and NHA firmware); Read then computes λ (Brettschneider) for Fuel.
	Legacy19 bool
	// Fuel the analyzer is set to, for the computed λ; SetFuel changes it. Default Gasoline.
	Fuel Fuel
	// FLA502HexCommands sends items from 10 on as luckyzjian/VMAS declares them (item 34
	// as 0x34) instead of the decimal item number (0x22). FLA-502 only; default false.
	// The sources disagree; see firmware-notes/gas/nanhua.md.
	FLA502HexCommands bool

	// CalGasStyle is how WriteCalGas sends the concentrations (items 9 and 11); the
	// default CalGasAuto uses the model's own style. The sources disagree; see
	// firmware-notes/gas/nanhua.md.
	CalGasStyle CalGasStyle
	// SpanFormat says how Span and GasCheck read the progress data (CO scale, checksum).
	SpanFormat SpanFormat
	// HCResidualTime is how long HCResidual pumps before it reads HC; default 15 s, the
	// time luckyzjian/VMAS counts down (sds/sds/Sds.cs).
	HCResidualTime time.Duration
	// HCResidualAir makes HCResidual pump through the ambient-air inlet (item 3) instead
	// of through the probe (item 4, the lane code's choice).
	HCResidualAir bool

	// Clock stamps readings; default time.Now.
	Clock func() time.Time
}

// DefaultOpts are the values used for zero fields of Opts.
var DefaultOpts = Opts{
	Model:          NHA503,
	Timeout:        time.Second,
	Quiet:          20 * time.Millisecond,
	PollInterval:   500 * time.Millisecond,
	OpTimeout:      60 * time.Second,
	HCResidualTime: 15 * time.Second,
}

// Dev is one analyzer on a serial link. Its methods may be called from several goroutines;
// transactions are serialized, and a long zero or leak check lets other calls in between
// its polls.
type Dev struct {
	rw       io.ReadWriter
	o        Opts
	mi       modelInfo
	cmds     [cmdEnd]byte
	calStyle CalGasStyle // resolved from Opts.CalGasStyle and the model

	mu   sync.Mutex // one transaction at a time
	fuel Fuel       // under mu
}

var (
	_ drivers.Device        = (*Dev)(nil)
	_ drivers.Zeroer        = (*Dev)(nil)
	_ drivers.LeakChecker   = (*Dev)(nil)
	_ drivers.Pump          = (*Dev)(nil)
	_ drivers.Ambient       = (*Dev)(nil)
	_ drivers.StatusQuerier = (*Dev)(nil)
	_ drivers.CalGasWriter  = (*Dev)(nil)
	_ drivers.Spanner       = (*Dev)(nil)
)

// New returns a driver for the analyzer on rw (normally a go.bug.st/serial port at
// 9600 8N1). It does no I/O; the first Read shows whether the analyzer answers.
func New(rw io.ReadWriter, o Opts) (*Dev, error) {
	if rw == nil {
		return nil, errors.New("nanhua: nil port")
	}
	if o.Model == "" {
		return nil, errors.New("nanhua: no model given")
	}
	mi, err := lookup(o.Model)
	if err != nil {
		return nil, err
	}
	if _, _, ok := o.Fuel.ratios(); !ok {
		return nil, fmt.Errorf("nanhua: unknown fuel %v", o.Fuel)
	}
	if err := drivers.DefaultDurations(
		drivers.Dur(&o.Timeout, DefaultOpts.Timeout),
		drivers.Dur(&o.Quiet, DefaultOpts.Quiet),
		drivers.Dur(&o.PollInterval, DefaultOpts.PollInterval),
		drivers.Dur(&o.OpTimeout, DefaultOpts.OpTimeout),
		drivers.Dur(&o.HCResidualTime, DefaultOpts.HCResidualTime),
	); err != nil {
		return nil, fmt.Errorf("nanhua: %w", err)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	d := &Dev{rw: rw, o: o, mi: mi, fuel: o.Fuel, calStyle: o.CalGasStyle}
	switch o.CalGasStyle {
	case CalGasAuto:
		d.calStyle = mi.calGas
	case CalGasTwoPhase, CalGasSingleFrame:
	default:
		return nil, fmt.Errorf("nanhua: unknown calibration-gas style %v", o.CalGasStyle)
	}
	for _, c := range Cmds() {
		b, err := CommandByte(o.Model, c, o.FLA502HexCommands)
		if err != nil {
			return nil, err
		}
		d.cmds[c] = b
	}
	return d, nil
}

// Model returns the configured model.
func (d *Dev) Model() Model { return d.o.Model }

// Read polls the main data (command 1) and returns HC, CO, CO2, O2, NO, rpm, oil
// temperature and λ in canonical units. Warm-up, zeroing, low flow and aged sensors are
// Status bits, not errors. Raw is the reply as received.
func (d *Dev) Read(ctx context.Context) (drivers.Reading, error) {
	n := MainLen
	if d.o.Legacy19 {
		n = MainLegacyLen
	}
	buf := make([]byte, n)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.transact(ctx, CmdMain, buf, true); err != nil {
		return drivers.Reading{}, err
	}
	x, err := DecodeMain(buf, d.o.Model)
	if err != nil {
		return drivers.Reading{}, err
	}
	l := x.Lambda
	if x.Legacy {
		l = lambda(x.HC, x.CO, x.CO2, x.O2, d.fuel)
	}
	return drivers.Reading{
		Time: d.o.Clock(),
		Values: map[drivers.Quantity]float64{
			drivers.HCppm:    x.HC,
			drivers.COpct:    x.CO,
			drivers.CO2pct:   x.CO2,
			drivers.O2pct:    x.O2,
			drivers.NOppm:    x.NO,
			drivers.RPM:      x.RPM,
			drivers.OilTempC: x.OilTemp,
			drivers.Lambda:   l,
		},
		Status: MainStatus(x, d.o.Model),
		Raw:    buf,
	}, nil
}

// ReadAmbient reads the analyzer's own ambient sensors (command 2): temperature,
// barometric pressure and relative humidity.
func (d *Dev) ReadAmbient(ctx context.Context) (drivers.Reading, error) {
	buf := make([]byte, AmbientLen)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.transact(ctx, CmdAmbient, buf, true); err != nil {
		return drivers.Reading{}, err
	}
	a, err := DecodeAmbient(buf)
	if err != nil {
		return drivers.Reading{}, err
	}
	return drivers.Reading{
		Time: d.o.Clock(),
		Values: map[drivers.Quantity]float64{
			drivers.TempC:       a.TempC,
			drivers.PressureKPa: a.PressureKPa,
			drivers.RHpct:       a.RHpct,
		},
		Raw: buf,
	}, nil
}

// Status asks the analyzer for its state (status command, 1-byte code).
func (d *Dev) Status(ctx context.Context) (drivers.Status, error) {
	var b [1]byte
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.transact(ctx, CmdStatus, b[:], false); err != nil {
		return 0, err
	}
	return StatusFromCode(b[0]), nil
}

// WarmupLeft asks how long the analyzer still needs to warm up (2-byte reply, seconds).
func (d *Dev) WarmupLeft(ctx context.Context) (time.Duration, error) {
	var b [2]byte
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.transact(ctx, CmdWarmup, b[:], false); err != nil {
		return 0, err
	}
	return time.Duration(uint16(b[0])<<8|uint16(b[1])) * time.Second, nil
}

// SetPump switches the sample pump on (command 4, sample from the probe) or off
// (command 6, which also ends a back-flush).
func (d *Dev) SetPump(ctx context.Context, on bool) error {
	if on {
		return d.simple(ctx, CmdPumpProbe)
	}
	return d.simple(ctx, CmdStop)
}

// Backflush blows the probe and filters back (command 5); SetPump(ctx, false) ends it.
func (d *Dev) Backflush(ctx context.Context) error { return d.simple(ctx, CmdBackflush) }

// PumpAir pumps ambient air through the bench (command 3), e.g. before a zero.
func (d *Dev) PumpAir(ctx context.Context) error { return d.simple(ctx, CmdPumpAir) }

// SetFuel sets the analyzer's fuel type and the fuel used for a computed λ.
func (d *Dev) SetFuel(ctx context.Context, f Fuel) error {
	if _, _, ok := f.ratios(); !ok {
		return fmt.Errorf("nanhua: unknown fuel %v", f)
	}
	if err := d.simple(ctx, CmdFuelGasoline+Cmd(f)); err != nil {
		return err
	}
	d.mu.Lock()
	d.fuel = f
	d.mu.Unlock()
	return nil
}

// Zero runs a zero calibration (command 8) and waits for its end, re-issuing the command
// every PollInterval while the analyzer answers 0x05 (in progress). A failed zero wraps
// drivers.ErrFailed. It gives up after OpTimeout with drivers.ErrTimeout.
func (d *Dev) Zero(ctx context.Context) error {
	r, err := d.poll(ctx, CmdZero)
	if err != nil {
		return err
	}
	if r == ResultFailed {
		return fmt.Errorf("nanhua: zero: %w", drivers.ErrFailed)
	}
	return nil
}

// LeakCheck runs the leak check (command 7) and waits for its end like Zero. tight is
// false when the analyzer found a leak; err is for a check that could not be run.
func (d *Dev) LeakCheck(ctx context.Context) (tight bool, err error) {
	r, err := d.poll(ctx, CmdLeakCheck)
	if err != nil {
		return false, err
	}
	return r == ResultOK, nil
}

// poll issues c until the analyzer answers ResultOK or ResultFailed.
func (d *Dev) poll(ctx context.Context, c Cmd) (byte, error) {
	opCtx, cancel := context.WithTimeout(ctx, d.o.OpTimeout)
	defer cancel()
	for {
		var b [1]byte
		d.mu.Lock()
		err := d.transact(opCtx, c, b[:], false)
		d.mu.Unlock()
		if err != nil {
			if ctx.Err() == nil && opCtx.Err() != nil {
				return 0, fmt.Errorf("nanhua: %v not finished within %v: %w", c, d.o.OpTimeout, drivers.ErrTimeout)
			}
			return 0, err
		}
		switch b[0] {
		case ResultOK, ResultFailed:
			return b[0], nil
		case ResultBusy, ACK: // ACK: old firmware acknowledges instead of 0x05
		default:
			return 0, fmt.Errorf("nanhua: %v: unexpected reply %#02x: %w", c, b[0], drivers.ErrFrame)
		}
		t := time.NewTimer(d.o.PollInterval)
		select {
		case <-opCtx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return 0, fmt.Errorf("nanhua: %v: %w", c, ctx.Err())
			}
			return 0, fmt.Errorf("nanhua: %v not finished within %v: %w", c, d.o.OpTimeout, drivers.ErrTimeout)
		case <-t.C:
		}
	}
}

// simple runs a command whose whole reply is ACK.
func (d *Dev) simple(ctx context.Context, c Cmd) error {
	var b [1]byte
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.transact(ctx, c, b[:], true); err != nil {
		return err
	}
	return nil
}

// transact drains stale input, writes the command byte of c and fills reply. A first
// byte of NAK is drivers.ErrNAK. With ack set the first byte must be ACK (else
// drivers.ErrFrame) and the rest is read only then, so a garbage byte is reported at once
// and the next transaction's drain discards what follows. Callers hold d.mu.
func (d *Dev) transact(ctx context.Context, c Cmd, reply []byte, ack bool) error {
	return d.exchange(ctx, c, []byte{d.cmds[c]}, reply, ack)
}

// exchange is transact with any request bytes (the data phase of a two-phase write, a
// single-frame write); what names the operation in errors. Callers hold d.mu.
func (d *Dev) exchange(ctx context.Context, what fmt.Stringer, req, reply []byte, ack bool) error {
	if err := drivers.Send(ctx, d.rw, req, d.o.Quiet); err != nil {
		return fmt.Errorf("nanhua: %v: %w", what, err)
	}
	deadline := time.Now().Add(d.o.Timeout)
	if _, err := drivers.ReadFull(ctx, d.rw, reply[:1], d.o.Timeout); err != nil {
		return fmt.Errorf("nanhua: %v: %w", what, err)
	}
	switch {
	case reply[0] == NAK:
		return fmt.Errorf("nanhua: %v: %w", what, drivers.ErrNAK)
	case ack && reply[0] != ACK:
		return fmt.Errorf("nanhua: %v: first byte %#02x, want %#02x: %w", what, reply[0], ACK, drivers.ErrFrame)
	}
	if len(reply) > 1 {
		if _, err := drivers.ReadFull(ctx, d.rw, reply[1:], time.Until(deadline)); err != nil {
			return fmt.Errorf("nanhua: %v: %w", what, err)
		}
	}
	return nil
}
