// Package drivertest is the shared test kit for drivers: a plain-text trace format,
// Playback (replays a trace as the device), Record (captures real traffic into a trace),
// OpenSimPort (runs a simulator behind a real pseudo-terminal) and Conformance (the
// contract every drivers.Device must meet).
//
// A trace reads like this:
//
//	# gas/nanhua model=NHA-503
//	# source: built from domain.md §1.2.1 facts [C-code], not captured from hardware
//	> 01                  # host wrote: main data request
//	< 06 00 7b 00 34 ...  # device replied
//
// Header lines (# ...) before the first op record provenance. A '>' line holds bytes the
// host wrote, a '<' line bytes the device sent, in hex, separated by blanks; a trailing
// "# comment" is kept. '#' lines between ops are kept as notes.
package drivertest

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// Dir is the direction of an Op.
type Dir byte

// Directions.
const (
	Host   Dir = '>' // bytes the host (driver) wrote
	Device Dir = '<' // bytes the device replied
	Note   Dir = '#' // a comment line between ops; no bytes
)

// Op is one line of a trace.
type Op struct {
	Dir     Dir
	Data    []byte // nil for a Note
	Comment string // text after '#', without the '#' and surrounding blanks
	Line    int    // line number in the parsed file (0 if built in memory)
}

// Trace is a parsed trace file.
type Trace struct {
	Header []string // provenance lines, without the leading "# "
	Ops    []Op
}

// ParseTrace reads a trace. Errors name the line.
func ParseTrace(r io.Reader) (*Trace, error) {
	tr := &Trace{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		switch Dir(line[0]) {
		case Note:
			text := strings.TrimSpace(line[1:])
			if len(tr.Ops) == 0 {
				tr.Header = append(tr.Header, text)
			} else {
				tr.Ops = append(tr.Ops, Op{Dir: Note, Comment: text, Line: n})
			}
		case Host, Device:
			body, comment, _ := strings.Cut(line[1:], "#")
			data, err := parseHex(body)
			if err != nil {
				return nil, fmt.Errorf("drivertest: trace line %d: %w", n, err)
			}
			if len(data) == 0 {
				return nil, fmt.Errorf("drivertest: trace line %d: no bytes after %q", n, line[0])
			}
			tr.Ops = append(tr.Ops, Op{Dir: Dir(line[0]), Data: data, Comment: strings.TrimSpace(comment), Line: n})
		default:
			return nil, fmt.Errorf("drivertest: trace line %d: want '#', '>' or '<' at start, got %q", n, line[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("drivertest: read trace: %w", err)
	}
	return tr, nil
}

// parseHex decodes blank-separated hex tokens; a token may hold several bytes ("0601").
func parseHex(s string) ([]byte, error) {
	var out []byte
	for _, tok := range strings.Fields(s) {
		b, err := hex.DecodeString(tok)
		if err != nil {
			return nil, fmt.Errorf("bad hex %q: %w", tok, err)
		}
		out = append(out, b...)
	}
	return out, nil
}

// Write writes tr in the format ParseTrace reads.
func (tr *Trace) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, h := range tr.Header {
		fmt.Fprintf(bw, "# %s\n", h)
	}
	for _, op := range tr.Ops {
		switch op.Dir {
		case Note:
			fmt.Fprintf(bw, "# %s\n", op.Comment)
		case Host, Device:
			fmt.Fprintf(bw, "%c %s", op.Dir, hexBytes(op.Data))
			if op.Comment != "" {
				fmt.Fprintf(bw, "  # %s", op.Comment)
			}
			bw.WriteByte('\n')
		default:
			return fmt.Errorf("drivertest: op with unknown direction %q", byte(op.Dir))
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("drivertest: write trace: %w", err)
	}
	return nil
}

// hexBytes formats b as "06 00 1e".
func hexBytes(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%02x", c)
	}
	return sb.String()
}

// HostBytes and DeviceBytes concatenate all bytes of one direction, e.g. to compare a
// recording with a trace.
func (tr *Trace) HostBytes() []byte { return tr.bytes(Host) }

// DeviceBytes concatenates all bytes the device sent.
func (tr *Trace) DeviceBytes() []byte { return tr.bytes(Device) }

func (tr *Trace) bytes(d Dir) []byte {
	var out []byte
	for _, op := range tr.Ops {
		if op.Dir == d {
			out = append(out, op.Data...)
		}
	}
	return out
}
