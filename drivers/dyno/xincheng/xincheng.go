package xincheng

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"imagent/drivers"
)

// Opts configures a Dev. Zero durations take the DefaultOpts value.
type Opts struct {
	// Version of the controller's protocol: V81 (default, 17-byte replies with the
	// photocell/key byte) or V80 (16 bytes). The sources disagree; see the firmware note.
	Version Version
	// Timeout is how long Read waits for a stream frame, and a command for the frame
	// that confirms it (default 1 s; the controller streams every 10–30 ms).
	Timeout time.Duration
	// CatchUp is how long the line must be quiet before Read stops collecting newer
	// frames and returns the newest (default 2 ms).
	CatchUp time.Duration
	// SkipConfirm makes SetControl return once the commands are written, without
	// waiting for the stream to show the new mode.
	SkipConfirm bool
	// PressureHPa says the ambient reply gives pressure in hPa, not kPa.
	PressureHPa bool
	// Clock stamps readings; default time.Now.
	Clock func() time.Time
}

// DefaultOpts are the values used for zero fields of Opts.
var DefaultOpts = Opts{
	Version: V81,
	Timeout: time.Second,
	CatchUp: 2 * time.Millisecond,
}

// catchUpMax bounds the bytes one Read collects after its first frame, so a line that
// never goes quiet cannot hold Read forever.
const catchUpMax = 4096

// Dev is one Xincheng dyno controller on a serial link (38400 8N1). Its methods may be
// called from several goroutines; they are serialized.
type Dev struct {
	rw io.ReadWriter
	o  Opts

	mu    sync.Mutex
	sc    *Scanner
	lift  bool // last commanded: the controller does not report the lift
	motor bool // last commanded: nor the motor

	stats struct{ bytesIn, frames, debug, discarded, pending atomic.Uint64 }
}

var (
	_ drivers.Device         = (*Dev)(nil)
	_ drivers.DynoController = (*Dev)(nil)
	_ drivers.Lifter         = (*Dev)(nil)
	_ drivers.Motor          = (*Dev)(nil)
	_ drivers.Ambient        = (*Dev)(nil)
)

