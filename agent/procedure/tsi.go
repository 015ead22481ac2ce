package procedure

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"imagent/agent/contract"
	"imagent/drivers"
)

// tsiColumns are the process-data columns of a two-speed idle test (domain.md §2.1 item 6).
var tsiColumns = []string{"t_s", "hc_ppm", "co_pct", "co2_pct", "o2_pct", "no_ppm",
	"lambda", "lambda_analyzer", "rpm", "oil_temp_c", "temp_c", "rh_pct", "pressure_kpa"}

// RunTSI runs a two-speed idle test (GB 18285-2018; timeline in domain.md §2.1): analyzer
// ready and zeroed, the pre-checks (ambient, oil temperature, HC residual, background
// air), preconditioning, high idle (hold, then measure) and low idle (hold, then measure),
// one process row per second from the first pre-check second to the end. Heavy vehicles
// (GVW above tsi.heavy_gvw_kg) use the heavy speeds; vehicles with closed-loop fuel control
// and a three-way catalyst have λ judged at high idle. It returns the record body for a
// pass, a fail or an abort; an error only when the run could not be judged at all (missing
// parameters or limits).
func RunTSI(ctx context.Context, env Env, req TSIRequest) (*contract.TestBody, error) {
	fuel, err := FuelByName(req.Vehicle.Fuel)
	if err != nil {
		return nil, err
	}
	body := &contract.TestBody{InspectionID: req.InspectionID, Vehicle: req.Vehicle}
	r := newRun(env, contract.MethodTSI, body)
	q := r.q
	heavy := req.Vehicle.GVWkg > q.v("heavy_gvw_kg")
	pre, high := q.v("precondition_rpm_light"), q.v("high_idle_rpm_light")
	if heavy {
		pre, high = q.v("precondition_rpm_heavy"), q.v("high_idle_rpm_heavy")
	}
	r.oilMin = q.v("oil_temp_min_c")
	t := tsi{
		run: r, fuel: fuel, pre: pre, high: high,
		preTol:      q.v("precondition_rpm_tolerance"),
		tol:         q.v("high_idle_rpm_tolerance"),
		idleTol:     q.v("low_idle_rpm_tolerance"),
		idleMax:     q.v("low_idle_rpm_max"),
		preS:        q.secs("precondition_s"),
		hiHoldS:     q.secs("high_idle_hold_s"),
		hiMeasS:     q.secs("high_idle_measure_s"),
		loHoldS:     q.secs("low_idle_hold_s"),
		loMeasS:     q.secs("low_idle_measure_s"),
		reachS:      q.secs("reach_timeout_s"),
		rpmOutS:     q.secs("rpm_out_of_window_max_s"),
		probeMin:    q.v("probe_co_co2_min_pct"),
		probeO2Max:  q.v("probe_o2_max_pct"),
		dilutionS:   q.secs("dilution_guard_s"),
		lowFlowS:    q.secs("low_flow_guard_s"),
		catalystTWC: req.Vehicle.Catalyst,
	}
	if q.err != nil {
		return nil, q.err
	}
	body.Formulas = []contract.Formula{formulaRef("lambda")}
	var srcs []source
	if env.Tach != nil {
		srcs = append(srcs, source{"tach", env.Tach})
	}
	if env.Analyzer != nil {
		srcs = append(srcs, source{"analyzer", env.Analyzer})
	}
	if env.Weather != nil {
		srcs = append(srcs, source{"weather", env.Weather})
	}
	r.rec = newRecorder(env, tsiColumns, srcs)
	defer r.rec.stop()
	err = t.test(ctx, body)
	r.stopAnalyzerPump()
	return finish(body, r.rec, env.Clock, err)
}

type tsi struct {
	*run
	fuel                                     Fuel
	pre, high, preTol, tol, idleTol, idleMax float64
	idle                                     float64 // engine speed at the start of the low-idle hold
	preS, hiHoldS, hiMeasS, loHoldS, loMeasS int
	reachS, rpmOutS, dilutionS, lowFlowS     int
	probeMin, probeO2Max                     float64
	catalystTWC                              bool

	// guard counters: consecutive seconds in a bad condition
	rpmOut, dilution, lowFlow int
}

