// Package mingquansim simulates a Mingquan MQW-50A/50B analyzer (the device side of
// package mingquan): framed commands with two's-complement checksums, warm-up, zero, leak
// check, HC-residual check and gas calibration as timed operations visible in the status
// flags, pump and valves, a simulated car (nanhuasim.Car), ambient sensors and the fault
// modes of nanhuasim. It is not the specification: the traces in ../testdata are.
package mingquansim

import (
	"context"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"imagent/drivers"
	"imagent/drivers/gas/mingquan"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/gas/nanhua/nanhuasim"
	"imagent/drivers/simport"
)

// Mode is a fault-injection mode (the same set as nanhuasim).
type Mode = nanhuasim.Mode

// Fault modes.
const (
	Normal      = nanhuasim.Normal
	Silent      = nanhuasim.Silent
	Garbage     = nanhuasim.Garbage
	BadChecksum = nanhuasim.BadChecksum
	Truncated   = nanhuasim.Truncated
	NAKAll      = nanhuasim.NAKAll
)

// Ambient is what the analyzer's own ambient sensors read.
type Ambient struct{ TempC, RHpct, PressureKPa float64 }

// Options configure a Sim. The zero value of each field is usable.
type Options struct {
	Model    mingquan.Model // default MQW-50A
	Warmup   time.Duration  // warm-up from New
	OpTime   time.Duration  // how long zero, leak check, HC residual and calibration run (0: done at the first poll)
	Leak     bool           // the leak check finds a leak
	ZeroFail bool           // the zero fails
	HCHigh   bool           // the HC residual is over the limit
	SpanFail bool           // every calibrated channel fails
	PEF      float64        // default 0.52

	// CalHCNOScale is the scale of C3H8 and NO in the calibration frame (default 100,
	// like mingquan.DefaultOpts).
	CalHCNOScale float64

	Vehicle nanhuasim.Vehicle // default nanhuasim.NewCar(Seed)
	Ambient Ambient           // default 20 °C, 50 %, 101.3 kPa
	Clock   func() time.Time  // default time.Now
	Seed    uint64
}

type path int

const (
	pathOff path = iota
	pathProbe
	pathAir
	pathN2
	pathSpan
	pathCheck
	pathBack
)

type opKind int

const (
	opNone opKind = iota
	opZero
	opLeak
	opResidual
	opCal
)

// staleInput is how long a half-received frame waits for its next byte.
const staleInput = time.Second

// Sim is one simulated analyzer. Its setters are safe to call while Serve runs.
type Sim struct {
	o     Options
	start time.Time

	mu       sync.Mutex
	mode     Mode
	rng      *rand.Rand
	in       []byte
	inAt     time.Time
	path     path
	op       opKind
	opEnd    time.Time
	errs     byte // status byte 5
	calMask  byte // channels of the running or last calibration
	calFail  byte // status byte 7
	gas      drivers.CalGas
	lowFlow  bool
	ambient  Ambient
	fuel     byte
	commands []byte // every command received, for tests
}

// New returns a simulator.
func New(o Options) *Sim {
	if o.Model == "" {
		o.Model = mingquan.MQW50A
	}
	if o.PEF == 0 {
		o.PEF = 0.52
	}
	if o.CalHCNOScale == 0 {
		o.CalHCNOScale = 100
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Vehicle == nil {
		o.Vehicle = nanhuasim.NewCar(o.Seed)
	}
	if o.Ambient == (Ambient{}) {
		o.Ambient = Ambient{TempC: 20, RHpct: 50, PressureKPa: 101.3}
	}
	return &Sim{o: o, start: o.Clock(), rng: rand.New(rand.NewPCG(o.Seed, 0x6d71)), ambient: o.Ambient}
}

// SetMode switches fault injection.
func (s *Sim) SetMode(m Mode) { s.mu.Lock(); s.mode = m; s.mu.Unlock() }

// SetLowFlow sets the low-flow flag (and a low line pressure).
func (s *Sim) SetLowFlow(low bool) { s.mu.Lock(); s.lowFlow = low; s.mu.Unlock() }

// SetAmbient sets what the ambient sensors read.
func (s *Sim) SetAmbient(a Ambient) { s.mu.Lock(); s.ambient = a; s.mu.Unlock() }

// PumpOn reports whether the pump samples from the probe.
func (s *Sim) PumpOn() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.path == pathProbe }

// Fuel is the data byte of the last fuel command.
func (s *Sim) Fuel() byte { s.mu.Lock(); defer s.mu.Unlock(); return s.fuel }

