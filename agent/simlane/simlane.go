// Package simlane builds a whole simulated lane in one process: one simulated vehicle
// (agent/simvehicle), a simulator for each instrument on its own pseudo-terminal, the real
// driver on the other side of each, and a station supervisor per port — exactly what the
// agent runs on a station, with simulators instead of instruments. The procedure tests, the
// self-check tests, `imagent demo` and `imagent test run --sim` use it.
package simlane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"go.bug.st/serial"

	"imagent/agent/procedure"
	"imagent/agent/simvehicle"
	"imagent/agent/station"
	"imagent/config"
	"imagent/drivers"
	"imagent/drivers/dyno/xincheng"
	"imagent/drivers/dyno/xincheng/xinchengsim"
	"imagent/drivers/flow/flv1000"
	"imagent/drivers/flow/flv1000/flv1000sim"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/gas/nanhua/nanhuasim"
	"imagent/drivers/opacity/flb100"
	"imagent/drivers/opacity/flb100/flb100sim"
	"imagent/drivers/opacity/mqw510x"
	"imagent/drivers/opacity/mqw510x/mqw510xsim"
	"imagent/drivers/simport"
	"imagent/drivers/tacho/nt"
	"imagent/drivers/tacho/nt/ntsim"
	"imagent/drivers/weather/xce100"
	"imagent/drivers/weather/xce100/xce100sim"
)

// RolesFor returns the instruments a simulated lane needs for a test method, and whether
// its vehicle is a diesel.
func RolesFor(method string) (roles []string, diesel bool, opacimeter string) {
	switch method {
	case "asm":
		return []string{Analyzer, Dyno, Weather}, false, ""
	case "vmas":
		return []string{Analyzer, Dyno, Flowmeter, Weather}, false, ""
	case "free_accel":
		return []string{Opacimeter, Tach, Weather}, true, "FLB-100"
	case "lugdown":
		return []string{Opacimeter, Dyno, Tach, Weather}, true, "MQW-5101"
	}
	return []string{Analyzer, Weather}, false, ""
}

// Roles of instruments a simulated lane can have.
const (
	Analyzer   = "analyzer"
	Dyno       = "dyno"
	Opacimeter = "opacimeter"
	Tach       = "tachometer"
	Weather    = "weather"
	Flowmeter  = "flowmeter"
)

// Options describe a simulated lane. The zero value is a gasoline lane with an analyzer.
type Options struct {
	Roles    []string           // instruments; default {Analyzer}
	Speed    float64            // procedure seconds per real second; default 20
	Vehicle  simvehicle.Options // the vehicle
	Analyzer nanhuasim.Options  // Model, Warmup, ZeroTime, Leak… (Vehicle and Clock are set here)
	Weather  xce100sim.Conditions
	// Opacimeter is the opacimeter model: "FLB-100" (default) or "MQW-5101" (with NOx).
	Opacimeter string
	// OpacimeterZeroTime is how long the FLB-100's zero takes (default 500 ms; longer than
	// 3 s it never answers, as the manual says). FlowmeterWarmup is the flowmeter's O2
	// sensor warm-up.
	OpacimeterZeroTime, FlowmeterWarmup time.Duration
	// Poll is each supervisor's poll interval; default two polls per procedure second, at
	// most 100 ms and at least 10 ms.
	Poll time.Duration
	Log  *slog.Logger
	// NoSupervisors builds the supervisors but does not run them: whoever takes
	// Devices() runs them (the agent's runtime in the demo).
	NoSupervisors bool
}

// Lane is a running simulated lane. Close stops it.
type Lane struct {
	Clock   *procedure.ScaledClock
	Vehicle *simvehicle.Vehicle
	Driver  *simvehicle.Driver

	AnalyzerSim   *nanhuasim.Sim
	WeatherSim    *xce100sim.Sim
	Engine        *flb100sim.Engine    // what every opacimeter simulator samples (fed by Vehicle)
	Dilution      *flv1000sim.Dilution // the flowmeter's tunnel (fed by Vehicle)
	FlowmeterSim  *flv1000sim.Sim
	Roller        *xinchengsim.Roller // the dyno's rollers, with the vehicle on them
	DynoSim       *xinchengsim.Sim
	TachSim       *ntsim.Sim
	OpacimeterSim interface {
		Serve(ctx context.Context, rw io.ReadWriter) error
	}

	mu        sync.Mutex
	filterPct float64 // opacimeter check filter in the light path (0: none)
	o2Gas     float64 // O2 of a check gas on the flowmeter (0: none)
	filter    float64 // the opacity the check filter really has, %
	o2Low     float64 // the O2 the flowmeter's check gas really has, %
	weather   xce100sim.Conditions
	hoseOff   bool // the flowmeter\'s hose is off the tailpipe although the probe is in

	devices map[string]*station.Device
	order   []string
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closers []io.Closer
}

