package xce100

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"imagent/drivers"
)

// Model is a station model. XCE-100 and XCE-101 send the same frame; the XCE-100 is
// polled, the XCE-101 streams.
type Model string

// Models.
const (
	XCE100 Model = "XCE-100" // polled: "W\n" → one frame
	XCE101 Model = "XCE-101" // streams frames continuously; calibration by K / B…T|H|P
)

// ParseModel accepts the model names in the forms lane software and configs use
// ("XCE-100", "xce_101", "XCE101").
func ParseModel(s string) (Model, error) {
	n := strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.ToUpper(strings.TrimSpace(s)))
	switch n {
	case "XCE100":
		return XCE100, nil
	case "XCE101":
		return XCE101, nil
	}
	return "", fmt.Errorf("xce100: unknown model %q (known: %s, %s)", s, XCE100, XCE101)
}

// Opts configures a Dev. Zero fields take the DefaultOpts value.
type Opts struct {
	Model Model // default XCE-100

	// Timeout bounds one Read: for the XCE-100 the reply to a poll, for the XCE-101 the
	// wait for a complete, valid frame. Default 1 s (XCE-100) or 2 s (XCE-101).
	Timeout time.Duration
	// Quiet: before a poll, stale input is drained until the line is quiet this long; on
	// the XCE-101 stream, Read returns once a valid frame is in and the line has been quiet
	// this long (or 5×Quiet after that frame, on a stream with no pauses). Default 20 ms.
	Quiet time.Duration
	// Request is the XCE-100 poll. Default "W\n": the lane software sends "W" with .NET's
	// WriteLine, whose default line end is a line feed.
	Request string

	// PressureHPa says the station sends pressure in hPa instead of kPa. The sources do not
	// give the unit; kPa is inferred (see firmware-notes/weather/xce100.md).
	PressureHPa bool
	// Limits are the plausible ranges (pressure in kPa); a frame outside them is an error.
	// Zero means DefaultLimits.
	Limits Limits

	// CalTries and CalWait: the XCE-101 calibration sends "K" up to CalTries times and
	// waits CalWait after each for "BDZB" (lane software: 5 × 100 ms). Defaults 5, 100 ms.
	CalTries int
	CalWait  time.Duration

	// Clock stamps readings; default time.Now.
	Clock func() time.Time
}

// DefaultOpts are the values used for zero fields of Opts.
var DefaultOpts = Opts{
	Model:    XCE100,
	Quiet:    20 * time.Millisecond,
	Request:  "W\n",
	Limits:   DefaultLimits,
	CalTries: 5,
	CalWait:  100 * time.Millisecond,
}

const (
	defaultPollTimeout   = time.Second
	defaultStreamTimeout = 2 * time.Second
	// maxPending bounds the bytes kept between Reads of the stream (a partial frame).
	maxPending = 4 * MaxFrameLen
	// settleQuiets: on a stream without pauses, Read returns at most this many Quiet
	// periods after the first valid frame.
	settleQuiets = 5
)

// Dev is one weather station on a serial link. Its methods may be called from several
// goroutines; they are serialized.
type Dev struct {
	rw io.ReadWriter
	o  Opts

	mu    sync.Mutex
	pend  []byte // XCE-101: stream bytes not yet consumed (at most a partial frame)
	chunk [256]byte
}

var (
	_ drivers.Device  = (*Dev)(nil)
	_ drivers.Ambient = (*Dev)(nil)
)

// New returns a driver for the station on rw (normally a go.bug.st/serial port at
// 9600 8N1). It does no I/O.
func New(rw io.ReadWriter, o Opts) (*Dev, error) {
	if rw == nil {
		return nil, errors.New("xce100: nil port")
	}
	if o.Model == "" {
		o.Model = DefaultOpts.Model
	}
	if o.Model != XCE100 && o.Model != XCE101 {
		return nil, fmt.Errorf("xce100: unknown model %q", o.Model)
	}
	if o.Timeout == 0 {
		o.Timeout = defaultPollTimeout
		if o.Model == XCE101 {
			o.Timeout = defaultStreamTimeout
		}
	}
	if o.Quiet == 0 {
		o.Quiet = DefaultOpts.Quiet
	}
	if o.CalWait == 0 {
		o.CalWait = DefaultOpts.CalWait
	}
	if o.Timeout < 0 || o.Quiet < 0 || o.CalWait < 0 {
		return nil, errors.New("xce100: negative duration in options")
	}
	if o.CalTries == 0 {
		o.CalTries = DefaultOpts.CalTries
	}
	if o.CalTries < 0 {
		return nil, errors.New("xce100: negative CalTries")
	}
	if o.Request == "" {
		o.Request = DefaultOpts.Request
	}
	if o.Limits == (Limits{}) {
		o.Limits = DefaultLimits
	}
	if !o.Limits.valid() {
		return nil, fmt.Errorf("xce100: bad limits %+v", o.Limits)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Dev{rw: rw, o: o}, nil
}

// Model returns the configured model.
func (d *Dev) Model() Model { return d.o.Model }

// Read returns temperature, relative humidity and pressure (kPa) with Raw = the frame as
// received. The XCE-100 is polled; on the XCE-101 Read takes the newest complete frame of
// the stream. A malformed or implausible frame is drivers.ErrFrame, no frame in time
// drivers.ErrTimeout.
func (d *Dev) Read(ctx context.Context) (drivers.Reading, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return drivers.Reading{}, fmt.Errorf("xce100: %w", err)
	}
	var raw []byte
	var err error
	if d.o.Model == XCE101 {
		raw, err = d.readStream(ctx)
	} else {
		raw, err = d.poll(ctx)
	}
	if err != nil {
		return drivers.Reading{}, err
	}
	return d.reading(raw)
}

