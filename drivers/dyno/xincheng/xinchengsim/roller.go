package xinchengsim

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"imagent/drivers"
)

// RollerOptions describe the simulated machine. Zero fields take the defaults in brackets.
type RollerOptions struct {
	InertiaKg     float64 // base inertia of rollers and flywheel as an equivalent mass [907, as the lane software defaults]
	MaxForceN     float64 // largest force the absorber makes [6000]
	ParasiticN    float64 // constant part of the parasitic losses, N [40]
	ParasiticNs   float64 // speed-proportional part, N per m/s [2]
	MotorSpeedKmh float64 // speed the drive motor spins the rollers up to [80]
	MotorForceN   float64 // largest force of the drive motor [3000]
	MaxDriveN     float64 // largest tractive force of the simulated vehicle [7000]
	MaxDriveKW    float64 // largest power of the simulated vehicle [90]
	NoiseN        float64 // standard deviation of the force reading, N [2]
	Seed          uint64  // noise seed
}

func (o *RollerOptions) defaults() {
	def := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.InertiaKg, 907)
	def(&o.MaxForceN, 6000)
	def(&o.ParasiticN, 40)
	def(&o.ParasiticNs, 2)
	def(&o.MotorSpeedKmh, 80)
	def(&o.MotorForceN, 3000)
	def(&o.MaxDriveN, 7000)
	def(&o.MaxDriveKW, 90)
	if o.NoiseN == 0 {
		o.NoiseN = 2
	}
	if o.NoiseN < 0 {
		o.NoiseN = 0
	}
}

// RollerState is what the dyno measures at one instant.
type RollerState struct {
	SpeedKmh  float64
	ForceN    float64 // absorber force as the load cell reads it (noise and zero offset included)
	PowerKW   float64 // absorber force × speed
	DutyPct   float64 // absorber drive, % of its largest force
	DistanceM float64
	Mode      drivers.ControlMode
	Target    float64
	Lift      bool
	Motor     bool
}

// Roller is a chassis dynamometer's rollers with a vehicle on them: the equivalent mass
// accelerates with the vehicle's tractive force (and the drive motor's) minus the
// absorber's force and the parasitic losses. The absorber follows the control mode:
// none, constant force, constant power (force = P/v) or constant speed (the force that
// brings the speed to the target with a 0.3 s time constant). An eddy-current absorber
// only brakes; with the motor on, constant-speed control may also drive. The lift locks
// the rollers. The vehicle either holds a throttle position or is driven to a speed by a
// simulated driver. Time comes from the caller (Step), so tests can run it on a fake
// clock. A Roller is safe for concurrent use.
type Roller struct {
	o   RollerOptions
	rng *rand.Rand

	mu          sync.Mutex
	last        time.Time
	v           float64 // m/s
	dist        float64 // m
	force       float64 // absorber force, N
	mode        drivers.ControlMode
	target      float64
	lift, motor bool
	throttle    float64 // 0..1, used when driveSpeed < 0
	driveSpeed  float64 // m/s the simulated driver aims at; < 0 for throttle
	zero        float64 // force offset removed by ZeroForce
}

// NewRoller returns a roller at rest, lift down, no control, vehicle idle (throttle 0).
func NewRoller(o RollerOptions) *Roller {
	o.defaults()
	return &Roller{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x64796e6f)), driveSpeed: -1}
}

// SetThrottle sets the vehicle's accelerator position, 0 (idle) to 1 (full load); the
// tractive force is that share of the vehicle's limit (force, or power at speed).
func (r *Roller) SetThrottle(x float64) {
	r.mu.Lock()
	r.throttle = max(0, min(1, x))
	r.driveSpeed = -1
	r.mu.Unlock()
}

// SetDriveSpeed makes a simulated driver hold the vehicle at kmh against whatever load
// the dyno applies, as in an ASM or VMAS test. A negative kmh hands back to SetThrottle.
func (r *Roller) SetDriveSpeed(kmh float64) {
	r.mu.Lock()
	if kmh < 0 || math.IsNaN(kmh) {
		r.driveSpeed = -1
	} else {
		r.driveSpeed = kmh / 3.6
	}
	r.mu.Unlock()
}

// SetControl sets the absorber's control mode and target (km/h, N or kW).
func (r *Roller) SetControl(mode drivers.ControlMode, target float64) {
	r.mu.Lock()
	r.mode, r.target = mode, target
	r.mu.Unlock()
}

// Control returns the control mode and target.
func (r *Roller) Control() (drivers.ControlMode, float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mode, r.target
}

// SetLift raises (locks the rollers) or lowers the lift.
func (r *Roller) SetLift(up bool) {
	r.mu.Lock()
	r.lift = up
	r.mu.Unlock()
}

