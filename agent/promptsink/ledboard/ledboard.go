// Package ledboard speaks imagent's LED-board text protocol: a line-based serial protocol
// for the two-line display a driver reads at the lane ("hold 2500 r/min", "12 s"), and its
// simulator (Sim). It is defined here, for boards that are programmed to it (a small
// microcontroller behind a serial LED matrix), since vendors' boards each speak their own.
//
// Frames are ASCII-framed UTF-8 text lines, NMEA style:
//
//	host → board   $D,<seq>,<line1>,<line2>*<cs>\r\n   show two lines
//	               $C,<seq>*<cs>\r\n                   clear
//	               $Q,<seq>*<cs>\r\n                   query what is shown
//	board → host   $A,<seq>*<cs>\r\n                   done (D, C)
//	               $S,<seq>,<line1>,<line2>*<cs>\r\n   shown now (Q)
//	               $N,<seq>,<reason>*<cs>\r\n          refused (bad checksum, unknown command)
//
// <seq> is a decimal 0–999 the host counts up; the board echoes it. <cs> is the XOR of
// every byte between '$' and '*', as two upper-case hex digits. Text may not contain
// '$', '*', ',', CR or LF (Encode replaces them). A board answers within 300 ms.
package ledboard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"imagent/drivers"
)

// Display is what the board shows.
type Display struct{ Line1, Line2 string }

// MaxRunes is the longest line the protocol carries; boards cut what they cannot show.
const MaxRunes = 64

// Checksum is the XOR of the bytes of a frame body (between '$' and '*').
func Checksum(body []byte) byte {
	var x byte
	for _, b := range body {
		x ^= b
	}
	return x
}

// clean makes text safe for a field.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '$', '*', ',', '\r', '\n':
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > MaxRunes {
		s = string(r[:MaxRunes])
	}
	return s
}

// Encode builds a frame from its fields (command letter first).
func Encode(fields ...string) []byte {
	for i := 2; i < len(fields); i++ {
		fields[i] = clean(fields[i])
	}
	body := strings.Join(fields, ",")
	return fmt.Appendf(nil, "$%s*%02X\r\n", body, Checksum([]byte(body)))
}

// Decode checks a frame (with or without its CR LF) and returns its fields.
func Decode(frame []byte) ([]string, error) {
	f := bytes.TrimRight(frame, "\r\n")
	if len(f) < 5 || f[0] != '$' || f[len(f)-3] != '*' {
		return nil, fmt.Errorf("ledboard: %w: %q", drivers.ErrFrame, frame)
	}
	body := f[1 : len(f)-3]
	want, err := strconv.ParseUint(string(f[len(f)-2:]), 16, 8)
	if err != nil {
		return nil, fmt.Errorf("ledboard: %w: checksum %q", drivers.ErrFrame, f[len(f)-2:])
	}
	if Checksum(body) != byte(want) {
		return nil, fmt.Errorf("ledboard: %w", drivers.ErrChecksum)
	}
	return strings.Split(string(body), ","), nil
}

// Dev is a board on a serial port. It implements drivers.Device: Read asks the board what
// it shows, so the agent's supervisor sees whether it is alive.
type Dev struct {
	rw      io.ReadWriter
	seq     int
	timeout time.Duration
	buf     []byte
}

// New returns a driver on rw (9600 8N1 by default).
func New(rw io.ReadWriter) *Dev { return &Dev{rw: rw, timeout: 300 * time.Millisecond} }

// Read queries the display; the reading carries no quantities, its Raw is the reply.
func (d *Dev) Read(ctx context.Context) (drivers.Reading, error) {
	f, raw, err := d.transact(ctx, "Q")
	if err != nil {
		return drivers.Reading{}, err
	}
	if f[0] != "S" || len(f) != 4 {
		return drivers.Reading{}, fmt.Errorf("ledboard: %w: reply %q to a query", drivers.ErrFrame, raw)
	}
	return drivers.Reading{Time: time.Now(), Values: map[drivers.Quantity]float64{}, Raw: raw}, nil
}

// Show puts two lines on the board.
func (d *Dev) Show(ctx context.Context, x Display) error {
	_, _, err := d.transact(ctx, "D", x.Line1, x.Line2)
	return err
}

// Clear blanks the board.
func (d *Dev) Clear(ctx context.Context) error {
	_, _, err := d.transact(ctx, "C")
	return err
}

func (d *Dev) transact(ctx context.Context, cmd string, text ...string) ([]string, []byte, error) {
	d.seq = (d.seq + 1) % 1000
	seq := strconv.Itoa(d.seq)
	if _, err := d.rw.Write(Encode(append([]string{cmd, seq}, text...)...)); err != nil {
		return nil, nil, fmt.Errorf("ledboard: write: %w", err)
	}
	deadline := time.Now().Add(d.timeout)
	for {
		if i := bytes.IndexByte(d.buf, '\n'); i >= 0 {
			line := d.buf[:i+1]
			d.buf = append([]byte(nil), d.buf[i+1:]...)
			f, err := Decode(line)
			if err != nil {
				return nil, line, err
			}
			if len(f) < 2 || f[1] != seq {
				continue // a late answer to an earlier request
			}
			if f[0] == "N" {
				return f, line, fmt.Errorf("ledboard: %w: %s", drivers.ErrNAK, strings.Join(f[2:], ","))
			}
			return f, line, nil
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if time.Now().After(deadline) {
			d.buf = nil
			return nil, nil, fmt.Errorf("ledboard: %w", drivers.ErrTimeout)
		}
		var b [128]byte
		if dl, ok := d.rw.(interface{ SetReadTimeout(time.Duration) error }); ok {
			_ = dl.SetReadTimeout(50 * time.Millisecond)
		}
		n, err := d.rw.Read(b[:])
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("ledboard: read: %w", err)
		}
		d.buf = append(d.buf, b[:n]...)
		if len(d.buf) > 4096 {
			d.buf = nil
			return nil, nil, fmt.Errorf("ledboard: %w: no line end in 4 KiB", drivers.ErrFrame)
		}
	}
}
