package rpm5300

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"imagent/drivers"
)

// Opts configures a Dev. Zero durations take the DefaultOpts value.
type Opts struct {
	// Timeout is how long Read waits for a frame (default 1 s; the meter sends about ten
	// a second).
	Timeout time.Duration
	// CatchUp is how long the line must be quiet before Read stops collecting newer
	// frames and returns the newest (default 2 ms).
	CatchUp time.Duration
	// Clock stamps readings; default time.Now.
	Clock func() time.Time
}

// DefaultOpts are the values used for zero fields of Opts.
var DefaultOpts = Opts{Timeout: time.Second, CatchUp: 2 * time.Millisecond}

// catchUpMax bounds the bytes one Read collects after its first frame.
const catchUpMax = 4096

// Dev is one RPM5300 on a serial link (9600 8N1). It only listens. Its methods may be
// called from several goroutines; they are serialized.
type Dev struct {
	rw io.Reader
	o  Opts

	mu sync.Mutex
	sc *Scanner

	stats struct{ bytesIn, frames, discarded, pending atomic.Uint64 }
}

var _ drivers.Device = (*Dev)(nil)

// New returns a driver for the meter on rw (normally a go.bug.st/serial port at 9600
// 8N1). It does no I/O and never writes.
func New(rw io.ReadWriter, o Opts) (*Dev, error) {
	if rw == nil {
		return nil, errors.New("rpm5300: nil port")
	}
	if err := drivers.DefaultDurations(
		drivers.Dur(&o.Timeout, DefaultOpts.Timeout),
		drivers.Dur(&o.CatchUp, DefaultOpts.CatchUp),
	); err != nil {
		return nil, fmt.Errorf("rpm5300: %w", err)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Dev{rw: rw, o: o, sc: NewScanner()}, nil
}

// Stats are counters of the stream since New.
type Stats struct {
	BytesIn   uint64 // bytes read from the port
	Frames    uint64 // valid frames parsed (every one, not only those Read returned)
	Discarded uint64 // bytes dropped while resynchronising
	Pending   uint64 // bytes held as the start of a possible frame
}

// Stats returns the stream counters. It does not wait for a Read in progress.
func (d *Dev) Stats() Stats {
	return Stats{
		BytesIn:   d.stats.bytesIn.Load(),
		Frames:    d.stats.frames.Load(),
		Discarded: d.stats.discarded.Load(),
		Pending:   d.stats.pending.Load(),
	}
}

func (d *Dev) fill(ctx context.Context, wait time.Duration) (int, error) {
	n, err := drivers.ReadSome(ctx, d.rw, d.sc.Space(), wait)
	d.sc.Commit(n)
	d.stats.bytesIn.Store(d.sc.BytesIn)
	return n, err
}

// Read returns the newest complete frame's engine speed (r/min). It first takes what has
// already arrived; if that holds no frame it waits up to Opts.Timeout for one; then it
// keeps reading while the line delivers more, so a backlog is skipped, not replayed.
// Garbage between frames is skipped. No frame within the timeout is drivers.ErrTimeout
// if the line was silent and drivers.ErrFrame if only garbage came. Raw is the frame.
func (d *Dev) Read(ctx context.Context) (drivers.Reading, error) {
	if err := ctx.Err(); err != nil {
		return drivers.Reading{}, fmt.Errorf("rpm5300: read: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var raw [FrameLen]byte
	rpm, found := 0, false
	take := func() {
		for {
			v, f, ok := d.sc.Next()
			if !ok {
				break
			}
			rpm, found = v, true
			copy(raw[:], f)
		}
		d.stats.frames.Store(d.sc.Frames)
		d.stats.discarded.Store(d.sc.Discarded)
		d.stats.pending.Store(uint64(d.sc.Pending()))
	}
	take()
	garbage := d.sc.Discarded
	deadline := time.Now().Add(d.o.Timeout)
	for !found {
		wait := time.Until(deadline)
		if wait <= 0 {
			return drivers.Reading{}, drivers.NoFrame("rpm5300", "read", d.sc.Discarded > garbage || d.sc.Pending() > 0, d.o.Timeout)
		}
		_, err := d.fill(ctx, wait)
		take()
		if err != nil && !found {
			return drivers.Reading{}, fmt.Errorf("rpm5300: read: %w", err)
		}
	}
	for budget := catchUpMax; budget > 0; {
		n, err := d.fill(ctx, d.o.CatchUp)
		take()
		if n == 0 || err != nil {
			break
		}
		budget -= n
	}
	out := make([]byte, FrameLen)
	copy(out, raw[:])
	return drivers.Reading{
		Time:   d.o.Clock(),
		Values: map[drivers.Quantity]float64{drivers.RPM: float64(rpm)},
		Raw:    out,
	}, nil
}
