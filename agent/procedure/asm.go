package procedure

import (
	"context"
	"errors"
	"fmt"
	"math"

	"imagent/agent/contract"
	"imagent/drivers"
)

var asmColumns = []string{"t_s", "mode_t_s", "target_kmh", "speed_kmh", "rpm", "hc_ppm", "co_pct", "no_ppm",
	"co2_pct", "o2_pct", "lambda", "df", "kh", "hc_corr_ppm", "co_corr_pct", "no_corr_ppm", "force_n",
	"power_total_kw", "power_parasitic_kw", "power_indicated_kw", "oil_temp_c", "temp_c", "rh_pct", "pressure_kpa"}

// RunASM runs a steady-state loaded mode test (ASM 5025 then 2540, GB 18285-2018; domain.md
// §2.2) on a chassis dynamometer: pre-checks, then per mode the ramp (load following the
// speed as the lane code does), the timer started when the speed enters its window and
// restarted when it leaves it (during the settling seconds, or for too long after), DF
// and kH applied to every second, the fast check on seconds 15–24 and otherwise the full
// run to 90 s judged on its last 10 s. A 5025 failure ends the test; 2540 runs only after a
// 5025 pass.
//
// The process column mode_t_s is the mode timer (−1 during a ramp; it starts again at 0
// after a restart, so the rows show every restart). Each judged phase's means name the
// timer seconds they average (window_start_s, window_end_s).
func RunASM(ctx context.Context, env Env, req TestRequest) (*contract.TestBody, error) {
	fuel, err := FuelByName(req.Vehicle.Fuel)
	if err != nil {
		return nil, err
	}
	if req.Vehicle.RMkg <= 0 {
		return nil, errors.New("procedure: ASM needs the vehicle's reference mass (rm_kg)")
	}
	body := &contract.TestBody{InspectionID: req.InspectionID, Vehicle: req.Vehicle}
	r := newRun(env, contract.MethodASM, body)
	q := r.q
	a := &asm{run: r, fuel: fuel,
		fuelA: q.v("fuel_a_" + fuel.Name), dfMax: q.v("df_max"),
		tol: q.v("speed_tolerance_kmh"), settle: q.secs("settle_s"),
		fastFrom: q.secs("fast_check_start_s"), fastTo: q.secs("fast_check_end_s"), window: q.secs("mean_window_s"),
		maxS: q.secs("mode_max_s"), contMax: q.secs("out_of_window_continuous_max_s"), totalMax: q.secs("out_of_window_total_max_s"),
		restartsMax: q.secs("timer_restarts_max"), reachS: q.secs("reach_timeout_s"), fastRatio: q.v("fast_check_ratio"),
		rampStart: q.v("ramp_load_start_kmh"), probeMin: q.v("probe_co_co2_min_pct"),
		dilutionS: q.secs("dilution_guard_s"), lowFlowS: q.secs("low_flow_guard_s"),
	}
	a.pa, a.pb, a.pc = r.parasitic()
	r.oilMin = q.v("oil_temp_min_c")
	modes := []asmMode{
		{name: "5025", kmh: q.v("speed_5025_kmh"), total: ASMPowerKW(req.Vehicle.RMkg, q.v("load_divisor_5025")), rampRate: q.v("ramp_load_rate_5025")},
		{name: "2540", kmh: q.v("speed_2540_kmh"), total: ASMPowerKW(req.Vehicle.RMkg, q.v("load_divisor_2540")), rampRate: q.v("ramp_load_rate_2540")},
	}
	if q.err != nil {
		return nil, q.err
	}
	if a.fastTo-a.fastFrom+1 != a.window || a.maxS < a.fastTo+1 || a.window < 1 {
		return nil, fmt.Errorf("procedure: ASM windows inconsistent: fast check %d–%d s, mean window %d s, mode %d s", a.fastFrom, a.fastTo, a.window, a.maxS)
	}
	body.Formulas = formulaRefs("lambda", "dilution_factor", "humidity_kh", "asm_load")
	var srcs []source
	for _, s := range []source{{"tach", env.Tach}, {"analyzer", env.Analyzer}, {"dyno", env.Dyno}, {"weather", env.Weather}} {
		if s.inst != nil {
			srcs = append(srcs, s)
		}
	}
	r.rec = newRecorder(env, asmColumns, srcs)
	defer r.rec.stop()
	a.ctl = &dynoControl{r: r}
	err = a.test(ctx, modes)
	r.dynoOff()
	r.stopAnalyzerPump()
	return finish(body, r.rec, env.Clock, err)
}

