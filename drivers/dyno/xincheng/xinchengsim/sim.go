// Package xinchengsim simulates a Chengdu Xincheng dyno controller (protocol 8.0/8.1, the
// device side of package xincheng): it streams speed, force and duty every Period,
// answers read commands, obeys control, lift and motor commands, and drives a Roller with
// a simulated vehicle on it. Faults (silence, garbage, torn or corrupt frames, debug
// text) can be switched on while it runs. It serves driver tests over a real pty, agent
// end-to-end tests and bench demos. It is not the specification: traces in ../testdata are.
package xinchengsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"imagent/drivers"
	"imagent/drivers/dyno/xincheng"
	"imagent/drivers/simport"
)

// Mode is a fault-injection mode, settable while the simulator runs.
type Mode int32

// Modes.
const (
	Normal    Mode = iota // stream correct frames
	Silent                // send nothing (commands are still obeyed)
	Garbage               // send only random bytes, never a valid frame
	Noisy                 // valid frames with random bytes and debug text between them
	Corrupt               // frames whose tail byte is wrong
	Truncated             // only the first half of each frame
)

func (m Mode) String() string {
	switch m {
	case Normal:
		return "normal"
	case Silent:
		return "silent"
	case Garbage:
		return "garbage"
	case Noisy:
		return "noisy"
	case Corrupt:
		return "corrupt"
	case Truncated:
		return "truncated"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Ambient is what the controller's ambient sensors read.
type Ambient struct {
	TempC, RHpct, PressureKPa float64
}

// Options configure a Sim. The zero value of each field is usable.
type Options struct {
	Version xincheng.Version // default 8.1
	Period  time.Duration    // stream period, default 20 ms (the vendor says 10–30 ms)
	Roller  *Roller          // default NewRoller(RollerOptions{Seed: Seed})
	Ambient Ambient          // default 20 °C, 50 %, 101.3 kPa; read with a little noise
	// PressureHPa sends the ambient pressure in hPa (see xincheng.Opts.PressureHPa).
	PressureHPa  bool
	DiameterCm   float64          // roller diameter reported by 'XRS', default 21.8
	PulsesPerRev float64          // encoder pulses reported by 'XRS', default 600
	Clock        func() time.Time // drives the physics; default time.Now (the stream is paced by real time)
	Seed         uint64           // garbage bytes and noise
}

// Sim is one simulated controller. Its setters are safe to call while Serve runs.
type Sim struct {
	o      Options
	roller *Roller
	err    error

	mu        sync.Mutex
	mode      Mode
	rng       *rand.Rand
	ambient   Ambient
	key       byte
	setSpeed  float64
	setForce  float64
	setPower  float64
	baseMass  float64
	inertia   float64
	badCmds   uint64
	cmds      uint64
	sent      uint64
	dropped   uint64
	lastCmd   xincheng.Cmd
	debugNext bool
}

// New returns a simulator; a bad Options.Version is reported by Serve.
func New(o Options) *Sim {
	if o.Period <= 0 {
		o.Period = 20 * time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Roller == nil {
		o.Roller = NewRoller(RollerOptions{Seed: o.Seed})
	}
	if o.Ambient == (Ambient{}) {
		o.Ambient = Ambient{TempC: 20, RHpct: 50, PressureKPa: 101.3}
	}
	if o.DiameterCm <= 0 {
		o.DiameterCm = 21.8
	}
	if o.PulsesPerRev <= 0 {
		o.PulsesPerRev = 600
	}
	s := &Sim{
		o:       o,
		roller:  o.Roller,
		rng:     rand.New(rand.NewPCG(o.Seed, 0x78696e)),
		ambient: o.Ambient,
		inertia: o.Roller.o.InertiaKg,
	}
	if o.Version.ReplyLen() == 0 {
		s.err = fmt.Errorf("xinchengsim: unknown protocol version %d", int(o.Version))
	}
	return s
}

// Roller returns the simulated machine, to drive the vehicle (SetThrottle,
// SetDriveSpeed) and to look at its state.
func (s *Sim) Roller() *Roller { return s.roller }

// SetThrottle sets the simulated vehicle's accelerator, 0..1 (see Roller.SetThrottle).
func (s *Sim) SetThrottle(x float64) { s.roller.SetThrottle(x) }

// SetDriveSpeed makes the simulated driver hold kmh against the load (see
// Roller.SetDriveSpeed); a negative kmh hands back to SetThrottle.
func (s *Sim) SetDriveSpeed(kmh float64) { s.roller.SetDriveSpeed(kmh) }

// SetMode switches fault injection.
func (s *Sim) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// SetAmbient sets what the ambient sensors read.
func (s *Sim) SetAmbient(a Ambient) {
	s.mu.Lock()
	s.ambient = a
	s.mu.Unlock()
}

// SetKey sets the key byte of version 8.1 frames (photocells in bits 0..2, remote key
// number from bit 3); 'XSK' clears the key number.
func (s *Sim) SetKey(k byte) {
	s.mu.Lock()
	s.key = k
	s.mu.Unlock()
}

// Counters of the simulator since New.
type Counters struct {
	Commands    uint64 // valid commands received
	BadCommands uint64 // command frames with a bad checksum or framing
	Sent        uint64 // frames written (stream and answers)
	Dropped     uint64 // frames not written because nobody had the port open or it was full
}

// Counters returns the simulator's counters.
func (s *Sim) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Counters{Commands: s.cmds, BadCommands: s.badCmds, Sent: s.sent, Dropped: s.dropped}
}

// LastCommand is the code of the last valid command received.
func (s *Sim) LastCommand() xincheng.Cmd {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastCmd
}

// BaseMass is the vehicle base mass last set with 'XSM'.
func (s *Sim) BaseMass() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseMass
}

// Serve streams frames and answers commands on rw until ctx is done (then it returns
// nil) or rw fails. rw is normally a pty master (simport.Open): EIO there means no
// process has the slave open, and Serve drops frames until one does. rw must support
// read deadlines for the stream to be paced; write deadlines, if present, keep a full
// buffer from blocking the simulator.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	if s.err != nil {
		return s.err
	}
	l := simport.NewLink("xinchengsim", rw)
	if !l.HasDeadlines() {
		return errors.New("xinchengsim: Serve needs a reader with SetReadDeadline (a pty master)")
	}
	wd, _ := rw.(interface{ SetWriteDeadline(time.Time) error })
	var in [256]byte
	var cmd []byte
	attached := false
	next := time.Now().Add(s.o.Period)
	for {
		wait := max(time.Until(next), time.Millisecond)
		n, st, err := l.Read(ctx, in[:], time.Now().Add(wait))
		switch st {
		case simport.Stopped:
			return err
		case simport.Detached: // nobody has the slave open
			attached = false
		default:
			attached = true
		}
		for _, b := range in[:n] {
			cmd = append(cmd, b)
			cmd = s.parse(cmd, func(out []byte) { s.write(rw, wd, attached, out) })
		}
		if ctx.Err() != nil { // stopped while waiting: send nothing more
			return nil
		}
		if now := time.Now(); !now.Before(next) {
			s.write(rw, wd, attached, s.StreamFrame())
			next = next.Add(s.o.Period)
			if now.Sub(next) > s.o.Period { // fell behind (e.g. paused): do not burst
				next = now.Add(s.o.Period)
			}
		}
	}
}