// ReadAmbient is Read: the station measures nothing else.
func (d *Dev) ReadAmbient(ctx context.Context) (drivers.Reading, error) { return d.Read(ctx) }

// reading decodes and checks raw, which Read hands out as Reading.Raw.
func (d *Dev) reading(raw []byte) (drivers.Reading, error) {
	f, err := DecodeFrame(raw)
	if err != nil {
		return drivers.Reading{}, err
	}
	if err := d.check(f); err != nil {
		return drivers.Reading{}, fmt.Errorf("%w (frame %q)", err, raw)
	}
	return drivers.Reading{
		Time: d.o.Clock(),
		Values: map[drivers.Quantity]float64{
			drivers.TempC:       f.TempC,
			drivers.RHpct:       f.RH,
			drivers.PressureKPa: d.kPa(f.P),
		},
		Raw: raw,
	}, nil
}

// kPa converts the pressure field to kPa.
func (d *Dev) kPa(p float64) float64 {
	if d.o.PressureHPa {
		return p / 10
	}
	return p
}

// check applies the plausibility limits to f.
func (d *Dev) check(f Frame) error { return d.o.Limits.Check(f.TempC, f.RH, d.kPa(f.P)) }

// poll sends the XCE-100 request and reads one frame: the first byte must be 'T', and the
// frame ends at the first 'E'. Anything after it is drained before the next poll.
func (d *Dev) poll(ctx context.Context) ([]byte, error) {
	if err := drivers.Drain(ctx, d.rw, d.o.Quiet); err != nil {
		return nil, fmt.Errorf("xce100: drain: %w", err)
	}
	if _, err := io.WriteString(d.rw, d.o.Request); err != nil {
		return nil, fmt.Errorf("xce100: write: %w", err)
	}
	deadline := time.Now().Add(d.o.Timeout)
	var buf []byte
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("xce100: %w: %d bytes, no complete frame within %v", drivers.ErrTimeout, len(buf), d.o.Timeout)
		}
		n, err := drivers.ReadSome(ctx, d.rw, d.chunk[:], left)
		if err != nil {
			return nil, fmt.Errorf("xce100: %w", err)
		}
		buf = append(buf, d.chunk[:n]...)
		if len(buf) > 0 && buf[0] != TagTemp {
			return nil, fmt.Errorf("xce100: reply starts with %q, want 'T': %w", buf[0], drivers.ErrFrame)
		}
		if e := bytes.IndexByte(buf, TagEnd); e >= 0 {
			return buf[:e+1], nil
		}
		if len(buf) >= MaxFrameLen {
			return nil, fmt.Errorf("xce100: no 'E' in %d bytes: %w", len(buf), drivers.ErrFrame)
		}
	}
}

