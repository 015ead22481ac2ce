// Package procedure runs the regulated test methods at 1 Hz against the lane's live
// instruments and computes their results. Every number that a standard sets (speeds,
// durations, thresholds, limits) comes from config.Params, never from this code.
//
// A run records exactly one process row per procedure second, from the first second it
// samples the instruments (the pre-checks) to its end, whatever the outcome: a pass, a
// fail and an abort are all records, an abort carrying its reason.
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
// access to its driver for commands (zero, pump, dyno control…).
type Instrument interface {
	Snapshot() station.Snapshot
	Do(ctx context.Context, fn func(ctx context.Context, d drivers.Device) error) error
	Spec() station.Spec
}

// Pedal instructions of a Prompt.
const (
	PedalFull    = "full"    // press the accelerator fully (free acceleration, lug-down)
	PedalRelease = "release" // release it: engine at idle
)

// GearTest in Prompt.Gear asks for the gear in which full throttle gives about 70 km/h
// (lug-down); the driver knows the vehicle.
const GearTest = "test"

// Actions of a Prompt, for the operator rather than the driver.
const (
	ActionInsertProbe  = "insert_probe"  // probe (and VMAS hose) on the tailpipe
	ActionRemoveProbe  = "remove_probe"  // probe out, in ambient air
	ActionConnectGas   = "connect_gas"   // connect the check-gas bottle named in Prompt.Gas
	ActionDisconnect   = "disconnect"    // take the gas bottle or filter off again
	ActionInsertFilter = "insert_filter" // put the opacimeter's check filter in the light path
	ActionNeutral      = "neutral"       // gearbox in neutral
)

// Prompt is an instruction for the driver of the vehicle or the lane operator (console, LED
// board, lamps). Zero fields mean "no instruction of this kind".
type Prompt struct {
	Phase     string
	Text      string  // e.g. "hold 2500 r/min"
	TargetRPM float64 // engine speed to hold
	TargetKmh float64 // vehicle speed to drive at (dyno methods)
	Gear      string  // gear to select: "N", "1", "2"…
	Pedal     string  // PedalFull or PedalRelease
	Action    string  // Action*
	Gas       string  // for ActionConnectGas: "low", "high", "zero", "o2_low"
	Drive     bool    // TargetKmh is an instruction even when 0 (brake to a stop on the rollers)
	Probe     bool    // the probe must be in the tailpipe
	Remaining int     // seconds left in the phase, when counting down
}

// Prechecks switch the checks a method makes before it starts; the zero value makes them
// all. A lane turns one off only where its regional rules allow.
type Prechecks struct {
	SkipAmbient, SkipOilTemp, SkipHCResidual, SkipBackground bool
}

// Env is what a procedure needs from the lane. Instruments a lane does not have are nil.
type Env struct {
	Clock      Clock
	Analyzer   Instrument // exhaust-gas analyzer (TSI, ASM, VMAS)
	Dyno       Instrument // chassis dynamometer (ASM, VMAS, lug-down)
	Opacimeter Instrument // opacimeter, possibly with NOx (free acceleration, lug-down)
	Tach       Instrument // tachometer or engine-parameter meter
	Weather    Instrument // weather station
	Flowmeter  Instrument // VMAS dilution flowmeter
	Params     *config.Params
	Stage      string // configured limit column: "a" or "b"
	Checks     Prechecks
	Prompt     func(Prompt)
	Log        *slog.Logger
}

