package rpm5300

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"imagent/drivers"
)

// pollSlice bounds one blocking Read of the port, so ctx is checked often.
const pollSlice = 50 * time.Millisecond

// minDeadline is the shortest read deadline set on a deadline-based reader: a deadline
// already in the past makes *os.File fail before it even tries to read.
const minDeadline = time.Millisecond

type readTimeouter interface{ SetReadTimeout(time.Duration) error }
type readDeadliner interface{ SetReadDeadline(time.Time) error }

// readSome reads whatever arrives first into buf, waiting at most wait (and returning
// early when ctx is done). It understands go.bug.st/serial ports (Read returns (0, nil)
// on timeout) and readers with deadlines (the simulator's pty master, net.Conn), like
// drivers.ReadFull. Silence for the whole wait is (0, nil): the caller decides whether
// that is an error. io.EOF becomes io.ErrUnexpectedEOF (the link is gone).
func readSome(ctx context.Context, r io.Reader, buf []byte, wait time.Duration) (int, error) {
	t, hasTimeout := r.(readTimeouter)
	d, hasDeadline := r.(readDeadliner)
	deadline := time.Now().Add(wait)
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		slice := min(time.Until(deadline), pollSlice)
		if slice < 0 {
			slice = 0
		}
		switch {
		case hasTimeout:
			if err := t.SetReadTimeout(slice); err != nil {
				return 0, fmt.Errorf("set read timeout: %w", err)
			}
		case hasDeadline:
			if err := d.SetReadDeadline(time.Now().Add(max(slice, minDeadline))); err != nil {
				return 0, fmt.Errorf("set read deadline: %w", err)
			}
		}
		n, err := r.Read(buf)
		if n > 0 {
			return n, nil // an error with data is seen again on the next read
		}
		switch {
		case err == nil, errors.Is(err, os.ErrDeadlineExceeded):
		case errors.Is(err, io.EOF):
			return 0, fmt.Errorf("link closed: %w", io.ErrUnexpectedEOF)
		default:
			return 0, err
		}
		if !time.Now().Before(deadline) {
			return 0, nil
		}
	}
}

// errNoFrame classifies a Read that saw no valid frame within its timeout: garbage
// arrived (drivers.ErrFrame) or nothing did (drivers.ErrTimeout).
func errNoFrame(what string, garbage bool, timeout time.Duration) error {
	if garbage {
		return fmt.Errorf("rpm5300: %s: no valid frame within %v, only garbage: %w", what, timeout, drivers.ErrFrame)
	}
	return fmt.Errorf("rpm5300: %s: no frame within %v: %w", what, timeout, drivers.ErrTimeout)
}