// Start builds the lane and starts every simulator and supervisor; they run until Close.
func Start(o Options) (*Lane, error) {
	if len(o.Roles) == 0 {
		o.Roles = []string{Analyzer}
	}
	if o.Speed <= 0 {
		o.Speed = 20
	}
	if o.Poll <= 0 {
		o.Poll = max(10*time.Millisecond, min(100*time.Millisecond, time.Duration(float64(time.Second)/(2*o.Speed))))
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Weather == (xce100sim.Conditions{}) {
		o.Weather = xce100sim.Conditions{TempC: 20, RHpct: 50, PressureKPa: 101.3}
	}
	clock := procedure.NewScaledClock(o.Speed)
	veh := simvehicle.New(o.Vehicle)
	ctx, cancel := context.WithCancel(context.Background())
	l := &Lane{Clock: clock, Vehicle: veh, Driver: simvehicle.NewDriver(veh, clock.Now),
		devices: map[string]*station.Device{}, cancel: cancel, weather: o.Weather}
	l.couple()
	for _, role := range o.Roles {
		if err := l.add(ctx, role, o); err != nil {
			l.Close()
			return nil, err
		}
	}
	if l.Dilution != nil {
		l.wg.Go(func() { l.follow(ctx) })
	}
	return l, nil
}

// couple makes the vehicle the source of every simulator's physics and the simulated
// operator's gas bottles and filters act on them.
func (l *Lane) couple() {
	l.Engine = flb100sim.NewEngine(flb100sim.EngineOptions{IdleRPM: l.Vehicle.Options().IdleRPM})
	l.Engine.SetSource(func(now time.Time) flb100sim.Sample {
		st := l.Vehicle.Step(now)
		k := st.K
		if !st.Probe {
			k = 0 // the opacimeter's probe is in clean air
		}
		l.mu.Lock()
		if l.filterPct > 0 {
			k = -math.Log(1-l.filterPct/100) / flb100.StandardPath
		}
		l.mu.Unlock()
		return flb100sim.Sample{RPM: st.RPM, K: k, OilC: st.OilTempC, GasTempC: 60 + 40*st.Load, NOxPPM: max(st.NOxPPM, 1), CO2Pct: st.Tailpipe.CO2pct}
	})
	l.Vehicle.OnBlip(func(now time.Time, peak float64) {
		l.Engine.SetPeakK(peak)
		l.Engine.Accelerate(now)
	})
	l.Dilution = flv1000sim.NewDilution(flv1000sim.DilutionOptions{})
	l.Dilution.SetSource(func(now time.Time) (float64, float64) {
		l.mu.Lock()
		gas := l.o2Gas
		l.mu.Unlock()
		if gas > 0 {
			return 1e6, gas // the check gas fills the tunnel
		}
		st := l.Vehicle.Step(now)
		return st.ExhaustLps, st.Tailpipe.O2pct
	})
	l.Driver.OnFilter(func(in bool) {
		l.mu.Lock()
		l.filterPct = 0
		if in {
			l.filterPct = l.filter
		}
		l.mu.Unlock()
	})
	l.Driver.OnGas(func(name string, on bool) {
		if name != "o2_low" && on {
			return
		}
		l.mu.Lock()
		l.o2Gas = 0
		if on {
			l.o2Gas = l.o2Low
		}
		l.mu.Unlock()
	})
}

// SetHoseOff takes the flowmeter's hose off the tailpipe (or puts it back with the probe).
func (l *Lane) SetHoseOff(off bool) {
	l.mu.Lock()
	l.hoseOff = off
	l.mu.Unlock()
}

// SetFlowmeterGas puts a gas of o2 % O2 on the flowmeter (0 takes it off).
func (l *Lane) SetFlowmeterGas(o2 float64) {
	l.mu.Lock()
	l.o2Gas = o2
	l.mu.Unlock()
}

// follow connects the flowmeter's hose to the tailpipe while the probe is in (or a check
// gas to the flowmeter) until ctx is done.
func (l *Lane) follow(ctx context.Context) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.mu.Lock()
		gas, off := l.o2Gas > 0, l.hoseOff
		l.mu.Unlock()
		l.Dilution.SetExhaust(gas || (l.Vehicle.Probe() && !off))
	}
}