func (t *tsi) test(ctx context.Context, body *contract.TestBody) error {
	if t.env.Analyzer == nil {
		return abort(AbortDeviceMissing, "two-speed idle needs an exhaust-gas analyzer")
	}
	want := [][2]string{{"high_idle", "co_pct"}, {"high_idle", "hc_ppm"}, {"low_idle", "co_pct"}, {"low_idle", "hc_ppm"}}
	if t.catalystTWC {
		want = append(want, [2]string{"high_idle", "lambda_min"}, [2]string{"high_idle", "lambda_max"})
	}
	if err := checkLimits(t.env, t.day, contract.MethodTSI, want); err != nil {
		return err
	}
	if err := t.prepareAnalyzer(ctx); err != nil {
		return err
	}
	if err := t.checkAmbient(ctx); err != nil {
		return err
	}
	if err := t.hcResidual(ctx, t.rowOf); err != nil {
		return err
	}
	if err := t.background(ctx, t.rowOf); err != nil {
		return err
	}
	t.env.prompt(Prompt{Phase: "prepare", Text: "insert the probe at least 400 mm into the tailpipe", Action: ActionInsertProbe, Probe: true})
	inWindow := func(target float64) func(sample) bool {
		return func(s sample) bool { return t.inWindow(target, s.rpm) }
	}
	// Preconditioning at 70 % of rated speed (3500 r/min light, 2520 heavy) for 30 s.
	if err := t.reach(ctx, "precondition_ramp", t.pre, inWindow(t.pre), false); err != nil {
		return err
	}
	if _, err := t.hold(ctx, "precondition", t.pre, t.preS, false, false); err != nil {
		return err
	}
	// High idle: 2500 r/min (heavy 1800), probe in the exhaust, hold 15 s, measure 30 s.
	probeOK := func(s sample) bool { return s.co+s.co2 >= t.probeMin && s.o2 < t.probeO2Max }
	if err := t.reach(ctx, "high_idle_ramp", t.high, func(s sample) bool { return inWindow(t.high)(s) && probeOK(s) }, true); err != nil {
		return err
	}
	if _, err := t.hold(ctx, "high_idle_hold", t.high, t.hiHoldS, true, false); err != nil {
		return err
	}
	hi, err := t.hold(ctx, "high_idle", t.high, t.hiMeasS, true, true)
	if err != nil {
		return err
	}
	// Low idle: release the pedal; once the speed has settled at idle it sets the window.
	// Settled means two successive, distinct readings a second apart agree (a sped-up
	// clock may sample one reading twice, which proves nothing).
	prev := sample{rpm: math.Inf(1)}
	settled := func(s sample) bool {
		if s.at.Equal(prev.at) {
			return false
		}
		ok := s.rpm > 0 && s.rpm <= t.idleMax && math.Abs(s.rpm-prev.rpm) <= t.idleTol/4 && probeOK(s)
		prev = s
		if ok {
			t.idle = s.rpm
		}
		return ok
	}
	if err := t.reach(ctx, "low_idle_ramp", 0, settled, true); err != nil {
		return err
	}
	if _, err := t.hold(ctx, "low_idle_hold", 0, t.loHoldS, true, false); err != nil {
		return err
	}
	lo, err := t.hold(ctx, "low_idle", 0, t.loMeasS, true, true)
	if err != nil {
		return err
	}
	hiRes, err := t.judge("high_idle", hi, t.catalystTWC)
	if err != nil {
		return err
	}
	loRes, err := t.judge("low_idle", lo, false)
	if err != nil {
		return err
	}
	body.Phases = []contract.PhaseResult{hiRes, loRes}
	t.env.prompt(Prompt{Phase: "done", Text: "test complete: release the pedal and remove the probe", Pedal: PedalRelease, Action: ActionRemoveProbe})
	return nil
}

type sample struct {
	hc, co, co2, o2, no, lambdaAn, rpm, oil, lambda float64
	lowFlow                                         bool
	at                                              time.Time // when the analyzer sent the reading
}

// second takes one procedure second of data, records it and applies the guards.
// The engine-speed guard is on when rpmGuard is set, the gas guards (dilution, low flow)
// when gasGuard is.
func (t *tsi) second(ctx context.Context, phase string, target float64, rpmGuard, gasGuard bool) (sample, error) {
	rd, err := t.rec.tick(ctx)
	if err != nil {
		return sample{}, err
	}
	s := t.sampleOf(rd)
	t.rec.row(phase, t.rowOf(rd))
	if err := t.checkOil(rd); err != nil {
		return s, err
	}
	if rpmGuard {
		t.rpmOut = count(t.rpmOut, !t.inWindow(target, s.rpm))
		if t.rpmOut > t.rpmOutS {
			return s, abort(AbortRPMOutOfWindow, "%s: %.0f r/min for %d s", phase, s.rpm, t.rpmOut)
		}
	}
	if !gasGuard {
		return s, nil
	}
	// CO+CO2 below the threshold for N consecutive seconds: probe out or a leak.
	t.dilution = count(t.dilution, s.co+s.co2 < t.probeMin)
	if t.dilution >= t.dilutionS {
		return s, abort(AbortDilution, "%s: CO+CO2 %.2f %% < %.1f %% for %d s", phase, s.co+s.co2, t.probeMin, t.dilution)
	}
	t.lowFlow = count(t.lowFlow, s.lowFlow)
	if t.lowFlow >= t.lowFlowS {
		return s, abort(AbortLowFlow, "%s: analyzer reports low flow for %d s", phase, t.lowFlow)
	}
	return s, nil
}

func (t *tsi) sampleOf(rd reading) sample {
	v := rd.v
	s := sample{
		hc: v(drivers.HCppm), co: v(drivers.COpct), co2: v(drivers.CO2pct), o2: v(drivers.O2pct),
		no: v(drivers.NOppm), lambdaAn: v(drivers.Lambda), rpm: v(drivers.RPM), oil: v(drivers.OilTempC),
		lowFlow: rd.status["analyzer"]&drivers.LowFlow != 0,
		at:      rd.at,
	}
	s.lambda = Lambda(t.fuel, s.co, s.co2, s.o2, s.hc)
	return s
}