// write sends out (if anyone listens) within one period.
func (s *Sim) write(w io.Writer, wd interface{ SetWriteDeadline(time.Time) error }, attached bool, out []byte) {
	if len(out) == 0 {
		return
	}
	if !attached {
		s.count(false)
		return
	}
	if wd != nil {
		if err := wd.SetWriteDeadline(time.Now().Add(s.o.Period)); err != nil {
			s.count(false)
			return
		}
	}
	_, err := w.Write(out)
	s.count(err == nil)
}

func (s *Sim) count(sent bool) {
	s.mu.Lock()
	if sent {
		s.sent++
	} else {
		s.dropped++
	}
	s.mu.Unlock()
}

// parse consumes complete commands at the start of buf, answering through reply, and
// returns what is left (at most one incomplete command). Bytes that cannot start a
// command are skipped.
func (s *Sim) parse(buf []byte, reply func([]byte)) []byte {
	for len(buf) > 0 {
		if buf[0] != xincheng.HeadCommand {
			buf = buf[1:]
			continue
		}
		if len(buf) < xincheng.CommandLen {
			return buf
		}
		c, v, err := xincheng.DecodeCommand(buf[:xincheng.CommandLen])
		if err != nil {
			s.mu.Lock()
			s.badCmds++
			s.mu.Unlock()
			buf = buf[1:]
			continue
		}
		buf = buf[xincheng.CommandLen:]
		reply(s.Command(c, v))
	}
	return buf
}

