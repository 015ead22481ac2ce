// Package station supervises the lane's instruments: one goroutine owns each serial port,
// polls its driver, keeps the latest reading with its age and state, runs device commands
// between polls, and reopens the port with backoff when it vanishes, goes silent or talks
// garbage. Device loss is a state this package reports, never a reason to stop the agent.
package station

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"imagent/drivers"
)

// State of one device as the technician sees it.
type State string

// Device states.
const (
	StateStarting State = "starting"   // not opened yet
	StateOK       State = "ok"         // answering with good frames
	StateWarmup   State = "warming_up" // answering, but not ready to measure
	StateError    State = "error"      // open, but the last transaction failed (garbage, NAK, silence)
	StateAbsent   State = "absent"     // the port cannot be opened (unplugged, wrong path)
)

// Opener opens the port and the driver on it. The closer releases the port; closing it
// must unblock a pending Read (go.bug.st/serial's Close does).
type Opener func(ctx context.Context) (drivers.Device, io.Closer, error)

// Spec describes one supervised device.
type Spec struct {
	Name, Role, Protocol, Port, Model string
	Poll                              time.Duration // interval between polls
	MaxFailures                       int           // consecutive soft failures before the port is reopened (default 3)
	BackoffMin, BackoffMax            time.Duration // reopen backoff (defaults 200 ms and 5 s)
}

// Snapshot is the live state of a device.
type Snapshot struct {
	Name      string
	Role      string
	State     State
	Reading   drivers.Reading // the last good reading (zero if none yet)
	LastFrame time.Time       // when Reading arrived (zero if never)
	Err       string          // the last error, if State is error or absent
	Opens     int             // how many times the port was opened
	Failures  int             // consecutive failed transactions
}

// Age is how old the last good frame is at now (a large value if there was none).
func (s Snapshot) Age(now time.Time) time.Duration {
	if s.LastFrame.IsZero() {
		return 1<<63 - 1
	}
	return now.Sub(s.LastFrame)
}

type command struct {
	fn   func(ctx context.Context, d drivers.Device) error
	done chan error
}

// Device supervises one instrument.
type Device struct {
	spec Spec
	open Opener
	log  *slog.Logger

	cmds chan command

	mu   sync.Mutex
	snap Snapshot
	subs map[chan Snapshot]struct{}
}

// ErrNotConnected is returned by Do when the device is not open.
var ErrNotConnected = errors.New("station: device not connected")

// NewDevice returns a supervisor; nothing happens until Run.
func NewDevice(spec Spec, open Opener, log *slog.Logger) *Device {
	if spec.Poll <= 0 {
		spec.Poll = 500 * time.Millisecond
	}
	if spec.MaxFailures <= 0 {
		spec.MaxFailures = 3
	}
	if spec.BackoffMin <= 0 {
		spec.BackoffMin = 200 * time.Millisecond
	}
	if spec.BackoffMax <= 0 {
		spec.BackoffMax = 5 * time.Second
	}
	return &Device{
		spec: spec,
		open: open,
		log:  log.With("device", spec.Name),
		cmds: make(chan command),
		snap: Snapshot{Name: spec.Name, Role: spec.Role, State: StateStarting},
		subs: map[chan Snapshot]struct{}{},
	}
}

// Spec returns what the device was configured with.
func (d *Device) Spec() Spec { return d.spec }

// Snapshot returns the device's live state.
func (d *Device) Snapshot() Snapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.snap
	return s
}

// Subscribe returns a channel that receives every new snapshot (dropping ones the reader
// is too slow for) until cancel is called.
func (d *Device) Subscribe() (<-chan Snapshot, func()) {
	ch := make(chan Snapshot, 4)
	d.mu.Lock()
	d.subs[ch] = struct{}{}
	d.mu.Unlock()
	return ch, func() {
		d.mu.Lock()
		delete(d.subs, ch)
		d.mu.Unlock()
	}
}