type asmMode struct {
	name     string
	kmh      float64 // mode speed
	total    float64 // total power the vehicle delivers, kW (RM/148 or RM/185)
	rampRate float64
}

type asm struct {
	*run
	fuel                                   Fuel
	ctl                                    *dynoControl
	fuelA, dfMax, tol, fastRatio           float64
	rampStart, probeMin                    float64
	pa, pb, pc                             float64
	settle, fastFrom, fastTo, window, maxS int
	contMax, totalMax, restartsMax, reachS int
	dilutionS, lowFlowS                    int
	dilution, lowFlow                      int
}

// asmSecond is one second of an ASM mode, corrected.
type asmSecond struct {
	v, rpm, hc, co, no, co2, o2, lambda, df, kh, hcC, coC, noC, force float64
	lowFlow                                                           bool
}

func (a *asm) test(ctx context.Context, modes []asmMode) error {
	if a.env.Analyzer == nil {
		return abort(AbortDeviceMissing, "ASM needs an exhaust-gas analyzer")
	}
	var want [][2]string
	for _, m := range modes {
		for _, qn := range []string{"hc_ppm", "co_pct", "no_ppm"} {
			want = append(want, [2]string{m.name, qn})
		}
	}
	if err := checkLimits(a.env, a.day, contract.MethodASM, want); err != nil {
		return err
	}
	if err := a.prepareDyno(ctx); err != nil {
		return err
	}
	if err := a.prepareAnalyzer(ctx); err != nil {
		return err
	}
	if err := a.checkAmbient(ctx); err != nil {
		return err
	}
	rowOf := func(rd reading) map[string]float64 {
		row := a.row(a.sample(rd), -1, 0)
		row["oil_temp_c"] = rd.v(drivers.OilTempC)
		row["temp_c"], row["rh_pct"], row["pressure_kpa"] = a.ambientOf(rd)
		return row
	}
	if err := a.hcResidual(ctx, rowOf); err != nil {
		return err
	}
	if err := a.background(ctx, rowOf); err != nil {
		return err
	}
	a.env.prompt(Prompt{Phase: "prepare", Text: "insert the probe at least 400 mm into the tailpipe", Action: ActionInsertProbe, Probe: true})
	for _, m := range modes {
		res, err := a.mode(ctx, m)
		if err != nil {
			return err
		}
		a.body.Phases = append(a.body.Phases, res)
		if !res.Pass {
			break // a 5025 failure ends the test
		}
	}
	a.env.prompt(Prompt{Phase: "done", Text: "test complete: release the accelerator, brake to a stop, remove the probe",
		Drive: true, Pedal: PedalRelease, Action: ActionRemoveProbe})
	return nil
}

func (a *asm) sample(rd reading) asmSecond {
	v := rd.v
	s := asmSecond{v: v(drivers.SpeedKmh), rpm: v(drivers.RPM), hc: v(drivers.HCppm), co: v(drivers.COpct),
		no: v(drivers.NOppm), co2: v(drivers.CO2pct), o2: v(drivers.O2pct), force: v(drivers.ForceN),
		lowFlow: rd.status["analyzer"]&drivers.LowFlow != 0}
	s.lambda = Lambda(a.fuel, s.co, s.co2, s.o2, s.hc)
	t, rh, p := a.ambientOf(rd)
	// DF and kH every second, on the values of that second (domain.md §2.7, §2.8).
	s.df = DilutionFactor(a.fuelA, s.co, s.co2, a.dfMax)
	s.kh = HumidityCorrection(t, rh, p)
	s.hcC, s.coC, s.noC = s.hc*s.df, s.co*s.df, s.no*s.df*s.kh
	return s
}

