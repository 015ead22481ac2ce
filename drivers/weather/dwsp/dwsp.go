package dwsp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"imagent/drivers"
	"imagent/drivers/internal/modbus"
)

// Opts configures a Dev. Zero fields take the DefaultOpts value.
type Opts struct {
	Addr   byte   // Modbus slave address, 1..247; default 1
	Func   byte   // modbus.ReadInput (04, default) or modbus.ReadHolding (03)
	Layout Layout // register map; default DWSPT5 (zero value: default)

	Timeout time.Duration // reply timeout, default 1 s
	Quiet   time.Duration // stale input is drained until the line is quiet this long, default 20 ms
	Limits  Limits        // plausible ranges; zero means DefaultLimits
	Clock   func() time.Time
}

// DefaultOpts are the values used for zero fields of Opts.
var DefaultOpts = Opts{
	Addr:    1,
	Func:    modbus.ReadInput,
	Layout:  DWSPT5,
	Timeout: time.Second,
	Quiet:   20 * time.Millisecond,
	Limits:  DefaultLimits,
}

// Dev is one Modbus RTU weather station on a serial link (possibly shared by several
// slaves). Its methods may be called from several goroutines; they are serialized.
type Dev struct {
	rw  io.ReadWriter
	o   Opts
	req modbus.Request
	out []byte // the request frame

	mu sync.Mutex
}

var (
	_ drivers.Device  = (*Dev)(nil)
	_ drivers.Ambient = (*Dev)(nil)
)

// New returns a driver for the station on rw (normally a go.bug.st/serial port at
// 9600 8N1). It does no I/O.
func New(rw io.ReadWriter, o Opts) (*Dev, error) {
	if rw == nil {
		return nil, errors.New("dwsp: nil port")
	}
	if o.Addr == 0 {
		o.Addr = DefaultOpts.Addr
	}
	if o.Func == 0 {
		o.Func = DefaultOpts.Func
	}
	if o.Func != modbus.ReadInput && o.Func != modbus.ReadHolding {
		return nil, fmt.Errorf("dwsp: function %#02x, want 03 or 04", o.Func)
	}
	if o.Layout == (Layout{}) {
		o.Layout = DefaultOpts.Layout
	}
	if err := o.Layout.Validate(); err != nil {
		return nil, err
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultOpts.Timeout
	}
	if o.Quiet == 0 {
		o.Quiet = DefaultOpts.Quiet
	}
	if o.Timeout < 0 || o.Quiet < 0 {
		return nil, errors.New("dwsp: negative duration in options")
	}
	if o.Limits == (Limits{}) {
		o.Limits = DefaultLimits
	}
	if !o.Limits.valid() {
		return nil, fmt.Errorf("dwsp: bad limits %+v", o.Limits)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	req := o.Layout.Request(o.Addr, o.Func)
	out, err := modbus.EncodeRTU(req)
	if err != nil {
		return nil, fmt.Errorf("dwsp: %w", err)
	}
	return &Dev{rw: rw, o: o, req: req, out: out}, nil
}

// Layout returns the register map in use.
func (d *Dev) Layout() Layout { return d.o.Layout }

// Read polls the register block and returns temperature, relative humidity and pressure
// (kPa) with Raw = the reply frame. A Modbus exception wraps drivers.ErrNAK (and
// drivers.ErrBusy for exception 06), a bad CRC drivers.ErrChecksum, a malformed or
// implausible reply drivers.ErrFrame, no complete reply drivers.ErrTimeout.
func (d *Dev) Read(ctx context.Context) (drivers.Reading, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	raw, err := d.transact(ctx)
	if err != nil {
		return drivers.Reading{}, err
	}
	v, err := DecodeReply(raw, d.req, d.o.Layout)
	if err != nil {
		return drivers.Reading{}, err
	}
	if err := d.o.Limits.Check(v); err != nil {
		return drivers.Reading{}, err
	}
	return drivers.Reading{
		Time: d.o.Clock(),
		Values: map[drivers.Quantity]float64{
			drivers.TempC:       v.TempC,
			drivers.RHpct:       v.RHpct,
			drivers.PressureKPa: v.PressureKPa,
		},
		Raw: raw,
	}, nil
}

// ReadAmbient is Read: the station measures nothing else.
func (d *Dev) ReadAmbient(ctx context.Context) (drivers.Reading, error) { return d.Read(ctx) }

// transact drains stale input, sends the request and reads one reply: the 3-byte head
// tells whether a normal reply or an exception follows; a head from another slave or
// function is drivers.ErrFrame at once (the next drain discards the rest).
func (d *Dev) transact(ctx context.Context) ([]byte, error) {
	if err := drivers.Send(ctx, d.rw, d.out, d.o.Quiet); err != nil {
		return nil, fmt.Errorf("dwsp: %w", err)
	}
	deadline := time.Now().Add(d.o.Timeout)
	buf := make([]byte, modbus.RTUReplyLen(d.req))
	if _, err := drivers.ReadFull(ctx, d.rw, buf[:3], d.o.Timeout); err != nil {
		return nil, fmt.Errorf("dwsp: %w", err)
	}
	rest, err := modbus.RTURemaining(buf[:3], d.req)
	if err != nil {
		return nil, fmt.Errorf("dwsp: %w", err)
	}
	buf = buf[:3+rest]
	if _, err := drivers.ReadFull(ctx, d.rw, buf[3:], time.Until(deadline)); err != nil {
		return nil, fmt.Errorf("dwsp: %w", err)
	}
	return buf, nil
}
