package flb100

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
	Timeout time.Duration // reply timeout per transaction, default 1 s
	Quiet   time.Duration // stale input is drained until the line is quiet this long, default 20 ms
	// ZeroTimeout bounds the wait for the zero (linearity correction) reply: the FLB-100
	// answers only when the correction is done, and not at all after 3 s [C-doc].
	// Default 5 s.
	ZeroTimeout time.Duration

	// OilWholeDegrees reads the oil temperature word in whole °C, as sinq123/OBD does,
	// instead of 0.1 °C as luckyzjian/VMAS does (the default). The sources disagree; see
	// firmware-notes/opacity/flb100.md.
	OilWholeDegrees bool

	// Clock stamps readings; default time.Now.
	Clock func() time.Time
}

// DefaultOpts are the values used for zero fields of Opts.
var DefaultOpts = Opts{
	Timeout:     time.Second,
	Quiet:       20 * time.Millisecond,
	ZeroTimeout: 5 * time.Second,
}

// Dev is one FLB-100 on a serial link. Its methods may be called from several goroutines;
// transactions are serialized.
type Dev struct {
	rw io.ReadWriter
	o  Opts
	mu sync.Mutex // one transaction at a time
}

var (
	_ drivers.Device        = (*Dev)(nil)
	_ drivers.Zeroer        = (*Dev)(nil)
	_ drivers.StatusQuerier = (*Dev)(nil)
	_ drivers.PeakReader    = (*Dev)(nil)
)