// row is one process row: the indicated power is the absorber's set-point, the parasitic
// power the dyno's own loss at the speed of that second, the total their sum.
func (a *asm) row(s asmSecond, modeT, target float64) map[string]float64 {
	indicated := 0.0
	if a.ctl.set && a.ctl.mode == drivers.ControlPower {
		indicated = a.ctl.target
	}
	par := 0.0
	if s.v > 0.5 {
		par = ParasiticKW(a.pa, a.pb, a.pc, s.v)
	}
	return map[string]float64{"mode_t_s": modeT, "target_kmh": target, "speed_kmh": s.v, "rpm": s.rpm,
		"hc_ppm": s.hc, "co_pct": s.co, "no_ppm": s.no, "co2_pct": s.co2, "o2_pct": s.o2, "lambda": s.lambda,
		"df": s.df, "kh": s.kh, "hc_corr_ppm": s.hcC, "co_corr_pct": s.coC, "no_corr_ppm": s.noC, "force_n": s.force,
		"power_total_kw": indicated + par, "power_parasitic_kw": par, "power_indicated_kw": indicated}
}

// second records one second of mode m.
func (a *asm) second(ctx context.Context, phase string, m asmMode, modeT float64) (asmSecond, error) {
	rd, err := a.rec.tick(ctx)
	if err != nil {
		return asmSecond{}, err
	}
	s := a.sample(rd)
	row := a.row(s, modeT, m.kmh)
	row["oil_temp_c"] = rd.v(drivers.OilTempC)
	row["temp_c"], row["rh_pct"], row["pressure_kpa"] = a.ambientOf(rd)
	a.rec.row(phase, row)
	return s, a.checkOil(rd)
}

// guards applies the dilution and low-flow guards to a timed second.
func (a *asm) guards(phase string, s asmSecond) error {
	a.dilution = count(a.dilution, s.co+s.co2 < a.probeMin)
	if a.dilution >= a.dilutionS {
		return abort(AbortDilution, "%s: CO+CO2 %.2f %% < %.1f %% for %d s", phase, s.co+s.co2, a.probeMin, a.dilution)
	}
	a.lowFlow = count(a.lowFlow, s.lowFlow)
	if a.lowFlow >= a.lowFlowS {
		return abort(AbortLowFlow, "%s: analyzer reports low flow for %d s", phase, a.lowFlow)
	}
	return nil
}

// mode runs one ASM mode and judges it.
func (a *asm) mode(ctx context.Context, m asmMode) (contract.PhaseResult, error) {
	ramp := m.name + "_ramp"
	prompt := Prompt{Phase: ramp, Text: fmt.Sprintf("accelerate to %.0f km/h and hold it", m.kmh), TargetKmh: m.kmh, Probe: true}
	// Ramp: the load follows the speed (lane code: none below 15 km/h, then a share of the
	// mode's power per km/h above it), until the speed is in the window.
	reached := false
	for i := 0; i < a.reachS; i++ {
		a.env.prompt(prompt)
		s, err := a.second(ctx, ramp, m, -1)
		if err != nil {
			return contract.PhaseResult{}, err
		}
		if math.Abs(s.v-m.kmh) <= a.tol {
			reached = true
			break
		}
		load := 0.0
		if s.v > a.rampStart {
			load = min(m.total, (s.v-a.rampStart)*m.rampRate*m.total)
		}
		if err := a.ctl.apply(ctx, drivers.ControlPower, IndicatedKW(load, a.pa, a.pb, a.pc, s.v)); err != nil {
			return contract.PhaseResult{}, err
		}
	}
	if !reached {
		return contract.PhaseResult{}, abort(AbortSpeedNotReached, "%s: %.0f km/h not reached in %d s", m.name, m.kmh, a.reachS)
	}
	// The absorber takes the mode's power less the dyno's own loss at the mode speed.
	indicated := IndicatedKW(m.total, a.pa, a.pb, a.pc, m.kmh)
	if err := a.ctl.apply(ctx, drivers.ControlPower, indicated); err != nil {
		return contract.PhaseResult{}, err
	}
	var timed []asmSecond
	restarts, cont, total := 0, 0, 0
	a.dilution, a.lowFlow = 0, 0
	for t := 0; t < a.maxS; t++ {
		p := prompt
		p.Phase, p.Text, p.Remaining = m.name, fmt.Sprintf("hold %.0f km/h: measuring", m.kmh), a.maxS-t
		a.env.prompt(p)
		s, err := a.second(ctx, m.name, m, float64(t))
		if err != nil {
			return contract.PhaseResult{}, err
		}
		if err := a.guards(m.name, s); err != nil {
			return contract.PhaseResult{}, err
		}
		out := math.Abs(s.v-m.kmh) > a.tol
		restart := false
		if t < a.settle {
			restart = out
		} else {
			cont = count(cont, out)
			if out {
				total++
			}
			restart = cont > a.contMax || total > a.totalMax
		}
		if restart {
			restarts++
			if restarts > a.restartsMax {
				return contract.PhaseResult{}, abort(AbortSpeedWindow, "%s: speed %.1f km/h out of %.0f ± %.1f; timer restarted %d times", m.name, s.v, m.kmh, a.tol, restarts-1)
			}
			a.env.log().Info("ASM timer restarted", "mode", m.name, "t", t, "speed", s.v)
			timed, cont, total, t = nil, 0, 0, -1
			continue
		}
		timed = append(timed, s)
		if t == a.fastTo {
			res, err := a.judgeMode(m.name, timed[a.fastFrom:a.fastTo+1], a.fastFrom, a.fastTo, true)
			if err != nil {
				return res, err
			}
			if res.Pass {
				return res, nil
			}
		}
	}
	res, err := a.judgeMode(m.name, timed[a.maxS-a.window:], a.maxS-a.window, a.maxS-1, false)
	return res, err
}