// readStream collects the XCE-101 stream until it holds a valid frame and the line pauses
// (or settles), and returns the newest frame.
func (d *Dev) readStream(ctx context.Context) ([]byte, error) {
	start := time.Now()
	deadline := start.Add(d.o.Timeout)
	var newest []byte
	var settle time.Time
	garbage, implausible := 0, 0
	for {
		wait := time.Until(deadline)
		if newest != nil {
			wait = min(d.o.Quiet, time.Until(settle))
		}
		if wait <= 0 {
			if newest != nil {
				return newest, nil
			}
			if garbage > 0 || implausible > 0 {
				return nil, fmt.Errorf("xce100: no valid frame within %v (%d bytes of garbage, %d implausible frames): %w",
					d.o.Timeout, garbage, implausible, drivers.ErrFrame)
			}
			return nil, fmt.Errorf("xce100: %w: no complete frame within %v", drivers.ErrTimeout, d.o.Timeout)
		}
		n, err := drivers.ReadSome(ctx, d.rw, d.chunk[:], wait)
		if err != nil {
			if newest != nil && ctx.Err() == nil {
				// The frame arrived before the link failed; the next Read reports it.
				return newest, nil
			}
			return nil, fmt.Errorf("xce100: %w", err)
		}
		if n == 0 {
			if newest != nil {
				return newest, nil // the line paused after a valid frame
			}
			continue
		}
		d.pend = append(d.pend, d.chunk[:n]...)
		f, keep, g := Scan(d.pend, func(f Frame) bool {
			if d.check(f) != nil {
				implausible++
				return false
			}
			return true
		})
		garbage += g
		if f != nil {
			if newest == nil {
				settle = time.Now().Add(settleQuiets * d.o.Quiet)
			}
			newest = bytes.Clone(f)
		}
		d.pend = append(d.pend[:0], d.pend[keep:]...)
		if len(d.pend) > maxPending {
			d.pend = append(d.pend[:0], d.pend[len(d.pend)-MaxFrameLen:]...)
		}
	}
}

// Calibrate makes the XCE-101 read ref for q (drivers.TempC, drivers.RHpct or
// drivers.PressureKPa), the value of a reference instrument: it sends "K" until the
// station answers "BDZB", then "B" + ref×10 in 4 characters + 'T', 'H' or 'P', and waits
// for "BDCG" (accepted) or "BDSB" (refused: drivers.ErrFailed). XCE-100 calibration is not
// implemented (firmware-notes/weather/xce100.md says why).
func (d *Dev) Calibrate(ctx context.Context, q drivers.Quantity, ref float64) error {
	if d.o.Model != XCE101 {
		return fmt.Errorf("xce100: calibration is implemented for the %s only", XCE101)
	}
	var tag byte
	switch q {
	case drivers.TempC:
		tag = TagTemp
	case drivers.RHpct:
		tag = TagRH
	case drivers.PressureKPa:
		tag = TagPressure
		if d.o.PressureHPa {
			ref *= 10
		}
	default:
		return fmt.Errorf("xce100: cannot calibrate %q", q)
	}
	cmd, err := CalCommand(tag, ref)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	defer func() { d.pend = d.pend[:0] }() // stream bytes seen meanwhile are dropped
	ready := false
	for range d.o.CalTries {
		if _, err := io.WriteString(d.rw, CalEnter); err != nil {
			return fmt.Errorf("xce100: calibrate: write: %w", err)
		}
		got, err := d.await(ctx, d.o.CalWait, CalReady)
		if err != nil {
			return fmt.Errorf("xce100: calibrate: %w", err)
		}
		if got == CalReady {
			ready = true
			break
		}
	}
	if !ready {
		return fmt.Errorf("xce100: calibrate: no %s after %d × %q: %w", CalReady, d.o.CalTries, CalEnter, drivers.ErrTimeout)
	}
	if _, err := d.rw.Write(cmd); err != nil {
		return fmt.Errorf("xce100: calibrate: write: %w", err)
	}
	got, err := d.await(ctx, d.o.Timeout, CalOK, CalRejected)
	switch {
	case err != nil:
		return fmt.Errorf("xce100: calibrate: %w", err)
	case got == CalOK:
		return nil
	case got == CalRejected:
		return fmt.Errorf("xce100: calibrate %q: station answered %s: %w", cmd, CalRejected, drivers.ErrFailed)
	}
	return fmt.Errorf("xce100: calibrate %q: no %s or %s within %v: %w", cmd, CalOK, CalRejected, d.o.Timeout, drivers.ErrTimeout)
}

// await reads for up to wait until one of words has arrived and returns it ("" when
// none did in time). Stream frames in between are ignored.
func (d *Dev) await(ctx context.Context, wait time.Duration, words ...string) (string, error) {
	deadline := time.Now().Add(wait)
	d.pend = d.pend[:0]
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return "", nil
		}
		n, err := drivers.ReadSome(ctx, d.rw, d.chunk[:], left)
		if err != nil {
			return "", err
		}
		d.pend = append(d.pend, d.chunk[:n]...)
		for _, w := range words {
			if bytes.Contains(d.pend, []byte(w)) {
				return w, nil
			}
		}
		if len(d.pend) > maxPending {
			d.pend = append(d.pend[:0], d.pend[len(d.pend)-8:]...)
		}
	}
}
