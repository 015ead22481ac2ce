package selfcheck

import (
	"context"
	"fmt"
	"time"

	"imagent/agent/contract"
	"imagent/agent/procedure"
	"imagent/drivers"
)

// motor is a dyno's drive motor (drivers.Motor).
type motor interface {
	SetMotor(ctx context.Context, on bool) error
}

// point is one dyno speed reading on the procedure's time axis.
type point struct {
	t float64 // procedure seconds since the watch began
	v float64 // km/h
}

// watchSpeed follows the dyno's speed reading by reading (not at 1 Hz: a coast from 48 to
// 32 km/h lasts a few seconds) until done says stop or timeout procedure seconds pass.
// Reading times are the supervisor's; they are scaled to procedure time.
func (c *check) watchSpeed(ctx context.Context, timeout float64, done func(v float64) bool) ([]point, error) {
	start := time.Now()
	scale := c.env.Clock.Scale()
	var pts []point
	var last time.Time
	for {
		s := c.inst.Snapshot()
		if !s.LastFrame.Equal(last) {
			last = s.LastFrame
			p := point{t: s.LastFrame.Sub(start).Seconds() * scale, v: s.Reading.Values[drivers.SpeedKmh]}
			pts = append(pts, p)
			if done(p.v) {
				return pts, nil
			}
		}
		if time.Since(start).Seconds()*scale > timeout {
			return pts, procedure.Abort(procedure.AbortSpeedNotReached, "dyno at %.1f km/h after %.0f s", s.Reading.Values[drivers.SpeedKmh], timeout)
		}
		if err := sleepReal(ctx, 2*time.Millisecond); err != nil {
			return pts, err
		}
	}
}