// serve starts a simulator on a new pseudo-terminal and a supervisor for the driver that
// open makes on its slave side.
func (l *Lane) serve(ctx context.Context, o Options, spec station.Spec, sim func(ctx context.Context, rw io.ReadWriter) error,
	mode *serial.Mode, newDev func(rw io.ReadWriter) (drivers.Device, error)) error {
	pty, err := simport.Open()
	if err != nil {
		return fmt.Errorf("simlane: %s: %w", spec.Role, err)
	}
	l.closers = append(l.closers, pty)
	l.wg.Go(func() { _ = sim(ctx, pty.Master) })
	open := func(ctx context.Context) (drivers.Device, io.Closer, error) {
		p, err := serial.Open(pty.SlavePath, mode)
		if err != nil {
			return nil, nil, err
		}
		d, err := newDev(p)
		if err != nil {
			p.Close()
			return nil, nil, err
		}
		return d, p, nil
	}
	spec.Port = pty.SlavePath
	if spec.Poll == 0 {
		spec.Poll = o.Poll
	}
	dev := station.NewDevice(spec, open, o.Log)
	l.devices[spec.Role] = dev
	l.order = append(l.order, spec.Role)
	if !o.NoSupervisors {
		l.wg.Go(func() { _ = dev.Run(ctx) })
	}
	return nil
}

func (l *Lane) add(ctx context.Context, role string, o Options) error {
	switch role {
	case Analyzer:
		so := o.Analyzer
		if so.Model == "" {
			so.Model = nanhua.NHA503
		}
		so.Vehicle = l.Vehicle
		so.Clock = l.Clock.Now
		l.AnalyzerSim = nanhuasim.New(so)
		model := so.Model
		return l.serve(ctx, o, station.Spec{Name: "analyzer", Role: Analyzer, Protocol: "gas/nanhua", Model: string(model)},
			l.AnalyzerSim.Serve, &serial.Mode{BaudRate: 9600},
			func(rw io.ReadWriter) (drivers.Device, error) {
				do := nanhua.DefaultOpts
				do.Model = model
				do.PollInterval = 20 * time.Millisecond
				return nanhua.New(rw, do)
			})
	case Opacimeter:
		clock := l.Clock.Now
		if o.Opacimeter == "" || o.Opacimeter == "FLB-100" {
			zt := o.OpacimeterZeroTime
			if zt == 0 {
				zt = 500 * time.Millisecond
			}
			sim := flb100sim.New(flb100sim.Options{Engine: l.Engine, Clock: clock, ZeroTime: zt})
			l.OpacimeterSim = sim
			return l.serve(ctx, o, station.Spec{Name: "opacimeter", Role: Opacimeter, Protocol: "opacity/flb100", Model: "FLB-100"},
				sim.Serve, &serial.Mode{BaudRate: 9600},
				func(rw io.ReadWriter) (drivers.Device, error) { return flb100.New(rw, flb100.DefaultOpts) })
		}
		m, err := mqw510x.ParseModel(o.Opacimeter)
		if err != nil {
			return fmt.Errorf("simlane: %w", err)
		}
		sim := mqw510xsim.New(mqw510xsim.Options{Model: m, Engine: l.Engine, Clock: clock, ZeroTime: 500 * time.Millisecond})
		l.OpacimeterSim = sim
		return l.serve(ctx, o, station.Spec{Name: "opacimeter", Role: Opacimeter, Protocol: "opacity/mqw510x", Model: string(m)},
			sim.Serve, &serial.Mode{BaudRate: 9600},
			func(rw io.ReadWriter) (drivers.Device, error) {
				do := mqw510x.DefaultOpts
				do.Model = m
				do.PollInterval = 20 * time.Millisecond
				return mqw510x.New(rw, do)
			})
	case Flowmeter:
		l.FlowmeterSim = flv1000sim.New(flv1000sim.Options{Dilution: l.Dilution, Clock: l.Clock.Now, Warmup: o.FlowmeterWarmup})
		return l.serve(ctx, o, station.Spec{Name: "flowmeter", Role: Flowmeter, Protocol: "flow/flv1000", Model: "FLV-1000"},
			l.FlowmeterSim.Serve, &serial.Mode{BaudRate: 9600},
			func(rw io.ReadWriter) (drivers.Device, error) { return flv1000.New(rw, flv1000.DefaultOpts) })
	case Dyno:
		vo := l.Vehicle.Options()
		// The rollers' own loss matches the default asm.parasitic_* curve (0.0006·v² +
		// 0.0003·v kW with v in km/h, i.e. about 1.08 N + 7.78 N per m/s).
		ro := xinchengsim.RollerOptions{MaxDriveKW: vo.RatedPowerKW, MaxDriveN: 40000, MaxForceN: 6000,
			ParasiticN: 1.08, ParasiticNs: 7.78}
		if vo.Kind == simvehicle.Diesel {
			ro.MaxForceN = 20000
		}
		l.Roller = xinchengsim.NewRoller(ro)
		l.DynoSim = xinchengsim.New(xinchengsim.Options{Roller: l.Roller, Clock: l.Clock.Now})
		l.Vehicle.SetRollers(rollers{l.Roller})
		// The controller streams; a short poll takes each frame as it comes.
		return l.serve(ctx, o, station.Spec{Name: "dyno", Role: Dyno, Protocol: "dyno/xincheng", Model: "8.1", Poll: 5 * time.Millisecond},
			l.DynoSim.Serve, &serial.Mode{BaudRate: 38400},
			func(rw io.ReadWriter) (drivers.Device, error) { return xincheng.New(rw, xincheng.DefaultOpts) })
	case Tach:
		eng := ntsim.NewEngine(0, l.Clock.Now)
		eng.SetSource(func(now time.Time) ntsim.EngineState {
			st := l.Vehicle.Step(now)
			return ntsim.EngineState{RPM: st.RPM, OilTempC: st.OilTempC}
		})
		l.TachSim = ntsim.New(ntsim.Options{Model: nt.VMT2000, Engine: eng, Clock: l.Clock.Now})
		return l.serve(ctx, o, station.Spec{Name: "tachometer", Role: Tach, Protocol: "tacho/nt", Model: string(nt.VMT2000)},
			l.TachSim.Serve, &serial.Mode{BaudRate: 19200},
			func(rw io.ReadWriter) (drivers.Device, error) { return nt.New(rw, nt.DefaultOpts) })
	case Weather:
		l.WeatherSim = xce100sim.New(xce100sim.Options{Model: xce100.XCE100, Weather: xce100sim.Fixed(o.Weather), Clock: l.Clock.Now})
		return l.serve(ctx, o, station.Spec{Name: "weather", Role: Weather, Protocol: "weather/xce100", Model: string(xce100.XCE100)},
			l.WeatherSim.Serve, &serial.Mode{BaudRate: 9600},
			func(rw io.ReadWriter) (drivers.Device, error) {
				do := xce100.DefaultOpts
				do.Clock = time.Now
				return xce100.New(rw, do)
			})
	}
	return fmt.Errorf("simlane: no simulator for role %q yet", role)
}

