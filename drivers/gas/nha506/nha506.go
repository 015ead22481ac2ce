package nha506

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
	// IgnoreChecksum accepts data replies whatever their last byte: the lane code that
	// documents the NHA-506 does not check it, and the 8-bit sum is inferred [I].
	IgnoreChecksum bool
	Clock          func() time.Time // stamps readings; default time.Now
}

// DefaultOpts are the values used for zero fields of Opts.
var DefaultOpts = Opts{Timeout: time.Second, Quiet: 20 * time.Millisecond}

// Dev is one NHA-506 on a serial link (9600 8N1). Its methods may be called from several
// goroutines; transactions are serialized.
type Dev struct {
	rw io.ReadWriter
	o  Opts
	mu sync.Mutex
}

var (
	_ drivers.Device        = (*Dev)(nil)
	_ drivers.Pump          = (*Dev)(nil)
	_ drivers.StatusQuerier = (*Dev)(nil)
)

// New returns a driver for the analyzer on rw. It does no I/O.
func New(rw io.ReadWriter, o Opts) (*Dev, error) {
	if rw == nil {
		return nil, errors.New("nha506: nil port")
	}
	if err := drivers.DefaultDurations(
		drivers.Dur(&o.Timeout, DefaultOpts.Timeout),
		drivers.Dur(&o.Quiet, DefaultOpts.Quiet),
	); err != nil {
		return nil, fmt.Errorf("nha506: %w", err)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Dev{rw: rw, o: o}, nil
}

// Read polls the data (0x03): HC, CO, CO2, O2, NO, rpm, oil temperature and λ. The data
// reply has no status; Status asks for it.
func (d *Dev) Read(ctx context.Context) (drivers.Reading, error) {
	buf := make([]byte, DataLen)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.transact(ctx, "data", CmdData, buf, true); err != nil {
		return drivers.Reading{}, err
	}
	x, err := DecodeData(buf, d.o.IgnoreChecksum)
	if err != nil {
		return drivers.Reading{}, err
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
			drivers.Lambda:   x.Lambda,
		},
		Raw: buf,
	}, nil
}

// Status asks for the state (0x14): warming up, zeroing or ready.
func (d *Dev) Status(ctx context.Context) (drivers.Status, error) {
	var b [1]byte
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.transact(ctx, "status", CmdStatus, b[:], false); err != nil {
		return 0, err
	}
	return StatusFromByte(b[0])
}

// SetPump switches the pump on (0x01, sample from the probe) or stops it (0x02).
func (d *Dev) SetPump(ctx context.Context, on bool) error {
	c, what := CmdStop, "stop"
	if on {
		c, what = CmdPump, "pump on"
	}
	var b [1]byte
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.transact(ctx, what, c, b[:], true)
}

// transact drains stale input, writes c and fills reply. NAK is drivers.ErrNAK; with ack
// the first byte must be ACK. Callers hold d.mu.
func (d *Dev) transact(ctx context.Context, what string, c byte, reply []byte, ack bool) error {
	if err := drivers.Send(ctx, d.rw, []byte{c}, d.o.Quiet); err != nil {
		return fmt.Errorf("nha506: %s: %w", what, err)
	}
	deadline := time.Now().Add(d.o.Timeout)
	if _, err := drivers.ReadFull(ctx, d.rw, reply[:1], d.o.Timeout); err != nil {
		return fmt.Errorf("nha506: %s: %w", what, err)
	}
	switch {
	case reply[0] == NAK:
		return fmt.Errorf("nha506: %s: %w", what, drivers.ErrNAK)
	case ack && reply[0] != ACK:
		return fmt.Errorf("nha506: %s: first byte %#02x, want %#02x: %w", what, reply[0], ACK, drivers.ErrFrame)
	}
	if len(reply) > 1 {
		if _, err := drivers.ReadFull(ctx, d.rw, reply[1:], time.Until(deadline)); err != nil {
			return fmt.Errorf("nha506: %s: %w", what, err)
		}
	}
	return nil
}
