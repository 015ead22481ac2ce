package drivers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// pollSlice bounds how long one underlying Read may block, so ctx is checked often.
const pollSlice = 50 * time.Millisecond

type readTimeouter interface{ SetReadTimeout(time.Duration) error }
type readDeadliner interface{ SetReadDeadline(time.Time) error }

// ReadFull fills buf from r within timeout, returning early when ctx is done.
//
// It understands the two kinds of transport the project uses: a go.bug.st/serial port,
// whose Read returns (0, nil) when its read timeout expires, and files or connections with
// read deadlines (the simulator's pty master, net.Conn). Any other reader must not block
// for long. A partial read followed by silence is ErrTimeout; io.EOF (or a closed port) is
// returned as an error so the caller resets the link.
func ReadFull(ctx context.Context, r io.Reader, buf []byte, timeout time.Duration) (int, error) {
	if t, ok := r.(readTimeouter); ok {
		if err := t.SetReadTimeout(pollSlice); err != nil {
			return 0, fmt.Errorf("set read timeout: %w", err)
		}
	}
	d, hasDeadline := r.(readDeadliner)
	deadline := time.Now().Add(timeout)
	n := 0
	for n < len(buf) {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if !time.Now().Before(deadline) {
			return n, fmt.Errorf("%w: %d of %d bytes within %v", ErrTimeout, n, len(buf), timeout)
		}
		if hasDeadline {
			next := time.Now().Add(pollSlice)
			if next.After(deadline) {
				next = deadline
			}
			if err := d.SetReadDeadline(next); err != nil {
				return n, fmt.Errorf("set read deadline: %w", err)
			}
		}
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if errors.Is(err, io.EOF) {
				return n, fmt.Errorf("link closed: %w", io.ErrUnexpectedEOF)
			}
			return n, err
		}
	}
	return n, nil
}

// minDeadline is the shortest read deadline ReadSome sets: a deadline already in the past
// makes *os.File fail before it even tries to read.
const minDeadline = time.Millisecond

// ReadSome reads whatever arrives first into buf, waiting at most wait (and returning
// early with ctx's error when ctx is done): it returns as soon as at least one byte is in.
// It is the primitive of drivers for instruments that stream: silence for the whole wait
// is (0, nil), and the caller decides whether that is an error. Like ReadFull it works on
// go.bug.st/serial ports (read timeout) and readers with deadlines; io.EOF becomes
// io.ErrUnexpectedEOF (the link is gone), and an error that comes with data is left for
// the next call.
func ReadSome(ctx context.Context, r io.Reader, buf []byte, wait time.Duration) (int, error) {
	t, hasTimeout := r.(readTimeouter)
	d, hasDeadline := r.(readDeadliner)
	deadline := time.Now().Add(wait)
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		slice := max(min(time.Until(deadline), pollSlice), 0)
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
			return n, nil
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

// NoFrame classifies a streaming driver's Read that saw no valid frame within timeout:
// garbage arrived (ErrFrame) or nothing did (ErrTimeout). pkg prefixes the message and
// what names the operation.
func NoFrame(pkg, what string, garbage bool, timeout time.Duration) error {
	if garbage {
		return fmt.Errorf("%s: %s: no valid frame within %v, only garbage: %w", pkg, what, timeout, ErrFrame)
	}
	return fmt.Errorf("%s: %s: no frame within %v: %w", pkg, what, timeout, ErrTimeout)
}

// Send starts a request/response exchange: it returns ctx's error if ctx is already done,
// drains what the device sent before (Drain with quiet), then writes req. Errors are
// prefixed with the step ("drain: ", "write: "); the driver adds its own context.
func Send(ctx context.Context, rw io.ReadWriter, req []byte, quiet time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := Drain(ctx, rw, quiet); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	if _, err := rw.Write(req); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// Drain discards whatever the device has already sent, so a stale or garbage byte cannot
// be taken as the start of the next reply. It reads until the line is quiet for quiet.
func Drain(ctx context.Context, r io.Reader, quiet time.Duration) error {
	var scratch [256]byte
	for {
		n, err := ReadFull(ctx, r, scratch[:1], quiet)
		if errors.Is(err, ErrTimeout) && n == 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Sum8 is the plain 8-bit sum of b, carry dropped (the "CSsum" of domain.md).
func Sum8(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// Neg8 is the two's-complement checksum: Sum8(b) + Neg8(b) == 0 mod 256 ("CS2c").
func Neg8(b []byte) byte { return -Sum8(b) }

// Not8 is the one's complement of the 8-bit sum ("CS1c").
func Not8(b []byte) byte { return ^Sum8(b) }
