package ak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"imagent/drivers"
)

// Opts configures a Dev. Zero values take the DefaultOpts value.
type Opts struct {
	Channel    string      // channel after 'K', default "0"
	Components []Component // meaning of the AKON values, default DefaultComponents()
	Timeout    time.Duration
	Quiet      time.Duration // stale input is drained until the line is quiet this long, default 20 ms
	// PollInterval is the pause between two ASTZ polls of a running zero (default 1 s);
	// OpTimeout bounds the zero (default 180 s).
	PollInterval time.Duration
	OpTimeout    time.Duration
	// ZeroFunc is the function Zero sends (default "SNGA", zero gas; domain.md lists it
	// from memory of the AK spec [M]). Zero waits while ASTZ still reports it.
	ZeroFunc string
	// NoAutoRemote stops the driver from answering an OF (manual mode) error with SREM
	// and one retry.
	NoAutoRemote bool
	Clock        func() time.Time // stamps readings; default time.Now
}

// DefaultOpts are the values used for zero fields of Opts. Timeout is 2 s: AK benches
// answer within a second or two (AMACON waits 2 s) [I].
var DefaultOpts = Opts{
	Channel:      "0",
	Timeout:      2 * time.Second,
	Quiet:        20 * time.Millisecond,
	PollInterval: time.Second,
	OpTimeout:    180 * time.Second,
	ZeroFunc:     "SNGA",
}

// Dev is one AK bench on a serial link (9600 7E1, XON/XOFF handled by the driver). Its
// methods may be called from several goroutines; transactions are serialized.
type Dev struct {
	rw io.ReadWriter
	o  Opts

	mu     sync.Mutex
	paused bool // the bench sent XOFF and no XON yet; under mu
}

var (
	_ drivers.Device        = (*Dev)(nil)
	_ drivers.Zeroer        = (*Dev)(nil)
	_ drivers.Pump          = (*Dev)(nil)
	_ drivers.StatusQuerier = (*Dev)(nil)
)

