// Package weathersim is the simulated air around a weather station, shared by the
// weather-station simulators (dwspsim, xce100sim): conditions that drift plausibly, or
// stay fixed for tests.
package weathersim

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Conditions are ambient conditions in canonical units.
type Conditions struct {
	TempC       float64 // °C
	RHpct       float64 // %
	PressureKPa float64 // kPa
}

// DefaultConditions are a mild day at a lowland station.
var DefaultConditions = Conditions{TempC: 22.5, RHpct: 55, PressureKPa: 100.8}

// Weather is the simulated air around the station: goroutine-safe, and it drifts
// plausibly, a slow 10-minute swing (temperature up, humidity down) plus a bounded random
// walk. A Fixed weather does not move.
type Weather struct {
	mu    sync.Mutex
	base  Conditions
	walk  Conditions
	start time.Time
	rng   *rand.Rand // nil: fixed
}

// NewWeather returns drifting weather around c; seed makes the walk repeatable.
func NewWeather(c Conditions, seed uint64) *Weather {
	return &Weather{base: c, rng: rand.New(rand.NewPCG(seed, 0x77656174686572))}
}

// Fixed returns weather that always reads c.
func Fixed(c Conditions) *Weather { return &Weather{base: c} }

// Set moves the weather to c (the walk restarts from there).
func (w *Weather) Set(c Conditions) {
	w.mu.Lock()
	w.base, w.walk = c, Conditions{}
	w.mu.Unlock()
}

const swingPeriod = 10 * time.Minute

// At returns the conditions at t.
func (w *Weather) At(t time.Time) Conditions {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.rng == nil {
		return w.base
	}
	if w.start.IsZero() {
		w.start = t
	}
	s := math.Sin(2 * math.Pi * float64(t.Sub(w.start)) / float64(swingPeriod))
	step := func(v *float64, sigma, bound float64) {
		*v = math.Max(-bound, math.Min(bound, *v+w.rng.NormFloat64()*sigma))
	}
	step(&w.walk.TempC, 0.02, 0.5)
	step(&w.walk.RHpct, 0.05, 1.5)
	step(&w.walk.PressureKPa, 0.005, 0.1)
	c := Conditions{
		TempC:       w.base.TempC + 0.3*s + w.walk.TempC,
		RHpct:       w.base.RHpct - 1.0*s + w.walk.RHpct,
		PressureKPa: w.base.PressureKPa + 0.02*s + w.walk.PressureKPa,
	}
	c.RHpct = math.Max(0, math.Min(100, c.RHpct))
	return c
}
