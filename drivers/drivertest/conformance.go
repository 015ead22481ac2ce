package drivertest

import (
	"context"
	"errors"
	"io"
	"math"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
	"imagent/drivers/simport"
)

// ServeFunc runs a device simulator on rw (the master side of a pty) until ctx is done.
// It must honour ctx (the master supports read deadlines) and treat EIO on read as
// "nobody has the port open yet", not as the end.
type ServeFunc func(ctx context.Context, rw io.ReadWriter) error

// SimPort is a simulator running behind a pseudo-terminal, with a go.bug.st/serial port
// opened on the slave side, exactly as the agent would open a USB adapter.
type SimPort struct {
	Port serial.Port
	PTY  *simport.PTY

	t        testing.TB
	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
	killOnce sync.Once
}

// OpenSimPort starts serve on a new pty and opens its slave with mode (leave
// mode.InitialStatusBits nil: a pty has no modem lines). Everything is torn down by
// t.Cleanup; Stop and Kill do it earlier.
func OpenSimPort(t testing.TB, serve ServeFunc, mode serial.Mode) *SimPort {
	t.Helper()
	pty, err := simport.Open()
	if err != nil {
		t.Fatalf("drivertest: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &SimPort{PTY: pty, t: t, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- serve(ctx, pty.Master) }()
	port, err := serial.Open(pty.SlavePath, &mode)
	if err != nil {
		s.Kill()
		t.Fatalf("drivertest: open %s: %v", pty.SlavePath, err)
	}
	s.Port = port
	t.Cleanup(func() {
		s.Kill()
		port.Close()
	})
	return s
}

// Stop ends the simulator and waits for it. The pty stays open, so the device is
// silent: the driver's writes succeed and nothing comes back. A simulator error other
// than its ctx ending fails the test.
func (s *SimPort) Stop() {
	s.stopOnce.Do(func() {
		s.cancel()
		select {
		case err := <-s.done:
			if err != nil && !errors.Is(err, context.Canceled) {
				s.t.Errorf("drivertest: simulator: %v", err)
			}
		case <-time.After(5 * time.Second):
			s.t.Errorf("drivertest: simulator did not stop within 5 s of ctx cancel")
		}
	})
}

// Kill stops the simulator and closes the pty master: the device is gone, as when a
// USB adapter is pulled.
func (s *SimPort) Kill() {
	s.Stop()
	s.killOnce.Do(func() { s.PTY.Close() })
}

// Harness tells Conformance how to run one driver against its simulator. A driver's test
// needs about fifteen lines:
//
//	drivertest.Conformance(t, drivertest.Harness{
//		Mode:  serial.Mode{BaudRate: 9600},
//		Serve: func(ctx context.Context, rw io.ReadWriter) error { return acmesim.New(acmesim.Options{}).Serve(ctx, rw) },
//		New:   func(rw io.ReadWriter) (drivers.Device, error) { return acme.New(rw, acme.DefaultOpts) },
//	})
type Harness struct {
	Mode  serial.Mode // line settings; InitialStatusBits must stay nil
	Serve ServeFunc   // starts a fresh simulator each call
	// New builds the driver on the port. Its reply timeout must be at least 500 ms, so
	// the checks can tell "returned because ctx was cancelled" from "timed out".
	New func(rw io.ReadWriter) (drivers.Device, error)
}

// Start opens a SimPort for h and builds the driver on it.
func (h Harness) Start(t testing.TB) (drivers.Device, *SimPort) {
	t.Helper()
	sp := OpenSimPort(t, h.Serve, h.Mode)
	dev, err := h.New(sp.Port)
	if err != nil {
		t.Fatalf("drivertest: New: %v", err)
	}
	return dev, sp
}

// cancelAfter is how long the silent-device check lets Read run before cancelling.
const cancelAfter = 50 * time.Millisecond

// Conformance runs the contract every drivers.Device must meet, over a real pty:
//
//   - Read returns a Reading with Raw set, at least one value, only drivers.Known
//     quantities and finite numbers, several times in a row;
//   - Read returns the ctx error promptly when ctx is cancelled while the device is
//     silent, and at once when ctx is already done;
//   - after the simulator's pty master is closed, Read returns an error by itself, not
//     a hang and not a zero reading.
func Conformance(t *testing.T, h Harness) {
	t.Run("Read", func(t *testing.T) {
		dev, _ := h.Start(t)
		for i := range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			r, err := dev.Read(ctx)
			cancel()
			if err != nil {
				t.Fatalf("Read #%d: %v", i+1, err)
			}
			checkReading(t, r)
		}
	})

	t.Run("CancelWhileSilent", func(t *testing.T) {
		dev, sp := h.Start(t)
		if _, err := dev.Read(context.Background()); err != nil {
			t.Fatalf("first Read (simulator running): %v", err)
		}
		sp.Stop()
		ctx, cancel := context.WithCancel(context.Background())
		timer := time.AfterFunc(cancelAfter, cancel)
		defer timer.Stop()
		start := time.Now()
		r, err := readGuarded(t, dev, ctx)
		took := time.Since(start)
		if err == nil {
			t.Fatalf("Read on a silent device returned %+v, want an error", r)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Read on a silent device cancelled after %v: error %q does not wrap context.Canceled", cancelAfter, err)
		}
		if took > time.Second {
			t.Errorf("Read returned %v after its ctx was cancelled, want well under 1 s", took-cancelAfter)
		}
		checkZero(t, r)
	})

	t.Run("AlreadyCancelled", func(t *testing.T) {
		dev, _ := h.Start(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r, err := readGuarded(t, dev, ctx)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Read with a done ctx: err = %v, want context.Canceled", err)
		}
		checkZero(t, r)
	})

	t.Run("DeviceGone", func(t *testing.T) {
		dev, sp := h.Start(t)
		if _, err := dev.Read(context.Background()); err != nil {
			t.Fatalf("first Read (simulator running): %v", err)
		}
		sp.Kill()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := readGuarded(t, dev, ctx)
		if err == nil {
			t.Fatalf("Read after the device went away returned %+v, want an error", r)
		}
		if ctx.Err() != nil {
			t.Errorf("Read after the device went away only returned when its ctx expired: %v", err)
		}
		checkZero(t, r)
	})
}

// readGuarded runs Read and fails the test (instead of hanging it) if Read does not
// return within 15 s whatever ctx says.
func readGuarded(t *testing.T, dev drivers.Device, ctx context.Context) (drivers.Reading, error) {
	t.Helper()
	type result struct {
		r   drivers.Reading
		err error
	}
	ch := make(chan result, 1)
	go func() {
		r, err := dev.Read(ctx)
		ch <- result{r, err}
	}()
	select {
	case res := <-ch:
		return res.r, res.err
	case <-time.After(15 * time.Second):
		t.Fatalf("Read hung for 15 s")
		return drivers.Reading{}, nil
	}
}

func checkReading(t *testing.T, r drivers.Reading) {
	t.Helper()
	if len(r.Raw) == 0 {
		t.Errorf("Reading.Raw is empty")
	}
	if r.Time.IsZero() {
		t.Errorf("Reading.Time is zero")
	}
	if len(r.Values) == 0 {
		t.Errorf("Reading.Values is empty")
	}
	for q, v := range r.Values {
		if !drivers.Known(q) {
			t.Errorf("Reading has unknown quantity %q", q)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("Reading[%q] = %v, want a finite number", q, v)
		}
	}
}

func checkZero(t *testing.T, r drivers.Reading) {
	t.Helper()
	if r.Values != nil || r.Raw != nil || !r.Time.IsZero() || r.Status != 0 {
		t.Errorf("a failed Read returned the reading %+v; want the zero Reading", r)
	}
}

// StartSim runs serve behind a pty (OpenSimPort with mode) and builds a driver on the
// port with newDev and its options o, e.g. StartSim(t, sim.Serve, mode, acme.New, opts).
func StartSim[O, D any](t testing.TB, serve ServeFunc, mode serial.Mode, newDev func(io.ReadWriter, O) (D, error), o O) D {
	t.Helper()
	sp := OpenSimPort(t, serve, mode)
	d, err := newDev(sp.Port, o)
	if err != nil {
		t.Fatalf("drivertest: New: %v", err)
	}
	return d
}

// Context returns a context that ends after d or when the test ends, whichever is first.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