func (d *Device) update(f func(s *Snapshot)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	prev := d.snap.State
	f(&d.snap)
	if d.snap.State != prev {
		d.log.Info("device state", "from", prev, "to", d.snap.State, "err", d.snap.Err)
	}
	for ch := range d.subs {
		select {
		case ch <- d.snap:
		default:
		}
	}
}

// Do runs fn with exclusive use of the driver, between two polls. It fails with
// ErrNotConnected when the port is not open.
func (d *Device) Do(ctx context.Context, fn func(ctx context.Context, dev drivers.Device) error) error {
	c := command{fn: fn, done: make(chan error, 1)}
	select {
	case d.cmds <- c:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * d.spec.Poll):
		// The owner is not in its poll loop (port closed, backing off).
		if s := d.Snapshot(); s.State == StateAbsent || s.State == StateStarting {
			return fmt.Errorf("%s: %w", d.spec.Name, ErrNotConnected)
		}
		select {
		case d.cmds <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run owns the port until ctx is done.
func (d *Device) Run(ctx context.Context) error {
	backoff := d.spec.BackoffMin
	for ctx.Err() == nil {
		dev, closer, err := d.open(ctx)
		if err != nil {
			d.update(func(s *Snapshot) { s.State = StateAbsent; s.Err = err.Error() })
		} else {
			d.update(func(s *Snapshot) { s.Opens++ })
			stop := context.AfterFunc(ctx, func() { closer.Close() })
			good, err := d.serve(ctx, dev)
			stop()
			if cerr := closer.Close(); cerr != nil && ctx.Err() == nil {
				d.log.Debug("close port", "err", cerr)
			}
			if ctx.Err() != nil {
				return nil
			}
			d.update(func(s *Snapshot) { s.State = StateError; s.Err = err.Error() })
			if good {
				backoff = d.spec.BackoffMin
			}
		}
		// Full jitter: sleep a random time up to the current backoff.
		wait := time.Duration(rand.Int64N(int64(backoff))) + 10*time.Millisecond
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, d.spec.BackoffMax)
	}
	return nil
}

// serve polls dev until the link must be reset. It reports whether any good frame came.
func (d *Device) serve(ctx context.Context, dev drivers.Device) (good bool, err error) {
	t := time.NewTicker(d.spec.Poll)
	defer t.Stop()
	failures := 0
	poll := func() error {
		r, err := dev.Read(ctx)
		if err != nil {
			failures++
			d.update(func(s *Snapshot) { s.State = StateError; s.Err = err.Error(); s.Failures = failures })
			return err
		}
		failures = 0
		good = true
		d.update(func(s *Snapshot) {
			s.Reading = r
			s.LastFrame = r.Time
			s.Failures = 0
			s.Err = ""
			s.State = StateOK
			if r.Status&(drivers.Warmup|drivers.Zeroing|drivers.LeakCheck) != 0 {
				s.State = StateWarmup
			}
		})
		return nil
	}
	for {
		var err error
		select {
		case <-ctx.Done():
			return good, ctx.Err()
		case c := <-d.cmds:
			cerr := c.fn(ctx, dev)
			c.done <- cerr
			if cerr != nil && linkDead(cerr) {
				err = cerr
			}
		case <-t.C:
			err = poll()
		}
		if err == nil {
			continue
		}
		if linkDead(err) {
			return good, fmt.Errorf("link lost: %w", err)
		}
		if failures >= d.spec.MaxFailures {
			return good, fmt.Errorf("%d failed transactions, reopening: %w", failures, err)
		}
	}
}

// linkDead reports whether err means the port itself is gone, as opposed to one bad
// transaction (garbage, a NAK, a missed reply) that the next poll may cure.
func linkDead(err error) bool {
	for _, soft := range []error{drivers.ErrTimeout, drivers.ErrChecksum, drivers.ErrFrame,
		drivers.ErrNAK, drivers.ErrBusy, drivers.ErrFailed} {
		if errors.Is(err, soft) {
			return false
		}
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}
