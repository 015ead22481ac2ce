package flv1000sim

import (
	"math"
	"sync"
	"time"

	"imagent/drivers/flow/flv1000"
)

// DilutionOptions shape the simulated dilution tunnel. Zero fields take the defaults.
type DilutionOptions struct {
	FlowLps     float64 // actual flow with the blower on, 120 L/s
	TempC       float64 // gas temperature, 35 °C
	PressureKPa float64 // gas pressure, 100.5 kPa
	AmbientO2   float64 // O2 of ambient air, 20.9 %
	ExhaustO2   float64 // diluted O2 while a vehicle exhausts into the hose, 18.6 %
}

// Dilution is a goroutine-safe VMAS dilution tunnel: a blower draws ambient air (and a
// vehicle's exhaust when one is connected) through the flowmeter. Values drift slowly
// with the clock. Simulators of every flowmeter (flv1000sim, nhf1sim) sample it.
type Dilution struct {
	mu      sync.Mutex
	o       DilutionOptions
	blower  bool
	exhaust bool
	t0      time.Time
	source  func(now time.Time) (exhaustLps, o2Pct float64)
}

// SetSource makes a connected vehicle's exhaust come from src (nil: the fixed ExhaustO2
// again): its raw exhaust flow at standard conditions (L/s) and its O2 (%). The diluted O2
// is then the mix of that exhaust with ambient air in the blower's flow, as a whole-lane
// vehicle model (agent/simvehicle) needs for a VMAS cycle.
func (d *Dilution) SetSource(src func(now time.Time) (exhaustLps, o2Pct float64)) {
	d.mu.Lock()
	d.source = src
	d.mu.Unlock()
}

// Sample is the tunnel's state at one instant.
type Sample struct {
	O2Pct       float64 // diluted O2, %
	TempC       float64 // gas temperature, °C
	PressureKPa float64 // gas pressure, kPa
	FlowLps     float64 // flow at actual conditions, L/s
}

// StdFlow is the flow at standard conditions refC and 101.325 kPa.
func (s Sample) StdFlow(refC float64) float64 {
	return flv1000.StdFlow(s.FlowLps, s.TempC, s.PressureKPa, refC)
}

// NewDilution returns a tunnel with the blower on and no vehicle.
func NewDilution(o DilutionOptions) *Dilution {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.FlowLps, 120)
	def(&o.TempC, 35)
	def(&o.PressureKPa, 100.5)
	def(&o.AmbientO2, 20.9)
	def(&o.ExhaustO2, 18.6)
	return &Dilution{o: o, blower: true}
}

// SetBlower switches the blower; off, no gas flows.
func (d *Dilution) SetBlower(on bool) {
	d.mu.Lock()
	d.blower = on
	d.mu.Unlock()
}

// Blower reports whether the blower runs.
func (d *Dilution) Blower() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.blower
}

// SetExhaust connects (true) or removes a vehicle's exhaust.
func (d *Dilution) SetExhaust(on bool) {
	d.mu.Lock()
	d.exhaust = on
	d.mu.Unlock()
}

// SetFlow changes the blower's actual flow (e.g. out of the 80–200 L/s range).
func (d *Dilution) SetFlow(lps float64) {
	d.mu.Lock()
	d.o.FlowLps = lps
	d.mu.Unlock()
}

// Sample returns the state at now; the flow drifts by ±1 % over a minute.
func (d *Dilution) Sample(now time.Time) Sample {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.t0.IsZero() {
		d.t0 = now
	}
	drift := math.Sin(2 * math.Pi * now.Sub(d.t0).Seconds() / 60)
	s := Sample{O2Pct: d.o.AmbientO2, TempC: d.o.TempC + 0.5*drift, PressureKPa: d.o.PressureKPa}
	if d.blower {
		s.FlowLps = d.o.FlowLps * (1 + 0.01*drift)
		s.PressureKPa -= 0.4 // the blower's suction
	} else {
		s.TempC = d.o.TempC - 10
	}
	if d.exhaust && d.blower {
		s.O2Pct = d.o.ExhaustO2
		s.TempC += 8
		if d.source != nil && s.FlowLps > 0 {
			lps, o2 := d.source(now)
			share := min(max(lps/s.FlowLps, 0), 1)
			s.O2Pct = d.o.AmbientO2 - share*(d.o.AmbientO2-o2)
		}
	}
	return s
}
