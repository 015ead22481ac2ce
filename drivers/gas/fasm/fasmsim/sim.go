// Package fasmsim simulates a Foshan-Fenxi FASM-5000 analyzer (the device side of
// package fasm): framed commands with two checksums, little-endian data, warm-up, zero
// and leak check ending with an unsolicited result frame, pump paths, calibration-gas
// storage, a simulated car (nanhuasim.Car), ambient sensors and the fault modes of
// nanhuasim (NAK-all answers 0x19 "cannot answer"). It is not the specification: the
// traces in ../testdata are.
package fasmsim

import (
	"context"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"imagent/drivers"
	"imagent/drivers/gas/fasm"
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

// Options configure a Sim. The zero value of each field is usable.
type Options struct {
	Addr       byte          // default 0x01
	Warmup     time.Duration // while warming up, zero, leak check and calibration are answered 0x19
	OpTime     time.Duration // how long a zero or leak check runs before its result frame
	ZeroFail   bool
	Leak       bool
	PEF        float64 // default 0.53
	CalNOScale float64 // default 100, like fasm.DefaultOpts

	Vehicle nanhuasim.Vehicle // default nanhuasim.NewCar(Seed)
	Ambient nanhua.Ambient    // default 20 °C, 101.3 kPa, 50 %
	Clock   func() time.Time  // default time.Now
	Seed    uint64
}

const staleInput = time.Second

// Sim is one simulated analyzer. Its setters are safe to call while Serve runs.
type Sim struct {
	o     Options
	start time.Time

	mu      sync.Mutex
	mode    Mode
	rng     *rand.Rand
	in      []byte
	inAt    time.Time
	path    byte // last pump command, 0 or CmdStopPump: off
	op      byte // CmdZero or CmdLeakCheck while one runs
	opEnd   time.Time
	gas     *drivers.CalGas
	ambient nanhua.Ambient
	zeroGas byte
}

// New returns a simulator.
func New(o Options) *Sim {
	if o.Addr == 0 {
		o.Addr = fasm.DefaultAddr
	}
	if o.PEF == 0 {
		o.PEF = 0.53
	}
	if o.CalNOScale == 0 {
		o.CalNOScale = 100
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Vehicle == nil {
		o.Vehicle = nanhuasim.NewCar(o.Seed)
	}
	if o.Ambient == (nanhua.Ambient{}) {
		o.Ambient = nanhua.Ambient{TempC: 20, PressureKPa: 101.3, RHpct: 50}
	}
	return &Sim{o: o, start: o.Clock(), rng: rand.New(rand.NewPCG(o.Seed, 0x6666)), ambient: o.Ambient}
}

// SetMode switches fault injection.
func (s *Sim) SetMode(m Mode) { s.mu.Lock(); s.mode = m; s.mu.Unlock() }

// SetAmbient sets what the ambient sensors read.
func (s *Sim) SetAmbient(a nanhua.Ambient) { s.mu.Lock(); s.ambient = a; s.mu.Unlock() }

// Path is the last pump command (fasm.CmdPumpProbe, fasm.PathAir...; 0 or
// fasm.CmdStopPump when off).
func (s *Sim) Path() byte { s.mu.Lock(); defer s.mu.Unlock(); return s.path }

// CalGas is the last calibration gas written.
func (s *Sim) CalGas() (drivers.CalGas, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gas == nil {
		return drivers.CalGas{}, false
	}
	return *s.gas, true
}

// ZeroGas is the data byte of the last zero-gas command (0 air, 1 bottled).
func (s *Sim) ZeroGas() byte { s.mu.Lock(); defer s.mu.Unlock(); return s.zeroGas }

var garbageStart = []byte{0x07, 0x3f, 0x55, 0x7e, 0x5a, 0xc3, 0xf0, 0xff}

func (s *Sim) frame(cmd byte, data []byte) []byte {
	return fasm.EncodeFrame(fasm.RepHead, s.o.Addr, cmd, data)
}

// Reply takes one byte from the host and returns the answer once a whole frame is in
// (nil before, for noise and for frames to other addresses), after fault injection.
func (s *Sim) Reply(in byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Clock()
	if len(s.in) > 0 && now.Sub(s.inAt) >= staleInput {
		s.in = s.in[:0]
	}
	if len(s.in) < 2 && in != fasm.ReqHead {
		s.in = s.in[:0]
		return nil
	}
	s.in = append(s.in, in)
	s.inAt = now
	if len(s.in) < fasm.HeaderLen {
		return nil
	}
	h, err := fasm.DecodeHeader(s.in[:fasm.HeaderLen], fasm.ReqHead)
	if err != nil {
		s.in = s.in[:0]
		if s.mode == Silent {
			return nil
		}
		return s.fault(s.frame(fasm.RespCantAnswer, nil))
	}
	if len(s.in) < fasm.HeaderLen+h.Len {
		return nil
	}
	req := s.in
	s.in = nil
	if h.Addr != s.o.Addr {
		return nil
	}
	switch s.mode {
	case Silent:
		return nil
	case NAKAll:
		return s.frame(fasm.RespCantAnswer, nil)
	}
	f, err := fasm.DecodeFrame(req, fasm.ReqHead)
	if err != nil {
		return s.fault(s.frame(fasm.RespCantAnswer, nil))
	}
	return s.fault(s.answer(f, now))
}

func (s *Sim) fault(r []byte) []byte {
	switch s.mode {
	case Garbage:
		// Never a byte a valid reply could start with.
		return simport.Garbage(s.rng, len(r), garbageStart)
	case BadChecksum:
		r[len(r)-1] ^= 0x5a
	case Truncated:
		r = r[:len(r)/2]
	}
	return r
}

func (s *Sim) warming(now time.Time) bool { return now.Sub(s.start) < s.o.Warmup }

// answer is the correct answer to f; s.mu is held.
func (s *Sim) answer(f fasm.Frame, now time.Time) []byte {
	echo := s.frame(f.Cmd, f.Data)
	switch f.Cmd {
	case fasm.CmdData:
		return fasm.EncodeData(s.o.Addr, s.data(now))
	case fasm.CmdPEF:
		return fasm.EncodePEF(s.o.Addr, s.o.PEF)
	case fasm.CmdZero, fasm.CmdLeakCheck:
		if s.warming(now) || s.op != 0 {
			return s.frame(fasm.RespCantAnswer, nil)
		}
		s.op, s.opEnd = f.Cmd, now.Add(s.o.OpTime)
		return echo
	case fasm.CmdWriteCal:
		if s.warming(now) {
			return s.frame(fasm.RespCantAnswer, nil)
		}
		g, err := fasm.DecodeCalData(f.Data, s.o.CalNOScale)
		if err != nil {
			return s.frame(fasm.RespCantAnswer, nil)
		}
		s.gas = &g
		return echo
	case fasm.CmdZeroGas:
		if len(f.Data) != 1 || f.Data[0] > 1 {
			return s.frame(fasm.RespCantAnswer, nil)
		}
		s.zeroGas = f.Data[0]
		return echo
	case fasm.CmdStopPump, fasm.CmdPumpProbe, fasm.CmdPumpAir, fasm.CmdPumpZeroGas, fasm.CmdPumpCheck, fasm.CmdPumpSpan,
		fasm.CmdBackflush, fasm.CmdLeakPump:
		s.path = f.Cmd
		return echo
	}
	return s.frame(fasm.RespCantAnswer, nil)
}

// Poll returns the frame the analyzer sends by itself at now: the result of a zero or
// leak check that has just ended (nil if none). Serve calls it between reads.
func (s *Sim) Poll() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Clock()
	if s.op == 0 || now.Before(s.opEnd) {
		return nil
	}
	fail := s.op == fasm.CmdZero && s.o.ZeroFail || s.op == fasm.CmdLeakCheck && s.o.Leak
	s.op = 0
	if s.mode == Silent {
		return nil
	}
	if fail {
		return s.frame(fasm.RespFail, nil)
	}
	return s.frame(fasm.RespSuccess, nil)
}

func (s *Sim) data(now time.Time) fasm.Data {
	e := s.o.Vehicle.Exhaust(now)
	switch {
	case s.op != 0 || s.warming(now):
		e = nanhuasim.Exhaust{CO2pct: 0.04, O2pct: 20.9, RPM: e.RPM, OilTempC: e.OilTempC}
	case s.path == fasm.CmdPumpProbe:
	case s.path == fasm.CmdPumpZeroGas:
		e = nanhuasim.Exhaust{RPM: e.RPM, OilTempC: e.OilTempC}
	case s.path == fasm.CmdPumpSpan && s.gas != nil:
		e = nanhuasim.Exhaust{HCppm: s.gas.C3H8ppm * s.o.PEF, COpct: s.gas.COpct, CO2pct: s.gas.CO2pct, NOppm: s.gas.NOppm,
			RPM: e.RPM, OilTempC: e.OilTempC}
	default:
		e = nanhuasim.Exhaust{CO2pct: 0.04, O2pct: 20.9, RPM: e.RPM, OilTempC: e.OilTempC}
	}
	flow := 0.0
	if s.path != 0 && s.path != fasm.CmdStopPump {
		flow = 100
	}
	return fasm.Data{HC: e.HCppm, CO: e.COpct, CO2: e.CO2pct, O2: e.O2pct, NO: e.NOppm, Lambda: nanhuasim.Lambda(e, nanhua.Gasoline),
		RPM: e.RPM, OilTemp: e.OilTempC, Flow: flow, PressureKPa: s.ambient.PressureKPa, TempC: s.ambient.TempC, RHpct: s.ambient.RHpct}
}

// Serve answers frames on rw and sends result frames when they are due, until ctx is
// done (then it returns nil) or rw fails, with the pty-master rules of
// nanhuasim.Sim.Serve (EIO: nobody has the slave open; wait).
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	return simport.Server{Name: "fasmsim", Input: simport.PerByte(s.Reply), Poll: s.Poll, BufSize: 64, PollSlice: 20 * time.Millisecond}.Serve(ctx, rw)
}
