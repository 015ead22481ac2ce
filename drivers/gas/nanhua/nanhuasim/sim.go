// Package nanhuasim simulates a Nanhua/Fuli single-byte-command gas analyzer (the device
// side of package nanhua), with warm-up, zeroing, leak check, pump, a simulated car and
// fault injection. It serves examples, driver tests over a real pty, agent end-to-end
// tests and bench demos. It is not the specification: traces in ../testdata are.
package nanhuasim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"time"

	"imagent/drivers"
	"imagent/drivers/gas/nanhua"
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
)

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
	s := &Sim{
		o:       o,
		cmds:    make(map[byte]nanhua.Cmd),
		start:   o.Clock(),
		rng:     rand.New(rand.NewPCG(o.Seed, 0x73696d)),
		ambient: o.Ambient,
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

// pollSlice bounds one blocking Read, so ctx is honoured.
const pollSlice = 50 * time.Millisecond

// idleWait is how long Serve waits before reading again while nobody has the port open.
const idleWait = 20 * time.Millisecond

// Serve answers commands on rw until ctx is done (then it returns nil) or rw fails. rw is
// normally a pty master (simport.Open): EIO there means no process has the slave open,
// and Serve waits and retries. If rw has SetReadDeadline, ctx is honoured within 50 ms;
// otherwise Serve notices ctx only after the next byte (close rw to stop it).
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	if s.err != nil {
		return s.err
	}
	dl, _ := rw.(interface{ SetReadDeadline(time.Time) error })
	var b [1]byte
	for {
		if ctx.Err() != nil {
			return nil
		}
		if dl != nil {
			if err := dl.SetReadDeadline(time.Now().Add(pollSlice)); err != nil {
				return fmt.Errorf("nanhuasim: set read deadline: %w", err)
			}
		}
		n, err := rw.Read(b[:])
		if err != nil {
			switch {
			case ctx.Err() != nil, errors.Is(err, io.EOF):
				return nil
			case errors.Is(err, os.ErrDeadlineExceeded):
				continue
			case errors.Is(err, syscall.EIO): // nobody has the slave open
				if !sleep(ctx, idleWait) {
					return nil
				}
				continue
			default:
				return fmt.Errorf("nanhuasim: read: %w", err)
			}
		}
		if n == 0 {
			continue
		}
		reply := s.Reply(b[0])
		if len(reply) == 0 {
			continue
		}
		if _, err := rw.Write(reply); err != nil {
			if errors.Is(err, syscall.EIO) || ctx.Err() != nil {
				continue
			}
			return fmt.Errorf("nanhuasim: write: %w", err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Reply is the simulator's answer to one command byte, after fault injection (nil for
// no answer). Serve calls it; tests may call it directly.
func (s *Sim) Reply(cmd byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Clock()
	c, ok := s.cmds[cmd]
	var r []byte
	if ok {
		r = s.answer(c, now)
	} else {
		r = []byte{nanhua.NAK}
	}
	switch s.mode {
	case Silent:
		return nil
	case NAKAll:
		return []byte{nanhua.NAK}
	case Garbage:
		g := make([]byte, len(r))
		for i := range g {
			g[i] = byte(s.rng.UintN(256))
		}
		// Never a byte a valid reply could start with.
		g[0] = garbageStart[s.rng.IntN(len(garbageStart))]
		return g
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

// answer is the correct reply to c; s.mu is held.
func (s *Sim) answer(c nanhua.Cmd, now time.Time) []byte {
	ack := []byte{nanhua.ACK}
	switch c {
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
		s.op, s.opEnd = k, now.Add(d)
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
