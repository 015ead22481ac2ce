// Package procedure runs the regulated test methods at 1 Hz against the lane's live
// instruments and computes their results. Every number that a standard sets (speeds,
// durations, thresholds, limits) comes from config.Params, never from this code.
package procedure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"time"

	"imagent/agent/contract"
	"imagent/agent/station"
	"imagent/config"
	"imagent/drivers"
)

// Instrument is a supervised device as a procedure uses it: its live state, and exclusive
// access to its driver for commands (zero, pump…).
type Instrument interface {
	Snapshot() station.Snapshot
	Do(ctx context.Context, fn func(ctx context.Context, d drivers.Device) error) error
	Spec() station.Spec
}

// Prompt is an instruction for the driver of the vehicle (console, LED board, lamps).
type Prompt struct {
	Phase     string
	Text      string  // e.g. "hold 2500 r/min"
	TargetRPM float64 // 0 when the prompt is not about engine speed
	Probe     bool    // the probe must be in the tailpipe
	Remaining int     // seconds left in the phase, when counting down
}

// Env is what a procedure needs from the lane.
type Env struct {
	Clock    Clock
	Analyzer Instrument
	Params   *config.Params
	Stage    string // limit stage: "a" or "b"
	Prompt   func(Prompt)
	Log      *slog.Logger
}

// Abort reasons. An aborted test is still a record, carrying one of these.
const (
	AbortAnalyzerNotReady = "analyzer_not_ready"
	AbortZeroFailed       = "zero_failed"
	AbortNoData           = "analyzer_no_data"
	AbortRPMNotReached    = "rpm_not_reached"
	AbortRPMOutOfWindow   = "rpm_out_of_tolerance"
	AbortProbe            = "probe_not_in_exhaust"
	AbortDilution         = "dilution_co_co2_low"
	AbortLowFlow          = "analyzer_low_flow"
	AbortOperator         = "operator_cancelled"
)

// abortError ends a run early with a reason that goes into the record.
type abortError struct{ reason, detail string }

func (e *abortError) Error() string { return e.reason + ": " + e.detail }

func abort(reason, format string, args ...any) error {
	return &abortError{reason: reason, detail: fmt.Sprintf(format, args...)}
}

// params reads the numbers of one method, remembering the first missing one.
type params struct {
	p      *config.Params
	method string
	err    error
}

func (q *params) v(name string) float64 {
	x, err := q.p.Value(q.method, name)
	if err != nil && q.err == nil {
		q.err = err
	}
	return x
}

func (q *params) secs(name string) int { return int(q.v(name)) }

// recorder accumulates the second-by-second process data of a run.
type recorder struct {
	env     Env
	columns []string
	proc    contract.Process
	frames  hash.Hash
	nframes int
	maxAge  time.Duration
	ticker  *time.Ticker
}

func newRecorder(env Env, columns []string) *recorder {
	poll := env.Analyzer.Spec().Poll
	return &recorder{
		env:     env,
		columns: columns,
		proc:    contract.Process{Columns: columns},
		frames:  sha256.New(),
		// A reading older than two procedure seconds (but never less than a few polls of
		// real time) means the analyzer stopped answering.
		maxAge: max(time.Duration(float64(2*time.Second)/env.Clock.Scale()), 250*time.Millisecond, 4*poll),
	}
}

// tick waits for the next procedure second and samples the analyzer.
func (r *recorder) tick(ctx context.Context) (station.Snapshot, error) {
	if r.ticker == nil {
		r.ticker = r.env.Clock.Ticker()
	}
	select {
	case <-ctx.Done():
		return station.Snapshot{}, ctx.Err()
	case <-r.ticker.C:
	}
	s := r.env.Analyzer.Snapshot()
	if age := s.Age(time.Now()); age > r.maxAge {
		return s, abort(AbortNoData, "last analyzer frame %v old (state %s: %s)", age.Round(time.Millisecond), s.State, s.Err)
	}
	r.frames.Write(s.Reading.Raw)
	r.nframes++
	return s, nil
}

// row appends one second of process data.
func (r *recorder) row(phase string, vals map[string]float64) {
	row := make([]float64, len(r.columns))
	row[0] = float64(len(r.proc.Rows))
	for i, c := range r.columns[1:] {
		row[i+1] = round(vals[c], 4)
	}
	r.proc.Rows = append(r.proc.Rows, row)
	r.proc.Phase = append(r.proc.Phase, phase)
}

func (r *recorder) stop() {
	if r.ticker != nil {
		r.ticker.Stop()
	}
}

func (r *recorder) framesHash() string { return hex.EncodeToString(r.frames.Sum(nil)) }

// judge compares a value with the limit of (method, phase, quantity) at the env's stage.
func judge(env Env, method, phase, quantity string, value float64, bound string) (contract.Judged, error) {
	name := quantity
	if bound == "min" {
		name = quantity + "_min"
	} else if quantity == "lambda" {
		name = "lambda_max"
	}
	l, ok := env.Params.Limit(method, phase, name, env.Stage)
	if !ok {
		return contract.Judged{}, fmt.Errorf("procedure: no limit for %s/%s/%s stage %s", method, phase, name, env.Stage)
	}
	j := contract.Judged{Quantity: name, Value: round(value, 4), Limit: l.Value, Bound: bound,
		Standard: l.Standard, Clause: l.Clause, Verified: l.Verified}
	if bound == "min" {
		j.Pass = value >= l.Value
	} else {
		j.Pass = value <= l.Value
	}
	return j, nil
}

func round(x float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if x < 0 {
		return -float64(int64(-x*p+0.5)) / p
	}
	return float64(int64(x*p+0.5)) / p
}

func (e Env) prompt(p Prompt) {
	if e.Prompt != nil {
		e.Prompt(p)
	}
}

// finish turns the outcome of a run into the record body.
func finish(body *contract.TestBody, rec *recorder, clock Clock, err error) (*contract.TestBody, error) {
	body.Ended = clock.Now()
	body.Process = rec.proc
	body.FramesSHA256 = rec.framesHash()
	body.Frames = rec.nframes
	if s := clock.Scale(); s != 1 {
		body.ClockScale = s
	}
	var ab *abortError
	switch {
	case err == nil:
		body.Verdict = contract.VerdictPass
		for _, p := range body.Phases {
			if !p.Pass {
				body.Verdict = contract.VerdictFail
			}
		}
	case errors.As(err, &ab):
		body.Verdict = contract.VerdictAbort
		body.AbortReason = ab.reason
	case errors.Is(err, context.Canceled):
		body.Verdict = contract.VerdictAbort
		body.AbortReason = AbortOperator
	default:
		return nil, err
	}
	return body, nil
}
