package procedure

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"imagent/agent/contract"
	"imagent/config"
	"imagent/drivers"
)

var vmasColumns = []string{"t_s", "cycle_t_s", "target_kmh", "speed_kmh", "gear", "rpm", "hc_ppm", "co_pct", "no_ppm",
	"co2_pct", "o2_pct", "o2_dil_pct", "flow_std_lps", "flow_temp_c", "flow_kpa", "dilution_ratio", "exhaust_l",
	"df", "kh", "hc_mg", "co_mg", "no_mg", "distance_m", "power_kw", "lambda", "oil_temp_c", "temp_c", "rh_pct", "pressure_kpa"}

// Cycle is a driving cycle: target speed by second, linear between breakpoints, and the gear
// to drive in.
type Cycle struct {
	points [][2]float64 // (second, km/h), sorted
	gears  [][2]float64 // (from second, gear), sorted
}

// CycleFromParams reads the VMAS cycle from the parameters vmas.cycle_kmh_at_NNNs (speed
// breakpoints) and vmas.gear_from_NNNs.
func CycleFromParams(p *config.Params) (Cycle, error) {
	var c Cycle
	for _, v := range p.Values {
		if v.Method != contract.MethodVMAS {
			continue
		}
		for _, x := range []struct {
			prefix string
			dst    *[][2]float64
		}{{"cycle_kmh_at_", &c.points}, {"gear_from_", &c.gears}} {
			rest, ok := strings.CutPrefix(v.Name, x.prefix)
			if !ok {
				continue
			}
			sec, err := strconv.Atoi(strings.TrimSuffix(rest, "s"))
			if err != nil || !strings.HasSuffix(rest, "s") {
				return c, fmt.Errorf("procedure: vmas parameter %s: want %sNNNs", v.Name, x.prefix)
			}
			*x.dst = append(*x.dst, [2]float64{float64(sec), v.Value})
		}
	}
	sortPts := func(p [][2]float64) { slices.SortFunc(p, func(a, b [2]float64) int { return int(a[0] - b[0]) }) }
	sortPts(c.points)
	sortPts(c.gears)
	if len(c.points) < 2 || c.points[0][0] != 0 {
		return c, errors.New("procedure: the VMAS cycle needs breakpoints from second 0 (vmas.cycle_kmh_at_000s…)")
	}
	return c, nil
}

// Length is the cycle's duration in seconds.
func (c Cycle) Length() int { return int(c.points[len(c.points)-1][0]) }

// Speed is the target speed at second t.
func (c Cycle) Speed(t float64) float64 {
	p := c.points
	if t <= p[0][0] {
		return p[0][1]
	}
	for i := 1; i < len(p); i++ {
		if t <= p[i][0] {
			a, b := p[i-1], p[i]
			return a[1] + (b[1]-a[1])*(t-a[0])/(b[0]-a[0])
		}
	}
	return p[len(p)-1][1]
}

// Gear is the gear to drive in at second t.
func (c Cycle) Gear(t float64) int {
	g := 0
	for _, x := range c.gears {
		if t >= x[0] {
			g = int(x[1])
		}
	}
	return g
}

// inWindow reports whether v meets the trace at t within ±tolKmh, allowing the trace to be
// met up to ±tolS seconds early or late.
func (c Cycle) inWindow(t, v, tolKmh, tolS float64) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	for x := t - tolS; x <= t+tolS+1e-9; x += 0.25 {
		s := c.Speed(max(0, x))
		lo, hi = min(lo, s), max(hi, s)
	}
	return v >= lo-tolKmh && v <= hi+tolKmh
}

