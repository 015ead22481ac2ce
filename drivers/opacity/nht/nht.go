package nht

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
	// OilCelsius reads the oil word in whole °C instead of whole kelvin (−273), the
	// reading of every source found (sinq123/OBD for NHT-6 and NHT-1L, luckyzjian/VMAS for
	// NHT-1). domain.md §1.3.2 says NHT-6 code reads it raw; the code says otherwise.
	// See firmware-notes/opacity/nht.md.
	OilCelsius bool
	// AccelMethod is the A0 argument StartPeaks sends on the NHT-6 to select the
	// free-acceleration test (default 0x02, the NHT-1's "acceleration" method code [I]).
	AccelMethod byte
	Clock       func() time.Time // stamps readings; default time.Now
}

// DefaultOpts are the values used for zero fields of Opts.
var DefaultOpts = Opts{
	Model:       NHT6,
	Timeout:     time.Second,
	Quiet:       20 * time.Millisecond,
	AccelMethod: StatusAccel,
}

// Dev is one opacimeter on a serial link. Its methods may be called from several
// goroutines; transactions are serialized.
type Dev struct {
	rw io.ReadWriter
	o  Opts
	mi modelInfo
	mu sync.Mutex
}

var (
	_ drivers.Device        = (*Dev)(nil)
	_ drivers.Zeroer        = (*Dev)(nil)
	_ drivers.StatusQuerier = (*Dev)(nil)
	_ drivers.PeakReader    = (*Dev)(nil)
)

