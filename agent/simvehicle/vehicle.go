// Package simvehicle is the one simulated vehicle of the simulated lane: an engine whose
// speed follows the driver (or the rollers, in gear on a dynamometer), the exhaust it
// makes (five gases, smoke, NOx, flow) as a function of speed and load, its oil
// temperature, and what the probe, the dilution hose and the check gas bottles put in
// front of the instruments. Every instrument simulator of a lane samples this model, so
// one vehicle answers the analyzer, the dyno, the opacimeter, the tachometer and the
// flowmeter consistently, and a test can make it pass, fail or misbehave on purpose.
//
// It implements nanhuasim.Vehicle directly; simlane couples it to the other simulators.
// Time comes from the caller (the procedure's clock), so it runs as fast as the test.
package simvehicle

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"imagent/drivers/gas/nanhua/nanhuasim"
)

// Kind is the engine's fuel family.
type Kind int

// Kinds.
const (
	Gasoline Kind = iota
	Diesel
)

// Options describe a vehicle. Zero fields take the defaults in brackets.
type Options struct {
	Kind          Kind
	IdleRPM       float64   // [800 gasoline, 750 diesel]
	MaxRPM        float64   // governed no-load speed [6000 gasoline, 2900 diesel]
	RatedRPM      float64   // speed of the rated power [5500 gasoline, 2500 diesel]
	RatedPowerKW  float64   // engine rated power [90 gasoline, 120 diesel]
	GearKmh       []float64 // vehicle speed per 1000 r/min in gears 1.. [8, 14, 20, 27, 34]
	DisplacementL float64   // [1.6 gasoline, 4.0 diesel]
	OilC          float64   // oil temperature [85]
	Seed          uint64
}

func (o *Options) defaults() {
	def := func(v *float64, g, d float64) {
		if *v == 0 {
			if o.Kind == Diesel {
				*v = d
			} else {
				*v = g
			}
		}
	}
	def(&o.IdleRPM, 800, 750)
	def(&o.MaxRPM, 6000, 2900)
	def(&o.RatedRPM, 5500, 2500)
	def(&o.RatedPowerKW, 90, 120)
	def(&o.DisplacementL, 1.6, 4.0)
	def(&o.OilC, 85, 85)
	if len(o.GearKmh) == 0 {
		o.GearKmh = []float64{8, 14, 20, 27, 34}
	}
}

// Emissions are the vehicle's tailpipe levels at idle and under load; the model
// interpolates between them with the engine load.
type Emissions struct {
	Idle, Loaded nanhuasim.Exhaust // five gases; RPM and OilTempC unused
	KFree        float64           // diesel: smoke peak of a free acceleration, m⁻¹
	KLoaded      float64           // diesel: smoke at full load, m⁻¹
	NOxLoaded    float64           // diesel: NOx at full load, ppm
}

// Clean and Dirty are emission levels that pass and fail the GB 18285-2018 and
// GB 3847-2018 limits a [M] with room to spare.
var (
	CleanGasoline = Emissions{
		Idle:   nanhuasim.Exhaust{HCppm: 30, COpct: 0.2, CO2pct: 14.8, O2pct: 0.3, NOppm: 80},
		Loaded: nanhuasim.Exhaust{HCppm: 25, COpct: 0.08, CO2pct: 14.9, O2pct: 0.2, NOppm: 250},
	}
	DirtyGasoline = Emissions{
		Idle:   nanhuasim.Exhaust{HCppm: 150, COpct: 1.2, CO2pct: 13.8, O2pct: 0.3, NOppm: 300},
		Loaded: nanhuasim.Exhaust{HCppm: 160, COpct: 1.5, CO2pct: 13.5, O2pct: 0.3, NOppm: 1100},
	}
	CleanDiesel = Emissions{
		Idle:      nanhuasim.Exhaust{HCppm: 20, COpct: 0.02, CO2pct: 2.5, O2pct: 17.5, NOppm: 150},
		Loaded:    nanhuasim.Exhaust{HCppm: 30, COpct: 0.05, CO2pct: 9, O2pct: 8, NOppm: 700},
		KFree:     0.45,
		KLoaded:   0.35,
		NOxLoaded: 700,
	}
	DirtyDiesel = Emissions{
		Idle:      nanhuasim.Exhaust{HCppm: 60, COpct: 0.08, CO2pct: 3, O2pct: 17, NOppm: 300},
		Loaded:    nanhuasim.Exhaust{HCppm: 90, COpct: 0.2, CO2pct: 10, O2pct: 7, NOppm: 1900},
		KFree:     2.1,
		KLoaded:   1.9,
		NOxLoaded: 1900,
	}
)

