package drivertest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// maxQuietSleep bounds how long a Read on a quiet line sleeps, so replays stay fast.
const maxQuietSleep = time.Millisecond

// Playback plays the device side of a trace. Each Write must match the next '>' bytes
// (writes may be split or joined arbitrarily); Read serves the '<' bytes. It behaves like a
// serial port with a read timeout: while the trace waits for the host to write, Read
// returns (0, nil) after a short pause; once every op is used, Read returns io.EOF. So a
// driver never blocks on it forever. Close reports a mismatch or unused ops.
//
// Playback is safe for concurrent use.
type Playback struct {
	// OneByte makes every Read return at most one byte, as a slow line does
	// (like iotest.OneByteReader). Set it before the first Read.
	OneByte bool

	mu      sync.Mutex
	ops     []Op // without notes
	i, off  int  // current op and offset in it
	err     error
	closed  bool
	timeout time.Duration
}

// NewPlayback returns a Playback of tr (its notes are skipped).
func NewPlayback(tr *Trace) *Playback {
	p := &Playback{}
	for _, op := range tr.Ops {
		if op.Dir == Host || op.Dir == Device {
			p.ops = append(p.ops, op)
		}
	}
	return p
}

// SetReadTimeout sets how long a Read waits on a quiet line (capped at 1 ms, so
// replays run fast). It makes drivers.ReadFull treat Playback as a serial port.
func (p *Playback) SetReadTimeout(d time.Duration) error {
	p.mu.Lock()
	p.timeout = d
	p.mu.Unlock()
	return nil
}

func (p *Playback) where() string {
	if p.i >= len(p.ops) {
		return "after the last op"
	}
	op := p.ops[p.i]
	return fmt.Sprintf("op %d (trace line %d, %c %s)", p.i+1, op.Line, op.Dir, hexBytes(op.Data))
}

// Write checks b against the trace.
func (p *Playback) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, errors.New("drivertest: playback: write after Close")
	}
	if p.err != nil {
		return 0, p.err
	}
	done := 0
	for done < len(b) {
		if p.i >= len(p.ops) {
			p.err = fmt.Errorf("drivertest: playback: host wrote % x after the end of the trace", b[done:])
			return done, p.err
		}
		op := p.ops[p.i]
		if op.Dir != Host {
			p.err = fmt.Errorf("drivertest: playback: host wrote % x, but the trace expects the device to send at %s (%d bytes unread)",
				b[done:], p.where(), len(op.Data)-p.off)
			return done, p.err
		}
		k := min(len(b)-done, len(op.Data)-p.off)
		if want := op.Data[p.off : p.off+k]; !bytes.Equal(b[done:done+k], want) {
			p.err = fmt.Errorf("drivertest: playback: host wrote % x, want % x at %s", b[done:done+k], want, p.where())
			return done, p.err
		}
		done += k
		p.advance(k)
	}
	return done, nil
}

func (p *Playback) advance(k int) {
	p.off += k
	if p.off == len(p.ops[p.i].Data) {
		p.i++
		p.off = 0
	}
}

// Read serves the device's bytes of the current op.
func (p *Playback) Read(b []byte) (int, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, errors.New("drivertest: playback: read after Close")
	}
	if p.err != nil {
		err := p.err
		p.mu.Unlock()
		return 0, err
	}
	if p.i >= len(p.ops) {
		p.mu.Unlock()
		return 0, io.EOF
	}
	if len(b) == 0 {
		p.mu.Unlock()
		return 0, nil
	}
	op := p.ops[p.i]
	if op.Dir != Device { // the device is waiting for the host: a quiet line
		sleep := min(p.timeout, maxQuietSleep)
		p.mu.Unlock()
		if sleep > 0 {
			time.Sleep(sleep)
		}
		return 0, nil
	}
	n := len(op.Data) - p.off
	if p.OneByte {
		n = 1
	}
	n = copy(b, op.Data[p.off:p.off+n])
	p.advance(n)
	p.mu.Unlock()
	return n, nil
}

// Remaining is the number of ops not yet fully used.
func (p *Playback) Remaining() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ops) - p.i
}

// Close returns the first mismatch, or an error if ops remain unused.
func (p *Playback) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.err != nil {
		return p.err
	}
	if p.i < len(p.ops) {
		return fmt.Errorf("drivertest: playback: %d ops unused, next is %s", len(p.ops)-p.i, p.where())
	}
	return nil
}
