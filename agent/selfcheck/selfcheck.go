// Package selfcheck runs the daily device self-checks of HJ 1237-2021 — analyzer leak check,
// low and high gas checks, dyno coast-down and parasitic loss, opacimeter zero and filter,
// weather-station comparison, flowmeter check — each as a "check" record, and keeps the
// lane locked until today's required checks have passed (Gate).
//
// The checks drive the instruments through the same capability interfaces as the test
// methods and prompt the operator (connect the gas bottle, insert the filter) through the
// same prompt sink. Their tolerances are parameters (config params "selfcheck.*"), each with
// its source and a verified flag.
package selfcheck

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"imagent/agent/contract"
	"imagent/agent/procedure"
	"imagent/drivers"
)

// Request starts a self-check. Which fields matter depends on the check.
type Request struct {
	Check     string // contract.Check*
	Operator  string
	Reference *contract.Reference // bottle, filter or reference instrument
	// Gas checks: the bottle's certified concentrations. HC is given as propane; the
	// analyzer reads n-hexane equivalent, so the nominal HC is C3H8ppm × PEF.
	Gas drivers.CalGas
	PEF float64 // the analyzer's propane equivalence factor (0: read from the analyzer)
	// Opacimeter: the check filter's nominal opacity, %.
	FilterPct float64
	// Weather: the reference instrument's readings.
	RefTempC, RefRHpct, RefPressureKPa float64
	// Flowmeter: O2 of the low-point check gas, %; the high point is ambient air (O2HighPct,
	// default 20.9).
	O2LowPct, O2HighPct float64
}

// Abort reasons of the checks (the test methods' procedure.Abort* also occur).
const (
	AbortUnsupported = "check_not_supported" // the instrument cannot run this check
	AbortRequest     = "request_incomplete"  // e.g. a gas check without the bottle's values
	AbortDevice      = "device_command_failed"
)

// instrumentOf returns the instrument a check is made on.
func instrumentOf(env procedure.Env, check string) (procedure.Instrument, error) {
	var in procedure.Instrument
	switch check {
	case contract.CheckAnalyzerLeak, contract.CheckGasLow, contract.CheckGasHigh:
		in = env.Analyzer
	case contract.CheckDynoCoastDown, contract.CheckDynoParasitic:
		in = env.Dyno
	case contract.CheckOpacimeter:
		in = env.Opacimeter
	case contract.CheckWeather:
		in = env.Weather
	case contract.CheckFlowmeter:
		in = env.Flowmeter
	default:
		return nil, fmt.Errorf("selfcheck: unknown check %q", check)
	}
	if in == nil {
		return nil, fmt.Errorf("selfcheck: the lane has no instrument for the %s check", check)
	}
	return in, nil
}

// Run runs one self-check and returns its record body: a pass, a fail or an abort (with
// its reason). An error means the check could not be run at all (unknown check, no such
// instrument on the lane, missing parameters).
func Run(ctx context.Context, env procedure.Env, req Request) (*contract.CheckBody, error) {
	body := &contract.CheckBody{Check: req.Check, Started: env.Clock.Now(), Operator: req.Operator, Reference: req.Reference}
	in, err := instrumentOf(env, req.Check)
	if err != nil {
		return nil, err
	}
	s := in.Spec()
	body.Device = contract.DeviceRef{Name: s.Name, Protocol: s.Protocol, Model: s.Model, Port: s.Port}
	c := &check{env: env, req: req, body: body, inst: in, q: qparams{env: env}}
	err = c.run(ctx)
	if c.smp != nil {
		c.smp.Stop()
		p := c.smp.Process()
		if len(p.Rows) > 0 {
			body.Process = &p
		}
		body.FramesSHA256, body.Frames = c.smp.Frames()
	}
	body.Ended = env.Clock.Now()
	if s := env.Clock.Scale(); s != 1 {
		body.ClockScale = s
	}
	if reason, detail, ok := procedure.AbortReason(err); ok {
		body.Result, body.AbortReason, body.AbortDetail = contract.VerdictAbort, reason, detail
		return body, nil
	}
	if errors.Is(err, context.Canceled) {
		body.Result, body.AbortReason = contract.VerdictAbort, procedure.AbortOperator
		return body, nil
	}
	if err != nil {
		return nil, err
	}
	body.Result = contract.VerdictPass
	for _, it := range body.Items {
		if !it.Pass {
			body.Result = contract.VerdictFail
		}
	}
	return body, nil
}

type check struct {
	env  procedure.Env
	req  Request
	body *contract.CheckBody
	inst procedure.Instrument
	q    qparams
	smp  *procedure.Sampler
}

