package nhc03

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"imagent/drivers"
)

// Opts configures a Dev. Zero durations take the DefaultOpts value.
type Opts struct {
	Timeout time.Duration // reply timeout per transaction, default 1 s (as the lane software)
	Quiet   time.Duration // stale input is drained until the line is quiet this long, default 20 ms
	// NoStatusPoll makes Read ask only for the real-time data, not also for the status
	// word (which gives the lift position).
	NoStatusPoll bool
	// Clock stamps readings; default time.Now.
	Clock func() time.Time
}

// DefaultOpts are the values used for zero fields of Opts.
var DefaultOpts = Opts{
	Timeout: time.Second,
	Quiet:   20 * time.Millisecond,
}

// Dev is one NHC-03 dyno controller on a serial link (9600 8N1). Its methods may be
// called from several goroutines; transactions are serialized.
type Dev struct {
	rw io.ReadWriter
	o  Opts

	mu    sync.Mutex
	mode  drivers.ControlMode // last commanded
	motor bool                // last commanded
}

var (
	_ drivers.Device         = (*Dev)(nil)
	_ drivers.DynoController = (*Dev)(nil)
	_ drivers.Lifter         = (*Dev)(nil)
	_ drivers.Motor          = (*Dev)(nil)
	_ drivers.StatusQuerier  = (*Dev)(nil)
)

// New returns a driver for the controller on rw (normally a go.bug.st/serial port at
// 9600 8N1). It does no I/O.
func New(rw io.ReadWriter, o Opts) (*Dev, error) {
	if rw == nil {
		return nil, errors.New("nhc03: nil port")
	}
	if err := drivers.DefaultDurations(
		drivers.Dur(&o.Timeout, DefaultOpts.Timeout),
		drivers.Dur(&o.Quiet, DefaultOpts.Quiet),
	); err != nil {
		return nil, fmt.Errorf("nhc03: %w", err)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Dev{rw: rw, o: o}, nil
}

// commanded is the part of Status the driver knows from its own commands. d.mu is held.
func (d *Dev) commanded() drivers.Status {
	var s drivers.Status
	if d.mode != drivers.ControlOff {
		s |= drivers.Controlling
	}
	if d.motor {
		s |= drivers.MotorOn
	}
	return s
}

// Read polls the real-time data ('C') and, unless Opts.NoStatusPoll, the status word
// ('D'). Values: speed (km/h), force (N) and power (kW) as the controller reports them.
// Status: LiftUp and Busy (lift moving) from the status word; Controlling and MotorOn as
// last commanded (the status bits for them are not documented). Raw is the real-time
// reply followed by the status reply.
func (d *Dev) Read(ctx context.Context) (drivers.Reading, error) {
	buf := make([]byte, RealtimeLen+WordLen)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.transact(ctx, Request{Cmd: CmdRealtime}, buf[:RealtimeLen]); err != nil {
		return drivers.Reading{}, err
	}
	x, err := DecodeRealtime(buf[:RealtimeLen])
	if err != nil {
		return drivers.Reading{}, err
	}
	st := d.commanded()
	raw := buf[:RealtimeLen]
	if !d.o.NoStatusPoll {
		if err := d.transact(ctx, Request{Cmd: CmdStatus}, buf[RealtimeLen:]); err != nil {
			return drivers.Reading{}, err
		}
		_, w, err := DecodeWord(buf[RealtimeLen:])
		if err != nil {
			return drivers.Reading{}, err
		}
		st |= StatusFromWord(w)
		raw = buf
	}
	return drivers.Reading{
		Time: d.o.Clock(),
		Values: map[drivers.Quantity]float64{
			drivers.SpeedKmh: x.SpeedKmh,
			drivers.ForceN:   x.ForceN,
			drivers.PowerKW:  x.PowerKW,
		},
		Status: st,
		Raw:    raw,
	}, nil
}

// StatusWord reads the 16 status bits ('D').
func (d *Dev) StatusWord(ctx context.Context) (uint16, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.word(ctx, Request{Cmd: CmdStatus})
}

// Status reads the status word and returns it as drivers.Status (see Read).
func (d *Dev) Status(ctx context.Context) (drivers.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w, err := d.word(ctx, Request{Cmd: CmdStatus})
	if err != nil {
		return 0, err
	}
	return StatusFromWord(w) | d.commanded(), nil
}

// ReadVar reads variable n ('E').
func (d *Dev) ReadVar(ctx context.Context, n byte) (uint16, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.word(ctx, Request{Cmd: CmdReadVar, Var: n})
}

// WriteVar writes v to variable n ('F').
func (d *Dev) WriteVar(ctx context.Context, n byte, v uint16) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.simple(ctx, Request{Cmd: CmdWriteVar, Var: n, Value: v})
}

// Control sends a control word (CtrlOff, CtrlLiftUp…). Control does not update the
// state SetControl, SetMotor and Read keep; prefer those methods.
func (d *Dev) Control(ctx context.Context, word byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.simple(ctx, Request{Cmd: word})
}

// maxWord01 is the largest target in 0.01 steps a word holds.
const maxWord01 = math.MaxUint16 / 100.0

