package simvehicle

import (
	"strconv"
	"sync"
	"time"

	"imagent/agent/procedure"
	"imagent/drivers/gas/nanhua/nanhuasim"
)

// Driver is a simulated driver and lane operator who does what the prompts say: engine
// speeds, vehicle speeds and gears, the pedal, the probe and the check-gas bottles.
// Hooks let a test make them misbehave. It is safe for concurrent use.
type Driver struct {
	V   *Vehicle
	Now func() time.Time // the procedure's clock

	mu      sync.Mutex
	bottles map[string]nanhuasim.Exhaust
	hooks   []func(p procedure.Prompt) bool
	onGas   func(name string, connected bool)
	onFilt  func(inserted bool)
	last    procedure.Prompt
}

// NewDriver returns a driver of v on clock now.
func NewDriver(v *Vehicle, now func() time.Time) *Driver {
	return &Driver{V: v, Now: now, bottles: map[string]nanhuasim.Exhaust{}}
}

// SetBottle says what the bottle named name (Prompt.Gas: "low", "high"…) holds, as the
// probe will see it.
func (d *Driver) SetBottle(name string, g nanhuasim.Exhaust) {
	d.mu.Lock()
	d.bottles[name] = g
	d.mu.Unlock()
}

// OnGas is called when the operator connects (or disconnects) a bottle that is not a probe
// gas (e.g. the flowmeter's O2 check gas).
func (d *Driver) OnGas(f func(name string, connected bool)) {
	d.mu.Lock()
	d.onGas = f
	d.mu.Unlock()
}

// OnFilter is called when the operator inserts or removes the opacimeter's check filter.
func (d *Driver) OnFilter(f func(inserted bool)) {
	d.mu.Lock()
	d.onFilt = f
	d.mu.Unlock()
}

// Misbehave adds a hook that sees every prompt first; when it returns true the driver
// ignores that prompt (the hook may act on the vehicle instead).
func (d *Driver) Misbehave(h func(p procedure.Prompt) bool) {
	d.mu.Lock()
	d.hooks = append(d.hooks, h)
	d.mu.Unlock()
}

// Last returns the last prompt the driver saw.
func (d *Driver) Last() procedure.Prompt {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last
}

// Follow acts on one prompt.
func (d *Driver) Follow(p procedure.Prompt) {
	d.mu.Lock()
	d.last = p
	hooks := d.hooks
	onGas, onFilt := d.onGas, d.onFilt
	bottle, isBottle := d.bottles[p.Gas]
	d.mu.Unlock()
	for _, h := range hooks {
		if h(p) {
			return
		}
	}
	v := d.V
	switch p.Action {
	case procedure.ActionInsertProbe:
		v.SetProbe(true)
	case procedure.ActionRemoveProbe:
		v.SetProbe(false)
	case procedure.ActionConnectGas:
		if isBottle {
			v.ConnectBottle(&bottle)
		} else if onGas != nil {
			onGas(p.Gas, true)
		}
	case procedure.ActionDisconnect:
		v.ConnectBottle(nil)
		if onGas != nil {
			onGas(p.Gas, false)
		}
		if onFilt != nil {
			onFilt(false)
		}
	case procedure.ActionInsertFilter:
		if onFilt != nil {
			onFilt(true)
		}
	case procedure.ActionNeutral:
		v.SetGear(0)
	}
	if p.Probe {
		v.SetProbe(true)
	}
	gear := 0
	switch {
	case p.Gear == "N":
		v.SetGear(0)
	case p.Gear == procedure.GearTest:
		v.SelectGearFor(70)
	case p.Gear != "":
		if g, err := strconv.Atoi(p.Gear); err == nil {
			v.SetGear(g)
			gear = g
		}
	}
	switch {
	case p.Pedal == procedure.PedalFull:
		v.SetPedal(1, d.Now())
	case p.TargetKmh > 0 || p.Drive:
		v.Drive(p.TargetKmh, gear)
	case p.TargetRPM > 0:
		v.SetTargetRPM(p.TargetRPM)
	case p.Pedal == procedure.PedalRelease:
		v.SetPedal(0, d.Now())
	}
}