// New returns a driver for the bench on rw. It does no I/O.
func New(rw io.ReadWriter, o Opts) (*Dev, error) {
	if rw == nil {
		return nil, errors.New("ak: nil port")
	}
	if o.Channel == "" {
		o.Channel = DefaultOpts.Channel
	}
	if o.ZeroFunc == "" {
		o.ZeroFunc = DefaultOpts.ZeroFunc
	}
	if _, err := EncodeRequest(o.ZeroFunc, o.Channel); err != nil {
		return nil, err
	}
	if o.Components == nil {
		o.Components = DefaultComponents()
	}
	if len(o.Components) == 0 {
		return nil, errors.New("ak: no components")
	}
	seen := map[drivers.Quantity]bool{}
	for _, c := range o.Components {
		if !drivers.Known(c.Quantity) || seen[c.Quantity] || !(c.Scale != 0) || c.Scale != c.Scale {
			return nil, fmt.Errorf("ak: bad component %+v (unknown or repeated quantity, or zero scale)", c)
		}
		seen[c.Quantity] = true
	}
	o.Components = slices.Clone(o.Components)
	if err := drivers.DefaultDurations(
		drivers.Dur(&o.Timeout, DefaultOpts.Timeout),
		drivers.Dur(&o.Quiet, DefaultOpts.Quiet),
		drivers.Dur(&o.PollInterval, DefaultOpts.PollInterval),
		drivers.Dur(&o.OpTimeout, DefaultOpts.OpTimeout),
	); err != nil {
		return nil, fmt.Errorf("ak: %w", err)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Dev{rw: rw, o: o}, nil
}

// Read reads the concentrations (AKON) and maps them with Opts.Components. A non-zero
// error status sets drivers.Fault (the values are still returned; Errors lists what is
// wrong). Raw is the answer without flow-control bytes.
func (d *Dev) Read(ctx context.Context) (drivers.Reading, error) {
	r, raw, err := d.call(ctx, "AKON")
	if err != nil {
		return drivers.Reading{}, err
	}
	v, err := Concentrations(r.Data, d.o.Components)
	if err != nil {
		return drivers.Reading{}, err
	}
	var st drivers.Status
	if r.Status != 0 {
		st = drivers.Fault
	}
	return drivers.Reading{Time: d.o.Clock(), Values: v, Status: st, Raw: raw}, nil
}

// Modes returns the mode codes ASTZ reports (e.g. SREM SMGA SARE) and the error status.
func (d *Dev) Modes(ctx context.Context) ([]string, int, error) {
	r, _, err := d.call(ctx, "ASTZ")
	return r.Data, r.Status, err
}

// Status maps ASTZ to drivers.Status (ModeStatus, and Fault for a non-zero error status).
func (d *Dev) Status(ctx context.Context) (drivers.Status, error) {
	modes, status, err := d.Modes(ctx)
	if err != nil {
		return 0, err
	}
	s := ModeStatus(modes)
	if status != 0 {
		s |= drivers.Fault
	}
	return s, nil
}

// Errors returns the active error codes (ASTF).
func (d *Dev) Errors(ctx context.Context) ([]string, error) {
	r, _, err := d.call(ctx, "ASTF")
	return r.Data, err
}

// SetPump starts measuring sample gas (SMGA) or puts the bench in stand-by (STBY).
func (d *Dev) SetPump(ctx context.Context, on bool) error {
	fn := "STBY"
	if on {
		fn = "SMGA"
	}
	_, _, err := d.call(ctx, fn)
	return err
}

// Remote puts the bench under remote control (SREM); Manual gives it back (SMAN).
func (d *Dev) Remote(ctx context.Context) error { _, _, err := d.call(ctx, "SREM"); return err }

// Manual gives the bench back to its keypad (SMAN).
func (d *Dev) Manual(ctx context.Context) error { _, _, err := d.call(ctx, "SMAN"); return err }

// Zero sends Opts.ZeroFunc, polls ASTZ every PollInterval while the bench reports that
// mode, then returns to sample gas (SMGA). An error status after the zero is
// drivers.ErrFailed with the ASTF codes.
func (d *Dev) Zero(ctx context.Context) error {
	opCtx, cancel := context.WithTimeout(ctx, d.o.OpTimeout)
	defer cancel()
	wrap := func(err error) error {
		if ctx.Err() == nil && opCtx.Err() != nil {
			return fmt.Errorf("ak: zero not finished within %v: %w", d.o.OpTimeout, drivers.ErrTimeout)
		}
		return err
	}
	if _, _, err := d.call(opCtx, d.o.ZeroFunc); err != nil {
		return wrap(err)
	}
	for {
		t := time.NewTimer(d.o.PollInterval)
		select {
		case <-opCtx.Done():
			t.Stop()
			return wrap(fmt.Errorf("ak: zero: %w", ctx.Err()))
		case <-t.C:
		}
		modes, status, err := d.Modes(opCtx)
		if err != nil {
			return wrap(err)
		}
		if slices.Contains(modes, d.o.ZeroFunc) {
			continue
		}
		if status != 0 {
			codes, err := d.Errors(opCtx)
			if err != nil {
				return wrap(err)
			}
			return fmt.Errorf("ak: zero: error status %d (%s): %w", status, strings.Join(codes, " "), drivers.ErrFailed)
		}
		return wrap(d.SetPump(opCtx, true))
	}
}

// Call sends any function with arguments on Opts.Channel and returns the answer. Error
// tokens become errors: SE and DF drivers.ErrNAK, BS and OF drivers.ErrBusy (after one
// SREM and retry for OF, unless Opts.NoAutoRemote).
func (d *Dev) Call(ctx context.Context, fn string, args ...string) (Response, error) {
	r, _, err := d.call(ctx, fn, args...)
	return r, err
}

func (d *Dev) call(ctx context.Context, fn string, args ...string) (Response, []byte, error) {
	req, err := EncodeRequest(fn, d.o.Channel, args...)
	if err != nil {
		return Response{}, nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	r, raw, err := d.exchange(ctx, fn, req)
	if err == nil && r.Err == ErrTokOffline && !d.o.NoAutoRemote && fn != "SREM" {
		rem, _ := EncodeRequest("SREM", d.o.Channel)
		var rr Response
		if rr, _, err = d.exchange(ctx, "SREM", rem); err == nil && rr.Err == "" {
			r, raw, err = d.exchange(ctx, fn, req)
		}
	}
	if err != nil {
		return Response{}, nil, err
	}
	switch r.Err {
	case ErrTokSyntax:
		return r, raw, fmt.Errorf("ak: %s: syntax error: %w", fn, drivers.ErrNAK)
	case ErrTokFormat:
		return r, raw, fmt.Errorf("ak: %s: data format error: %w", fn, drivers.ErrNAK)
	case ErrTokBusy:
		return r, raw, fmt.Errorf("ak: %s: %w", fn, drivers.ErrBusy)
	case ErrTokOffline:
		return r, raw, fmt.Errorf("ak: %s: offline (manual mode; SREM gives remote control): %w", fn, drivers.ErrBusy)
	}
	return r, raw, nil
}

// exchange drains stale input, waits for XON if the bench sent XOFF, writes req and reads
// one answer from STX to ETX, dropping XON/XOFF and clearing the 8th bit. Callers hold
// d.mu.
func (d *Dev) exchange(ctx context.Context, fn string, req []byte) (Response, []byte, error) {
	if err := ctx.Err(); err != nil {
		return Response{}, nil, fmt.Errorf("ak: %s: %w", fn, err)
	}
	if err := d.drain(ctx); err != nil {
		return Response{}, nil, fmt.Errorf("ak: %s: %w", fn, err)
	}
	if d.paused {
		if err := d.waitXON(ctx); err != nil {
			return Response{}, nil, fmt.Errorf("ak: %s: %w", fn, err)
		}
	}
	if _, err := d.rw.Write(req); err != nil {
		return Response{}, nil, fmt.Errorf("ak: %s: write: %w", fn, err)
	}
	deadline := time.Now().Add(d.o.Timeout)
	b, err := d.next(ctx, deadline)
	if err != nil {
		return Response{}, nil, fmt.Errorf("ak: %s: %w", fn, err)
	}
	if b != STX {
		return Response{}, nil, fmt.Errorf("ak: %s: first byte %#02x, want STX: %w", fn, b, drivers.ErrFrame)
	}
	raw := make([]byte, 1, 64)
	raw[0] = STX
	for b != ETX {
		if len(raw) >= MaxFrame {
			return Response{}, nil, fmt.Errorf("ak: %s: no ETX within %d bytes: %w", fn, MaxFrame, drivers.ErrFrame)
		}
		if b, err = d.next(ctx, deadline); err != nil {
			return Response{}, nil, fmt.Errorf("ak: %s: %w", fn, err)
		}
		raw = append(raw, b)
	}
	r, err := DecodeResponse(raw)
	if err != nil {
		return Response{}, nil, fmt.Errorf("%w (%s)", err, fn)
	}
	if r.Func != fn {
		return Response{}, nil, fmt.Errorf("ak: %s: answer to %s: %w", fn, r.Func, drivers.ErrFrame)
	}
	return r, raw, nil
}

// next reads one data byte before deadline, skipping XON and XOFF (and noting them).
func (d *Dev) next(ctx context.Context, deadline time.Time) (byte, error) {
	var b [1]byte
	for {
		if _, err := drivers.ReadFull(ctx, d.rw, b[:], time.Until(deadline)); err != nil {
			return 0, err
		}
		c := b[0] & 0x7f
		switch c {
		case XOFF:
			d.paused = true
		case XON:
			d.paused = false
		default:
			return c, nil
		}
	}
}

// drain discards what the bench already sent, keeping track of XON/XOFF.
func (d *Dev) drain(ctx context.Context) error {
	for {
		_, err := d.next(ctx, time.Now().Add(d.o.Quiet))
		if errors.Is(err, drivers.ErrTimeout) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("drain: %w", err)
		}
	}
}

// waitXON reads until the bench sends XON, at most Timeout; other bytes are discarded.
func (d *Dev) waitXON(ctx context.Context) error {
	deadline := time.Now().Add(d.o.Timeout)
	var b [1]byte
	for d.paused {
		if _, err := drivers.ReadFull(ctx, d.rw, b[:], time.Until(deadline)); err != nil {
			if errors.Is(err, drivers.ErrTimeout) {
				return fmt.Errorf("bench sent XOFF and no XON within %v: %w", d.o.Timeout, drivers.ErrBusy)
			}
			return err
		}
		switch b[0] & 0x7f {
		case XON:
			d.paused = false
		case XOFF:
			d.paused = true
		}
	}
	return nil
}