// SetControl starts a control mode with its target in canonical units or, with
// drivers.ControlOff, leaves every control mode. Like the lane software it writes the
// target variable(s) and then sends the mode's control word.
func (d *Dev) SetControl(ctx context.Context, mode drivers.ControlMode, target float64) error {
	if mode != drivers.ControlOff && (math.IsNaN(target) || target < 0) {
		return fmt.Errorf("nhc03: control target %v out of range", target)
	}
	var writes []Request
	var word byte
	switch mode {
	case drivers.ControlOff:
		word = CtrlOff
	case drivers.ControlSpeed:
		if target > maxWord01 {
			return fmt.Errorf("nhc03: speed target %v km/h out of range", target)
		}
		writes = []Request{{Cmd: CmdWriteVar, Var: VarSpeedTarget, Value: toU16(target * 100)}}
		word = CtrlSpeed
	case drivers.ControlForce:
		tenths := math.Round(target * 10)
		if tenths/10 > math.MaxUint16 {
			return fmt.Errorf("nhc03: force target %v N out of range", target)
		}
		writes = []Request{
			{Cmd: CmdWriteVar, Var: VarForceTarget, Value: uint16(tenths / 10)},
			{Cmd: CmdWriteVar, Var: VarForceTenths, Value: uint16(math.Mod(tenths, 10))},
		}
		word = CtrlForce
	case drivers.ControlPower:
		if target > maxWord01 {
			return fmt.Errorf("nhc03: power target %v kW out of range", target)
		}
		writes = []Request{{Cmd: CmdWriteVar, Var: VarPowerTarget, Value: toU16(target * 100)}}
		word = CtrlPower
	default:
		return fmt.Errorf("nhc03: unknown control mode %d", int(mode))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range writes {
		if err := d.simple(ctx, w); err != nil {
			return err
		}
	}
	if err := d.simple(ctx, Request{Cmd: word}); err != nil {
		return err
	}
	d.mode = mode
	return nil
}

// SetLift raises ('5') or lowers ('6') the lift. Read and Status show where it is.
func (d *Dev) SetLift(ctx context.Context, up bool) error {
	w := CtrlLiftDown
	if up {
		w = CtrlLiftUp
	}
	return d.Control(ctx, w)
}

// SetMotor switches the drive motor on ('J') or off ('K'). Lane software refuses to
// start it while the lift is not fully down or the rollers turn; that check belongs to
// the caller.
func (d *Dev) SetMotor(ctx context.Context, on bool) error {
	w := CtrlMotorOff
	if on {
		w = CtrlMotorOn
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.simple(ctx, Request{Cmd: w}); err != nil {
		return err
	}
	d.motor = on
	return nil
}

// ReadDistance reads the distance counter in metres (variable 225).
func (d *Dev) ReadDistance(ctx context.Context) (float64, error) {
	v, err := d.ReadVar(ctx, VarDistance)
	return float64(v), err
}

// ResetDistance sets the distance counter to 0 ('9').
func (d *Dev) ResetDistance(ctx context.Context) error { return d.Control(ctx, CtrlResetDistance) }

// ReadInertia reads the dyno's base inertia in kg (variable 6).
func (d *Dev) ReadInertia(ctx context.Context) (float64, error) {
	v, err := d.ReadVar(ctx, VarInertia)
	return float64(v), err
}

// word runs a request answered by a word reply. d.mu is held.
func (d *Dev) word(ctx context.Context, r Request) (uint16, error) {
	buf := make([]byte, WordLen)
	if err := d.transact(ctx, r, buf); err != nil {
		return 0, err
	}
	_, v, err := DecodeWord(buf)
	return v, err
}

// simple runs a request answered by one byte (anything but NAK is success). d.mu is held.
func (d *Dev) simple(ctx context.Context, r Request) error {
	var b [1]byte
	return d.transact(ctx, r, b[:])
}

// what names a request in errors.
func what(r Request) string {
	switch r.Cmd {
	case CmdRealtime:
		return "real-time data"
	case CmdStatus:
		return "status"
	case CmdReadVar:
		return fmt.Sprintf("read variable %d", r.Var)
	case CmdWriteVar:
		return fmt.Sprintf("write variable %d", r.Var)
	}
	return fmt.Sprintf("control word %q", r.Cmd)
}

// transact drains stale input, writes r and fills reply; a first byte of NAK is
// drivers.ErrNAK and the rest is then not read. d.mu is held.
func (d *Dev) transact(ctx context.Context, r Request, reply []byte) error {
	req := EncodeRequest(r)
	if err := drivers.Send(ctx, d.rw, req[:], d.o.Quiet); err != nil {
		return fmt.Errorf("nhc03: %s: %w", what(r), err)
	}
	deadline := time.Now().Add(d.o.Timeout)
	if _, err := drivers.ReadFull(ctx, d.rw, reply[:1], d.o.Timeout); err != nil {
		return fmt.Errorf("nhc03: %s: %w", what(r), err)
	}
	if reply[0] == NAK {
		return fmt.Errorf("nhc03: %s: %w", what(r), drivers.ErrNAK)
	}
	if len(reply) > 1 {
		if _, err := drivers.ReadFull(ctx, d.rw, reply[1:], time.Until(deadline)); err != nil {
			return fmt.Errorf("nhc03: %s: %w", what(r), err)
		}
	}
	return nil
}
