package simport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// PollSlice is how long one Link.Read blocks by default, so ctx is honoured within it.
const PollSlice = 50 * time.Millisecond

// IdleWait is how long Link.Read waits before returning Detached while no process has the
// slave open (a pty master's Read fails with EIO at once then; retrying would spin).
const IdleWait = 20 * time.Millisecond

// Status is what one Link.Read saw.
type Status int

// Statuses.
const (
	Data     Status = iota // bytes arrived (possibly none, from a reader without deadlines)
	Idle                   // the read deadline passed in silence; the slave is open
	Detached               // nobody has the slave open; Read has already waited IdleWait
	Stopped                // ctx is done or the line is gone: the simulator should return
)

// Link is a simulator's end of the line, normally a pty master (Open). It hides the
// transport's quirks every simulator meets: read deadlines for honouring ctx, EIO while
// no process has the slave open, EOF or a closed master at the end, and writes that fail
// because nobody is listening.
type Link struct {
	name string
	rw   io.ReadWriter
	rd   interface{ SetReadDeadline(time.Time) error }
	wd   interface{ SetWriteDeadline(time.Time) error }
}

// NewLink wraps rw; name (the simulator's package) prefixes the errors it returns.
func NewLink(name string, rw io.ReadWriter) *Link {
	l := &Link{name: name, rw: rw}
	l.rd, _ = rw.(interface{ SetReadDeadline(time.Time) error })
	l.wd, _ = rw.(interface{ SetWriteDeadline(time.Time) error })
	return l
}

// HasDeadlines reports whether rw supports read deadlines (without them, Read blocks until
// bytes arrive and ctx is honoured only then).
func (l *Link) HasDeadlines() bool { return l.rd != nil }

// Read reads into b until until (the zero time: PollSlice from now). The status says what
// happened; err is non-nil only with Stopped, for a failure that is not the normal end
// (ctx done, EOF or a closed master end the line with a nil error).
func (l *Link) Read(ctx context.Context, b []byte, until time.Time) (int, Status, error) {
	if ctx.Err() != nil {
		return 0, Stopped, nil
	}
	if l.rd != nil {
		if until.IsZero() {
			until = time.Now().Add(PollSlice)
		}
		if err := l.rd.SetReadDeadline(until); err != nil {
			return 0, Stopped, fmt.Errorf("%s: set read deadline: %w", l.name, err)
		}
	}
	n, err := l.rw.Read(b)
	switch {
	case err == nil:
		return n, Data, nil
	case ctx.Err() != nil, errors.Is(err, io.EOF), errors.Is(err, os.ErrClosed):
		return 0, Stopped, nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 0, Idle, nil
	case errors.Is(err, syscall.EIO):
		if !Sleep(ctx, IdleWait) {
			return 0, Stopped, nil
		}
		return 0, Detached, nil
	default:
		return 0, Stopped, fmt.Errorf("%s: read: %w", l.name, err)
	}
}

// Write sends out (nothing when it is empty). A write nobody receives is lost, as on a
// real line: EIO (no slave), a passed write deadline and any failure after ctx is done are
// not errors.
func (l *Link) Write(ctx context.Context, out []byte) error {
	return l.WriteWithin(ctx, out, 0)
}

// WriteWithin is Write with a write deadline d from now (when rw supports one and d > 0),
// so a reader that does not drain the line cannot block the simulator.
func (l *Link) WriteWithin(ctx context.Context, out []byte, d time.Duration) error {
	if len(out) == 0 {
		return nil
	}
	if d > 0 && l.wd != nil {
		if err := l.wd.SetWriteDeadline(time.Now().Add(d)); err != nil {
			return fmt.Errorf("%s: set write deadline: %w", l.name, err)
		}
	}
	if _, err := l.rw.Write(out); err != nil {
		if errors.Is(err, syscall.EIO) || errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%s: write: %w", l.name, err)
	}
	return nil
}

// Sleep waits d, or less if ctx ends first; it reports whether the full d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Server is the serve loop of a request/response simulator: read what arrives, hand it
// to Input, write the replies. The protocol's framing and state stay with the simulator.
type Server struct {
	Name      string        // error prefix, e.g. "flv1000sim"
	BufSize   int           // bytes per read (0: 256)
	PollSlice time.Duration // how long one read blocks (0: PollSlice)
	// Input takes the bytes that arrived and returns the replies, written in order (nil
	// or empty ones are skipped).
	Input func(in []byte) [][]byte
	// Idle, if set, is called when a read passed in silence with the slave open.
	Idle func()
	// Poll, if set, is called before each read; what it returns is sent unasked.
	Poll func() []byte
}

// Serve runs the loop on rw until ctx is done (then it returns nil), the line ends (nil)
// or rw fails. While nobody has the slave open it waits and retries.
func (sv Server) Serve(ctx context.Context, rw io.ReadWriter) error {
	l := NewLink(sv.Name, rw)
	size := sv.BufSize
	if size <= 0 {
		size = 256
	}
	slice := sv.PollSlice
	if slice <= 0 {
		slice = PollSlice
	}
	b := make([]byte, size)
	for {
		if ctx.Err() != nil {
			return nil
		}
		if sv.Poll != nil {
			if err := l.Write(ctx, sv.Poll()); err != nil {
				return err
			}
		}
		n, st, err := l.Read(ctx, b, time.Now().Add(slice))
		switch st {
		case Stopped:
			return err
		case Idle:
			if sv.Idle != nil {
				sv.Idle()
			}
			continue
		case Detached:
			continue
		}
		if n == 0 {
			continue
		}
		for _, r := range sv.Input(b[:n]) {
			if err := l.Write(ctx, r); err != nil {
				return err
			}
		}
	}
}

// PerByte adapts a byte-at-a-time reply function (a state machine fed one byte, answering
// nil or a reply) to Server.Input.
func PerByte(reply func(c byte) []byte) func(in []byte) [][]byte {
	return func(in []byte) [][]byte {
		out := make([][]byte, 0, len(in))
		for _, c := range in {
			out = append(out, reply(c))
		}
		return out
	}
}
