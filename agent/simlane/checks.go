package simlane

import (
	"imagent/agent/contract"
	"imagent/agent/selfcheck"
	"imagent/drivers"
	"imagent/drivers/gas/nanhua/nanhuasim"
)

// Check equipment of the simulated station, as certified (what a request names) and as the
// instruments really see it (a little off, as real equipment is).
var (
	lowGas  = drivers.CalGas{C3H8ppm: 200, COpct: 0.5, CO2pct: 6, NOppm: 300}
	highGas = drivers.CalGas{C3H8ppm: 3200, COpct: 8, CO2pct: 12, NOppm: 3000}
)

// simPEF is the propane equivalence factor the simulated analyzer has.
const simPEF = 0.505

// CheckRequest returns a request for check as an operator of this simulated station would
// make it, and sets the station's check equipment up to match; off says by how many percent
// the instrument's reading is off (0: a good instrument).
func (l *Lane) CheckRequest(check string, offPct float64) selfcheck.Request {
	f := 1 + offPct/100
	seen := func(g drivers.CalGas) nanhuasim.Exhaust {
		return nanhuasim.Exhaust{HCppm: g.C3H8ppm * simPEF * f, COpct: g.COpct * f, CO2pct: g.CO2pct * f, NOppm: g.NOppm * f}
	}
	req := selfcheck.Request{Check: check, Operator: "simulated operator"}
	switch check {
	case contract.CheckGasLow:
		l.Driver.SetBottle("low", seen(lowGas))
		req.Gas, req.PEF = lowGas, simPEF
		req.Reference = &contract.Reference{Kind: "gas_bottle", ID: "SIM-LOW-001"}
	case contract.CheckGasHigh:
		l.Driver.SetBottle("high", seen(highGas))
		req.Gas, req.PEF = highGas, simPEF
		req.Reference = &contract.Reference{Kind: "gas_bottle", ID: "SIM-HIGH-001"}
	case contract.CheckOpacimeter:
		l.mu.Lock()
		l.filter = 50 * f
		l.mu.Unlock()
		req.FilterPct = 50
		req.Reference = &contract.Reference{Kind: "filter", ID: "SIM-FILTER-50"}
	case contract.CheckFlowmeter:
		l.mu.Lock()
		l.o2Low = 5 * f
		l.mu.Unlock()
		req.O2LowPct, req.O2HighPct = 5, 20.9
		req.Reference = &contract.Reference{Kind: "gas_bottle", ID: "SIM-O2-5"}
	case contract.CheckWeather:
		c := l.weather
		req.RefTempC, req.RefRHpct, req.RefPressureKPa = c.TempC*f, c.RHpct*f, c.PressureKPa*f
		req.Reference = &contract.Reference{Kind: "instrument", ID: "SIM-REF-THP"}
	}
	return req
}