// RunVMAS runs a simple transient mode test (VMAS, GB 18285-2018; domain.md §2.3): the
// pre-checks, the ambient O2 read by the flowmeter with the hose off, then the 195-s cycle
// on the dyno with the flowmeter on the tailpipe. Every second: the dilution ratio from the
// O2 tracer, the exhaust volume, DF and kH, and the masses of HC, CO and NO; the result is
// the masses per km over the distance the rollers turned. The mass formulas are not
// confirmed in the standard: the record names them with verified = false.
func RunVMAS(ctx context.Context, env Env, req TestRequest) (*contract.TestBody, error) {
	fuel, err := FuelByName(req.Vehicle.Fuel)
	if err != nil {
		return nil, err
	}
	if req.Vehicle.RMkg <= 0 {
		return nil, errors.New("procedure: VMAS needs the vehicle's reference mass (rm_kg)")
	}
	cycle, err := CycleFromParams(env.Params)
	if err != nil {
		return nil, err
	}
	body := &contract.TestBody{InspectionID: req.InspectionID, Vehicle: req.Vehicle}
	r := newRun(env, contract.MethodVMAS, body)
	q := r.q
	x := &vmas{run: r, fuel: fuel, cycle: cycle,
		fuelA: q.of("asm", "fuel_a_"+fuel.Name), dfMax: q.of("asm", "df_max"),
		tol: q.v("speed_tolerance_kmh"), tolS: q.v("time_tolerance_s"),
		contMax: q.secs("out_of_window_continuous_max_s"), totalMax: q.secs("out_of_window_total_max_s"),
		probeMin: q.v("probe_co_co2_min_pct"), dilutionS: q.secs("dilution_guard_s"), lowFlowS: q.secs("low_flow_guard_s"),
		flowMin: q.v("flowmeter_flow_min_lps"), ratioMin: q.v("dilution_ratio_min"),
		o2S: q.secs("o2_ambient_s"), o2Min: q.v("o2_ambient_min_pct"), o2Max: q.v("o2_ambient_max_pct"),
		flowRefC: q.v("flow_std_ref_c"), densT: q.v("density_temp_k"),
		forceN: ASMPowerKW(req.Vehicle.RMkg, q.v("load_divisor")) * 1000 / (50 / 3.6),
	}
	dens := func(m string) float64 {
		return GasDensityMgPerL(q.v("molar_mass_"+m), q.v("density_pressure_kpa"), x.densT, q.v("gas_constant"))
	}
	x.rhoHC, x.rhoCO, x.rhoNO = dens("hc"), dens("co"), dens("no")
	r.oilMin = q.v("oil_temp_min_c")
	if q.err != nil {
		return nil, q.err
	}
	body.Formulas = formulaRefs("lambda", "dilution_factor", "humidity_kh", "vmas_dilution", "vmas_mass", "vmas_per_km")
	var srcs []source
	for _, s := range []source{{"tach", env.Tach}, {"analyzer", env.Analyzer}, {"dyno", env.Dyno}, {"flowmeter", env.Flowmeter}, {"weather", env.Weather}} {
		if s.inst != nil {
			srcs = append(srcs, s)
		}
	}
	r.rec = newRecorder(env, vmasColumns, srcs)
	defer r.rec.stop()
	x.ctl = &dynoControl{r: r}
	err = x.test(ctx)
	r.dynoOff()
	r.stopAnalyzerPump()
	return finish(body, r.rec, env.Clock, err)
}

type vmas struct {
	*run
	fuel                            Fuel
	cycle                           Cycle
	ctl                             *dynoControl
	fuelA, dfMax, tol, tolS         float64
	probeMin, flowMin, ratioMin     float64
	o2Min, o2Max, o2Amb             float64
	flowRefC, densT, forceN         float64
	rhoHC, rhoCO, rhoNO             float64
	contMax, totalMax, dilutionS    int
	lowFlowS, o2S                   int
	dilution, lowFlow, flowLow, dry int
}

// vmasSecond is one second of the cycle with its masses.
type vmasSecond struct {
	v, rpm, hc, co, no, co2, o2, o2dil, flow, ratio, exhL, df, kh, hcMg, coMg, noMg float64
	lowFlow                                                                         bool
}

