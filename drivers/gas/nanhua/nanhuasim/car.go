package nanhuasim

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Exhaust is what a probe in the tailpipe (and the rpm clamp and oil probe) would see.
type Exhaust struct {
	HCppm, COpct, CO2pct, O2pct, NOppm float64
	RPM, OilTempC                      float64
}

// Vehicle is the source of the gases the simulator measures.
type Vehicle interface {
	Exhaust(now time.Time) Exhaust
}

// air is ambient air as the bench sees it (probe out, or pump off).
var air = Exhaust{CO2pct: 0.04, O2pct: 20.9}

// Idle gas levels of a clean and a dirty gasoline car at two-speed idle. clean passes the
// GB 18285 low-idle limits (HC 80 ppm, CO 0.6 % [M]) and reads λ ≈ 1.00; dirty fails both
// and runs rich (λ ≈ 0.97). CO+CO2 is 15.0 %, inside the 14.5–15.5 % of a tight probe.
// These tables are read-only.
var (
	clean = Exhaust{HCppm: 30, COpct: 0.2, CO2pct: 14.8, O2pct: 0.3, NOppm: 80}
	dirty = Exhaust{HCppm: 150, COpct: 1.2, CO2pct: 13.8, O2pct: 0.3, NOppm: 300}
)

// IdleRPM is the engine speed a new Car idles at.
const IdleRPM = 800

// rpmTau is the time constant of the engine speed following its target.
const rpmTau = time.Second

// Car is a simulated gasoline car: engine speed follows the target with a first-order lag
// plus a little noise, the gases are clean or dirty levels with about 1 % noise, and with
// the probe out the exhaust is ambient air (CO2 0.04 %, O2 20.9 %). A new Car idles at 800 r/min, probe in, clean, oil at
// 85 °C. It is safe for concurrent use.
type Car struct {
	mu     sync.Mutex
	rng    *rand.Rand
	target float64
	rpm    float64
	last   time.Time
	probe  bool
	dirty  bool
	oil    float64
}

// NewCar returns a Car whose noise is drawn from seed.
func NewCar(seed uint64) *Car {
	return &Car{
		rng:    rand.New(rand.NewPCG(seed, 0x6e616e687561)),
		target: IdleRPM,
		rpm:    IdleRPM,
		probe:  true,
		oil:    85,
	}
}

// SetTargetRPM sets the engine speed the driver of the car aims at.
func (c *Car) SetTargetRPM(rpm float64) {
	c.mu.Lock()
	c.target = max(rpm, 0)
	c.mu.Unlock()
}

// SetProbe puts the probe in the tailpipe (true) or takes it out.
func (c *Car) SetProbe(inserted bool) {
	c.mu.Lock()
	c.probe = inserted
	c.mu.Unlock()
}

// SetDirty switches between dirty (HC 150 ppm, CO 1.2 %) and clean (HC 30 ppm, CO 0.2 %)
// gas levels.
func (c *Car) SetDirty(dirty bool) {
	c.mu.Lock()
	c.dirty = dirty
	c.mu.Unlock()
}

// SetOilTemp sets the engine oil temperature in °C.
func (c *Car) SetOilTemp(t float64) {
	c.mu.Lock()
	c.oil = t
	c.mu.Unlock()
}

// Exhaust advances the engine to now and returns what the probe sees.
func (c *Car) Exhaust(now time.Time) Exhaust {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.last.IsZero() {
		if dt := now.Sub(c.last); dt > 0 {
			c.rpm += (c.target - c.rpm) * (1 - math.Exp(-dt.Seconds()/rpmTau.Seconds()))
		}
	}
	if now.After(c.last) {
		c.last = now
	}
	e := air
	if c.probe {
		e = clean
		if c.dirty {
			e = dirty
		}
		e.HCppm *= c.noise(0.01)
		e.COpct *= c.noise(0.01)
		e.CO2pct *= c.noise(0.005)
		e.O2pct *= c.noise(0.02)
		e.NOppm *= c.noise(0.01)
	}
	e.RPM = max(c.rpm+c.rng.NormFloat64()*3, 0)
	if c.target == 0 && c.rpm < 5 { // engine off
		e.RPM = 0
	}
	e.OilTempC = c.oil
	return e
}

// noise is a factor 1 ± rel (one standard deviation), clipped to ±3 rel.
func (c *Car) noise(rel float64) float64 {
	return 1 + rel*max(-3, min(3, c.rng.NormFloat64()))
}
