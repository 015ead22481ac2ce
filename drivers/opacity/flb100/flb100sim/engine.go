package flb100sim

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// EngineOptions shape a simulated diesel engine. Zero fields take the defaults shown.
type EngineOptions struct {
	IdleRPM   float64 // 750 r/min
	CutoffRPM float64 // 2600 r/min (governor cut-off during a free acceleration)
	IdleK     float64 // 0.05 m⁻¹ at idle
	PeakK     float64 // 1.20 m⁻¹: mean smoke peak of a free acceleration
	Spread    float64 // 0.05: relative spread of the peaks (uniform ±)
	OilC      float64 // 85 °C
	Seed      uint64
}

// The free-acceleration profile: the pedal goes down at t = 0, rpm reaches cut-off at
// RiseTime, smoke peaks at PeakTime, the pedal is released at HoldEnd, rpm is back at idle
// at SettleTime. An acceleration counts as measured (its peak is held) from DoneTime.
const (
	RiseTime   = time.Second
	PeakTime   = 1200 * time.Millisecond
	HoldEnd    = 3 * time.Second
	SettleTime = 5 * time.Second
	DoneTime   = 4 * time.Second
	smokeDecay = 600 * time.Millisecond
)

// Engine is a goroutine-safe diesel engine driven by a clock: it idles until Accelerate,
// then runs one free acceleration whose smoke (k) rises to a peak and decays. Simulators
// of every opacimeter (flb100sim, nhtsim, mqw510xsim) sample it.
type Engine struct {
	mu     sync.Mutex
	o      EngineOptions
	rng    *rand.Rand
	blips  []blip
	source func(now time.Time) Sample
}

type blip struct {
	start time.Time
	peak  float64
}

// Sample is the engine's state at one instant.
type Sample struct {
	RPM      float64 // r/min
	K        float64 // light absorption coefficient of the smoke, m⁻¹
	OilC     float64 // oil temperature, °C
	GasTempC float64 // smoke temperature in the measuring cell, °C
	// Set only by a Source: the exhaust's NOx (ppm) and CO2 (%), for instruments that
	// measure them (mqw510xsim); 0 lets such a simulator derive them from the speed.
	NOxPPM, CO2Pct float64
}

// NewEngine returns an idling engine.
func NewEngine(o EngineOptions) *Engine {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.IdleRPM, 750)
	def(&o.CutoffRPM, 2600)
	def(&o.IdleK, 0.05)
	def(&o.PeakK, 1.2)
	def(&o.Spread, 0.05)
	def(&o.OilC, 85)
	return &Engine{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x656e67))}
}

// SetPeakK changes the mean smoke peak of the next accelerations (a dirtier engine).
func (e *Engine) SetPeakK(k float64) {
	e.mu.Lock()
	e.o.PeakK = k
	e.mu.Unlock()
}

// Accelerate presses the pedal at now and returns the smoke peak this acceleration will
// reach. It is ignored (ok false) while the previous acceleration has not settled.
func (e *Engine) Accelerate(now time.Time) (peak float64, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n := len(e.blips); n > 0 && now.Sub(e.blips[n-1].start) < SettleTime {
		return 0, false
	}
	peak = e.o.PeakK * (1 + e.o.Spread*(2*e.rng.Float64()-1))
	peak = math.Round(peak*100) / 100 // the instruments resolve 0.01 m⁻¹
	e.blips = append(e.blips, blip{start: now, peak: peak})
	if len(e.blips) > 64 {
		e.blips = e.blips[len(e.blips)-64:]
	}
	return peak, true
}

// SetSource makes Sample return what src says (nil: the engine's own model again): a
// whole-lane vehicle model (agent/simvehicle) feeds every opacimeter simulator this way,
// under load as well as in free accelerations. Accelerate, Peaks and Max keep using the
// engine's own accelerations, so the source should call Accelerate when its pedal goes
// down.
func (e *Engine) SetSource(src func(now time.Time) Sample) {
	e.mu.Lock()
	e.source = src
	e.mu.Unlock()
}

// Sample returns the engine's state at now.
func (e *Engine) Sample(now time.Time) Sample {
	e.mu.Lock()
	src := e.source
	e.mu.Unlock()
	if src != nil {
		return src(now)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Sample{RPM: e.o.IdleRPM, K: e.o.IdleK, OilC: e.o.OilC, GasTempC: 60}
	var b *blip
	for i := len(e.blips) - 1; i >= 0; i-- {
		if !e.blips[i].start.After(now) {
			b = &e.blips[i]
			break
		}
	}
	if b == nil {
		return s
	}
	t := now.Sub(b.start)
	if t >= SettleTime+5*smokeDecay {
		return s
	}
	var shape float64
	if t <= PeakTime {
		x := float64(t) / float64(PeakTime)
		shape = x * x
	} else {
		shape = math.Exp(-float64(t-PeakTime) / float64(smokeDecay))
	}
	s.K = e.o.IdleK + (b.peak-e.o.IdleK)*shape
	s.GasTempC = 60 + 40*shape
	switch {
	case t < RiseTime:
		s.RPM = e.o.IdleRPM + (e.o.CutoffRPM-e.o.IdleRPM)*float64(t)/float64(RiseTime)
	case t < HoldEnd:
		s.RPM = e.o.CutoffRPM
	case t < SettleTime:
		s.RPM = e.o.CutoffRPM - (e.o.CutoffRPM-e.o.IdleRPM)*float64(t-HoldEnd)/float64(SettleTime-HoldEnd)
	}
	return s
}

// Peaks returns the peaks of the accelerations that started at or after since and were
// measured (DoneTime passed) by now, oldest first, and whether one is still running.
func (e *Engine) Peaks(since, now time.Time) (peaks []float64, running bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, b := range e.blips {
		if b.start.Before(since) || b.start.After(now) {
			continue
		}
		if now.Sub(b.start) < DoneTime {
			running = true
			continue
		}
		peaks = append(peaks, b.peak)
	}
	return peaks, running
}

// Max returns the highest k and rpm the engine reached between since and now (the
// max-hold of an opacimeter cleared at since).
func (e *Engine) Max(since, now time.Time) (k, rpm float64) {
	a, b := e.Sample(since), e.Sample(now)
	k, rpm = max(a.K, b.K), max(a.RPM, b.RPM)
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, bl := range e.blips {
		if bl.start.Before(since) || bl.start.After(now) {
			continue
		}
		t := now.Sub(bl.start)
		if t >= PeakTime {
			k = max(k, bl.peak)
		}
		if t >= RiseTime {
			rpm = max(rpm, e.o.CutoffRPM)
		}
	}
	return k, rpm
}

// IdleRPM is the engine's idle speed.
func (e *Engine) IdleRPM() float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.o.IdleRPM
}