func (x *vmas) test(ctx context.Context) error {
	if x.env.Analyzer == nil || x.env.Flowmeter == nil {
		return abort(AbortDeviceMissing, "VMAS needs an exhaust-gas analyzer and a dilution flowmeter")
	}
	want := [][2]string{{"", "co_gkm"}, {"", "hcnox_gkm"}}
	if err := checkLimits(x.env, x.day, contract.MethodVMAS, want); err != nil {
		return err
	}
	if err := x.prepareDyno(ctx); err != nil {
		return err
	}
	if err := x.ready(ctx, x.env.Flowmeter, AbortDeviceNotReady); err != nil {
		return err
	}
	if err := x.prepareAnalyzer(ctx); err != nil {
		return err
	}
	if err := x.checkAmbient(ctx); err != nil {
		return err
	}
	rowOf := func(rd reading) map[string]float64 { return x.row(rd, x.sample(rd), -1, 0, 0, 0) }
	if err := x.hcResidual(ctx, rowOf); err != nil {
		return err
	}
	if err := x.background(ctx, rowOf); err != nil {
		return err
	}
	// Ambient O2, as the flowmeter reads it with the hose off the tailpipe: the reference of
	// the dilution ratio.
	var o2 []float64
	for i := range x.o2S {
		x.env.prompt(Prompt{Phase: "o2_ambient", Text: "hose off the tailpipe: reading the ambient O2", Action: ActionRemoveProbe, Remaining: x.o2S - i})
		rd, err := x.rec.tick(ctx)
		if err != nil {
			return err
		}
		x.rec.row("o2_ambient", rowOf(rd))
		o2 = append(o2, rd.v(drivers.O2DilPct))
	}
	x.o2Amb = mean(o2)
	if x.o2S == 0 || x.o2Amb < x.o2Min || x.o2Amb > x.o2Max {
		return abort(AbortFlowmeterO2, "ambient O2 %.2f %% outside %.1f–%.1f %%", x.o2Amb, x.o2Min, x.o2Max)
	}
	x.env.prompt(Prompt{Phase: "prepare", Text: "insert the probe and fit the flowmeter's hose on the tailpipe", Action: ActionInsertProbe, Probe: true})
	// The road load: a constant force (power proportional to speed) [I].
	if err := x.ctl.apply(ctx, drivers.ControlForce, x.forceN); err != nil {
		return err
	}
	var secs []vmasSecond
	var dist float64
	out, cont := 0, 0
	n := x.cycle.Length()
	for t := range n {
		target := x.cycle.Speed(float64(t))
		gear := x.cycle.Gear(float64(t))
		p := Prompt{Phase: "cycle", Text: fmt.Sprintf("follow the trace: %.1f km/h", target), TargetKmh: x.cycle.Speed(float64(t + 1)),
			Drive: true, Gear: strconv.Itoa(gear), Probe: true, Remaining: n - t}
		if gear == 0 {
			p.Gear = "N"
		}
		x.env.prompt(p)
		rd, err := x.rec.tick(ctx)
		if err != nil {
			return err
		}
		s := x.sample(rd)
		dist += s.v / 3.6
		row := x.row(rd, s, float64(t), target, float64(gear), dist)
		x.rec.row("cycle", row)
		if err := x.checkOil(rd); err != nil {
			return err
		}
		secs = append(secs, s)
		if !x.cycle.inWindow(float64(t), s.v, x.tol, x.tolS) {
			out++
			cont++
		} else {
			cont = 0
		}
		if cont > x.contMax || out > x.totalMax {
			return abort(AbortSpeedWindow, "second %d: %.1f km/h against %.1f; %d s out of the window (%d in a row)", t, s.v, target, out, cont)
		}
		if err := x.guards(t, target, s); err != nil {
			return err
		}
	}
	return x.judge(secs, dist, out)
}

func (x *vmas) sample(rd reading) vmasSecond {
	v := rd.v
	s := vmasSecond{v: v(drivers.SpeedKmh), rpm: v(drivers.RPM), hc: v(drivers.HCppm), co: v(drivers.COpct), no: v(drivers.NOppm),
		co2: v(drivers.CO2pct), o2: v(drivers.O2pct), o2dil: v(drivers.O2DilPct), flow: v(drivers.FlowStdLps),
		lowFlow: rd.status["analyzer"]&drivers.LowFlow != 0}
	t, rh, p := x.ambientOf(rd)
	s.df = DilutionFactor(x.fuelA, s.co, s.co2, x.dfMax)
	s.kh = HumidityCorrection(t, rh, p)
	if x.o2Amb > 0 {
		s.ratio = VMASDilutionRatio(x.o2Amb, s.o2dil, s.o2)
	}
	// Exhaust in this second, at the densities' reference temperature.
	s.exhL = s.flow * s.ratio * x.densT / (x.flowRefC + 273.15)
	s.hcMg = VMASMassMg(s.exhL, s.hc*1e-6, x.rhoHC, s.df)
	s.coMg = VMASMassMg(s.exhL, s.co/100, x.rhoCO, s.df)
	s.noMg = VMASMassMg(s.exhL, s.no*1e-6, x.rhoNO, s.df*s.kh)
	return s
}