func (c *check) run(ctx context.Context) error {
	switch c.req.Check {
	case contract.CheckAnalyzerLeak:
		return c.leak(ctx)
	case contract.CheckGasLow, contract.CheckGasHigh:
		return c.gas(ctx)
	case contract.CheckWeather:
		return c.weather(ctx)
	case contract.CheckDynoCoastDown:
		return c.coastDown(ctx)
	case contract.CheckDynoParasitic:
		return c.parasitic(ctx)
	case contract.CheckOpacimeter:
		return c.opacimeter(ctx)
	case contract.CheckFlowmeter:
		return c.flowmeter(ctx)
	}
	return fmt.Errorf("selfcheck: unknown check %q", c.req.Check)
}

// qparams reads selfcheck parameters, remembering the first missing one.
type qparams struct {
	env procedure.Env
	err error
}

func (q *qparams) v(name string) float64 {
	x, err := q.env.Params.Value("selfcheck", name)
	if err != nil && q.err == nil {
		q.err = err
	}
	return x
}

// item compares a measured value with its nominal and appends it to the record: a relative
// error (ErrorPct) or an absolute one, with the tolerance taken from parameter tolParam.
func (c *check) item(name string, nominal, measured float64, unit, tolParam string) contract.CheckItem {
	tol := c.q.v(tolParam)
	p, _ := c.env.Params.Param("selfcheck", tolParam)
	it := contract.CheckItem{Name: name, Nominal: procedure.Round(nominal, 4), Measured: procedure.Round(measured, 4),
		ErrorUnit: unit, Tolerance: tol, Standard: p.Standard, Clause: p.Clause, Verified: p.Verified}
	if it.Standard == "" {
		it.Standard, it.Clause = "imagent", "selfcheck."+tolParam
	}
	e := measured - nominal
	if unit == contract.ErrorPct {
		if nominal == 0 {
			e = math.Inf(1)
		} else {
			e = e / nominal * 100
		}
	}
	it.Error = procedure.Round(e, 4)
	it.Pass = math.Abs(e) <= tol
	if math.IsInf(e, 0) {
		it.Error, it.Pass = 0, false
	}
	c.body.Items = append(c.body.Items, it)
	return it
}

// ready waits up to common.device_ready_timeout_s (procedure time) for the instrument.
func (c *check) ready(ctx context.Context) error {
	secs, err := c.env.Params.Value("common", "device_ready_timeout_s")
	if err != nil {
		return err
	}
	timeout := time.Duration(secs * float64(time.Second))
	deadline := c.env.Clock.Now().Add(timeout)
	for {
		ok, why := procedure.Ready(ctx, c.inst)
		if ok {
			return nil
		}
		if c.env.Clock.Now().After(deadline) {
			return procedure.Abort(procedure.AbortDeviceNotReady, "%s after %v: %s", c.inst.Spec().Name, timeout, why)
		}
		if err := c.env.Clock.Sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

// do runs a device command; a failure aborts the check.
func (c *check) do(ctx context.Context, what string, fn func(ctx context.Context, d drivers.Device) error) error {
	err := c.inst.Do(ctx, fn)
	if err == nil || ctx.Err() != nil {
		return err
	}
	if _, _, ok := procedure.AbortReason(err); ok {
		return err
	}
	return procedure.Abort(AbortDevice, "%s %s: %v", c.inst.Spec().Name, what, err)
}

func (c *check) prompt(p procedure.Prompt) {
	if c.env.Prompt != nil {
		c.env.Prompt(p)
	}
}

// measure records n seconds in phase and returns the mean of each quantity asked for.
func (c *check) measure(ctx context.Context, phase string, n int, qs []drivers.Quantity, text string) (map[drivers.Quantity]float64, error) {
	sum := map[drivers.Quantity]float64{}
	for i := range n {
		if text != "" {
			c.prompt(procedure.Prompt{Phase: phase, Text: text, Remaining: n - i})
		}
		s, err := c.smp.Tick(ctx)
		if err != nil {
			return nil, err
		}
		row := map[string]float64{}
		for _, q := range qs {
			row[string(q)] = s.V(q)
			sum[q] += s.V(q)
		}
		c.smp.Row(phase, row)
	}
	for q := range sum {
		sum[q] /= float64(max(n, 1))
	}
	return sum, nil
}

func columns(qs []drivers.Quantity) []string {
	out := []string{"t_s"}
	for _, q := range qs {
		out = append(out, string(q))
	}
	return out
}