// Device returns the supervisor of a role (nil if the lane has none).
func (l *Lane) Device(role string) *station.Device { return l.devices[role] }

// Devices returns every supervisor, in the order the roles were given.
func (l *Lane) Devices() []*station.Device {
	var out []*station.Device
	for _, r := range l.order {
		out = append(out, l.devices[r])
	}
	return out
}

// Has reports whether the lane has an instrument of role.
func (l *Lane) Has(role string) bool { return slices.Contains(l.order, role) }

// Env returns a procedure environment on this lane's instruments and clock, with the
// simulated driver following every prompt.
func (l *Lane) Env(p *config.Params, stage string) procedure.Env {
	env := procedure.Env{Clock: l.Clock, Params: p, Stage: stage, Prompt: l.Driver.Follow}
	set := func(dst *procedure.Instrument, role string) {
		if d := l.devices[role]; d != nil {
			*dst = d
		}
	}
	set(&env.Analyzer, Analyzer)
	set(&env.Dyno, Dyno)
	set(&env.Opacimeter, Opacimeter)
	set(&env.Tach, Tach)
	set(&env.Weather, Weather)
	set(&env.Flowmeter, Flowmeter)
	return env
}

// WaitReady waits until every instrument has delivered a good reading.
func (l *Lane) WaitReady(ctx context.Context) error {
	for _, r := range l.order {
		d := l.devices[r]
		for d.Snapshot().LastFrame.IsZero() {
			select {
			case <-ctx.Done():
				s := d.Snapshot()
				return errors.Join(fmt.Errorf("simlane: %s never answered (%s: %s)", r, s.State, s.Err), ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return nil
}

// Close stops every simulator and supervisor and waits for them.
func (l *Lane) Close() {
	l.cancel()
	l.wg.Wait()
	for _, c := range l.closers {
		c.Close()
	}
}

// rollers lets the vehicle drive the dyno simulator's rollers.
type rollers struct{ r *xinchengsim.Roller }

func (x rollers) SpeedKmh() float64         { return x.r.State().SpeedKmh }
func (x rollers) PowerKW() float64          { return x.r.State().PowerKW }
func (x rollers) SetThrottle(v float64)     { x.r.SetThrottle(v) }
func (x rollers) SetDriveSpeed(kmh float64) { x.r.SetDriveSpeed(kmh) }
