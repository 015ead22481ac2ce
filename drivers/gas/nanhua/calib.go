package nanhua

import (
	"context"
	"fmt"
	"time"

	"imagent/drivers"
)

// phase names the data phase of a two-phase write in errors.
type phase string

func (p phase) String() string { return string(p) }

// WriteCalGas tells the analyzer the certified concentrations of the calibration gas
// (item 9) or, with check set, of the check gas (item 11), in the style of
// Opts.CalGasStyle:
//
//   - two-phase: item → 06; C3H8, CO, CO2, NO + sum → 00 (an answer 01 means the analyzer
//     saw a bad checksum: drivers.ErrChecksum). O2 is not sent.
//   - single frame: item, C3H8, CO, CO2, O2, NO + sum → 06 00 (06 01: drivers.ErrFailed).
//
// Values that do not fit the frame (negative, too large) are refused before any I/O.
func (d *Dev) WriteCalGas(ctx context.Context, g drivers.CalGas, check bool) error {
	c := CmdCalGas
	if check {
		c = CmdCheckGas
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.calStyle == CalGasSingleFrame {
		frame, err := EncodeCalFrame(d.cmds[c], g, d.o.Model)
		if err != nil {
			return err
		}
		var b [CalAckLen]byte
		if err := d.exchange(ctx, c, frame, b[:], true); err != nil {
			return err
		}
		switch b[1] {
		case ResultOK:
			return nil
		case ResultFailed:
			return fmt.Errorf("nanhua: %v: analyzer refused the values: %w", c, drivers.ErrFailed)
		}
		return fmt.Errorf("nanhua: %v: answer % x, want 06 00: %w", c, b, drivers.ErrFrame)
	}
	data, err := EncodeCalData(g)
	if err != nil {
		return err
	}
	var b [1]byte
	if err := d.transact(ctx, c, b[:], true); err != nil {
		return err
	}
	if err := d.exchange(ctx, phase(c.String()+" data"), data, b[:], false); err != nil {
		return err
	}
	switch b[0] {
	case ResultOK:
		return nil
	case ResultFailed:
		return fmt.Errorf("nanhua: %v: analyzer reports a bad checksum in the data: %w", c, drivers.ErrChecksum)
	}
	return fmt.Errorf("nanhua: %v data: answer %#02x, want 00 or 01: %w", c, b[0], drivers.ErrFrame)
}

// Span runs a span calibration (item 10) with the gas written by WriteCalGas and waits
// for its end: while the analyzer answers 05 it sends 13 bytes of progress data (what it
// reads of the gas, and the PEF), and the command is re-issued every PollInterval; 00 ends
// it, 01 means it failed (drivers.ErrFailed). The Reading holds HC, CO, CO2, O2, NO and
// PEF from the last progress data; if the analyzer finished at once without any, it is a
// fresh main-data reading (with PEF from item 13).
func (d *Dev) Span(ctx context.Context) (drivers.Reading, error) { return d.runSpan(ctx, CmdSpan) }

// GasCheck runs the automatic gas check (item 12) with the gas written by
// WriteCalGas(..., true) and reports what the analyzer read, like Span.
func (d *Dev) GasCheck(ctx context.Context) (drivers.Reading, error) {
	return d.runSpan(ctx, CmdGasCheck)
}

func (d *Dev) runSpan(ctx context.Context, c Cmd) (drivers.Reading, error) {
	opCtx, cancel := context.WithTimeout(ctx, d.o.OpTimeout)
	defer cancel()
	timedOut := func() error {
		if ctx.Err() != nil {
			return fmt.Errorf("nanhua: %v: %w", c, ctx.Err())
		}
		return fmt.Errorf("nanhua: %v not finished within %v: %w", c, d.o.OpTimeout, drivers.ErrTimeout)
	}
	var last []byte
	for {
		b := make([]byte, SpanLen)
		d.mu.Lock()
		err := d.transact(opCtx, c, b[:1], false)
		if err == nil && b[0] == ResultBusy {
			_, err = drivers.ReadFull(opCtx, d.rw, b[1:], d.o.Timeout)
			if err != nil {
				err = fmt.Errorf("nanhua: %v progress data: %w", c, err)
			}
		}
		d.mu.Unlock()
		if err != nil {
			if ctx.Err() == nil && opCtx.Err() != nil {
				return drivers.Reading{}, timedOut()
			}
			return drivers.Reading{}, err
		}
		switch b[0] {
		case ResultOK:
			if last == nil {
				return d.spanFallback(ctx, c)
			}
			return d.spanReading(c, last)
		case ResultFailed:
			return drivers.Reading{}, fmt.Errorf("nanhua: %v: %w", c, drivers.ErrFailed)
		case ResultBusy:
			if _, err := DecodeSpan(b, d.o.Model, d.o.SpanFormat); err != nil {
				return drivers.Reading{}, fmt.Errorf("%w (%v)", err, c)
			}
			last = b
		default:
			return drivers.Reading{}, fmt.Errorf("nanhua: %v: unexpected reply %#02x: %w", c, b[0], drivers.ErrFrame)
		}
		if !sleepCtx(opCtx, d.o.PollInterval) {
			return drivers.Reading{}, timedOut()
		}
	}
}

func (d *Dev) spanReading(c Cmd, frame []byte) (drivers.Reading, error) {
	x, err := DecodeSpan(frame, d.o.Model, d.o.SpanFormat)
	if err != nil {
		return drivers.Reading{}, fmt.Errorf("%w (%v)", err, c)
	}
	return drivers.Reading{
		Time: d.o.Clock(),
		Values: map[drivers.Quantity]float64{
			drivers.HCppm:  x.HC,
			drivers.COpct:  x.CO,
			drivers.CO2pct: x.CO2,
			drivers.O2pct:  x.O2,
			drivers.NOppm:  x.NO,
			drivers.PEF:    x.PEF,
		},
		Raw: frame,
	}, nil
}

// spanFallback is the Reading of a span that ended without progress data: main data and
// the PEF.
func (d *Dev) spanFallback(ctx context.Context, c Cmd) (drivers.Reading, error) {
	r, err := d.Read(ctx)
	if err != nil {
		return drivers.Reading{}, fmt.Errorf("nanhua: %v finished; reading the gas: %w", c, err)
	}
	pef, err := d.PEF(ctx)
	if err != nil {
		return drivers.Reading{}, fmt.Errorf("nanhua: %v finished; reading the PEF: %w", c, err)
	}
	r.Values[drivers.PEF] = pef
	return r, nil
}

// PEF reads the propane equivalence factor the analyzer uses (item 13).
func (d *Dev) PEF(ctx context.Context) (float64, error) {
	var b [PEFLen]byte
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.transact(ctx, CmdPEF, b[:], false); err != nil {
		return 0, err
	}
	return DecodePEF(b[:])
}

// HCResidual measures the hydrocarbons left in the sample path before a test, as the
// lane software does (luckyzjian/VMAS sds/sds/Sds.cs, "HC残留测定"): pump through the
// probe (item 4; item 3, the ambient-air inlet, with Opts.HCResidualAir) for
// Opts.HCResidualTime with the probe out of the tailpipe, read the main data, stop the
// pump (item 6) and return HC in ppm. The lane code accepts HC < 20 ppm; judging is the
// caller's business. The pump is stopped even when ctx ends or the reading fails.
func (d *Dev) HCResidual(ctx context.Context) (float64, error) {
	pump := CmdPumpProbe
	if d.o.HCResidualAir {
		pump = CmdPumpAir
	}
	if err := d.simple(ctx, pump); err != nil {
		return 0, err
	}
	var r drivers.Reading
	var err error
	if sleepCtx(ctx, d.o.HCResidualTime) {
		r, err = d.Read(ctx)
	} else {
		err = fmt.Errorf("nanhua: HC residual: %w", ctx.Err())
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*d.o.Timeout+d.o.Quiet)
	defer cancel()
	stopErr := d.simple(stopCtx, CmdStop)
	if err != nil {
		return 0, err
	}
	if stopErr != nil {
		return 0, stopErr
	}
	return r.Values[drivers.HCppm], nil
}

// sleepCtx waits d, or less if ctx ends first (then it returns false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