// air is what the probe sees in clean air.
var air = nanhuasim.Exhaust{CO2pct: 0.04, O2pct: 20.9}

// Rollers is what the vehicle needs of the dynamometer it stands on.
type Rollers interface {
	SpeedKmh() float64
	PowerKW() float64 // power the absorber takes (0 when free)
	SetThrottle(x float64)
	SetDriveSpeed(kmh float64) // < 0: hand back to the throttle
}

// Vehicle is the simulated vehicle. It is safe for concurrent use.
type Vehicle struct {
	o   Options
	mu  sync.Mutex
	rng *rand.Rand

	em    Emissions
	last  time.Time
	rpm   float64 // engine speed out of gear (or at idle on the rollers)
	tgt   float64 // engine speed the driver aims at, out of gear
	pedal float64 // 0..1, in gear on the rollers
	gear  int     // 0 neutral
	drive float64 // speed the driver holds on the rollers, km/h (< 0: none)
	oil   float64

	probe   bool
	hoseHC  float64 // HC hanging in probe and hose, ppm; flushed while the probe is in clean air
	laneAir nanhuasim.Exhaust
	bottle  *nanhuasim.Exhaust // check gas connected to the probe

	rollers Rollers
	load    float64 // 0..1, last computed
	blipAt  time.Time
	onBlip  func(now time.Time, peakK float64)
}

// OnBlip sets what happens when the pedal goes down out of gear on a diesel (a free
// acceleration): simlane makes the opacimeter simulators hold its smoke peak.
func (v *Vehicle) OnBlip(f func(now time.Time, peakK float64)) {
	v.mu.Lock()
	v.onBlip = f
	v.mu.Unlock()
}

// New returns a vehicle at idle, in neutral, probe out, clean.
func New(o Options) *Vehicle {
	o.defaults()
	v := &Vehicle{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x76656869636c65)), rpm: o.IdleRPM, tgt: o.IdleRPM,
		drive: -1, oil: o.OilC, laneAir: air}
	v.em = CleanGasoline
	if o.Kind == Diesel {
		v.em = CleanDiesel
	}
	return v
}

// Options returns what the vehicle was made with (defaults applied).
func (v *Vehicle) Options() Options { return v.o }

// SetRollers puts the vehicle on a dynamometer (nil takes it off).
func (v *Vehicle) SetRollers(r Rollers) {
	v.mu.Lock()
	v.rollers = r
	v.mu.Unlock()
}

// SetEmissions sets the tailpipe levels (CleanGasoline, DirtyDiesel…).
func (v *Vehicle) SetEmissions(e Emissions) {
	v.mu.Lock()
	v.em = e
	v.mu.Unlock()
}

// SetDirty switches between the clean and dirty levels of the vehicle's kind.
func (v *Vehicle) SetDirty(dirty bool) {
	e := CleanGasoline
	switch {
	case v.o.Kind == Diesel && dirty:
		e = DirtyDiesel
	case v.o.Kind == Diesel:
		e = CleanDiesel
	case dirty:
		e = DirtyGasoline
	}
	v.SetEmissions(e)
}

// SetTargetRPM sets the engine speed the driver aims at out of gear.
func (v *Vehicle) SetTargetRPM(rpm float64) {
	v.mu.Lock()
	v.tgt = max(0, min(rpm, v.o.MaxRPM))
	v.mu.Unlock()
}

// SetPedal sets the accelerator, 0 (idle) to 1 (full). Out of gear the engine goes to idle
// or its governed maximum; in gear on the rollers the vehicle pulls with that share of its
// full-load power, and the driver stops holding a speed.
func (v *Vehicle) SetPedal(x float64, now time.Time) {
	if f, k := v.setPedal(x, now); f != nil {
		f(now, k) // not under v.mu
	}
}

func (v *Vehicle) setPedal(x float64, now time.Time) (blip func(time.Time, float64), peakK float64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	x = max(0, min(1, x))
	if x > 0.5 && v.pedal <= 0.5 && (v.gear == 0 || v.rollers == nil) && v.o.Kind == Diesel {
		v.blipAt = now
		blip, peakK = v.onBlip, v.em.KFree
	}
	v.pedal = x
	v.drive = -1
	if v.gear == 0 || v.rollers == nil {
		v.tgt = v.o.IdleRPM + x*(v.o.MaxRPM-v.o.IdleRPM)
	}
	if v.rollers != nil && v.gear > 0 {
		v.rollers.SetDriveSpeed(-1)
	}
	return blip, peakK
}

