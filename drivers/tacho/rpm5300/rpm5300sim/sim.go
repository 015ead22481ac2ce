// Package rpm5300sim simulates a Nanhua RPM5300 tachometer (the device side of package
// rpm5300): it streams the speed of an ntsim.Engine as "dddd\r" every Period, with fault
// injection switchable while it runs. It is not the specification: traces in
// ../testdata are.
package rpm5300sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"imagent/drivers/simport"
	"imagent/drivers/tacho/nt/ntsim"
	"imagent/drivers/tacho/rpm5300"
)

// Mode is a fault-injection mode, settable while the simulator runs.
type Mode int32

// Modes.
const (
	Normal    Mode = iota // stream correct frames
	Silent                // send nothing
	Garbage               // send only random bytes, never CR
	Noisy                 // correct frames with random bytes (never CR) between them
	BadFrame              // frames with a letter among the digits
	Truncated             // only the first two characters of each frame, no CR
)

func (m Mode) String() string {
	switch m {
	case Normal:
		return "normal"
	case Silent:
		return "silent"
	case Garbage:
		return "garbage"
	case Noisy:
		return "noisy"
	case BadFrame:
		return "bad-frame"
	case Truncated:
		return "truncated"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Options configure a Sim. The zero value of each field is usable.
type Options struct {
	Period   time.Duration    // stream period, default 100 ms
	Engine   *ntsim.Engine    // default ntsim.NewEngine(Seed, Clock)
	SpacePad bool             // " 800\r" instead of "0800\r"
	Clock    func() time.Time // drives the engine; default time.Now (the stream is paced by real time)
	Seed     uint64
}

// Sim is one simulated meter. Its setters are safe to call while Serve runs.
type Sim struct {
	o Options

	mu      sync.Mutex
	mode    Mode
	rng     *rand.Rand
	sent    uint64
	dropped uint64
}

// New returns a simulator.
func New(o Options) *Sim {
	if o.Period <= 0 {
		o.Period = 100 * time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Engine == nil {
		o.Engine = ntsim.NewEngine(o.Seed, o.Clock)
	}
	return &Sim{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x72706d))}
}

// Engine returns the simulated engine.
func (s *Sim) Engine() *ntsim.Engine { return s.o.Engine }

// SetMode switches fault injection.
func (s *Sim) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// Sent is the number of frames written; Dropped those not written because nobody had the
// port open or it was full.
func (s *Sim) Sent() (sent, dropped uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent, s.dropped
}

// Serve streams frames on rw until ctx is done (then it returns nil) or rw fails, and
// discards what the host sends. rw is normally a pty master (simport.Open): EIO there
// means no process has the slave open, and Serve drops frames until one does. rw must
// support read deadlines for the stream to be paced.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	l := simport.NewLink("rpm5300sim", rw)
	if !l.HasDeadlines() {
		return errors.New("rpm5300sim: Serve needs a reader with SetReadDeadline (a pty master)")
	}
	wd, _ := rw.(interface{ SetWriteDeadline(time.Time) error })
	var in [64]byte
	attached := false
	next := time.Now().Add(s.o.Period)
	for {
		_, st, err := l.Read(ctx, in[:], time.Now().Add(max(time.Until(next), time.Millisecond)))
		switch st {
		case simport.Stopped:
			return err
		case simport.Detached:
			attached = false
		default:
			attached = true
		}
		if ctx.Err() != nil { // stopped while waiting: send nothing more
			return nil
		}
		if now := time.Now(); !now.Before(next) {
			s.write(rw, wd, attached, s.Frame())
			next = next.Add(s.o.Period)
			if now.Sub(next) > s.o.Period {
				next = now.Add(s.o.Period)
			}
		}
	}
}

func (s *Sim) write(w io.Writer, wd interface{ SetWriteDeadline(time.Time) error }, attached bool, out []byte) {
	if len(out) == 0 {
		return
	}
	ok := attached
	if ok && wd != nil {
		ok = wd.SetWriteDeadline(time.Now().Add(s.o.Period)) == nil
	}
	if ok {
		_, err := w.Write(out)
		ok = err == nil
	}
	s.mu.Lock()
	if ok {
		s.sent++
	} else {
		s.dropped++
	}
	s.mu.Unlock()
}

// junk is a random byte that is never CR.
func (s *Sim) junk() byte {
	for {
		if b := byte(s.rng.UintN(256)); b != rpm5300.CR {
			return b
		}
	}
}

// Frame is the next frame after fault injection (nil for none). Serve calls it; tests
// may call it directly.
func (s *Sim) Frame() []byte {
	e := s.o.Engine.Sample(s.o.Clock())
	f := rpm5300.Encode(e.RPM, s.o.SpacePad)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.mode {
	case Silent:
		return nil
	case Garbage:
		g := make([]byte, rpm5300.FrameLen)
		for i := range g {
			g[i] = s.junk()
		}
		return g
	case Noisy:
		var out []byte
		for range 1 + s.rng.IntN(4) {
			out = append(out, s.junk())
		}
		return append(out, f[:]...)
	case BadFrame:
		f[1+s.rng.IntN(3)] = 'x'
	case Truncated:
		return f[:2:2]
	}
	return f[:]
}