// rowOf is one process row of a reading.
func (t *tsi) rowOf(rd reading) map[string]float64 {
	s := t.sampleOf(rd)
	tc, rh, p := t.ambientOf(rd)
	return map[string]float64{
		"hc_ppm": s.hc, "co_pct": s.co, "co2_pct": s.co2, "o2_pct": s.o2, "no_ppm": s.no,
		"lambda": s.lambda, "lambda_analyzer": s.lambdaAn, "rpm": s.rpm, "oil_temp_c": s.oil,
		"temp_c": tc, "rh_pct": rh, "pressure_kpa": p,
	}
}

// inWindow reports whether rpm is in the window of a commanded speed; target 0 is idle,
// whose window is centred on the speed it settled at.
func (t *tsi) inWindow(target, rpm float64) bool {
	switch {
	case target == 0 && t.idle == 0:
		return rpm > 0 && rpm <= t.idleMax
	case target == 0:
		return math.Abs(rpm-t.idle) <= t.idleTol
	case target == t.pre:
		return math.Abs(rpm-target) <= t.preTol
	}
	return math.Abs(rpm-target) <= t.tol
}

// reach prompts for a target speed and records seconds until ok holds, or aborts.
func (t *tsi) reach(ctx context.Context, phase string, target float64, ok func(sample) bool, probe bool) error {
	text := fmt.Sprintf("raise engine speed to %.0f r/min", target)
	if target == 0 {
		text = "release the pedal: engine at idle"
	}
	p := Prompt{Phase: phase, Text: text, TargetRPM: target, Probe: probe}
	if target == 0 {
		p.Pedal = PedalRelease
	}
	t.env.prompt(p)
	var last sample
	for i := 0; i < t.reachS; i++ {
		s, err := t.second(ctx, phase, target, false, false)
		if err != nil {
			return err
		}
		if ok(s) {
			return nil
		}
		last = s
	}
	if probe && last.co+last.co2 < t.probeMin {
		return abort(AbortProbe, "%s: CO+CO2 %.2f %% after %d s", phase, last.co+last.co2, t.reachS)
	}
	return abort(AbortRPMNotReached, "%s: %.0f r/min after %d s, want %.0f", phase, last.rpm, t.reachS, target)
}

// hold records n seconds at target with the engine-speed guard on (and the gas guards when
// gas is set); it returns the samples when measure is set.
func (t *tsi) hold(ctx context.Context, phase string, target float64, n int, gas, measure bool) ([]sample, error) {
	t.rpmOut, t.dilution, t.lowFlow = 0, 0, 0
	var out []sample
	for i := range n {
		text := fmt.Sprintf("hold %.0f r/min", target)
		if target == 0 {
			text = "hold idle"
		}
		if measure {
			text += ": measuring"
		}
		p := Prompt{Phase: phase, Text: text, TargetRPM: target, Probe: gas, Remaining: n - i}
		if target == 0 {
			p.Pedal = PedalRelease
		}
		t.env.prompt(p)
		s, err := t.second(ctx, phase, target, true, gas)
		if err != nil {
			return nil, err
		}
		if measure {
			out = append(out, s)
		}
	}
	return out, nil
}

// judge averages the measured seconds and compares them with the limits.
func (t *tsi) judge(phase string, ss []sample, lambdaWindow bool) (contract.PhaseResult, error) {
	if len(ss) == 0 {
		return contract.PhaseResult{}, errors.New("procedure: no samples to judge")
	}
	var m sample
	for _, s := range ss {
		m.hc += s.hc
		m.co += s.co
		m.co2 += s.co2
		m.o2 += s.o2
		m.no += s.no
		m.rpm += s.rpm
		m.oil += s.oil
		m.lambda += s.lambda
	}
	n := float64(len(ss))
	means := map[string]float64{
		"hc_ppm": round(m.hc/n, 1), "co_pct": round(m.co/n, 3), "co2_pct": round(m.co2/n, 2),
		"o2_pct": round(m.o2/n, 2), "no_ppm": round(m.no/n, 1), "rpm": round(m.rpm/n, 0),
		"oil_temp_c": round(m.oil/n, 1), "lambda": round(m.lambda/n, 3),
	}
	res := contract.PhaseResult{Name: phase, Means: means, Pass: true}
	checks := []struct{ q, bound string }{{"co_pct", "max"}, {"hc_ppm", "max"}}
	if lambdaWindow {
		checks = append(checks, struct{ q, bound string }{"lambda", "min"}, struct{ q, bound string }{"lambda", "max"})
	}
	for _, c := range checks {
		j, err := judgeLimit(t.env, t.day, contract.MethodTSI, phase, c.q, means[c.q], c.bound)
		if err != nil {
			return res, err
		}
		res.Judged = append(res.Judged, j)
		res.Pass = res.Pass && j.Pass
	}
	return res, nil
}
