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

var lugdownColumns = []string{"t_s", "target_kmh", "speed_kmh", "rpm", "force_n", "power_kw", "power_parasitic_kw",
	"power_inertia_kw", "wheel_power_kw", "alpha_d", "wheel_power_corr_kw", "k_m1", "opacity_pct", "nox_ppm", "co2_pct",
	"oil_temp_c", "temp_c", "rh_pct", "pressure_kpa"}

// noxZeroer zeroes an instrument's NOx cell (MQW-5101/5102).
type noxZeroer interface {
	ZeroNOx(ctx context.Context) error
}

// RunLugDown runs a lug-down test (加载减速法, GB 3847-2018; domain.md §2.5) on a chassis
// dynamometer: the opacimeter (and its NOx cell) zeroed, the ambient and oil pre-checks,
// the engine's maximum speed in neutral, the vehicle's top speed at full throttle in the
// test gear, then the power scan — the dyno lowers the speed step by step with the pedal
// held down — which finds the maximum wheel power and the speed it is reached at
// (VelMaxHP); then the hold points at 100 % and 80 % of VelMaxHP, where k (and at 80 %
// NOx) are averaged. Wheel power is the absorber's power plus the dyno's parasitic loss,
// corrected to reference conditions with αd = fa^fm; the corrected maximum must reach
// lugdown.min_wheel_power_fraction of the rated power.
func RunLugDown(ctx context.Context, env Env, req TestRequest) (*contract.TestBody, error) {
	v := req.Vehicle
	if v.Fuel != "diesel" {
		return nil, fmt.Errorf("procedure: lug-down is a diesel method, the vehicle's fuel is %q", v.Fuel)
	}
	if v.RatedPowerKW <= 0 {
		return nil, errors.New("procedure: lug-down needs the engine's rated power (rated_power_kw)")
	}
	body := &contract.TestBody{InspectionID: req.InspectionID, Vehicle: v}
	r := newRun(env, contract.MethodLugDown, body)
	q := r.q
	l := &lugDown{run: r, turbo: v.Aspiration == "turbo",
		maxRPMS: q.secs("max_rpm_measure_s"), step: q.v("scan_step_kmh"), endFrac: q.v("scan_end_fraction"),
		settle: q.secs("hold_settle_s"), measure: q.secs("hold_measure_s"),
		p100: q.v("point_100_fraction"), p80: q.v("point_80_fraction"), minFrac: q.v("min_wheel_power_fraction"),
		fm: q.v("power_correction_fm"), tol: q.v("speed_tolerance_kmh"), reachS: q.secs("reach_timeout_s"),
		inertia: q.of("selfcheck", "dyno_inertia_kg"),
	}
	l.pa, l.pb, l.pc = r.parasitic()
	r.oilMin = q.v("oil_temp_min_c")
	if q.err != nil {
		return nil, q.err
	}
	body.Formulas = formulaRefs("power_correction", "lugdown_wheel_power", "opacity_n_k")
	var srcs []source
	for _, s := range []source{{"tach", env.Tach}, {"opacimeter", env.Opacimeter}, {"dyno", env.Dyno}, {"analyzer", env.Analyzer}, {"weather", env.Weather}} {
		if s.inst != nil {
			srcs = append(srcs, s)
		}
	}
	r.rec = newRecorder(env, lugdownColumns, srcs)
	defer r.rec.stop()
	l.ctl = &dynoControl{r: r}
	err := l.test(ctx)
	r.dynoOff()
	r.stopPump(env.Opacimeter)
	return finish(body, r.rec, env.Clock, err)
}

type lugDown struct {
	*run
	ctl                               *dynoControl
	turbo                             bool
	step, endFrac, p100, p80, minFrac float64
	fm, tol, pa, pb, pc, inertia      float64
	prevV                             float64 // speed of the previous second
	hasPrev                           bool
	maxRPMS, settle, measure, reachS  int
	target                            float64 // the dyno's speed set-point (0: none)
}

// lugSecond is one second of the test.
type lugSecond struct {
	v, rpm, force, power, par, inert, wheel, alpha, corr, k, n, nox, co2 float64
}