// SetGear selects a gear (0 neutral).
func (v *Vehicle) SetGear(g int) {
	v.mu.Lock()
	v.gear = max(0, min(g, len(v.o.GearKmh)))
	v.mu.Unlock()
}

// Drive makes the driver hold kmh on the rollers, in the highest gear that keeps the engine
// at 1500 r/min or more (gear 0: keep the gear selected).
func (v *Vehicle) Drive(kmh float64, gear int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.drive = max(0, kmh)
	v.pedal = 0
	switch {
	case gear > 0:
		v.gear = min(gear, len(v.o.GearKmh))
	case kmh > 0:
		v.gear = 1
		for g := len(v.o.GearKmh); g >= 1; g-- {
			if kmh/v.o.GearKmh[g-1]*1000 >= 1500 {
				v.gear = g
				break
			}
		}
	}
	if v.rollers != nil {
		v.rollers.SetDriveSpeed(v.drive)
	}
}

// SelectGearFor selects the gear whose top speed (at the governed maximum) is nearest kmh,
// as the lug-down method asks (about 70 km/h).
func (v *Vehicle) SelectGearFor(kmh float64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	best := 1
	for g := range v.o.GearKmh {
		top := v.o.GearKmh[g] * v.o.MaxRPM / 1000
		if math.Abs(top-kmh) < math.Abs(v.o.GearKmh[best-1]*v.o.MaxRPM/1000-kmh) {
			best = g + 1
		}
	}
	v.gear = best
}

// SetProbe puts the probe (and the VMAS hose) on the tailpipe or takes it off.
func (v *Vehicle) SetProbe(in bool) {
	v.mu.Lock()
	v.probe = in
	if in {
		v.bottle = nil
	}
	v.mu.Unlock()
}

// Probe reports whether the probe is in the tailpipe.
func (v *Vehicle) Probe() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.probe
}

// SetHoseHC leaves ppm of HC in the probe and hose (after a dirty car); clean air through the
// probe flushes it with a 4-s time constant.
func (v *Vehicle) SetHoseHC(ppm float64) {
	v.mu.Lock()
	v.hoseHC = max(0, ppm)
	v.mu.Unlock()
}

// SetLaneAir sets the air around the lane (e.g. exhaust of another car in the hall).
func (v *Vehicle) SetLaneAir(e nanhuasim.Exhaust) {
	v.mu.Lock()
	v.laneAir = e
	v.mu.Unlock()
}

// ConnectBottle puts a check-gas bottle on the probe (nil takes it off).
func (v *Vehicle) ConnectBottle(g *nanhuasim.Exhaust) {
	v.mu.Lock()
	v.bottle = g
	if g != nil {
		v.probe = false
	}
	v.mu.Unlock()
}

// SetOilTemp sets the oil temperature.
func (v *Vehicle) SetOilTemp(c float64) {
	v.mu.Lock()
	v.oil = c
	v.mu.Unlock()
}

// State is the vehicle at one instant.
type State struct {
	RPM        float64
	OilTempC   float64
	Load       float64 // 0..1
	Gear       int
	Pedal      float64
	SpeedKmh   float64           // on the rollers (0 off them)
	ExhaustLps float64           // raw exhaust flow at standard conditions, L/s
	Exhaust    nanhuasim.Exhaust // what the probe sees (bottle, lane air or tailpipe)
	Tailpipe   nanhuasim.Exhaust // what leaves the tailpipe, probe or not
	K          float64           // smoke in the tailpipe, m⁻¹ (diesel)
	NOxPPM     float64
	Probe      bool
}

// rpmTau is how quickly the engine follows its target out of gear.
const rpmTau = 300 * time.Millisecond

