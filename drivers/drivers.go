// Package drivers defines what every lane-instrument driver provides to the agent.
//
// A driver is a synchronous protocol state machine over an io.ReadWriter (normally a
// go.bug.st/serial port). It starts no goroutines, knows nothing of configuration files,
// SQLite or MQTT, and never logs: it returns errors and puts diagnostics in Reading.Status
// and Reading.Raw. All concurrency lives in the agent, which owns one goroutine per port.
package drivers

import (
	"context"
	"errors"
	"time"
)

// Quantity names a measured value. The canonical unit is part of the name, and every
// driver converts to it at the edge, so ppm and %vol can never be mixed up downstream.
type Quantity string

// The canonical quantities. Add new ones here, never ad hoc in a driver.
const (
	HCppm       Quantity = "hc_ppm"       // hydrocarbons, ppm n-hexane equivalent
	COpct       Quantity = "co_pct"       // carbon monoxide, % vol
	CO2pct      Quantity = "co2_pct"      // carbon dioxide, % vol
	O2pct       Quantity = "o2_pct"       // oxygen, % vol
	NOppm       Quantity = "no_ppm"       // nitric oxide, ppm
	NOxppm      Quantity = "nox_ppm"      // nitrogen oxides, ppm
	Lambda      Quantity = "lambda"       // excess-air coefficient, dimensionless
	RPM         Quantity = "rpm"          // engine speed, r/min
	OilTempC    Quantity = "oil_temp_c"   // engine oil temperature, °C
	TempC       Quantity = "temp_c"       // ambient temperature, °C
	RHpct       Quantity = "rh_pct"       // relative humidity, %
	PressureKPa Quantity = "pressure_kpa" // barometric pressure, kPa
	PEF         Quantity = "pef"          // propane equivalence factor, dimensionless
	WarmupS     Quantity = "warmup_s"     // warm-up time left, s
	OpacityPct  Quantity = "opacity_pct"  // opacity N, %
	KM1         Quantity = "k_m1"         // light absorption coefficient k, m⁻¹
	SpeedKmh    Quantity = "speed_kmh"    // roller speed, km/h
	ForceN      Quantity = "force_n"      // roller force, N
	PowerKW     Quantity = "power_kw"     // power, kW
	FlowLps     Quantity = "flow_lps"     // volume flow at actual conditions, L/s
	FlowStdLps  Quantity = "flow_std_lps" // volume flow at standard conditions (20 °C, 101.325 kPa), L/s
	FlowTempC   Quantity = "flow_temp_c"  // gas temperature in a flowmeter, °C
	FlowKPa     Quantity = "flow_kpa"     // gas pressure in a flowmeter, kPa
	O2DilPct    Quantity = "o2_dil_pct"   // O2 of the diluted exhaust in a VMAS flowmeter, % vol
	TorqueNm    Quantity = "torque_nm"    // torque, N·m
	AccelMS2    Quantity = "accel_ms2"    // acceleration, m/s²
	DistanceM   Quantity = "distance_m"   // distance, m
	WindMS      Quantity = "wind_ms"      // wind speed, m/s
)

// Known reports whether q is one of the canonical quantities above.
func Known(q Quantity) bool {
	switch q {
	case HCppm, COpct, CO2pct, O2pct, NOppm, NOxppm, Lambda, RPM, OilTempC, TempC, RHpct,
		PressureKPa, PEF, WarmupS, OpacityPct, KM1, SpeedKmh, ForceN, PowerKW, FlowLps,
		FlowStdLps, FlowTempC, FlowKPa, O2DilPct, TorqueNm, AccelMS2, DistanceM, WindMS:
		return true
	}
	return false
}

// Status is a bit set of device conditions. Conditions such as warm-up are states the
// device reports, not errors.
type Status uint32

// Status bits.
const (
	Warmup     Status = 1 << iota // warming up; readings not valid for measurement
	Zeroing                       // zero calibration running
	LeakCheck                     // leak check running
	LowFlow                       // sample flow too low (or leak check failed)
	Busy                          // an operation is in progress
	SensorAged                    // a sensor cell reports end of life (O2 or NO cell)
	Fault                         // the device reports a fault
)