// Abort reasons. An aborted test is still a record, carrying one of these.
const (
	AbortAnalyzerNotReady = "analyzer_not_ready"
	AbortDeviceNotReady   = "device_not_ready"
	AbortDeviceMissing    = "device_missing"
	AbortZeroFailed       = "zero_failed"
	AbortNoData           = "analyzer_no_data" // an instrument stopped answering during the test
	AbortRPMNotReached    = "rpm_not_reached"
	AbortRPMOutOfWindow   = "rpm_out_of_tolerance"
	AbortProbe            = "probe_not_in_exhaust"
	AbortDilution         = "dilution_co_co2_low"
	AbortLowFlow          = "analyzer_low_flow"
	AbortOperator         = "operator_cancelled"
	AbortAmbient          = "ambient_out_of_range"
	AbortAmbientMissing   = "ambient_unavailable"
	AbortOilTemp          = "oil_temp_low"
	AbortHCResidual       = "hc_residual_high"
	AbortBackground       = "background_air_high"
	AbortNoLimit          = "no_limit_in_force" // the clock's date has no limit in force (unsynced clock?)
	AbortDynoMoving       = "dyno_not_still"
	AbortDyno             = "dyno_command_failed"
	AbortSpeedNotReached  = "speed_not_reached"
	AbortSpeedWindow      = "speed_out_of_window"
	AbortFlowmeterLowFlow = "flowmeter_low_flow"
	AbortFlowmeterNoExh   = "flowmeter_no_exhaust"
	AbortFlowmeterO2      = "flowmeter_ambient_o2"
	AbortPedalRise        = "pedal_rise_too_slow"
	AbortPedalHold        = "pedal_hold_too_short"
	AbortNoPeak           = "opacimeter_no_peak"
	AbortOpacimeter       = "opacimeter_command_failed"
	AbortPowerScan        = "power_scan_failed"
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

// of reads a number of another group (e.g. "common").
func (q *params) of(method, name string) float64 {
	x, err := q.p.Value(method, name)
	if err != nil && q.err == nil {
		q.err = err
	}
	return x
}

func (q *params) secs(name string) int { return int(q.v(name)) }

// source is one instrument a recorder samples every second.
type source struct {
	role string
	inst Instrument
}

// reading is one procedure second of every instrument: the merged values (the first
// instrument, in the recorder's order, that has a quantity supplies it), each
// instrument's status, and when the primary instrument's reading arrived.
type reading struct {
	vals   map[drivers.Quantity]float64
	status map[string]drivers.Status
	at     time.Time
}

func (r reading) v(q drivers.Quantity) float64 { return r.vals[q] }

func (r reading) has(q drivers.Quantity) bool { _, ok := r.vals[q]; return ok }

// recorder accumulates the second-by-second process data of a run.
type recorder struct {
	env     Env
	srcs    []source
	columns []string
	proc    contract.Process
	frames  hash.Hash
	nframes int
	maxAge  time.Duration
	ticker  *time.Ticker
}

// newRecorder samples srcs in order; the first is the primary instrument.
func newRecorder(env Env, columns []string, srcs []source) *recorder {
	var poll time.Duration
	for _, s := range srcs {
		poll = max(poll, s.inst.Spec().Poll)
	}
	return &recorder{
		env:     env,
		srcs:    srcs,
		columns: columns,
		proc:    contract.Process{Columns: columns},
		frames:  sha256.New(),
		// A reading older than two procedure seconds means the instrument stopped
		// answering; on a sped-up clock never less than a second of real time (or four
		// polls), so a loaded machine's scheduling delays are not taken for silence.
		maxAge: max(time.Duration(float64(2*time.Second)/env.Clock.Scale()), time.Second, 4*poll),
	}
}

// tick waits for the next procedure second and samples every instrument.
func (r *recorder) tick(ctx context.Context) (reading, error) {
	if r.ticker == nil {
		r.ticker = r.env.Clock.Ticker()
	}
	select {
	case <-ctx.Done():
		return reading{}, ctx.Err()
	case <-r.ticker.C:
	}
	return r.sample()
}

// sample reads every instrument's live state now.
func (r *recorder) sample() (reading, error) {
	rd := reading{vals: map[drivers.Quantity]float64{}, status: map[string]drivers.Status{}}
	now := time.Now()
	for i, s := range r.srcs {
		snap := s.inst.Snapshot()
		if age := snap.Age(now); age > r.maxAge {
			return rd, abort(AbortNoData, "%s: last frame %v old (state %s: %s)", s.inst.Spec().Name, age.Round(time.Millisecond), snap.State, snap.Err)
		}
		if i == 0 {
			rd.at = snap.LastFrame
		}
		for q, v := range snap.Reading.Values {
			if _, ok := rd.vals[q]; !ok {
				rd.vals[q] = v
			}
		}
		rd.status[s.role] = snap.Reading.Status
		r.frames.Write(snap.Reading.Raw)
		r.nframes++
	}
	return rd, nil
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

func (r *recorder) devices() []contract.DeviceRef {
	var out []contract.DeviceRef
	for _, s := range r.srcs {
		sp := s.inst.Spec()
		out = append(out, contract.DeviceRef{Name: sp.Name, Protocol: sp.Protocol, Model: sp.Model, Port: sp.Port})
	}
	return out
}

// judgeLimit compares a value with the limit of (method, phase, quantity) in force on the
// test's day for the env's stage. bound "min" judges quantity+"_min" as a lower bound; λ's
// upper bound is "lambda_max".
func judgeLimit(env Env, day time.Time, method, phase, quantity string, value float64, bound string) (contract.Judged, error) {
	name := quantity
	if bound == "min" {
		name = quantity + "_min"
	} else if quantity == "lambda" {
		name = "lambda_max"
	}
	l, err := limitInForce(env.Params, method, phase, name, env.Stage, day)
	if err != nil {
		return contract.Judged{}, err
	}
	j := contract.Judged{Quantity: name, Value: round(value, 4), Limit: l.Value, Bound: bound,
		Standard: l.Standard, Clause: l.Clause, Verified: l.Verified, Stage: l.Stage, EffectiveFrom: l.EffectiveFrom}
	if bound == "min" {
		j.Pass = value >= l.Value
	} else {
		j.Pass = value <= l.Value
	}
	return j, nil
}

// judgeParam compares a value with a method parameter used as a bound (pre-checks, minimum
// wheel power), naming the parameter's provenance.
func judgeParam(p *config.Params, method, param, quantity string, value, limit float64, bound string) contract.Judged {
	v, _ := p.Param(method, param)
	j := contract.Judged{Quantity: quantity, Value: round(value, 4), Limit: round(limit, 4), Bound: bound,
		Standard: v.Standard, Clause: v.Clause, Verified: v.Verified}
	if j.Standard == "" {
		j.Standard = "imagent"
		j.Clause = method + "." + param
	}
	if bound == "min" {
		j.Pass = value >= limit
	} else {
		j.Pass = value <= limit
	}
	return j
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

func (e Env) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

// finish turns the outcome of a run into the record body.
func finish(body *contract.TestBody, rec *recorder, clock Clock, err error) (*contract.TestBody, error) {
	body.Ended = clock.Now()
	body.Process = rec.proc
	body.FramesSHA256 = rec.framesHash()
	body.Frames = rec.nframes
	body.Devices = rec.devices()
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
		body.AbortDetail = ab.detail
		body.Phases = nil
	case errors.Is(err, context.Canceled):
		body.Verdict = contract.VerdictAbort
		body.AbortReason = AbortOperator
		body.Phases = nil
	default:
		return nil, err
	}
	return body, nil
}

// count extends a run of consecutive bad seconds, or ends it.
func count(n int, bad bool) int {
	if bad {
		return n + 1
	}
	return 0
}