// SetMotor switches the drive motor.
func (r *Roller) SetMotor(on bool) {
	r.mu.Lock()
	r.motor = on
	r.mu.Unlock()
}

// ZeroForce takes the present force reading as the new zero (call it at rest).
func (r *Roller) ZeroForce() {
	r.mu.Lock()
	r.zero = r.force
	r.mu.Unlock()
}

// ResetDistance sets the distance counter to 0.
func (r *Roller) ResetDistance() {
	r.mu.Lock()
	r.dist = 0
	r.mu.Unlock()
}

// driverTau is how quickly the simulated driver corrects the speed (SetDriveSpeed);
// speedTau is how quickly constant-speed control does.
const (
	driverTau = 0.5
	speedTau  = 0.3
)

// step is the longest physics step; Step subdivides longer intervals.
const step = 5 * time.Millisecond

// Step advances the physics to now and returns the measured state. A clock going back
// does not move the rollers.
func (r *Roller) Step(now time.Time) RollerState {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last.IsZero() {
		r.last = now
	}
	if dt := now.Sub(r.last); dt > 0 {
		if dt > time.Minute { // a wall-clock jump: do not integrate an hour
			dt = time.Minute
		}
		for dt > 0 {
			h := min(dt, step)
			r.integrate(h.Seconds())
			dt -= h
		}
		r.last = now
	}
	return r.state()
}

// State returns the measured state without advancing time.
func (r *Roller) State() RollerState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state()
}

func (r *Roller) state() RollerState {
	f := r.force - r.zero
	if r.o.NoiseN > 0 && r.v > 0 {
		f += r.o.NoiseN * max(-3, min(3, r.rng.NormFloat64()))
	}
	return RollerState{
		SpeedKmh:  r.v * 3.6,
		ForceN:    f,
		PowerKW:   r.force * r.v / 1000,
		DutyPct:   100 * math.Abs(r.force) / r.o.MaxForceN,
		DistanceM: r.dist,
		Mode:      r.mode,
		Target:    r.target,
		Lift:      r.lift,
		Motor:     r.motor,
	}
}

// integrate advances h seconds. r.mu is held.
func (r *Roller) integrate(h float64) {
	m := r.o.InertiaKg
	if r.lift { // rollers locked: brake to a stop within about 0.3 s
		r.v = max(0, r.v-h*r.v/0.3-h*0.5)
		r.force = 0
		r.dist += r.v * h
		return
	}
	v := r.v
	parasitic := 0.0
	if v > 0 {
		parasitic = r.o.ParasiticN + r.o.ParasiticNs*v
	}
	motor := 0.0
	if r.motor {
		motor = max(0, min(r.o.MotorForceN, m*(r.o.MotorSpeedKmh/3.6-v)/driverTau))
	}
	drive := r.drive(v, parasitic, motor)
	fa := r.absorber(v, drive+motor-parasitic)
	r.force += (fa - r.force) * min(1, h/0.05) // the absorber needs ~50 ms to build up
	acc := (drive + motor - r.force - parasitic) / m
	r.v = max(0, v+acc*h)
	r.dist += r.v * h
}

// drive is the vehicle's tractive force. r.mu is held.
func (r *Roller) drive(v, parasitic, motor float64) float64 {
	limit := r.o.MaxDriveN
	if v > 0.5 {
		limit = min(limit, r.o.MaxDriveKW*1000/v)
	}
	if r.driveSpeed < 0 {
		return r.throttle * limit
	}
	// A driver: a correction towards the wanted speed with a 0.5 s time constant, on top
	// of the force that holds the present load. Under constant-speed control the driver
	// does not follow the absorber (two controllers feeding each other forward would
	// escalate to their limits): he presses as if the rollers were free.
	want := parasitic - motor + r.o.InertiaKg*(r.driveSpeed-v)/driverTau
	if r.mode != drivers.ControlSpeed {
		want += r.force
	}
	return max(0, min(limit, want))
}

// absorber is the force the control mode asks for, given the other forces on the
// rollers (net). r.mu is held.
func (r *Roller) absorber(v, net float64) float64 {
	var f float64
	switch r.mode {
	case drivers.ControlForce:
		f = r.target
	case drivers.ControlPower:
		f = r.target * 1000 / max(v, 1) // below 1 m/s power control gives at most P/1 N
	case drivers.ControlSpeed:
		f = net + r.o.InertiaKg*(v-r.target/3.6)/speedTau
		if !r.motor {
			f = max(f, 0)
		}
		return max(-r.o.MotorForceN, min(r.o.MaxForceN, f))
	default:
		return 0
	}
	if v < 0.3 { // an eddy-current brake makes little force at standstill
		f *= v / 0.3
	}
	return max(0, min(r.o.MaxForceN, f))
}