// New returns a driver for the opacimeter on rw (normally a go.bug.st/serial port, 8N1
// at the baud rate set on the instrument: 1200–19200, 9600 in lane software). It does no
// I/O.
func New(rw io.ReadWriter, o Opts) (*Dev, error) {
	if rw == nil {
		return nil, errors.New("flb100: nil port")
	}
	if err := drivers.DefaultDurations(
		drivers.Dur(&o.Timeout, DefaultOpts.Timeout),
		drivers.Dur(&o.Quiet, DefaultOpts.Quiet),
		drivers.Dur(&o.ZeroTimeout, DefaultOpts.ZeroTimeout),
	); err != nil {
		return nil, fmt.Errorf("flb100: %w", err)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Dev{rw: rw, o: o}, nil
}

// Read polls the real-time value (command 02) and returns k, N, rpm and oil temperature
// in canonical units. The frame carries no status: ask Status for warm-up.
func (d *Dev) Read(ctx context.Context) (drivers.Reading, error) {
	b, err := d.transact(ctx, CmdMeasure, nil, d.o.Timeout)
	if err != nil {
		return drivers.Reading{}, err
	}
	m, err := DecodeMeasure(b, d.o.OilWholeDegrees)
	if err != nil {
		return drivers.Reading{}, err
	}
	return drivers.Reading{
		Time: d.o.Clock(),
		Values: map[drivers.Quantity]float64{
			drivers.KM1:        m.K,
			drivers.OpacityPct: m.N,
			drivers.RPM:        m.RPM,
			drivers.OilTempC:   m.OilTempC,
		},
		Raw: b,
	}, nil
}

// State asks for the three status bytes (command 01).
func (d *Dev) State(ctx context.Context) (State, error) {
	b, err := d.transact(ctx, CmdStatus, nil, d.o.Timeout)
	if err != nil {
		return State{}, err
	}
	return DecodeState(b)
}

// Status asks for the status (command 01) and maps it: warm-up is drivers.Warmup, an
// acceleration measurement in progress drivers.Busy.
func (d *Dev) Status(ctx context.Context) (drivers.Status, error) {
	s, err := d.State(ctx)
	if err != nil {
		return 0, err
	}
	return s.Status(), nil
}

// Steady reads the steady-state value (command 03).
func (d *Dev) Steady(ctx context.Context) (Steady, error) {
	b, err := d.transact(ctx, CmdSteady, nil, d.o.Timeout)
	if err != nil {
		return Steady{}, err
	}
	return DecodeSteady(b, d.o.OilWholeDegrees)
}

// Zero runs the linearity correction (command 05) and waits for its reply, which the
// FLB-100 sends only when the correction is done (up to Opts.ZeroTimeout).
func (d *Dev) Zero(ctx context.Context) error { return d.command(ctx, CmdZero, d.o.ZeroTimeout) }

// Command sends a mode or action command whose reply is a plain acknowledgement:
// CmdDirectMode, CmdSteadyMode, CmdAccelMode, CmdStopSteady, CmdStartSteady, CmdTrigger,
// CmdLinCheckMode.
func (d *Dev) Command(ctx context.Context, cmd byte) error {
	switch cmd {
	case CmdDirectMode, CmdSteadyMode, CmdAccelMode, CmdStopSteady, CmdStartSteady, CmdTrigger, CmdLinCheckMode:
	default:
		return fmt.Errorf("flb100: command %#02x is not a mode or action command", cmd)
	}
	return d.command(ctx, cmd, d.o.Timeout)
}

// StartPeaks arms the free-acceleration measurement as the vendor's procedure does:
// acceleration mode (08), then trigger (0B) so the instrument catches the next
// accelerations itself.
func (d *Dev) StartPeaks(ctx context.Context) error {
	if err := d.command(ctx, CmdAccelMode, d.o.Timeout); err != nil {
		return err
	}
	return d.command(ctx, CmdTrigger, d.o.Timeout)
}

// Accel reads the acceleration value (command 04) as the device sends it.
func (d *Dev) Accel(ctx context.Context) (Accel, error) {
	b, err := d.transact(ctx, CmdAccel, nil, d.o.Timeout)
	if err != nil {
		return Accel{}, err
	}
	return DecodeAccel(b)
}

// Peaks returns the peak k values the instrument holds (command 04), oldest first. The
// FLB-100 holds the last four; slots it has not filled yet read 0.00 and are left out
// from the old end. While an acceleration is being measured it returns an error wrapping
// drivers.ErrBusy; with no valid acceleration, an empty slice.
func (d *Dev) Peaks(ctx context.Context) ([]float64, error) {
	a, err := d.Accel(ctx)
	if err != nil {
		return nil, err
	}
	switch a.State {
	case AccelRunning:
		return nil, fmt.Errorf("flb100: acceleration measurement in progress: %w", drivers.ErrBusy)
	case AccelNone:
		return []float64{}, nil
	}
	p := a.Peaks[:]
	for len(p) > 0 && p[0] == 0 {
		p = p[1:]
	}
	return append([]float64(nil), p...), nil
}

// command runs a command whose reply is a plain acknowledgement.
func (d *Dev) command(ctx context.Context, cmd byte, timeout time.Duration) error {
	b, err := d.transact(ctx, cmd, nil, timeout)
	if err != nil {
		return err
	}
	return DecodeAck(b, cmd)
}

// transact drains stale input, writes the request for cmd and reads one reply frame: the
// first byte (NAK is drivers.ErrNAK at once, anything but ACK drivers.ErrFrame), then LB,
// then the rest of the LB bytes. It returns the whole frame (not yet checked).
func (d *Dev) transact(ctx context.Context, cmd byte, data []byte, timeout time.Duration) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := drivers.Send(ctx, d.rw, Request(cmd, data...), d.o.Quiet); err != nil {
		return nil, fmt.Errorf("flb100: cmd %#02x: %w", cmd, err)
	}
	deadline := time.Now().Add(timeout)
	var head [2]byte
	if _, err := drivers.ReadFull(ctx, d.rw, head[:1], timeout); err != nil {
		return nil, fmt.Errorf("flb100: cmd %#02x: %w", cmd, err)
	}
	switch head[0] {
	case NAK:
		return nil, fmt.Errorf("flb100: cmd %#02x: %w", cmd, drivers.ErrNAK)
	case ACK:
	default:
		return nil, fmt.Errorf("flb100: cmd %#02x: first byte %#02x, want %#02x: %w", cmd, head[0], ACK, drivers.ErrFrame)
	}
	if _, err := drivers.ReadFull(ctx, d.rw, head[1:], time.Until(deadline)); err != nil {
		return nil, fmt.Errorf("flb100: cmd %#02x: %w", cmd, err)
	}
	n := int(head[1])
	if n < MinLen {
		return nil, fmt.Errorf("flb100: cmd %#02x: reply LB %d: %w", cmd, n, drivers.ErrFrame)
	}
	b := make([]byte, n)
	copy(b, head[:])
	if _, err := drivers.ReadFull(ctx, d.rw, b[2:], time.Until(deadline)); err != nil {
		return nil, fmt.Errorf("flb100: cmd %#02x: %w", cmd, err)
	}
	return b, nil
}
