package ledboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// Sim is a simulated board: it answers the protocol on an io.ReadWriter (normally a pty
// master) and remembers what it shows. Its methods are safe to call while Serve runs.
type Sim struct {
	mu    sync.Mutex
	shown Display
	count int // frames shown
	bad   int // frames refused
}

// Shown returns what the board shows and how many displays it has shown.
func (s *Sim) Shown() (Display, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shown, s.count
}

// Refused returns how many frames the board refused.
func (s *Sim) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bad
}

// Reply is the board's answer to one line from the host (nil for none).
func (s *Sim) Reply(line []byte) []byte {
	f, err := Decode(line)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.bad++
		return Encode("N", "0", "bad frame")
	}
	if len(f) < 2 {
		s.bad++
		return Encode("N", "0", "no sequence number")
	}
	switch {
	case f[0] == "D" && len(f) == 4:
		s.shown = Display{Line1: f[2], Line2: f[3]}
		s.count++
		return Encode("A", f[1])
	case f[0] == "C" && len(f) == 2:
		s.shown = Display{}
		s.count++
		return Encode("A", f[1])
	case f[0] == "Q" && len(f) == 2:
		return Encode("S", f[1], s.shown.Line1, s.shown.Line2)
	}
	s.bad++
	return Encode("N", f[1], "unknown command")
}

// Serve answers lines on rw until ctx is done or rw fails. A pty master whose slave nobody
// has open reads EIO; Serve waits and retries.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	dl, _ := rw.(interface{ SetReadDeadline(time.Time) error })
	var buf []byte
	b := make([]byte, 256)
	for ctx.Err() == nil {
		if dl != nil {
			if err := dl.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
				return fmt.Errorf("ledboard sim: %w", err)
			}
		}
		n, err := rw.Read(b)
		switch {
		case err == nil:
		case ctx.Err() != nil || errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue
		case errors.Is(err, syscall.EIO):
			time.Sleep(20 * time.Millisecond)
			continue
		default:
			return fmt.Errorf("ledboard sim: read: %w", err)
		}
		buf = append(buf, b[:n]...)
		for {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				break
			}
			line := buf[:i+1]
			buf = buf[i+1:]
			// Resynchronise on the last '$': bytes before it are noise on the line.
			if j := bytes.LastIndexByte(line, '$'); j > 0 {
				line = line[j:]
			}
			if r := s.Reply(line); r != nil {
				if _, err := rw.Write(r); err != nil && !errors.Is(err, syscall.EIO) {
					return fmt.Errorf("ledboard sim: write: %w", err)
				}
			}
		}
		if len(buf) > 4096 {
			buf = nil
		}
	}
	return nil
}