// CalGas is the gas of the last calibration command and its channel mask.
func (s *Sim) CalGas() (drivers.CalGas, byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gas, s.calMask
}

// Commands returns the command bytes received so far, in order.
func (s *Sim) Commands() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.commands...)
}

// garbageStart are first bytes no answer starts with.
var garbageStart = []byte{0x07, 0x3f, 0x55, 0x7e, 0xa5, 0xc3, 0xf0, 0xff}

// Reply takes one byte from the host and returns the answer once a whole frame is in
// (nil before, and for bytes outside a frame), after fault injection.
func (s *Sim) Reply(in byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Clock()
	if len(s.in) > 0 && now.Sub(s.inAt) >= staleInput {
		s.in = s.in[:0]
	}
	if len(s.in) == 0 && in != mingquan.STX {
		return nil // noise between frames
	}
	s.in = append(s.in, in)
	s.inAt = now
	if len(s.in) < 3 {
		return nil
	}
	if s.in[2] < 3 {
		s.in = s.in[:0]
		return []byte{mingquan.NAK}
	}
	if len(s.in) < int(s.in[2])+1 {
		return nil
	}
	frame := s.in
	s.in = nil
	switch s.mode {
	case Silent:
		return nil
	case NAKAll:
		return []byte{mingquan.NAK}
	}
	r := s.answer(frame, now)
	switch s.mode {
	case Garbage:
		// Never a byte a valid reply could start with.
		return simport.Garbage(s.rng, len(r), garbageStart)
	case BadChecksum:
		if len(r) > 1 {
			r[len(r)-1] ^= 0x5a
		}
	case Truncated:
		r = r[:len(r)/2]
	}
	return r
}

func ack(cmd byte) []byte { return mingquan.EncodeFrame(mingquan.ACK, cmd, nil) }

// answer is the correct answer to a whole frame; s.mu is held.
func (s *Sim) answer(frame []byte, now time.Time) []byte {
	f, err := mingquan.DecodeFrame(frame, mingquan.STX)
	if err != nil {
		return []byte{mingquan.NAK}
	}
	s.commands = append(s.commands, f.Cmd)
	s.finish(now)
	switch f.Cmd {
	case mingquan.CmdData:
		return s.data(now)
	case mingquan.CmdDataB:
		if s.o.Model != mingquan.MQW50B {
			return []byte{mingquan.NAK}
		}
		x := s.data0(now)
		return mingquan.EncodeDataB(mingquan.DataB{CO2: x.CO2, CO: x.CO, HC: x.HC, NO: x.NO, O2: x.O2, OilTemp: x.OilTemp,
			RPM: x.RPM, PipeKPa: x.PipeKPa, Lambda: x.Lambda, PEF: s.o.PEF})
	case mingquan.CmdStatus:
		return mingquan.EncodeStatus(s.status(now))
	case mingquan.CmdZero:
		return s.startOp(opZero, f.Cmd, now)
	case mingquan.CmdLeakCheck:
		return s.startOp(opLeak, f.Cmd, now)
	case mingquan.CmdHCResidual:
		return s.startOp(opResidual, f.Cmd, now)
	case mingquan.CmdCalibrate:
		mask, g, err := mingquan.DecodeCalibrate(frame, s.o.CalHCNOScale)
		if err != nil || mask == 0 {
			return []byte{mingquan.NAK}
		}
		r := s.startOp(opCal, f.Cmd, now)
		if r[0] == mingquan.ACK {
			s.gas, s.calMask, s.calFail = g, mask, 0
		}
		return r
	case mingquan.CmdFuel:
		if len(f.Data) != 1 || f.Data[0] > 2 {
			return []byte{mingquan.NAK}
		}
		s.fuel = f.Data[0]
	case mingquan.CmdZeroGas, mingquan.CmdAutoZero:
		if len(f.Data) != 1 {
			return []byte{mingquan.NAK}
		}
	case mingquan.CmdStopAction:
		s.path = pathOff
	case mingquan.CmdPumpProbe:
		s.path = pathProbe
	case mingquan.CmdPumpAir:
		s.path = pathAir
	case mingquan.CmdPumpN2:
		s.path = pathN2
	case mingquan.CmdSpanGasValve:
		s.path = pathSpan
	case mingquan.CmdCheckGasValve:
		s.path = pathCheck
	case mingquan.CmdBackflush, mingquan.CmdAutoBackflush:
		s.path = pathBack
	case mingquan.CmdBackgroundAir, mingquan.CmdAmbientAir, mingquan.CmdLockKeys, mingquan.CmdUnlockKeys,
		mingquan.CmdStartTest, mingquan.CmdStopTest, mingquan.CmdLCDOn, mingquan.CmdLCDOff, mingquan.CmdDefaults:
	default:
		return []byte{mingquan.NAK}
	}
	return ack(f.Cmd)
}