// freshAfter waits (up to 10 s of procedure time) for a reading that arrived after t, so
// what is measured next follows the operator's last action.
func (c *check) freshAfter(ctx context.Context, t time.Time) error {
	deadline := c.env.Clock.Now().Add(10 * time.Second)
	for c.inst.Snapshot().LastFrame.Before(t) {
		if c.env.Clock.Now().After(deadline) {
			return procedure.Abort(procedure.AbortNoData, "%s: no reading since the operator's action", c.inst.Spec().Name)
		}
		if err := c.env.Clock.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func sleepReal(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// crossing is the time the speed fell through v, interpolated between readings.
func crossing(pts []point, v float64) (float64, bool) {
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		if a.v >= v && b.v < v {
			if a.v == b.v {
				return b.t, true
			}
			return a.t + (a.v-v)/(a.v-b.v)*(b.t-a.t), true
		}
	}
	return 0, false
}

// coastPower is the power in kW that decelerates an equivalent mass m (kg) from v1 to v2
// (km/h) in dt seconds: m·(v1² − v2²)/(2000·dt), speeds in m/s.
func coastPower(m, v1, v2, dt float64) float64 {
	a, b := v1/3.6, v2/3.6
	return m * (a*a - b*b) / (2000 * dt)
}

// spinCoast spins the rollers up with the dyno's motor, then lets them coast with the
// absorber set to loadKW (0: no load) and returns the speed trace down to stopKmh.
func (c *check) spinCoast(ctx context.Context, loadKW, stopKmh float64) ([]point, error) {
	up := c.q.v("spin_up_kmh")
	if c.q.err != nil {
		return nil, c.q.err
	}
	if err := c.ready(ctx); err != nil {
		return nil, err
	}
	c.prompt(procedure.Prompt{Phase: "prepare", Text: "dyno coast-down: keep the rollers clear"})
	var hasMotor bool
	err := c.do(ctx, "lift down, motor on", func(ctx context.Context, d drivers.Device) error {
		if l, ok := d.(drivers.Lifter); ok {
			if err := l.SetLift(ctx, false); err != nil {
				return fmt.Errorf("lift down: %w", err)
			}
		}
		if dc, ok := d.(drivers.DynoController); ok {
			if err := dc.SetControl(ctx, drivers.ControlOff, 0); err != nil {
				return fmt.Errorf("control off: %w", err)
			}
		}
		m, ok := d.(motor)
		if !ok {
			return nil
		}
		hasMotor = true
		return m.SetMotor(ctx, true)
	})
	if err != nil {
		return nil, err
	}
	if !hasMotor {
		return nil, procedure.Abort(AbortUnsupported, "%s has no drive motor to spin the rollers up", c.inst.Spec().Name)
	}
	defer c.stopDyno()
	c.prompt(procedure.Prompt{Phase: "spin_up", Text: fmt.Sprintf("spinning the rollers up to %.0f km/h", up)})
	if _, err := c.watchSpeed(ctx, 120, func(v float64) bool { return v >= up }); err != nil {
		return nil, err
	}
	err = c.do(ctx, "motor off, load on", func(ctx context.Context, d drivers.Device) error {
		if err := d.(motor).SetMotor(ctx, false); err != nil {
			return err
		}
		dc, ok := d.(drivers.DynoController)
		if !ok || loadKW <= 0 {
			return nil
		}
		return dc.SetControl(ctx, drivers.ControlPower, loadKW)
	})
	if err != nil {
		return nil, err
	}
	c.prompt(procedure.Prompt{Phase: "coast", Text: "coasting down"})
	pts, err := c.watchSpeed(ctx, 300, func(v float64) bool { return v < stopKmh })
	if err != nil {
		return pts, err
	}
	// Brake the rollers to rest, so the next test finds them still.
	still, _ := c.env.Params.Value("common", "dyno_still_max_kmh")
	err = c.do(ctx, "brake to rest", func(ctx context.Context, d drivers.Device) error {
		if dc, ok := d.(drivers.DynoController); ok {
			return dc.SetControl(ctx, drivers.ControlSpeed, 0)
		}
		return nil
	})
	if err != nil {
		return pts, err
	}
	c.prompt(procedure.Prompt{Phase: "stop", Text: "braking the rollers to rest"})
	_, err = c.watchSpeed(ctx, 60, func(v float64) bool { return v <= still })
	return pts, err
}

// stopDyno leaves the dyno without load and its motor off.
func (c *check) stopDyno() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.inst.Do(ctx, func(ctx context.Context, d drivers.Device) error {
		if m, ok := d.(motor); ok {
			_ = m.SetMotor(ctx, false)
		}
		if dc, ok := d.(drivers.DynoController); ok {
			return dc.SetControl(ctx, drivers.ControlOff, 0)
		}
		return nil
	})
}

// coastDown times two coast-down bands with the absorber at a constant power and compares
// each with its theoretical time, DIW·(v1² − v2²)/(2000·(P + PL(v))) [M] (HJ/T 290 style), PL
// the configured parasitic loss at the band's middle speed.
func (c *check) coastDown(ctx context.Context) error {
	m := c.q.v("dyno_inertia_kg")
	load := c.q.v("coast_load_kw")
	bands := [][2]float64{{c.q.v("coast_high_start_kmh"), c.q.v("coast_high_end_kmh")}, {c.q.v("coast_low_start_kmh"), c.q.v("coast_low_end_kmh")}}
	pa, _ := c.env.Params.Value("asm", "parasitic_a")
	pb, _ := c.env.Params.Value("asm", "parasitic_b")
	pc, _ := c.env.Params.Value("asm", "parasitic_c")
	if c.q.err != nil {
		return c.q.err
	}
	pts, err := c.spinCoast(ctx, load, bands[1][1]-1)
	if err != nil {
		return err
	}
	for _, b := range bands {
		t1, ok1 := crossing(pts, b[0])
		t2, ok2 := crossing(pts, b[1])
		if !ok1 || !ok2 {
			return procedure.Abort(procedure.AbortSpeedWindow, "the coast did not pass %.0f–%.0f km/h", b[0], b[1])
		}
		mid := (b[0] + b[1]) / 2
		a, z := b[0]/3.6, b[1]/3.6
		theory := m * (a*a - z*z) / (2000 * (load + procedure.ParasiticKW(pa, pb, pc, mid)))
		c.item(fmt.Sprintf("coast_%.0f_%.0f_s", b[0], b[1]), theory, t2-t1, contract.ErrorPct, "coast_tol_pct")
	}
	c.body.Formulas = append(c.body.Formulas, contract.Formula{Name: "coast_time = DIW·(v1² − v2²)/(2000·(P + PL))",
		Source: "[M] HJ/T 290 style theoretical coast-down time; not checked against HJ 1237-2021"})
	return c.q.err
}

// parasitic coasts without load and derives the dyno's own loss around 40 and 25 km/h,
// comparing it with the configured curve asm.parasitic_a/b/c.
func (c *check) parasitic(ctx context.Context) error {
	m := c.q.v("dyno_inertia_kg")
	pa, err1 := c.env.Params.Value("asm", "parasitic_a")
	pb, err2 := c.env.Params.Value("asm", "parasitic_b")
	pc, err3 := c.env.Params.Value("asm", "parasitic_c")
	for _, e := range []error{err1, err2, err3, c.q.err} {
		if e != nil {
			return e
		}
	}
	pts, err := c.spinCoast(ctx, 0, 20)
	if err != nil {
		return err
	}
	for _, v := range []float64{40, 25} {
		t1, ok1 := crossing(pts, v+4)
		t2, ok2 := crossing(pts, v-4)
		if !ok1 || !ok2 || t2 <= t1 {
			return procedure.Abort(procedure.AbortSpeedWindow, "the coast did not pass %.0f–%.0f km/h", v+4, v-4)
		}
		c.item(fmt.Sprintf("parasitic_%.0f_kw", v), procedure.ParasiticKW(pa, pb, pc, v), coastPower(m, v+4, v-4, t2-t1), contract.ErrorAbs, "parasitic_tol_kw")
	}
	c.body.Formulas = append(c.body.Formulas, contract.Formula{Name: "parasitic = DIW·(v1² − v2²)/(2000·Δt)",
		Source: "[I] energy lost by the rollers coasting freely through v ± 4 km/h"})
	return c.q.err
}

// opacimeter zeroes the opacimeter, checks that clean air reads zero, then checks the
// filter against its nominal opacity.
func (c *check) opacimeter(ctx context.Context) error {
	if c.req.FilterPct <= 0 {
		return procedure.Abort(AbortRequest, "an opacimeter check needs the filter's nominal opacity")
	}
	if err := c.ready(ctx); err != nil {
		return err
	}
	c.prompt(procedure.Prompt{Phase: "zero", Text: "opacimeter: probe out of any exhaust, zeroing", Action: procedure.ActionRemoveProbe})
	err := c.do(ctx, "zero", func(ctx context.Context, d drivers.Device) error {
		if z, ok := d.(drivers.Zeroer); ok {
			return z.Zero(ctx)
		}
		return nil
	})
	if err != nil {
		return err
	}
	n := int(c.q.v("flow_measure_s"))
	qs := []drivers.Quantity{drivers.OpacityPct, drivers.KM1}
	c.smp = procedure.NewSampler(c.env, columns(qs), c.inst)
	z, err := c.measure(ctx, "zero", n, qs, "reading clean air")
	if err != nil {
		return err
	}
	c.item("zero_opacity_pct", 0, z[drivers.OpacityPct], contract.ErrorAbs, "opacity_zero_tol_pct")
	c.prompt(procedure.Prompt{Phase: "filter", Text: fmt.Sprintf("insert the %.1f %% check filter", c.req.FilterPct), Action: procedure.ActionInsertFilter})
	if err := c.freshAfter(ctx, time.Now()); err != nil {
		return err
	}
	if _, err := c.measure(ctx, "filter_settle", 2, qs, ""); err != nil {
		return err
	}
	f, err := c.measure(ctx, "filter", n, qs, "reading the filter")
	if err != nil {
		return err
	}
	c.prompt(procedure.Prompt{Phase: "done", Text: "remove the filter", Action: procedure.ActionDisconnect})
	c.item("filter_opacity_pct", c.req.FilterPct, f[drivers.OpacityPct], contract.ErrorAbs, "opacity_filter_tol_pct")
	return c.q.err
}

// flowmeter checks the blower's standard flow against its working range, the O2 cell
// against ambient air (high point) and a low-O2 check gas.
func (c *check) flowmeter(ctx context.Context) error {
	if c.req.O2LowPct <= 0 {
		return procedure.Abort(AbortRequest, "a flowmeter check needs the O2 of the low check gas")
	}
	high := c.req.O2HighPct
	if high == 0 {
		high = 20.9
	}
	lo, hi := c.q.v("flow_min_lps"), c.q.v("flow_max_lps")
	n := int(c.q.v("flow_measure_s"))
	if c.q.err != nil {
		return c.q.err
	}
	if err := c.ready(ctx); err != nil {
		return err
	}
	qs := []drivers.Quantity{drivers.FlowStdLps, drivers.O2DilPct, drivers.FlowTempC, drivers.FlowKPa}
	c.smp = procedure.NewSampler(c.env, columns(qs), c.inst)
	c.prompt(procedure.Prompt{Phase: "air", Text: "flowmeter: hose off the tailpipe, blower on, ambient air", Action: procedure.ActionRemoveProbe})
	a, err := c.measure(ctx, "air", n, qs, "reading ambient air")
	if err != nil {
		return err
	}
	// The flow passes when it is inside the working range: nominal is the range's middle and
	// the tolerance half its width.
	mid, half := (lo+hi)/2, (hi-lo)/2
	it := c.item("flow_std_lps", mid, a[drivers.FlowStdLps], contract.ErrorAbs, "flow_max_lps")
	c.body.Items[len(c.body.Items)-1].Tolerance = half
	c.body.Items[len(c.body.Items)-1].Pass = a[drivers.FlowStdLps] >= lo && a[drivers.FlowStdLps] <= hi
	_ = it
	c.item("o2_high_pct", high, a[drivers.O2DilPct], contract.ErrorAbs, "flow_o2_tol_pct")
	c.prompt(procedure.Prompt{Phase: "o2_low", Text: fmt.Sprintf("connect the %.1f %% O2 check gas to the flowmeter", c.req.O2LowPct),
		Action: procedure.ActionConnectGas, Gas: "o2_low"})
	if err := c.freshAfter(ctx, time.Now()); err != nil {
		return err
	}
	if _, err := c.measure(ctx, "o2_low_settle", int(c.q.v("gas_settle_s")), qs, ""); err != nil {
		return err
	}
	l, err := c.measure(ctx, "o2_low", n, qs, "reading the O2 check gas")
	if err != nil {
		return err
	}
	c.prompt(procedure.Prompt{Phase: "done", Text: "disconnect the check gas", Action: procedure.ActionDisconnect, Gas: "o2_low"})
	c.item("o2_low_pct", c.req.O2LowPct, l[drivers.O2DilPct], contract.ErrorAbs, "flow_o2_tol_pct")
	return c.q.err
}