func (x *vmas) row(rd reading, s vmasSecond, cycleT, target, gear, dist float64) map[string]float64 {
	t, rh, p := x.ambientOf(rd)
	return map[string]float64{"cycle_t_s": cycleT, "target_kmh": target, "speed_kmh": s.v, "gear": gear, "rpm": s.rpm,
		"hc_ppm": s.hc, "co_pct": s.co, "no_ppm": s.no, "co2_pct": s.co2, "o2_pct": s.o2, "o2_dil_pct": s.o2dil,
		"flow_std_lps": s.flow, "flow_temp_c": rd.v(drivers.FlowTempC), "flow_kpa": rd.v(drivers.FlowKPa),
		"dilution_ratio": s.ratio, "exhaust_l": s.exhL, "df": s.df, "kh": s.kh, "hc_mg": s.hcMg, "co_mg": s.coMg,
		"no_mg": s.noMg, "distance_m": dist, "power_kw": rd.v(drivers.PowerKW), "lambda": Lambda(x.fuel, s.co, s.co2, s.o2, s.hc),
		"oil_temp_c": rd.v(drivers.OilTempC), "temp_c": t, "rh_pct": rh, "pressure_kpa": p}
}

// guards: the CO+CO2 dilution guard while the trace accelerates or cruises, the analyzer's
// and the flowmeter's low flow, and exhaust reaching the flowmeter while the vehicle moves.
func (x *vmas) guards(t int, target float64, s vmasSecond) error {
	driving := target > 0 && x.cycle.Speed(float64(t)) >= x.cycle.Speed(float64(t-1))
	x.dilution = count(x.dilution, driving && s.co+s.co2 < x.probeMin)
	if x.dilution >= x.dilutionS {
		return abort(AbortDilution, "second %d: CO+CO2 %.2f %% < %.1f %% for %d s", t, s.co+s.co2, x.probeMin, x.dilution)
	}
	x.lowFlow = count(x.lowFlow, s.lowFlow)
	if x.lowFlow >= x.lowFlowS {
		return abort(AbortLowFlow, "second %d: analyzer reports low flow for %d s", t, x.lowFlow)
	}
	x.flowLow = count(x.flowLow, s.flow < x.flowMin)
	if x.flowLow >= x.lowFlowS {
		return abort(AbortFlowmeterLowFlow, "second %d: flowmeter %.1f L/s < %.0f L/s for %d s", t, s.flow, x.flowMin, x.flowLow)
	}
	x.dry = count(x.dry, driving && s.ratio < x.ratioMin)
	if x.dry >= x.dilutionS {
		return abort(AbortFlowmeterNoExh, "second %d: dilution ratio %.3f < %.3f for %d s: is the hose on the tailpipe?", t, s.ratio, x.ratioMin, x.dry)
	}
	return nil
}

// judge sums the masses and divides by the distance.
func (x *vmas) judge(ss []vmasSecond, distM float64, out int) error {
	if distM <= 0 {
		return abort(AbortSpeedWindow, "the rollers did not turn")
	}
	var hc, co, no, ratio float64
	for _, s := range ss {
		hc += s.hcMg
		co += s.coMg
		no += s.noMg
		ratio += s.ratio
	}
	km := distM / 1000
	means := map[string]float64{
		"co_gkm": round(co/1000/km, 3), "hc_gkm": round(hc/1000/km, 3), "nox_gkm": round(no/1000/km, 3),
		"distance_m": round(distM, 1), "o2_ambient_pct": round(x.o2Amb, 2), "out_of_window_s": float64(out),
		"dilution_ratio": round(ratio/float64(len(ss)), 4),
	}
	means["hcnox_gkm"] = round((hc+no)/1000/km, 3)
	res := contract.PhaseResult{Name: "cycle", Means: means, Pass: true}
	for _, qn := range []string{"co_gkm", "hcnox_gkm", "hc_gkm", "nox_gkm"} {
		if _, ok := x.env.Params.Limit(contract.MethodVMAS, "", qn, x.env.Stage); !ok && qn != "co_gkm" && qn != "hcnox_gkm" {
			continue // a region may add separate HC and NOx limits
		}
		j, err := judgeLimit(x.env, x.day, contract.MethodVMAS, "", qn, means[qn], "max")
		if err != nil {
			return err
		}
		res.Judged = append(res.Judged, j)
		res.Pass = res.Pass && j.Pass
	}
	x.body.Phases = []contract.PhaseResult{res}
	x.env.prompt(Prompt{Phase: "done", Text: "test complete: stop, remove the probe and the hose", Drive: true, Action: ActionRemoveProbe})
	return nil
}
