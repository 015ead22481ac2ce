package selfcheck

import (
	"context"
	"fmt"

	"imagent/agent/contract"
	"imagent/agent/procedure"
	"imagent/drivers"
)

// leak runs the analyzer's own leak check (the operator seals the probe tip).
func (c *check) leak(ctx context.Context) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	c.prompt(procedure.Prompt{Phase: "leak_check", Text: "seal the probe tip for the leak check", Action: procedure.ActionRemoveProbe})
	var tight, has bool
	err := c.do(ctx, "leak check", func(ctx context.Context, d drivers.Device) error {
		lc, ok := d.(drivers.LeakChecker)
		if !ok {
			return nil
		}
		has = true
		var err error
		tight, err = lc.LeakCheck(ctx)
		return err
	})
	if err != nil {
		return err
	}
	if !has {
		return procedure.Abort(AbortUnsupported, "%s has no leak-check command", c.inst.Spec().Name)
	}
	measured := 0.0
	if tight {
		measured = 1
	}
	// The leak check is the analyzer's own pass/fail; the item records it as 1 (tight)
	// against a nominal of 1 with no tolerance.
	c.body.Items = append(c.body.Items, contract.CheckItem{Name: "leak_tight", Nominal: 1, Measured: measured,
		Error: measured - 1, ErrorUnit: contract.ErrorAbs, Pass: tight, Standard: "HJ 1237-2021", Clause: "analyzer daily leak check"})
	c.prompt(procedure.Prompt{Phase: "done", Text: "leak check done: unseal the probe"})
	return nil
}

// gasQuantities are what a gas check compares.
var gasQuantities = []drivers.Quantity{drivers.HCppm, drivers.COpct, drivers.CO2pct, drivers.NOppm, drivers.O2pct}

// gas flows the low or high check gas through the probe and compares the analyzer's means
// with the bottle's certified values.
func (c *check) gas(ctx context.Context) error {
	g := c.req.Gas
	if g.C3H8ppm <= 0 && g.COpct <= 0 && g.CO2pct <= 0 && g.NOppm <= 0 {
		return procedure.Abort(AbortRequest, "a gas check needs the bottle's concentrations")
	}
	level := "low"
	if c.req.Check == contract.CheckGasHigh {
		level = "high"
	}
	settle, meas := int(c.q.v("gas_settle_s")), int(c.q.v("gas_measure_s"))
	tols := map[drivers.Quantity]string{drivers.HCppm: "gas_hc_tol_pct", drivers.COpct: "gas_co_tol_pct",
		drivers.CO2pct: "gas_co2_tol_pct", drivers.NOppm: "gas_no_tol_pct", drivers.O2pct: "gas_o2_tol_pct"}
	for _, t := range tols {
		c.q.v(t)
	}
	if c.q.err != nil {
		return c.q.err
	}
	if err := c.ready(ctx); err != nil {
		return err
	}
	pef := c.req.PEF
	if pef <= 0 {
		if v, ok := c.inst.Snapshot().Reading.Values[drivers.PEF]; ok && v > 0 {
			pef = v
		}
	}
	if g.C3H8ppm > 0 && pef <= 0 {
		return procedure.Abort(AbortRequest, "the analyzer's PEF is needed to compare HC with a propane bottle")
	}
	// The gas flows through the probe and the analyzer reads it as it reads exhaust; imagent
	// compares the readings with the bottle itself (the analyzer's own gas-check command is
	// not needed for that).
	err := c.do(ctx, "pump on", func(ctx context.Context, d drivers.Device) error {
		if p, ok := d.(drivers.Pump); ok {
			return p.SetPump(ctx, true)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.smp = procedure.NewSampler(c.env, columns(gasQuantities), c.inst)
	c.prompt(procedure.Prompt{Phase: "connect", Text: fmt.Sprintf("connect the %s check gas to the probe and open the valve", level),
		Action: procedure.ActionConnectGas, Gas: level})
	if _, err := c.measure(ctx, "settle", settle, gasQuantities, "check gas flowing"); err != nil {
		return err
	}
	m, err := c.measure(ctx, "measure", meas, gasQuantities, "measuring the check gas")
	if err != nil {
		return err
	}
	c.prompt(procedure.Prompt{Phase: "done", Text: "close the bottle and disconnect it", Action: procedure.ActionDisconnect, Gas: level})
	nominal := map[drivers.Quantity]float64{drivers.HCppm: g.C3H8ppm * pef, drivers.COpct: g.COpct,
		drivers.CO2pct: g.CO2pct, drivers.NOppm: g.NOppm, drivers.O2pct: g.O2pct}
	for _, q := range gasQuantities {
		if nominal[q] <= 0 {
			continue // the bottle does not hold this gas
		}
		c.item(string(q), nominal[q], m[q], contract.ErrorPct, tols[q])
	}
	if c.q.err != nil {
		return c.q.err
	}
	if pef > 0 && g.C3H8ppm > 0 {
		c.body.Formulas = append(c.body.Formulas, contract.Formula{Name: "hc_nominal = c3h8_ppm × pef",
			Source: fmt.Sprintf("[I] n-hexane equivalent of the propane bottle, PEF %.3f", pef)})
	}
	return nil
}

// weather compares the weather station's means with the reference instrument's readings the
// technician entered.
func (c *check) weather(ctx context.Context) error {
	r := c.req
	if r.RefPressureKPa <= 0 {
		return procedure.Abort(AbortRequest, "a weather check needs the reference instrument's temperature, humidity and pressure")
	}
	if err := c.ready(ctx); err != nil {
		return err
	}
	qs := []drivers.Quantity{drivers.TempC, drivers.RHpct, drivers.PressureKPa}
	c.smp = procedure.NewSampler(c.env, columns(qs), c.inst)
	m, err := c.measure(ctx, "measure", int(c.q.v("gas_measure_s")), qs, "reading the weather station")
	if err != nil {
		return err
	}
	c.item("temp_c", r.RefTempC, m[drivers.TempC], contract.ErrorAbs, "weather_temp_tol_c")
	c.item("rh_pct", r.RefRHpct, m[drivers.RHpct], contract.ErrorAbs, "weather_rh_tol_pct")
	c.item("pressure_kpa", r.RefPressureKPa, m[drivers.PressureKPa], contract.ErrorAbs, "weather_pressure_tol_kpa")
	return c.q.err
}