// Step advances the vehicle to now and returns its state.
func (v *Vehicle) Step(now time.Time) State {
	v.mu.Lock()
	defer v.mu.Unlock()
	var dt float64
	if !v.last.IsZero() && now.After(v.last) {
		dt = now.Sub(v.last).Seconds()
	}
	if now.After(v.last) {
		v.last = now
	}
	st := State{Gear: v.gear, Pedal: v.pedal, Probe: v.probe, OilTempC: v.oil}
	if dt > 0 {
		v.rpm += (v.tgt - v.rpm) * (1 - math.Exp(-dt/rpmTau.Seconds()))
		v.hoseHC *= math.Exp(-dt / 4)
	}
	rpm := v.rpm
	load := 0.0
	if v.rollers != nil && v.gear > 0 {
		st.SpeedKmh = v.rollers.SpeedKmh()
		rpm = max(v.o.IdleRPM, st.SpeedKmh/v.o.GearKmh[v.gear-1]*1000)
		// Full-load power at this speed: the power curve peaks at rated speed and the
		// governor cuts it to nothing at the maximum speed.
		full := v.fullPowerKW(rpm)
		if v.pedal > 0 {
			v.rollers.SetThrottle(v.pedal * v.wheelShare(rpm, st.SpeedKmh, full))
		}
		if full > 0 {
			load = max(0, min(1, v.rollers.PowerKW()/(0.85*full)))
		}
		if v.pedal >= 0.99 {
			load = 1
		}
	} else if v.pedal > 0.5 && v.o.Kind == Diesel {
		load = 0.3 // a free acceleration loads the engine with its own inertia
	}
	v.load = load
	st.RPM = max(0, rpm+v.rng.NormFloat64()*3)
	st.Load = load

	// Tailpipe: interpolate idle → loaded with load (and a little with speed).
	f := max(load, (rpm-v.o.IdleRPM)/(v.o.MaxRPM-v.o.IdleRPM)*0.3)
	lerp := func(a, b float64) float64 { return a + (b-a)*f }
	tp := nanhuasim.Exhaust{
		HCppm: lerp(v.em.Idle.HCppm, v.em.Loaded.HCppm), COpct: lerp(v.em.Idle.COpct, v.em.Loaded.COpct),
		CO2pct: lerp(v.em.Idle.CO2pct, v.em.Loaded.CO2pct), O2pct: lerp(v.em.Idle.O2pct, v.em.Loaded.O2pct),
		NOppm: lerp(v.em.Idle.NOppm, v.em.Loaded.NOppm),
	}
	tp.HCppm *= v.noise(0.01)
	tp.COpct *= v.noise(0.01)
	tp.CO2pct *= v.noise(0.004)
	tp.O2pct *= v.noise(0.02)
	tp.NOppm *= v.noise(0.01)
	tp.RPM, tp.OilTempC = st.RPM, v.oil
	st.Tailpipe = tp
	st.NOxPPM = tp.NOppm
	if v.o.Kind == Diesel {
		st.NOxPPM = v.em.Idle.NOppm + (v.em.NOxLoaded-v.em.Idle.NOppm)*load
		st.K = 0.05 + (v.em.KLoaded-0.05)*load
		if t := now.Sub(v.blipAt); !v.blipAt.IsZero() && t >= 0 && t < 3*time.Second && v.pedal > 0.5 {
			// free acceleration: smoke rises to its peak at 1.2 s, then decays
			x := t.Seconds() / 1.2
			shape := x * x
			if x > 1 {
				shape = math.Exp(-(t.Seconds() - 1.2) / 0.6)
			}
			st.K = max(st.K, 0.05+(v.em.KFree-0.05)*shape)
		}
	}
	// Exhaust flow: displacement × speed / 2 × volumetric efficiency, more with load.
	st.ExhaustLps = v.o.DisplacementL * rpm / 120 * (0.25 + 0.6*load)

	e := v.laneAir
	switch {
	case v.bottle != nil:
		e = *v.bottle
	case v.probe:
		e = tp
	}
	e.HCppm += v.hoseHC
	e.RPM, e.OilTempC = st.RPM, v.oil
	st.Exhaust = e
	return st
}

// fullPowerKW is the engine's full-load power at rpm. v.mu is held.
func (v *Vehicle) fullPowerKW(rpm float64) float64 {
	r := v.o.RatedRPM
	if rpm >= r {
		return v.o.RatedPowerKW * max(0, (v.o.MaxRPM-rpm)/(v.o.MaxRPM-r))
	}
	x := (rpm - r) / r
	return v.o.RatedPowerKW * max(0.05, 1-1.6*x*x)
}

// wheelShare is the share of the rollers' tractive limit that gives the full-load wheel
// power (85 % of the engine's) at speed. v.mu is held.
func (v *Vehicle) wheelShare(rpm, kmh, fullKW float64) float64 {
	if kmh < 1 {
		return 1
	}
	// The rollers' limit is their MaxDriveKW at speed (simlane sets it to the rated
	// power); their force limit is set high enough not to matter.
	return max(0, min(1, 0.85*fullKW/v.o.RatedPowerKW))
}

// Exhaust implements nanhuasim.Vehicle: what the analyzer's probe sees.
func (v *Vehicle) Exhaust(now time.Time) nanhuasim.Exhaust {
	return v.Step(now).Exhaust
}

// noise is a factor 1 ± rel (one standard deviation), clipped to ±3 rel. v.mu is held.
func (v *Vehicle) noise(rel float64) float64 {
	return 1 + rel*max(-3, min(3, v.rng.NormFloat64()))
}
