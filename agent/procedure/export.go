package procedure

import (
	"context"
	"errors"

	"imagent/agent/contract"
	"imagent/drivers"
)

// Sampler records one process row per procedure second from a set of instruments, with a
// hash over every frame it used: the recorder of the test methods, for other procedures
// such as the daily self-checks.
type Sampler struct{ r *recorder }

// Sample is one procedure second of every instrument of a Sampler.
type Sample struct{ rd reading }

// V returns a quantity (0 if no instrument reported it); the first instrument given to
// NewSampler that reports it wins.
func (s Sample) V(q drivers.Quantity) float64 { return s.rd.v(q) }

// Has reports whether an instrument reported q.
func (s Sample) Has(q drivers.Quantity) bool { return s.rd.has(q) }

// Status returns the status of the instrument with that role.
func (s Sample) Status(role string) drivers.Status { return s.rd.status[role] }

// NewSampler samples insts, in order, every procedure second of env's clock. columns[0]
// must be "t_s".
func NewSampler(env Env, columns []string, insts ...Instrument) *Sampler {
	var srcs []source
	for _, in := range insts {
		srcs = append(srcs, source{role: in.Spec().Role, inst: in})
	}
	return &Sampler{r: newRecorder(env, columns, srcs)}
}

// Tick waits for the next procedure second and samples every instrument. An instrument
// whose last frame is too old gives an abort error (see AbortReason).
func (s *Sampler) Tick(ctx context.Context) (Sample, error) {
	rd, err := s.r.tick(ctx)
	return Sample{rd}, err
}

// Row appends one second of process data; vals maps column names to values.
func (s *Sampler) Row(phase string, vals map[string]float64) { s.r.row(phase, vals) }

// Stop releases the sampler's ticker.
func (s *Sampler) Stop() { s.r.stop() }

// Process returns the rows recorded so far.
func (s *Sampler) Process() contract.Process { return s.r.proc }

// Frames returns the hash over every frame sampled and how many there were.
func (s *Sampler) Frames() (sha256hex string, n int) { return s.r.framesHash(), s.r.nframes }

// Devices names the sampled instruments.
func (s *Sampler) Devices() []contract.DeviceRef { return s.r.devices() }

// Abort returns an error that ends a procedure with reason (an Abort* constant or a
// procedure's own) and a detail for people.
func Abort(reason, format string, args ...any) error { return abort(reason, format, args...) }

// AbortReason returns the reason and detail of an abort error, and whether err is one.
func AbortReason(err error) (reason, detail string, ok bool) {
	var ab *abortError
	if errors.As(err, &ab) {
		return ab.reason, ab.detail, true
	}
	return "", "", false
}

// Ready reports whether inst answers and reports neither warm-up nor a running operation,
// asking it with its status command when it has one; if not, it says why.
func Ready(ctx context.Context, inst Instrument) (bool, string) { return instrumentReady(ctx, inst) }

// Round rounds x to digits decimals, half away from zero.
func Round(x float64, digits int) float64 { return round(x, digits) }