// judgeMode averages the corrected values of the window and judges them. The fast check
// passes only if every value is at most fast_check_ratio of its limit; the full run is
// judged against the limits.
func (a *asm) judgeMode(name string, ss []asmSecond, from, to int, fast bool) (contract.PhaseResult, error) {
	avg := func(f func(asmSecond) float64) float64 {
		var sum float64
		for _, s := range ss {
			sum += f(s)
		}
		return sum / float64(len(ss))
	}
	means := map[string]float64{
		"hc_ppm":     round(avg(func(s asmSecond) float64 { return s.hcC }), 1),
		"co_pct":     round(avg(func(s asmSecond) float64 { return s.coC }), 3),
		"no_ppm":     round(avg(func(s asmSecond) float64 { return s.noC }), 1),
		"hc_raw_ppm": round(avg(func(s asmSecond) float64 { return s.hc }), 1), "co_raw_pct": round(avg(func(s asmSecond) float64 { return s.co }), 3),
		"no_raw_ppm": round(avg(func(s asmSecond) float64 { return s.no }), 1),
		"co2_pct":    round(avg(func(s asmSecond) float64 { return s.co2 }), 2), "o2_pct": round(avg(func(s asmSecond) float64 { return s.o2 }), 2),
		"lambda": round(avg(func(s asmSecond) float64 { return s.lambda }), 3), "df": round(avg(func(s asmSecond) float64 { return s.df }), 3),
		"kh": round(avg(func(s asmSecond) float64 { return s.kh }), 3), "speed_kmh": round(avg(func(s asmSecond) float64 { return s.v }), 1),
		"rpm":            round(avg(func(s asmSecond) float64 { return s.rpm }), 0),
		"window_start_s": float64(from), "window_end_s": float64(to), "fast_check": 0,
	}
	if fast {
		means["fast_check"] = 1
	}
	res := contract.PhaseResult{Name: name, Means: means, Pass: true}
	for _, qn := range []string{"hc_ppm", "co_pct", "no_ppm"} {
		j, err := judgeLimit(a.env, a.day, contract.MethodASM, name, qn, means[qn], "max")
		if err != nil {
			return res, err
		}
		if fast {
			j.Pass = means[qn] <= a.fastRatio*j.Limit
		}
		res.Judged = append(res.Judged, j)
		res.Pass = res.Pass && j.Pass
	}
	return res, nil
}