// New returns a driver for the controller on rw (normally a go.bug.st/serial port at
// 38400 8N1). It does no I/O.
func New(rw io.ReadWriter, o Opts) (*Dev, error) {
	if rw == nil {
		return nil, errors.New("xincheng: nil port")
	}
	if o.Version.ReplyLen() == 0 {
		return nil, fmt.Errorf("xincheng: unknown protocol version %d", int(o.Version))
	}
	if err := drivers.DefaultDurations(
		drivers.Dur(&o.Timeout, DefaultOpts.Timeout),
		drivers.Dur(&o.CatchUp, DefaultOpts.CatchUp),
	); err != nil {
		return nil, fmt.Errorf("xincheng: %w", err)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Dev{rw: rw, o: o, sc: NewScanner(o.Version)}, nil
}

// Stats are counters of the stream since New.
type Stats struct {
	BytesIn   uint64 // bytes read from the port
	Frames    uint64 // valid reply frames parsed (every one, not only those Read returned)
	Debug     uint64 // debug text frames skipped
	Discarded uint64 // bytes dropped while resynchronising (garbage, torn frames)
	Pending   uint64 // bytes held as the start of an incomplete frame
}

// Stats returns the stream counters. It does not wait for a Read in progress.
func (d *Dev) Stats() Stats {
	return Stats{
		BytesIn:   d.stats.bytesIn.Load(),
		Frames:    d.stats.frames.Load(),
		Debug:     d.stats.debug.Load(),
		Discarded: d.stats.discarded.Load(),
		Pending:   d.stats.pending.Load(),
	}
}

// fill reads what arrives within wait into the scanner. Callers hold d.mu.
func (d *Dev) fill(ctx context.Context, wait time.Duration) (int, error) {
	n, err := drivers.ReadSome(ctx, d.rw, d.sc.Space(), wait)
	d.sc.Commit(n)
	d.stats.bytesIn.Store(d.sc.BytesIn)
	return n, err
}

// next returns the next frame in the scanner and keeps the counters current.
func (d *Dev) next() (Reply, []byte, bool) {
	r, raw, ok := d.sc.Next()
	d.stats.frames.Store(d.sc.Frames)
	d.stats.debug.Store(d.sc.Debug)
	d.stats.discarded.Store(d.sc.Discarded)
	d.stats.pending.Store(uint64(d.sc.Pending()))
	return r, raw, ok
}

// frame is a reply and a copy of its bytes.
type frame struct {
	r   Reply
	raw [ReplyLenV81]byte
	n   int
}

func (f *frame) set(r Reply, raw []byte) {
	f.r = r
	f.n = copy(f.raw[:], raw)
}

// Read returns the newest complete stream frame: speed (km/h), force (N) and the power
// they make (kW). It first takes what has already arrived; if that holds no frame it
// waits up to Opts.Timeout for one; then it keeps reading while the line delivers more,
// so a backlog is skipped, not replayed. Garbage between frames is skipped. Status has
// Controlling when the frame says the controller is in a control mode, and LiftUp and
// MotorOn as last commanded (the controller does not report them). Raw is the frame.
func (d *Dev) Read(ctx context.Context) (drivers.Reading, error) {
	if err := ctx.Err(); err != nil {
		return drivers.Reading{}, fmt.Errorf("xincheng: read: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var last frame
	found := false
	take := func() {
		for {
			r, raw, ok := d.next()
			if !ok {
				return
			}
			if r.Func.IsStream() {
				last.set(r, raw)
				found = true
			}
		}
	}
	take()
	garbage := d.sc.Discarded
	deadline := time.Now().Add(d.o.Timeout)
	for !found {
		wait := time.Until(deadline)
		if wait <= 0 {
			return drivers.Reading{}, drivers.NoFrame("xincheng", "read", d.sc.Discarded > garbage || d.sc.Pending() > 0, d.o.Timeout)
		}
		_, err := d.fill(ctx, wait)
		take()
		if err != nil && !found {
			return drivers.Reading{}, fmt.Errorf("xincheng: read: %w", err)
		}
	}
	d.catchUp(ctx, take)
	return d.reading(&last), nil
}

// catchUp reads while the line keeps delivering (up to catchUpMax bytes), passing the
// frames to take. Errors are left for the next read to see.
func (d *Dev) catchUp(ctx context.Context, take func()) {
	for budget := catchUpMax; budget > 0; {
		n, err := d.fill(ctx, d.o.CatchUp)
		take()
		if n == 0 || err != nil {
			return
		}
		budget -= n
	}
}

// decimal turns a float32 into the float64 of its shortest decimal form (25.6, not
// 25.600000381), which is what the controller meant.
func decimal(f float32) float64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	if err != nil {
		return float64(f)
	}
	return v
}

// state is the part of Status the driver knows from its own commands. Callers hold d.mu.
func (d *Dev) state() drivers.Status {
	var s drivers.Status
	if d.lift {
		s |= drivers.LiftUp
	}
	if d.motor {
		s |= drivers.MotorOn
	}
	return s
}

func (d *Dev) reading(f *frame) drivers.Reading {
	speed, force := decimal(f.r.V[0]), decimal(f.r.V[1])
	st := d.state()
	if f.r.Func.Controlling() {
		st |= drivers.Controlling
	}
	raw := make([]byte, f.n)
	copy(raw, f.raw[:f.n])
	return drivers.Reading{
		Time: d.o.Clock(),
		Values: map[drivers.Quantity]float64{
			drivers.SpeedKmh: speed,
			drivers.ForceN:   force,
			drivers.PowerKW:  speed / 3.6 * force / 1000,
		},
		Status: st,
		Raw:    raw,
	}
}

// send writes command c with argument v, after discarding what the controller sent
// before (so an old frame cannot confirm the command). Callers hold d.mu.
func (d *Dev) send(ctx context.Context, c Cmd, v float32) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("xincheng: %v: %w", c, err)
	}
	d.catchUp(ctx, func() {
		for {
			if _, _, ok := d.next(); !ok {
				return
			}
		}
	})
	b := EncodeCommand(c, v)
	n, err := d.rw.Write(b[:])
	if err != nil {
		return fmt.Errorf("xincheng: %v: write: %w", c, err)
	}
	if n != len(b) {
		return fmt.Errorf("xincheng: %v: wrote %d of %d bytes: %w", c, n, len(b), io.ErrShortWrite)
	}
	return nil
}

// await reads the stream until a frame satisfies match, for at most Opts.Timeout.
// Callers hold d.mu.
func (d *Dev) await(ctx context.Context, what string, match func(Reply) bool) (frame, error) {
	var f frame
	deadline := time.Now().Add(d.o.Timeout)
	seen := false
	for {
		for {
			r, raw, ok := d.next()
			if !ok {
				break
			}
			if match(r) {
				f.set(r, raw)
				return f, nil
			}
			seen = true
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			if seen {
				return f, fmt.Errorf("xincheng: %s: not confirmed by the stream within %v: %w", what, d.o.Timeout, drivers.ErrTimeout)
			}
			return f, drivers.NoFrame("xincheng", what, d.sc.Pending() > 0, d.o.Timeout)
		}
		if _, err := d.fill(ctx, wait); err != nil {
			return f, fmt.Errorf("xincheng: %s: %w", what, err)
		}
	}
}