func (s *Sim) warming(now time.Time) bool { return now.Sub(s.start) < s.o.Warmup }

// startOp starts a timed operation; it is refused (NAK) during warm-up or another one.
func (s *Sim) startOp(k opKind, cmd byte, now time.Time) []byte {
	if s.warming(now) || s.op != opNone {
		return []byte{mingquan.NAK}
	}
	s.op, s.opEnd = k, now.Add(s.o.OpTime)
	return ack(cmd)
}

// finish ends a due operation and records its result; s.mu is held.
func (s *Sim) finish(now time.Time) {
	if s.op == opNone || now.Before(s.opEnd) {
		return
	}
	set := func(bit byte, on bool) {
		s.errs &^= bit
		if on {
			s.errs |= bit
		}
	}
	switch s.op {
	case opZero:
		set(mingquan.ErrZero, s.o.ZeroFail)
	case opLeak:
		set(mingquan.ErrLeak, s.o.Leak)
	case opResidual:
		set(mingquan.ErrHCResidual, s.o.HCHigh)
	case opCal:
		if s.o.SpanFail {
			s.calFail = s.calMask
		}
	}
	s.op = opNone
}

func (s *Sim) status(now time.Time) mingquan.Status {
	var st mingquan.Status
	if s.warming(now) {
		st.State |= mingquan.StateWarmup
		st.Action |= mingquan.ActionBusy
	}
	switch s.op {
	case opZero:
		st.State |= mingquan.StateZeroing
	case opLeak:
		st.State |= mingquan.StateLeakCheck
	case opResidual:
		st.State |= mingquan.StateHCResidual
	case opCal:
		st.Calibrating = s.calMask
	}
	if s.op != opNone {
		st.Action |= mingquan.ActionBusy
	}
	if s.path == pathBack {
		st.State |= mingquan.StateBackflush
	}
	if s.lowFlow {
		st.State |= mingquan.StateLowFlow
	}
	if s.path != pathOff && s.path != pathBack {
		st.Action |= mingquan.ActionPumpOn
	}
	st.Errors, st.CalFailed = s.errs, s.calFail
	return st
}

func (s *Sim) data(now time.Time) []byte { return mingquan.EncodeData(s.data0(now)) }

func (s *Sim) data0(now time.Time) mingquan.Data {
	e := s.o.Vehicle.Exhaust(now)
	air := nanhuasim.Exhaust{CO2pct: 0.04, O2pct: 20.9, RPM: e.RPM, OilTempC: e.OilTempC}
	switch {
	case s.warming(now) || s.op == opZero || s.op == opLeak:
		e = air
	case s.path == pathProbe:
	case s.path == pathN2:
		e = nanhuasim.Exhaust{RPM: e.RPM, OilTempC: e.OilTempC}
	case s.path == pathSpan:
		e = nanhuasim.Exhaust{HCppm: s.gas.C3H8ppm * s.o.PEF, COpct: s.gas.COpct, CO2pct: s.gas.CO2pct, O2pct: s.gas.O2pct,
			NOppm: s.gas.NOppm, RPM: e.RPM, OilTempC: e.OilTempC}
	default:
		e = air
	}
	pipe := 0.0
	if s.path != pathOff {
		pipe = -2.5
	}
	if s.lowFlow {
		pipe = -8
	}
	return mingquan.Data{CO2: e.CO2pct, CO: e.COpct, HC: e.HCppm, NO: e.NOppm, O2: e.O2pct, RH: s.ambient.RHpct,
		OilTemp: e.OilTempC, AmbientTemp: s.ambient.TempC, RPM: e.RPM, PipeKPa: pipe,
		Lambda: nanhuasim.Lambda(e, nanhua.Fuel(s.fuel)), PressureKPa: s.ambient.PressureKPa}
}

// Serve answers frames on rw until ctx is done (then it returns nil) or rw fails, with
// the pty-master rules of nanhuasim.Sim.Serve (EIO: nobody has the slave open; wait).
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	return simport.Server{Name: "mingquansim", Input: simport.PerByte(s.Reply), BufSize: 64}.Serve(ctx, rw)
}