// New returns a driver for the opacimeter on rw (a go.bug.st/serial port at 9600 8N1). It
// does no I/O.
func New(rw io.ReadWriter, o Opts) (*Dev, error) {
	if rw == nil {
		return nil, errors.New("nht: nil port")
	}
	if o.Model == "" {
		return nil, errors.New("nht: no model given")
	}
	mi, err := lookup(o.Model)
	if err != nil {
		return nil, err
	}
	if err := drivers.DefaultDurations(
		drivers.Dur(&o.Timeout, DefaultOpts.Timeout),
		drivers.Dur(&o.Quiet, DefaultOpts.Quiet),
	); err != nil {
		return nil, fmt.Errorf("nht: %w", err)
	}
	if o.AccelMethod == 0 {
		o.AccelMethod = DefaultOpts.AccelMethod
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Dev{rw: rw, o: o, mi: mi}, nil
}

// Model returns the configured model.
func (d *Dev) Model() Model { return d.o.Model }

// Read polls the real-time data (A5): k, N, rpm and, when a probe is connected, the oil
// temperature. The frame carries no status: ask Status for warm-up.
func (d *Dev) Read(ctx context.Context) (drivers.Reading, error) {
	b, err := d.transact(ctx, CmdRealtime, nil, RealtimeLen)
	if err != nil {
		return drivers.Reading{}, err
	}
	r, err := DecodeRealtime(b, !d.o.OilCelsius)
	if err != nil {
		return drivers.Reading{}, err
	}
	v := map[drivers.Quantity]float64{
		drivers.KM1:        r.K,
		drivers.OpacityPct: r.N,
		drivers.RPM:        r.RPM,
	}
	if r.OilOK {
		v[drivers.OilTempC] = r.OilTempC
	}
	return drivers.Reading{Time: d.o.Clock(), Values: v, Raw: b}, nil
}

// StatusCode asks for the raw status code (A1, or AD on the NHT-1L).
func (d *Dev) StatusCode(ctx context.Context) (byte, error) {
	b, err := d.transact(ctx, d.mi.statusCmd, nil, StatusLen)
	if err != nil {
		return 0, err
	}
	return DecodeStatus(b, d.mi.statusCmd)
}

// Status asks for the status code and maps it with StatusFromCode.
func (d *Dev) Status(ctx context.Context) (drivers.Status, error) {
	c, err := d.StatusCode(ctx)
	if err != nil {
		return 0, err
	}
	return StatusFromCode(c), nil
}

// SetStatus sends A0 with code (NHT-6: status 1..4; NHT-1: test method). The NHT-1L has
// no A0.
func (d *Dev) SetStatus(ctx context.Context, code byte) error {
	if !d.mi.setStatus {
		return fmt.Errorf("nht: %s has no set-status command", d.o.Model)
	}
	return d.simple(ctx, CmdSetStatus, code)
}

// Zero runs the calibration (A4).
func (d *Dev) Zero(ctx context.Context) error { return d.simple(ctx, CmdZero) }

// StopWarmup aborts the warm-up (A2).
func (d *Dev) StopWarmup(ctx context.Context) error { return d.simple(ctx, CmdStopWarmup) }

// ClearMax clears the max-hold values (A7).
func (d *Dev) ClearMax(ctx context.Context) error { return d.simple(ctx, CmdClearMax) }

// Max reads the max-hold values (A6).
func (d *Dev) Max(ctx context.Context) (Max, error) {
	b, err := d.transact(ctx, CmdMax, nil, MaxLen)
	if err != nil {
		return Max{}, err
	}
	return DecodeMax(b)
}

// Alarm reads the 16 alarm bits (A3); their meaning is in the vendor's manual, not in
// any source found.
func (d *Dev) Alarm(ctx context.Context) (uint16, error) {
	b, err := d.transact(ctx, CmdAlarm, nil, AlarmLen)
	if err != nil {
		return 0, err
	}
	return DecodeAlarm(b)
}

// Results reads the NHT-6's last manual test (B1): K1, K2, K3, their average and the
// low-idle speed.
func (d *Dev) Results(ctx context.Context) (Results, error) {
	if !d.mi.results {
		return Results{}, fmt.Errorf("nht: %s has no test-result command", d.o.Model)
	}
	b, err := d.transact(ctx, CmdTestResults, nil, ResultsLen)
	if err != nil {
		return Results{}, err
	}
	return DecodeResults(b)
}

// StartPeaks prepares a free-acceleration measurement. On the NHT-6 it selects the
// acceleration test (A0 Opts.AccelMethod) and clears the max-hold (A7); the instrument
// then records up to three peaks. The NHT-1 and NHT-1L only hold a maximum: StartPeaks
// clears it (A7), and the caller arms again before every acceleration.
func (d *Dev) StartPeaks(ctx context.Context) error {
	if d.mi.results {
		if err := d.simple(ctx, CmdSetStatus, d.o.AccelMethod); err != nil {
			return err
		}
	}
	return d.simple(ctx, CmdClearMax)
}

// Peaks returns the peak k values since StartPeaks, oldest first. NHT-6: K1..K3 of the
// test-result command, leaving out the slots not measured yet (0.00) at the new end.
// NHT-1/1L: the one maximum k held since StartPeaks, or none while it reads 0.00.
func (d *Dev) Peaks(ctx context.Context) ([]float64, error) {
	if d.mi.results {
		r, err := d.Results(ctx)
		if err != nil {
			return nil, err
		}
		p := r.K[:]
		for len(p) > 0 && p[len(p)-1] == 0 {
			p = p[:len(p)-1]
		}
		return append([]float64{}, p...), nil
	}
	m, err := d.Max(ctx)
	if err != nil {
		return nil, err
	}
	if m.K == 0 {
		return []float64{}, nil
	}
	return []float64{m.K}, nil
}

// simple runs a command whose reply is CMD CS.
func (d *Dev) simple(ctx context.Context, cmd byte, data ...byte) error {
	b, err := d.transact(ctx, cmd, data, AckLen)
	if err != nil {
		return err
	}
	return DecodeAck(b, cmd)
}

// transact drains stale input, writes CMD [data] CS and reads an n-byte reply: the first
// byte alone (NAK is drivers.ErrNAK at once, the error code is drained by the next
// transaction; a byte other than the echo drivers.ErrFrame), then the rest.
func (d *Dev) transact(ctx context.Context, cmd byte, data []byte, n int) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := drivers.Send(ctx, d.rw, Request(cmd, data...), d.o.Quiet); err != nil {
		return nil, fmt.Errorf("nht: cmd %#02x: %w", cmd, err)
	}
	deadline := time.Now().Add(d.o.Timeout)
	b := make([]byte, n)
	if _, err := drivers.ReadFull(ctx, d.rw, b[:1], d.o.Timeout); err != nil {
		return nil, fmt.Errorf("nht: cmd %#02x: %w", cmd, err)
	}
	switch b[0] {
	case NAK:
		return nil, fmt.Errorf("nht: cmd %#02x: %w", cmd, drivers.ErrNAK)
	case cmd:
	default:
		return nil, fmt.Errorf("nht: cmd %#02x: reply starts with %#02x: %w", cmd, b[0], drivers.ErrFrame)
	}
	if _, err := drivers.ReadFull(ctx, d.rw, b[1:], time.Until(deadline)); err != nil {
		return nil, fmt.Errorf("nht: cmd %#02x: %w", cmd, err)
	}
	return b, nil
}
