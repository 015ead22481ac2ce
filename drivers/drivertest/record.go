package drivertest

import (
	"io"
	"slices"
	"sync"
	"time"
)

// Record passes traffic through to an underlying port and logs it as a trace: successive
// writes form one '>' op, successive reads one '<' op. It forwards SetReadTimeout and
// SetReadDeadline when the port has them (and ignores them when it does not), so
// drivers.ReadFull treats a recorded serial port or pty exactly as the bare one.
//
// Record is safe for concurrent use.
type Record struct {
	rw io.ReadWriter

	mu sync.Mutex
	tr Trace
}

// NewRecord wraps rw; header lines become the trace's provenance header.
func NewRecord(rw io.ReadWriter, header ...string) *Record {
	return &Record{rw: rw, tr: Trace{Header: slices.Clone(header)}}
}

func (r *Record) log(d Dir, b []byte) {
	if len(b) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.tr.Ops); n > 0 && r.tr.Ops[n-1].Dir == d {
		r.tr.Ops[n-1].Data = append(r.tr.Ops[n-1].Data, b...)
		return
	}
	r.tr.Ops = append(r.tr.Ops, Op{Dir: d, Data: slices.Clone(b)})
}

// Read reads from the port and logs what arrived.
func (r *Record) Read(b []byte) (int, error) {
	n, err := r.rw.Read(b)
	r.log(Device, b[:n])
	return n, err
}

// Write writes to the port and logs what was accepted.
func (r *Record) Write(b []byte) (int, error) {
	n, err := r.rw.Write(b)
	r.log(Host, b[:n])
	return n, err
}

// SetReadTimeout forwards to the port if it has the method (go.bug.st/serial does).
func (r *Record) SetReadTimeout(d time.Duration) error {
	if t, ok := r.rw.(interface{ SetReadTimeout(time.Duration) error }); ok {
		return t.SetReadTimeout(d)
	}
	return nil
}

// SetReadDeadline forwards to the port if it has the method (*os.File, net.Conn do).
func (r *Record) SetReadDeadline(t time.Time) error {
	if d, ok := r.rw.(interface{ SetReadDeadline(time.Time) error }); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}

// Note appends a comment line to the trace, e.g. "pump on".
func (r *Record) Note(text string) {
	r.mu.Lock()
	r.tr.Ops = append(r.tr.Ops, Op{Dir: Note, Comment: text})
	r.mu.Unlock()
}

// Trace returns a copy of what was recorded so far.
func (r *Record) Trace() *Trace {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := &Trace{Header: slices.Clone(r.tr.Header), Ops: make([]Op, len(r.tr.Ops))}
	for i, op := range r.tr.Ops {
		op.Data = slices.Clone(op.Data)
		out.Ops[i] = op
	}
	return out
}