// Status bits of chassis dynamometers. They describe the machine, not the validity of a
// measurement, so Ready ignores them.
const (
	LiftUp      Status = Fault << (iota + 1) // lift up (or, where the device cannot tell, last commanded up)
	MotorOn                                  // drive motor on (reported, or last commanded)
	Controlling                              // in a control mode (speed, force or power)
)

var statusNames = []string{"warmup", "zeroing", "leak_check", "low_flow", "busy", "sensor_aged", "fault",
	"lift_up", "motor_on", "controlling"}

// Names returns the names of the bits set in s, in bit order.
func (s Status) Names() []string {
	var out []string
	for i, n := range statusNames {
		if s&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// Ready reports whether no bit that invalidates a measurement is set.
func (s Status) Ready() bool { return s&(Warmup|Zeroing|LeakCheck|Busy|Fault) == 0 }

// Reading is one decoded answer from a device.
type Reading struct {
	Time   time.Time            // time of receipt (the agent's clock)
	Values map[Quantity]float64 // canonical units only
	Status Status
	Raw    []byte // the frame exactly as received, for audit and new traces
}

// Device is the one method every driver has.
type Device interface {
	// Read polls (or waits for) the next reading. It returns promptly when ctx is done.
	// Any error means the link is suspect: the agent closes the port, backs off and
	// opens it again.
	Read(ctx context.Context) (Reading, error)
}

// Optional capabilities, found by type assertion.

// Zeroer runs a zero calibration and waits for its end.
type Zeroer interface {
	Zero(ctx context.Context) error
}

// LeakChecker runs the leak check and reports whether the sample path is tight.
type LeakChecker interface {
	LeakCheck(ctx context.Context) (tight bool, err error)
}

// Pump switches the sample pump on (sample from the probe) or off.
type Pump interface {
	SetPump(ctx context.Context, on bool) error
}

// StatusQuerier asks the device for its state with a command of its own, for devices whose
// measurement frame does not say whether they are warming up or zeroing.
type StatusQuerier interface {
	Status(ctx context.Context) (Status, error)
}

// Ambient reads the ambient conditions a device measures itself (T, RH, P).
type Ambient interface {
	ReadAmbient(ctx context.Context) (Reading, error)
}

// CalGas is a calibration or check gas bottle's certified concentrations.
type CalGas struct {
	C3H8ppm, COpct, CO2pct, NOppm, O2pct float64
}

// CalGasWriter tells an analyzer the concentrations of the calibration (or check) gas.
type CalGasWriter interface {
	WriteCalGas(ctx context.Context, g CalGas, check bool) error
}

// Spanner runs a span calibration with the gas written before and returns what the
// analyzer read.
type Spanner interface {
	Span(ctx context.Context) (Reading, error)
}

// ControlMode is a chassis dynamometer's control loop.
type ControlMode int

// Dyno control modes.
const (
	ControlOff   ControlMode = iota // rollers free, no load
	ControlSpeed                    // hold a speed, km/h
	ControlForce                    // apply a constant force, N
	ControlPower                    // absorb a constant power, kW
)

// DynoController sets a dynamometer's control mode and its target in canonical units.
type DynoController interface {
	SetControl(ctx context.Context, mode ControlMode, target float64) error
}

// Lifter raises (up) or lowers the dyno's lift.
type Lifter interface {
	SetLift(ctx context.Context, up bool) error
}

// Motor switches a dyno's drive motor (used to spin the rollers up for coast-down and
// parasitic-loss checks) on or off.
type Motor interface {
	SetMotor(ctx context.Context, on bool) error
}

// PeakReader reads the peaks an opacimeter held during free accelerations (k in m⁻¹, the
// most recent last), after StartPeaks armed it.
type PeakReader interface {
	StartPeaks(ctx context.Context) error
	Peaks(ctx context.Context) ([]float64, error)
}

// Errors a caller may branch on. Drivers wrap them with %w.
var (
	ErrNAK      = errors.New("device answered NAK")
	ErrBusy     = errors.New("device busy")
	ErrTimeout  = errors.New("no reply from device")
	ErrChecksum = errors.New("checksum mismatch")
	ErrFrame    = errors.New("malformed frame")
	ErrFailed   = errors.New("device reported failure")
)