// Command carries out one command and returns the frame it answers with (nil for none).
// Serve calls it; tests may call it directly.
func (s *Sim) Command(c xincheng.Cmd, v float32) []byte {
	now := s.o.Clock()
	s.roller.Step(now)
	s.mu.Lock()
	s.cmds++
	s.lastCmd = c
	f := float64(v)
	var answer *xincheng.Reply
	switch c {
	case xincheng.SetSpeed:
		s.setSpeed = f
	case xincheng.SetForce:
		s.setForce = f
	case xincheng.SetPower:
		s.setPower = f
	case xincheng.SetBaseMass:
		s.baseMass = f
	case xincheng.SetInertia:
		s.inertia = f
	case xincheng.ClearKey:
		s.key &= 0x07
	case xincheng.StartSpeed:
		s.roller.SetControl(drivers.ControlSpeed, s.setSpeed)
	case xincheng.StartForce:
		s.roller.SetControl(drivers.ControlForce, s.setForce)
	case xincheng.StartPower, xincheng.StartInertia:
		s.roller.SetControl(drivers.ControlPower, s.setPower)
	case xincheng.StopControl:
		s.roller.SetControl(drivers.ControlOff, 0)
	case xincheng.MotorStart:
		s.roller.SetMotor(true)
	case xincheng.MotorStop:
		s.roller.SetMotor(false)
	case xincheng.LiftUp:
		s.roller.SetLift(true)
	case xincheng.LiftDown:
		s.roller.SetLift(false)
	case xincheng.ZeroForce:
		s.roller.ZeroForce()
	case xincheng.ReadAmbient:
		p := s.ambient.PressureKPa
		if s.o.PressureHPa {
			p *= 10
		}
		t, rh := s.ambient.TempC+s.noise(0.05), s.ambient.RHpct+s.noise(0.2)
		p += s.noise(0.01)
		answer = &xincheng.Reply{Func: c, V: [3]float32{float32(t), float32(rh), float32(p)}}
	case xincheng.ReadInertia:
		answer = &xincheng.Reply{Func: c, V: [3]float32{float32(s.inertia), float32(s.baseMass), 0}}
	case xincheng.ReadRoller:
		answer = &xincheng.Reply{Func: c, V: [3]float32{float32(s.o.DiameterCm), float32(s.o.PulsesPerRev), 0}}
	}
	var out []byte
	if answer != nil {
		answer.Key = s.key
		out = s.inject(xincheng.EncodeReply(*answer, s.o.Version))
	}
	s.mu.Unlock()
	return out
}

// StreamFrame is the next streamed frame after fault injection (nil for none): speed,
// force and duty, with the code of the roller's control mode.
func (s *Sim) StreamFrame() []byte {
	st := s.roller.Step(s.o.Clock())
	code := xincheng.StreamIdle
	switch st.Mode {
	case drivers.ControlSpeed:
		code = xincheng.StreamSpeed
	case drivers.ControlForce:
		code = xincheng.StreamForce
	case drivers.ControlPower:
		code = xincheng.StreamPower
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := xincheng.Reply{Func: code, V: [3]float32{float32(st.SpeedKmh), float32(st.ForceN), float32(st.DutyPct)}, Key: s.key}
	return s.inject(xincheng.EncodeReply(r, s.o.Version))
}

// noise is normal noise of standard deviation sd, clipped to ±3 sd, rounded to 0.01 so
// tests can compare with what the driver decodes; s.mu is held.
func (s *Sim) noise(sd float64) float64 {
	if sd == 0 {
		return 0
	}
	return math.Round(100*sd*max(-3, min(3, s.rng.NormFloat64()))) / 100
}

// garbageBytes are never 'A', 'D' or 'C', so garbage cannot form or end a frame.
func (s *Sim) garbageByte() byte {
	for {
		b := byte(s.rng.UintN(256))
		if b != xincheng.HeadReply && b != xincheng.HeadDebug && b != xincheng.Tail {
			return b
		}
	}
}

// inject applies the fault mode to a frame; s.mu is held.
func (s *Sim) inject(f []byte) []byte {
	switch s.mode {
	case Silent:
		return nil
	case Garbage:
		g := make([]byte, len(f))
		for i := range g {
			g[i] = s.garbageByte()
		}
		return g
	case Noisy:
		var out []byte
		for range 1 + s.rng.IntN(6) {
			out = append(out, s.garbageByte())
		}
		if s.debugNext = !s.debugNext; s.debugNext {
			out = append(out, "Dpid ok C"...) // a debug frame: 'D', printable text, 'C'
		}
		return append(out, f...)
	case Corrupt:
		f[len(f)-1] ^= 0x5a
	case Truncated:
		f = f[:len(f)/2]
	}
	return f
}