// SetControl starts a control mode with its target in canonical units (km/h, N, kW)
// or, with drivers.ControlOff, stops control. Like the lane software it writes the
// target ('XS…') and then the start ('XB…'); unless Opts.SkipConfirm it then waits for
// the stream to carry the mode's code ('ABS', 'ABF', 'ABP'; 'AII' when off).
func (d *Dev) SetControl(ctx context.Context, mode drivers.ControlMode, target float64) error {
	var set, start, want Cmd
	switch mode {
	case drivers.ControlOff:
		start, want = StopControl, StreamIdle
	case drivers.ControlSpeed:
		set, start, want = SetSpeed, StartSpeed, StreamSpeed
	case drivers.ControlForce:
		set, start, want = SetForce, StartForce, StreamForce
	case drivers.ControlPower:
		set, start, want = SetPower, StartPower, StreamPower
	default:
		return fmt.Errorf("xincheng: unknown control mode %d", int(mode))
	}
	if mode != drivers.ControlOff {
		if math.IsNaN(target) || target < 0 || target > math.MaxFloat32 {
			return fmt.Errorf("xincheng: control target %v out of range", target)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if mode != drivers.ControlOff {
		if err := d.send(ctx, set, float32(target)); err != nil {
			return err
		}
	}
	if err := d.send(ctx, start, 0); err != nil {
		return err
	}
	if d.o.SkipConfirm {
		return nil
	}
	_, err := d.await(ctx, "control "+start.String(), func(r Reply) bool { return r.Func == want })
	return err
}

// SetLift raises ('XJU') or lowers ('XJD') the lift. The controller does not confirm it.
func (d *Dev) SetLift(ctx context.Context, up bool) error {
	c := LiftDown
	if up {
		c = LiftUp
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.send(ctx, c, 0); err != nil {
		return err
	}
	d.lift = up
	return nil
}

// SetMotor starts ('XEB') or stops ('XES') the drive motor. The controller does not
// confirm it.
func (d *Dev) SetMotor(ctx context.Context, on bool) error {
	c := MotorStop
	if on {
		c = MotorStart
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.send(ctx, c, 0); err != nil {
		return err
	}
	d.motor = on
	return nil
}

// Send writes any command with its argument, without waiting for anything: the escape
// hatch for set-up commands the driver has no method for (PID gains, calibration…).
func (d *Dev) Send(ctx context.Context, c Cmd, v float32) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.send(ctx, c, v)
}

// ZeroForce zeroes the selected force channel ('XSZ').
func (d *Dev) ZeroForce(ctx context.Context) error { return d.Send(ctx, ZeroForce, 0) }

// ClearKey clears the remote-key value ('XSK'); the vendor asks hosts to do this after
// reading a key.
func (d *Dev) ClearKey(ctx context.Context) error { return d.Send(ctx, ClearKey, 0) }

// SetBaseMass tells the controller the vehicle's base (reference) mass in kg ('XSM').
func (d *Dev) SetBaseMass(ctx context.Context, kg float64) error {
	return d.Send(ctx, SetBaseMass, float32(kg))
}

// SetInertia sets the dyno's base inertia in kg ('XSN').
func (d *Dev) SetInertia(ctx context.Context, kg float64) error {
	return d.Send(ctx, SetInertia, float32(kg))
}

// Query sends read command c and returns the reply frame with the same code (for
// example ReadRoller → 'ARS'). ReadForceCoef is answered by 'ARA' and 'ARB', not 'ARF',
// so Query cannot read it.
func (d *Dev) Query(ctx context.Context, c Cmd) (Reply, []byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.send(ctx, c, 0); err != nil {
		return Reply{}, nil, err
	}
	f, err := d.await(ctx, "query "+c.String(), func(r Reply) bool { return r.Func == c })
	if err != nil {
		return Reply{}, nil, err
	}
	raw := make([]byte, f.n)
	copy(raw, f.raw[:f.n])
	return f.r, raw, nil
}

// ReadAmbient reads the controller's ambient sensors ('XRT' → 'ART'): temperature °C,
// relative humidity % and barometric pressure (kPa; hPa with Opts.PressureHPa).
func (d *Dev) ReadAmbient(ctx context.Context) (drivers.Reading, error) {
	r, raw, err := d.Query(ctx, ReadAmbient)
	if err != nil {
		return drivers.Reading{}, err
	}
	vals := [3]float64{decimal(r.V[0]), decimal(r.V[1]), decimal(r.V[2])}
	for _, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return drivers.Reading{}, fmt.Errorf("xincheng: ambient: non-finite value: %w", drivers.ErrFrame)
		}
	}
	p := vals[2]
	if d.o.PressureHPa {
		p /= 10
	}
	return drivers.Reading{
		Time: d.o.Clock(),
		Values: map[drivers.Quantity]float64{
			drivers.TempC:       vals[0],
			drivers.RHpct:       vals[1],
			drivers.PressureKPa: p,
		},
		Raw: raw,
	}, nil
}

// ReadInertia reads the dyno's base inertia and the vehicle base mass it was given, both
// in kg ('XRI' → 'ARI').
func (d *Dev) ReadInertia(ctx context.Context) (inertiaKg, baseMassKg float64, err error) {
	r, _, err := d.Query(ctx, ReadInertia)
	if err != nil {
		return 0, 0, err
	}
	return decimal(r.V[0]), decimal(r.V[1]), nil
}

// ReadRoller reads the roller diameter (cm) and the encoder pulses per turn
// ('XRS' → 'ARS').
func (d *Dev) ReadRoller(ctx context.Context) (diameterCm, pulses float64, err error) {
	r, _, err := d.Query(ctx, ReadRoller)
	if err != nil {
		return 0, 0, err
	}
	return decimal(r.V[0]), decimal(r.V[1]), nil
}
