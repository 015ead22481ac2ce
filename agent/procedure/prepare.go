package procedure

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"imagent/agent/contract"
	"imagent/agent/station"
	"imagent/drivers"
)

// run is what every method shares: its environment, parameters, recorder and record.
type run struct {
	env    Env
	method string
	q      *params
	rec    *recorder
	body   *contract.TestBody
	day    time.Time // the test's date, for the limits in force
	amb    contract.Ambient
	oilMin float64 // method's minimum oil temperature
	oilOK  bool    // the oil temperature has been checked
}

func newRun(env Env, method string, body *contract.TestBody) *run {
	body.Method = method
	body.Started = env.Clock.Now()
	body.LimitStage = env.Stage
	return &run{env: env, method: method, q: &params{p: env.Params, method: method}, body: body, day: body.Started}
}

// ready waits until inst answers and reports neither warm-up nor a running operation,
// asking it with its status command when it has one.
func (r *run) ready(ctx context.Context, inst Instrument, reason string) error {
	timeout := time.Duration(r.q.of("common", "device_ready_timeout_s") * float64(time.Second))
	deadline := r.env.Clock.Now().Add(timeout)
	for {
		ok, why := instrumentReady(ctx, inst)
		if ok {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if r.env.Clock.Now().After(deadline) {
			return abort(reason, "%s after %v: %s", inst.Spec().Name, timeout, why)
		}
		if err := r.env.Clock.Sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

func instrumentReady(ctx context.Context, inst Instrument) (bool, string) {
	s := inst.Snapshot()
	if s.State != station.StateOK || !s.Reading.Status.Ready() {
		return false, fmt.Sprintf("state %s %v %s", s.State, s.Reading.Status.Names(), s.Err)
	}
	var st drivers.Status
	err := inst.Do(ctx, func(ctx context.Context, d drivers.Device) error {
		q, ok := d.(drivers.StatusQuerier)
		if !ok {
			return nil
		}
		var err error
		st, err = q.Status(ctx)
		return err
	})
	if err != nil {
		return false, fmt.Sprintf("status query: %v", err)
	}
	if !st.Ready() {
		return false, fmt.Sprintf("reports %v", st.Names())
	}
	return true, ""
}

// do runs a device command; a failure (other than the run being cancelled) aborts with
// reason.
func (r *run) do(ctx context.Context, inst Instrument, reason, what string, fn func(ctx context.Context, d drivers.Device) error) error {
	err := inst.Do(ctx, fn)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return abort(reason, "%s %s: %v", inst.Spec().Name, what, err)
}

// fresh waits for a reading of inst newer than since: device commands hold the port, so the
// last reading before them predates their effect.
func (r *run) fresh(ctx context.Context, inst Instrument, since time.Time) error {
	timeout := time.Duration(r.q.of("common", "device_ready_timeout_s") * float64(time.Second))
	deadline := r.env.Clock.Now().Add(timeout)
	for inst.Snapshot().LastFrame.Before(since) {
		if r.env.Clock.Now().After(deadline) {
			return abort(AbortNoData, "%s: no reading after its command", inst.Spec().Name)
		}
		if err := r.env.Clock.Sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// prepareAnalyzer waits for the analyzer, zeroes it and starts its pump.
func (r *run) prepareAnalyzer(ctx context.Context) error {
	a := r.env.Analyzer
	if a == nil {
		return abort(AbortDeviceMissing, "this method needs an exhaust-gas analyzer")
	}
	r.env.prompt(Prompt{Phase: "prepare", Text: "analyzer: waiting for ready, then zero"})
	if err := r.ready(ctx, a, AbortAnalyzerNotReady); err != nil {
		return err
	}
	err := r.do(ctx, a, AbortZeroFailed, "zero and pump", func(ctx context.Context, d drivers.Device) error {
		if z, ok := d.(drivers.Zeroer); ok {
			if err := z.Zero(ctx); err != nil {
				return fmt.Errorf("zero: %w", err)
			}
		}
		if p, ok := d.(drivers.Pump); ok {
			if err := p.SetPump(ctx, true); err != nil {
				return fmt.Errorf("pump on: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return r.fresh(ctx, a, time.Now())
}

// stopAnalyzerPump switches the analyzer's pump off after a test; a failure is only logged.
func (r *run) stopAnalyzerPump() { r.stopPump(r.env.Analyzer) }

// stopPump switches an instrument's sample pump off; a failure is only logged.
func (r *run) stopPump(in Instrument) {
	if in == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := in.Do(ctx, func(ctx context.Context, d drivers.Device) error {
		if p, ok := d.(drivers.Pump); ok {
			return p.SetPump(ctx, false)
		}
		return nil
	})
	if err != nil {
		r.env.log().Warn("pump off", "device", in.Spec().Name, "err", err)
	}
}

// ambient reads the ambient conditions: the weather station's live reading, else any
// instrument whose reading carries all three, else an instrument's own ambient command.
func (r *run) ambient(ctx context.Context) (contract.Ambient, error) {
	full := func(v map[drivers.Quantity]float64) bool {
		_, t := v[drivers.TempC]
		_, h := v[drivers.RHpct]
		_, p := v[drivers.PressureKPa]
		return t && h && p
	}
	insts := []Instrument{r.env.Weather, r.env.Tach, r.env.Dyno, r.env.Analyzer, r.env.Opacimeter, r.env.Flowmeter}
	for _, in := range insts {
		if in == nil {
			continue
		}
		if s := in.Snapshot(); s.State == station.StateOK && full(s.Reading.Values) {
			v := s.Reading.Values
			return contract.Ambient{TempC: v[drivers.TempC], RHpct: v[drivers.RHpct], PressureKPa: v[drivers.PressureKPa], Source: in.Spec().Name}, nil
		}
	}
	var errs []error
	for _, in := range insts {
		if in == nil {
			continue
		}
		var rd drivers.Reading
		has := false
		err := in.Do(ctx, func(ctx context.Context, d drivers.Device) error {
			a, ok := d.(drivers.Ambient)
			if !ok {
				return nil
			}
			has = true
			var err error
			rd, err = a.ReadAmbient(ctx)
			return err
		})
		if ctx.Err() != nil {
			return contract.Ambient{}, ctx.Err()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", in.Spec().Name, err))
			continue
		}
		if has && full(rd.Values) {
			v := rd.Values
			return contract.Ambient{TempC: v[drivers.TempC], RHpct: v[drivers.RHpct], PressureKPa: v[drivers.PressureKPa], Source: in.Spec().Name}, nil
		}
	}
	if len(errs) > 0 {
		return contract.Ambient{}, abort(AbortAmbientMissing, "no instrument reports temperature, humidity and pressure: %v", errors.Join(errs...))
	}
	return contract.Ambient{}, abort(AbortAmbientMissing, "no instrument reports temperature, humidity and pressure")
}

// checkAmbient reads the ambient conditions, records them and judges them against the
// common ranges. The conditions are kept for the corrections (kH, αd) of the whole run.
func (r *run) checkAmbient(ctx context.Context) error {
	a, err := r.ambient(ctx)
	if err != nil {
		return err
	}
	r.amb = a
	r.body.Ambient = &a
	if r.env.Checks.SkipAmbient {
		return nil
	}
	p := r.env.Params
	js := []contract.Judged{
		judgeParam(p, "common", "ambient_temp_min_c", "temp_c", a.TempC, r.q.of("common", "ambient_temp_min_c"), "min"),
		judgeParam(p, "common", "ambient_temp_max_c", "temp_c", a.TempC, r.q.of("common", "ambient_temp_max_c"), "max"),
		judgeParam(p, "common", "ambient_rh_max_pct", "rh_pct", a.RHpct, r.q.of("common", "ambient_rh_max_pct"), "max"),
		judgeParam(p, "common", "ambient_pressure_min_kpa", "pressure_kpa", a.PressureKPa, r.q.of("common", "ambient_pressure_min_kpa"), "min"),
		judgeParam(p, "common", "ambient_pressure_max_kpa", "pressure_kpa", a.PressureKPa, r.q.of("common", "ambient_pressure_max_kpa"), "max"),
	}
	if r.q.err != nil {
		return r.q.err
	}
	r.body.Prechecks = append(r.body.Prechecks, js...)
	for _, j := range js {
		if !j.Pass {
			return abort(AbortAmbient, "%s %.1f outside %s %.1f (source %s)", j.Quantity, j.Value, j.Bound, j.Limit, a.Source)
		}
	}
	return nil
}

// checkOil judges the engine oil temperature of a reading, once per run. A reading without
// oil temperature (no probe) is not judged; the record then has no oil pre-check.
func (r *run) checkOil(rd reading) error {
	if r.oilOK || r.env.Checks.SkipOilTemp {
		return nil
	}
	oil, ok := rd.vals[drivers.OilTempC]
	if !ok || oil <= 0 {
		return nil
	}
	r.oilOK = true
	j := judgeParam(r.env.Params, r.method, "oil_temp_min_c", "oil_temp_c", oil, r.oilMin, "min")
	r.body.Prechecks = append(r.body.Prechecks, j)
	if !j.Pass {
		return abort(AbortOilTemp, "oil %.1f °C < %.0f °C", oil, r.oilMin)
	}
	return nil
}

// hcResidual samples ambient air through the probe (out of the tailpipe) until the HC hanging
// in the probe and hose is at most common.hc_residual_max_ppm, recording each second with
// rowOf.
func (r *run) hcResidual(ctx context.Context, rowOf func(reading) map[string]float64) error {
	if r.env.Checks.SkipHCResidual {
		return nil
	}
	maxHC := r.q.of("common", "hc_residual_max_ppm")
	timeout := int(r.q.of("common", "hc_residual_timeout_s"))
	if r.q.err != nil {
		return r.q.err
	}
	var hc float64
	for i := range timeout {
		r.env.prompt(Prompt{Phase: "hc_residual", Text: "probe out of the tailpipe: checking HC residual", Action: ActionRemoveProbe, Remaining: timeout - i})
		rd, err := r.rec.tick(ctx)
		if err != nil {
			return err
		}
		r.rec.row("hc_residual", rowOf(rd))
		if err := r.checkOil(rd); err != nil {
			return err
		}
		hc = rd.v(drivers.HCppm)
		if hc <= maxHC {
			r.body.Prechecks = append(r.body.Prechecks, judgeParam(r.env.Params, "common", "hc_residual_max_ppm", "hc_residual_ppm", hc, maxHC, "max"))
			return nil
		}
	}
	r.body.Prechecks = append(r.body.Prechecks, judgeParam(r.env.Params, "common", "hc_residual_max_ppm", "hc_residual_ppm", hc, maxHC, "max"))
	return abort(AbortHCResidual, "HC %.0f ppm after %d s (max %.0f)", hc, timeout, maxHC)
}

// background samples the lane's air through the probe for common.background_s seconds and
// judges the means of CO, HC and NO. It runs after the HC residual has cleared, so what it
// sees is the air, not the hose.
func (r *run) background(ctx context.Context, rowOf func(reading) map[string]float64) error {
	if r.env.Checks.SkipBackground || r.q.v("background_check") == 0 {
		return r.q.err
	}
	n := int(r.q.of("common", "background_s"))
	if r.q.err != nil {
		return r.q.err
	}
	var co, hc, no float64
	for i := range n {
		r.env.prompt(Prompt{Phase: "background", Text: "probe out of the tailpipe: checking the background air", Action: ActionRemoveProbe, Remaining: n - i})
		rd, err := r.rec.tick(ctx)
		if err != nil {
			return err
		}
		r.rec.row("background", rowOf(rd))
		if err := r.checkOil(rd); err != nil {
			return err
		}
		co += rd.v(drivers.COpct)
		hc += rd.v(drivers.HCppm)
		no += rd.v(drivers.NOppm)
	}
	if n == 0 {
		return nil
	}
	p := r.env.Params
	js := []contract.Judged{
		judgeParam(p, "common", "background_co_max_pct", "background_co_pct", co/float64(n), r.q.of("common", "background_co_max_pct"), "max"),
		judgeParam(p, "common", "background_hc_max_ppm", "background_hc_ppm", hc/float64(n), r.q.of("common", "background_hc_max_ppm"), "max"),
		judgeParam(p, "common", "background_no_max_ppm", "background_no_ppm", no/float64(n), r.q.of("common", "background_no_max_ppm"), "max"),
	}
	r.body.Prechecks = append(r.body.Prechecks, js...)
	for _, j := range js {
		if !j.Pass {
			return abort(AbortBackground, "%s %.3g > %.3g", j.Quantity, j.Value, j.Limit)
		}
	}
	return nil
}

// ambientOf returns the ambient conditions of one second: the live weather-station reading
// when the recorder samples one, else the conditions read before the test.
func (r *run) ambientOf(rd reading) (t, rh, p float64) {
	if rd.has(drivers.TempC) && rd.has(drivers.RHpct) && rd.has(drivers.PressureKPa) {
		return rd.v(drivers.TempC), rd.v(drivers.RHpct), rd.v(drivers.PressureKPa)
	}
	return r.amb.TempC, r.amb.RHpct, r.amb.PressureKPa
}

// mean averages the values of one quantity.
func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