func (l *lugDown) test(ctx context.Context) error {
	op := l.env.Opacimeter
	if op == nil {
		return abort(AbortDeviceMissing, "lug-down needs an opacimeter")
	}
	if err := checkLimits(l.env, l.day, contract.MethodLugDown, [][2]string{{"100pct", "k_m1"}, {"80pct", "k_m1"}, {"80pct", "nox_ppm"}}); err != nil {
		return err
	}
	if err := l.prepareDyno(ctx); err != nil {
		return err
	}
	if err := l.ready(ctx, op, AbortDeviceNotReady); err != nil {
		return err
	}
	err := l.do(ctx, op, AbortZeroFailed, "zero", func(ctx context.Context, d drivers.Device) error {
		if z, ok := d.(drivers.Zeroer); ok {
			if err := z.Zero(ctx); err != nil {
				return err
			}
		}
		if z, ok := d.(noxZeroer); ok {
			if err := z.ZeroNOx(ctx); err != nil {
				return err
			}
		}
		if p, ok := d.(drivers.Pump); ok { // the NOx cell's sample pump
			return p.SetPump(ctx, true)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := l.fresh(ctx, op, time.Now()); err != nil {
		return err
	}
	if _, ok := op.Snapshot().Reading.Values[drivers.NOxppm]; !ok && l.env.Analyzer == nil {
		return abort(AbortDeviceMissing, "lug-down needs NOx: neither the opacimeter nor an analyzer reports it")
	}
	if err := l.checkAmbient(ctx); err != nil {
		return err
	}
	l.env.prompt(Prompt{Phase: "prepare", Text: "insert the opacimeter probe", Action: ActionInsertProbe, Probe: true})

	// The engine's maximum speed: neutral, pedal fully down.
	maxRPM := 0.0
	for i := range l.maxRPMS {
		l.env.prompt(Prompt{Phase: "max_rpm", Text: "gearbox in neutral, press the accelerator fully", Gear: "N", Pedal: PedalFull, Probe: true, Remaining: l.maxRPMS - i})
		s, err := l.second(ctx, "max_rpm")
		if err != nil {
			return err
		}
		maxRPM = max(maxRPM, s.rpm)
	}
	// Top speed in the test gear at full throttle, the rollers free.
	top, err := l.topSpeed(ctx)
	if err != nil {
		return err
	}
	// The power scan: lower the speed step by step at full throttle.
	var scan []lugSecond
	l.target = top
	for l.target >= l.endFrac*top {
		if err := l.ctl.apply(ctx, drivers.ControlSpeed, l.target); err != nil {
			return err
		}
		l.env.prompt(Prompt{Phase: "power_scan", Text: "keep the accelerator fully down", Pedal: PedalFull, Probe: true})
		s, err := l.second(ctx, "power_scan")
		if err != nil {
			return err
		}
		scan = append(scan, s)
		l.target -= l.step
	}
	best := -1
	for i, s := range scan {
		if best < 0 || s.corr > scan[best].corr {
			best = i
		}
	}
	if best < 0 || scan[best].corr <= 0 {
		return abort(AbortPowerScan, "no wheel power measured during the scan (is the accelerator down?)")
	}
	velMax := scan[best].v
	points := []struct {
		name string
		frac float64
	}{{"100pct", l.p100}, {"80pct", l.p80}}
	var holds [][]lugSecond
	for _, pt := range points {
		ss, err := l.hold(ctx, pt.name, pt.frac*velMax)
		if err != nil {
			return err
		}
		holds = append(holds, ss)
	}
	l.target = 0
	l.env.prompt(Prompt{Phase: "done", Text: "test complete: release the accelerator, remove the probe", Pedal: PedalRelease, Action: ActionRemoveProbe})
	if err := l.ctl.apply(ctx, drivers.ControlOff, 0); err != nil {
		return err
	}

	minPower := l.minFrac * l.body.Vehicle.RatedPowerKW
	scanRes := contract.PhaseResult{Name: "power_scan", Means: map[string]float64{
		"max_wheel_power_kw": round(scan[best].corr, 2), "velmaxhp_kmh": round(velMax, 1), "rpm_at_max_power": round(scan[best].rpm, 0),
		"alpha_d": round(scan[best].alpha, 4), "max_rpm": round(maxRPM, 0), "top_speed_kmh": round(top, 1),
	}}
	j := judgeParam(l.env.Params, contract.MethodLugDown, "min_wheel_power_fraction", "max_wheel_power_kw", scanRes.Means["max_wheel_power_kw"], minPower, "min")
	scanRes.Judged, scanRes.Pass = []contract.Judged{j}, j.Pass
	l.body.Phases = append(l.body.Phases, scanRes)
	for i, pt := range points {
		ss := holds[i]
		avg := func(f func(lugSecond) float64) float64 {
			var sum float64
			for _, s := range ss {
				sum += f(s)
			}
			return sum / float64(len(ss))
		}
		res := contract.PhaseResult{Name: pt.name, Pass: true, Means: map[string]float64{
			"k_m1": round(avg(func(s lugSecond) float64 { return s.k }), 2), "nox_ppm": round(avg(func(s lugSecond) float64 { return s.nox }), 0),
			"speed_kmh": round(avg(func(s lugSecond) float64 { return s.v }), 1), "rpm": round(avg(func(s lugSecond) float64 { return s.rpm }), 0),
			"wheel_power_corr_kw": round(avg(func(s lugSecond) float64 { return s.corr }), 2),
		}}
		qs := []string{"k_m1"}
		if pt.name == "80pct" {
			qs = append(qs, "nox_ppm")
		}
		for _, qn := range qs {
			j, err := judgeLimit(l.env, l.day, contract.MethodLugDown, pt.name, qn, res.Means[qn], "max")
			if err != nil {
				return err
			}
			res.Judged = append(res.Judged, j)
			res.Pass = res.Pass && j.Pass
		}
		l.body.Phases = append(l.body.Phases, res)
	}
	return nil
}

// topSpeed lets the vehicle run up to its top speed in the test gear and returns it.
func (l *lugDown) topSpeed(ctx context.Context) (float64, error) {
	if err := l.ctl.apply(ctx, drivers.ControlOff, 0); err != nil {
		return 0, err
	}
	prev := math.Inf(-1)
	for i := 0; i < l.reachS; i++ {
		l.env.prompt(Prompt{Phase: "top_speed", Text: "select the test gear (about 70 km/h at full throttle), accelerator fully down",
			Gear: GearTest, Pedal: PedalFull, Probe: true})
		s, err := l.second(ctx, "top_speed")
		if err != nil {
			return 0, err
		}
		if s.v > 10 && s.v-prev < 0.3 {
			return s.v, nil
		}
		prev = s.v
	}
	return 0, abort(AbortSpeedNotReached, "the vehicle did not settle at a top speed in %d s", l.reachS)
}

// hold brings the rollers to kmh at full throttle, waits hold_settle_s and returns
// hold_measure_s seconds.
func (l *lugDown) hold(ctx context.Context, name string, kmh float64) ([]lugSecond, error) {
	l.target = kmh
	if err := l.ctl.apply(ctx, drivers.ControlSpeed, kmh); err != nil {
		return nil, err
	}
	p := Prompt{Phase: name + "_settle", Text: fmt.Sprintf("keep the accelerator fully down: holding %.1f km/h", kmh), Pedal: PedalFull, Probe: true}
	reached := false
	for i := 0; i < l.reachS && !reached; i++ {
		l.env.prompt(p)
		s, err := l.second(ctx, p.Phase)
		if err != nil {
			return nil, err
		}
		reached = math.Abs(s.v-kmh) <= l.tol
	}
	if !reached {
		return nil, abort(AbortSpeedNotReached, "%s: %.1f km/h not reached", name, kmh)
	}
	for i := range l.settle {
		p.Remaining = l.settle - i
		l.env.prompt(p)
		if _, err := l.second(ctx, p.Phase); err != nil {
			return nil, err
		}
	}
	var out []lugSecond
	p.Phase = name
	for i := range l.measure {
		p.Remaining = l.measure - i
		l.env.prompt(p)
		s, err := l.second(ctx, name)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// second records one second.
func (l *lugDown) second(ctx context.Context, phase string) (lugSecond, error) {
	rd, err := l.rec.tick(ctx)
	if err != nil {
		return lugSecond{}, err
	}
	t, rh, p := l.ambientOf(rd)
	s := lugSecond{v: rd.v(drivers.SpeedKmh), rpm: rd.v(drivers.RPM), force: rd.v(drivers.ForceN),
		k: rd.v(drivers.KM1), n: rd.v(drivers.OpacityPct), nox: rd.v(drivers.NOxppm), co2: rd.v(drivers.CO2pct)}
	if !rd.has(drivers.NOxppm) {
		s.nox = rd.v(drivers.NOppm)
	}
	s.power = max(0, s.force) * s.v / 3.6 / 1000
	if s.v > 0.5 {
		s.par = ParasiticKW(l.pa, l.pb, l.pc, s.v)
	}
	// The rollers' inertia gives up (or takes) power as they slow (or speed up): the wheels
	// deliver the absorber's and the parasitic power plus I·a·v.
	if l.hasPrev {
		a := (s.v - l.prevV) / 3.6 // m/s per procedure second
		s.inert = l.inertia * a * s.v / 3.6 / 1000
	}
	l.prevV, l.hasPrev = s.v, true
	s.wheel = s.power + s.par + s.inert
	s.alpha = PowerCorrection(l.turbo, DryPressureKPa(p, rh, t), t, l.fm)
	s.corr = s.wheel * s.alpha
	l.rec.row(phase, map[string]float64{"target_kmh": l.target, "speed_kmh": s.v, "rpm": s.rpm, "force_n": s.force,
		"power_kw": s.power, "power_parasitic_kw": s.par, "power_inertia_kw": s.inert, "wheel_power_kw": s.wheel, "alpha_d": s.alpha,
		"wheel_power_corr_kw": s.corr, "k_m1": s.k, "opacity_pct": s.n, "nox_ppm": s.nox, "co2_pct": s.co2,
		"oil_temp_c": rd.v(drivers.OilTempC), "temp_c": t, "rh_pct": rh, "pressure_kpa": p})
	return s, l.checkOil(rd)
}
