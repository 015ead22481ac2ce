// Package nanhuasim simulates a Nanhua/Fuli single-byte-command gas analyzer (the device
// side of package nanhua), with warm-up, zeroing, leak check, pump, calibration- and
// check-gas writes in both styles, span and gas check with a reading that rises towards
// the bottle, PEF, HC hanging in the sample path, a simulated car and fault injection. It
// serves examples, driver tests over a real pty, agent end-to-end tests and bench demos.
// It is not the specification: traces in ../testdata are.
package nanhuasim

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"imagent/drivers"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/simport"
)

// Mode is a fault-injection mode, settable while the simulator runs.
type Mode int32

// Modes.
const (
	Normal      Mode = iota // answer correctly
	Silent                  // answer nothing
	Garbage                 // answer random bytes (never a valid first byte)
	BadChecksum             // answer data frames with a wrong checksum (1-byte replies as usual)
	Truncated               // answer only the first half of each reply
	NAKAll                  // answer NAK to every command
)

func (m Mode) String() string {
	switch m {
	case Normal:
		return "normal"
	case Silent:
		return "silent"
	case Garbage:
		return "garbage"
	case BadChecksum:
		return "bad-checksum"
	case Truncated:
		return "truncated"
	case NAKAll:
		return "nak-all"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Options configure a Sim. The zero value of each field is usable.
type Options struct {
	Model    nanhua.Model  // default NHA-503
	Warmup   time.Duration // warm-up time from New
	ZeroTime time.Duration // how long a zero runs (0: finishes at once)
	LeakTime time.Duration // how long a leak check runs (0: ZeroTime)
	Leak     bool          // the leak check finds a leak

	Legacy19          bool // answer main data with the 19-byte old-firmware frame
	FLA502HexCommands bool // accept FLA-502 items from 10 on as VMAS sends them (see nanhua.Opts)

	// CalGasStyle is how items 9 and 11 take the concentrations (CalGasAuto: the model's).
	CalGasStyle nanhua.CalGasStyle
	// SpanFormat is how span and gas-check progress data are sent.
	SpanFormat nanhua.SpanFormat
	// SpanTime is how long a span (item 10) or gas check (item 12) runs; 0 finishes at
	// once, without progress data. The bench's reading of the gas rises towards the bottle
	// values with a time constant of SpanTime/5.
	SpanTime time.Duration
	SpanFail bool    // the span and the gas check fail (answer 01)
	PEF      float64 // propane equivalence factor, default 0.505

	// ResidualHC is the HC (ppm) hanging in the probe and hose at power-up; it is flushed
	// out with time constant ResidualTau (default 4 s) while the pump samples through the
	// probe. SetResidualHC sets it again.
	ResidualHC  float64
	ResidualTau time.Duration

	Vehicle Vehicle          // default NewCar(Seed)
	Ambient nanhua.Ambient   // default 20 °C, 101.3 kPa, 50 %
	Clock   func() time.Time // default time.Now
	Seed    uint64           // for garbage bytes and the default car's noise
}

type pumpState int

const (
	pumpOff pumpState = iota
	pumpProbe
	pumpAir
	pumpBack
)

type opKind int

const (
	opNone opKind = iota
	opZero
	opLeak
	opSpan
	opCheck
)

// staleInput is how long a half-received gas write may wait for its next byte before
// the simulator forgets it and reads the byte as a new command.
const staleInput = time.Second

// Sim is one simulated analyzer. Its setters are safe to call while Serve runs.
type Sim struct {
	o     Options
	cmds  map[byte]nanhua.Cmd
	err   error // configuration error, reported by Serve
	start time.Time

	mu      sync.Mutex
	mode    Mode
	rng     *rand.Rand
	pump    pumpState
	op      opKind
	opEnd   time.Time
	lowFlow bool
	aged    bool
	ambient nanhua.Ambient
	fuel    nanhua.Fuel

	calStyle nanhua.CalGasStyle
	pend     []byte             // bytes of a gas write being received
	pendCmd  nanhua.Cmd         // CmdCalGas or CmdCheckGas
	pendWant int                // bytes the write needs
	pendAt   time.Time          // time of the last byte of pend
	gas      [2]*drivers.CalGas // written calibration [0] and check [1] gas
	opStart  time.Time
	hang     float64 // HC hanging in the sample path, ppm
	hangAt   time.Time
}

// New returns a simulator; a bad Options.Model is reported by Serve.
func New(o Options) *Sim {
	if o.Model == "" {
		o.Model = nanhua.NHA503
	}
	if o.LeakTime == 0 {
		o.LeakTime = o.ZeroTime
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Vehicle == nil {
		o.Vehicle = NewCar(o.Seed)
	}
	if o.Ambient == (nanhua.Ambient{}) {
		o.Ambient = nanhua.Ambient{TempC: 20, PressureKPa: 101.3, RHpct: 50}
	}
	if o.PEF == 0 {
		o.PEF = 0.505
	}
	if o.ResidualTau <= 0 {
		o.ResidualTau = 4 * time.Second
	}
	s := &Sim{
		o:       o,
		cmds:    make(map[byte]nanhua.Cmd),
		start:   o.Clock(),
		rng:     rand.New(rand.NewPCG(o.Seed, 0x73696d)),
		ambient: o.Ambient,
		hang:    o.ResidualHC,
	}
	s.hangAt = s.start
	s.calStyle = o.CalGasStyle
	if s.calStyle == nanhua.CalGasAuto {
		s.calStyle = nanhua.CalGasTwoPhase
		if o.Model == nanhua.FLA502 {
			s.calStyle = nanhua.CalGasSingleFrame
		}
	}
	for _, c := range nanhua.Cmds() {
		b, err := nanhua.CommandByte(o.Model, c, o.FLA502HexCommands)
		if err != nil {
			s.err = fmt.Errorf("nanhuasim: %w", err)
			break
		}
		s.cmds[b] = c
	}
	return s
}

// SetMode switches fault injection.
func (s *Sim) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// SetLowFlow makes the flow word read 0x8888 (low flow).
func (s *Sim) SetLowFlow(low bool) {
	s.mu.Lock()
	s.lowFlow = low
	s.mu.Unlock()
}

// SetSensorAged sets the aged-cell bits (NHA-503, CDF5000).
func (s *Sim) SetSensorAged(aged bool) {
	s.mu.Lock()
	s.aged = aged
	s.mu.Unlock()
}

// SetAmbient sets what the ambient command reports.
func (s *Sim) SetAmbient(a nanhua.Ambient) {
	s.mu.Lock()
	s.ambient = a
	s.mu.Unlock()
}

// SetResidualHC puts ppm of HC in the sample path (e.g. after a dirty car).
func (s *Sim) SetResidualHC(ppm float64) {
	s.mu.Lock()
	s.flush(s.o.Clock())
	s.hang = max(ppm, 0)
	s.mu.Unlock()
}

// CalGas returns the calibration gas (check false) or check gas last written, and
// whether one was written.
func (s *Sim) CalGas(check bool) (drivers.CalGas, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gas[gasIndex(check)]
	if g == nil {
		return drivers.CalGas{}, false
	}
	return *g, true
}

func gasIndex(check bool) int {
	if check {
		return 1
	}
	return 0
}

// PumpOn reports whether the pump samples from the probe.
func (s *Sim) PumpOn() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pump == pumpProbe
}

// Fuel is the fuel type last set by a fuel command.
func (s *Sim) Fuel() nanhua.Fuel {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fuel
}

// Serve answers commands on rw until ctx is done (then it returns nil) or rw fails. rw is
// normally a pty master (simport.Open): EIO there means no process has the slave open,
// and Serve waits and retries. If rw has SetReadDeadline, ctx is honoured within 50 ms;
// otherwise Serve notices ctx only after the next byte (close rw to stop it).
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	if s.err != nil {
		return s.err
	}
	return simport.Server{Name: "nanhuasim", Input: simport.PerByte(s.Reply), BufSize: 1}.Serve(ctx, rw)
}

// Reply is the simulator's answer to one byte from the host, after fault injection (nil
// for no answer, and while a gas write is still being received). Serve calls it; tests
// may call it directly. Silent and NAKAll leave the device's state alone.
func (s *Sim) Reply(in byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.mode {
	case Silent:
		return nil
	case NAKAll:
		s.pend = nil
		return []byte{nanhua.NAK}
	}
	now := s.o.Clock()
	s.flush(now)
	var r []byte
	if s.pend != nil && now.Sub(s.pendAt) < staleInput {
		s.pend = append(s.pend, in)
		s.pendAt = now
		if len(s.pend) < s.pendWant {
			return nil
		}
		r = s.gasWritten()
	} else {
		s.pend = nil
		if c, ok := s.cmds[in]; ok {
			r = s.answer(c, in, now)
		} else {
			r = []byte{nanhua.NAK}
		}
	}
	if r == nil {
		return nil
	}
	switch s.mode {
	case Garbage:
		// Never a byte a valid reply could start with.
		return simport.Garbage(s.rng, len(r), garbageStart)
	case BadChecksum:
		if len(r) > 2 {
			r[len(r)-1] ^= 0x5a
		}
	case Truncated:
		r = r[:len(r)/2]
	}
	return r
}

// garbageStart are first bytes no reply of this protocol starts with.
var garbageStart = []byte{0x07, 0x3f, 0x55, 0x7e, 0xa5, 0xc3, 0xf0, 0xff}

// answer is the correct reply to c, received as byte in; s.mu is held.
func (s *Sim) answer(c nanhua.Cmd, in byte, now time.Time) []byte {
	ack := []byte{nanhua.ACK}
	switch c {
	case nanhua.CmdCalGas, nanhua.CmdCheckGas:
		s.pendCmd, s.pendAt = c, now
		if s.calStyle == nanhua.CalGasSingleFrame {
			s.pend, s.pendWant = []byte{in}, nanhua.CalFrameLen
			return nil
		}
		s.pend, s.pendWant = []byte{}, nanhua.CalDataLen
		return ack
	case nanhua.CmdSpan:
		return s.span(opSpan, false, now)
	case nanhua.CmdGasCheck:
		return s.span(opCheck, true, now)
	case nanhua.CmdPEF:
		return nanhua.EncodePEF(s.o.PEF)
	case nanhua.CmdMain:
		return s.mainFrame(now)
	case nanhua.CmdAmbient:
		return nanhua.EncodeAmbient(s.ambient)
	case nanhua.CmdPumpAir:
		s.pump = pumpAir
		return ack
	case nanhua.CmdPumpProbe:
		s.pump = pumpProbe
		return ack
	case nanhua.CmdBackflush:
		s.pump = pumpBack
		return ack
	case nanhua.CmdStop:
		s.pump = pumpOff
		return ack
	case nanhua.CmdZero:
		return []byte{s.runOp(opZero, s.o.ZeroTime, false, now)}
	case nanhua.CmdLeakCheck:
		return []byte{s.runOp(opLeak, s.o.LeakTime, s.o.Leak, now)}
	case nanhua.CmdStatus:
		return []byte{nanhua.StatusCode(s.status(now))}
	case nanhua.CmdWarmup:
		left := s.warmupLeft(now)
		secs := uint16(min(math.Ceil(left.Seconds()), math.MaxUint16))
		return []byte{byte(secs >> 8), byte(secs)}
	case nanhua.CmdFuelGasoline, nanhua.CmdFuelLPG, nanhua.CmdFuelNG, nanhua.CmdFuelEthanol:
		s.fuel = nanhua.Fuel(c - nanhua.CmdFuelGasoline)
		return ack
	}
	return []byte{nanhua.NAK}
}

// runOp starts, polls or finishes a zero or leak check.
func (s *Sim) runOp(k opKind, d time.Duration, fail bool, now time.Time) byte {
	result := nanhua.ResultOK
	if fail {
		result = nanhua.ResultFailed
	}
	switch s.op {
	case k:
		if now.Before(s.opEnd) {
			return nanhua.ResultBusy
		}
		s.op = opNone
		return result
	case opNone:
		if d <= 0 {
			return result
		}
		s.op, s.opStart, s.opEnd = k, now, now.Add(d)
		return nanhua.ResultBusy
	}
	return nanhua.NAK // the other operation is running
}

func (s *Sim) warmupLeft(now time.Time) time.Duration {
	return max(s.start.Add(s.o.Warmup).Sub(now), 0)
}

func (s *Sim) status(now time.Time) drivers.Status {
	var st drivers.Status
	if s.warmupLeft(now) > 0 {
		st |= drivers.Warmup
	}
	if s.op != opNone && now.Before(s.opEnd) {
		if s.op == opZero {
			st |= drivers.Zeroing
		} else {
			st |= drivers.LeakCheck
		}
	}
	if s.aged {
		st |= drivers.SensorAged
	}
	return st
}

func (s *Sim) mainFrame(now time.Time) []byte {
	e := s.o.Vehicle.Exhaust(now)
	st := s.status(now)
	if s.pump != pumpProbe || st&(drivers.Zeroing|drivers.LeakCheck) != 0 {
		e.HCppm, e.COpct, e.CO2pct, e.O2pct, e.NOppm = air.HCppm, air.COpct, air.CO2pct, air.O2pct, air.NOppm
	} else {
		e.HCppm += s.hang
	}
	x := nanhua.Main{
		HC: e.HCppm, CO: e.COpct, CO2: e.CO2pct, O2: e.O2pct, NO: e.NOppm,
		RPM: e.RPM, OilTemp: e.OilTempC,
		Status: nanhua.EncodeMainStatus(st, s.o.Model),
		Legacy: s.o.Legacy19,
	}
	if !x.Legacy {
		x.Lambda = Lambda(e, s.fuel)
	}
	if s.lowFlow {
		x.Flow = nanhua.FlowLow
	}
	return nanhua.EncodeMain(x, s.o.Model)
}

// Lambda is the Brettschneider excess-air coefficient of e (domain.md §2.6), written here
// independently of the driver's so each checks the other. It is 0 where the formula does
// not apply (no CO2, or a result outside (0, 100], e.g. ambient air).
func Lambda(e Exhaust, f nanhua.Fuel) float64 {
	hcv, ocv := 1.7261, 0.0176 // gasoline and ethanol blend
	switch f {
	case nanhua.LPG:
		hcv, ocv = 2.525, 0
	case nanhua.NaturalGas:
		hcv, ocv = 4.0, 0
	}
	co, co2 := e.COpct, e.CO2pct
	if co2 <= 0 || co+co2 <= 0 {
		return 0
	}
	water := 3.5 / (3.5 + co/co2)
	l := (co2 + co/2 + e.O2pct + (hcv/4*water-ocv/2)*(co2+co)) /
		((1 + hcv/4 - ocv/2) * (co2 + co + 0.0006*e.HCppm))
	if math.IsNaN(l) || l <= 0 || l > 100 {
		return 0
	}
	return l
}

// gasWritten ends a gas write whose bytes are all in s.pend; s.mu is held.
func (s *Sim) gasWritten() []byte {
	b := s.pend
	s.pend = nil
	i := gasIndex(s.pendCmd == nanhua.CmdCheckGas)
	if s.calStyle == nanhua.CalGasSingleFrame {
		_, g, err := nanhua.DecodeCalFrame(b, s.o.Model)
		if err != nil {
			return []byte{nanhua.ACK, nanhua.ResultFailed}
		}
		s.gas[i] = &g
		return []byte{nanhua.ACK, nanhua.ResultOK}
	}
	g, err := nanhua.DecodeCalData(b)
	if err != nil {
		return []byte{nanhua.ResultFailed}
	}
	s.gas[i] = &g
	return []byte{nanhua.ResultOK}
}

// span starts, polls or finishes a span or gas check; s.mu is held.
func (s *Sim) span(k opKind, check bool, now time.Time) []byte {
	g := s.gas[gasIndex(check)]
	if g == nil && s.op != k {
		return []byte{nanhua.ResultFailed} // no gas written: nothing to calibrate against
	}
	r := s.runOp(k, s.o.SpanTime, s.o.SpanFail, now)
	if r != nanhua.ResultBusy {
		return []byte{r}
	}
	// The bench's reading rises towards the bottle's values.
	f := 1 - math.Exp(-5*now.Sub(s.opStart).Seconds()/s.o.SpanTime.Seconds())
	x := nanhua.Span{HC: f * g.C3H8ppm * s.o.PEF, CO: f * g.COpct, CO2: f * g.CO2pct, O2: f * g.O2pct, NO: f * g.NOppm, PEF: s.o.PEF}
	return nanhua.EncodeSpan(x, s.o.Model, s.o.SpanFormat)
}

// flush advances the HC hanging in the sample path to now: it decays while the pump
// samples through the probe. s.mu is held.
func (s *Sim) flush(now time.Time) {
	if dt := now.Sub(s.hangAt); dt > 0 && s.pump == pumpProbe && s.hang > 0 {
		s.hang *= math.Exp(-dt.Seconds() / s.o.ResidualTau.Seconds())
	}
	if now.After(s.hangAt) {
		s.hangAt = now
	}
}
