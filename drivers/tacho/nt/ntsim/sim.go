// Package ntsim simulates the Fuli "NT" family (the device side of package nt): the
// VMT-2000/VUT-3000 tachometer, the FMP-1 combined meter and the FTH-2 weather station,
// with an engine whose speed follows a target and whose oil warms up, weather that
// drifts, an FMP-1 calibration that takes time, and fault injection. It is not the
// specification: traces in ../testdata are.
package ntsim

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"imagent/drivers/simport"
	"imagent/drivers/tacho/nt"
)

// Mode is a fault-injection mode, settable while the simulator runs.
type Mode int32

// Modes.
const (
	Normal      Mode = iota // answer correctly
	Silent                  // answer nothing
	Garbage                 // answer random bytes (never "NT")
	BadChecksum             // answer with a wrong checksum
	Truncated               // answer only the first half of each reply
	ErrorReply              // answer every request with 'E' 00F4 (timeout)
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
	case ErrorReply:
		return "error-reply"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Options configure a Sim. The zero value of each field is usable.
type Options struct {
	Model   nt.Model // default VMT-2000
	Engine  *Engine  // default NewEngine(Seed, Clock)
	Weather *Weather // default NewWeather(Seed, Clock)
	// CalTime is how long an FMP-1 calibration runs (ST01 bit 0); CalFail makes it fail.
	CalTime time.Duration
	CalFail bool
	Clock   func() time.Time // default time.Now
	Seed    uint64
}

// Sim is one simulated instrument. It answers any address and echoes it back. Its
// setters are safe to call while Serve runs.
type Sim struct {
	o Options

	mu       sync.Mutex
	mode     Mode
	rng      *rand.Rand
	workMode byte
	calEnd   time.Time
	calMask  byte
	calFail  byte
	requests uint64
	bad      uint64
}

// New returns a simulator.
func New(o Options) *Sim {
	if o.Model == "" {
		o.Model = nt.VMT2000
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Engine == nil {
		o.Engine = NewEngine(o.Seed, o.Clock)
	}
	if o.Weather == nil {
		o.Weather = NewWeather(o.Seed, o.Clock)
	}
	return &Sim{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x6e74))}
}

// Engine returns the simulated engine.
func (s *Sim) Engine() *Engine { return s.o.Engine }

// Weather returns the simulated weather.
func (s *Sim) Weather() *Weather { return s.o.Weather }

// SetMode switches fault injection.
func (s *Sim) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// WorkMode is the VMT-2000 work mode last set.
func (s *Sim) WorkMode() byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.workMode
}

// Counters of the simulator since New.
type Counters struct {
	Requests    uint64 // valid requests
	BadRequests uint64 // frames with a bad checksum (answered 'E' 00F1)
}

// Counters returns the simulator's counters.
func (s *Sim) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Counters{Requests: s.requests, BadRequests: s.bad}
}

// Serve answers requests on rw until ctx is done (then it returns nil) or rw fails. rw is
// normally a pty master (simport.Open): EIO there means no process has the slave open,
// and Serve waits and retries. If rw has SetReadDeadline, ctx is honoured within 50 ms.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	var buf []byte
	input := func(in []byte) [][]byte {
		buf = append(buf, in...)
		var replies [][]byte
		for {
			out, rest, ok := s.take(buf)
			buf = rest
			if !ok {
				break
			}
			replies = append(replies, out)
		}
		if len(buf) > nt.MaxLen { // never a frame: forget it
			buf = buf[:0]
		}
		return replies
	}
	return simport.Server{Name: "ntsim", BufSize: 128, Input: input}.Serve(ctx, rw)
}

// take finds the next complete request in buf and answers it. ok is false when buf holds
// no complete frame yet.
func (s *Sim) take(buf []byte) (out, rest []byte, ok bool) {
	for len(buf) > 0 && buf[0] != nt.Start0 {
		buf = buf[1:]
	}
	if len(buf) < nt.HeaderLen {
		return nil, buf, false
	}
	if buf[1] != nt.Start1 || buf[4] != nt.KindRequest || buf[5] < 3 {
		return nil, buf[1:], true
	}
	n := nt.HeaderLen + int(buf[5])
	if len(buf) < n {
		return nil, buf, false
	}
	return s.Reply(buf[:n]), buf[n:], true
}

// Reply is the simulator's answer to one request frame, after fault injection (nil for
// none). Serve calls it; tests may call it directly.
func (s *Sim) Reply(req []byte) []byte {
	now := s.o.Clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []byte
	f, err := nt.Decode(req)
	if err != nil {
		if len(req) >= 4 && vmasModeChecksum(req) {
			f, err = nt.Decode(fixSum(req))
		}
	}
	switch {
	case err != nil:
		s.bad++
		var addr [2]byte
		if len(req) >= 4 {
			addr = [2]byte{req[2], req[3]}
		}
		out = errorFrame(addr, 0, nt.CodeChecksum)
	default:
		s.requests++
		out = s.answer(f, now)
	}
	switch s.mode {
	case Silent:
		return nil
	case ErrorReply:
		return errorFrame(f.Addr, f.Cmd, nt.CodeTimeout)
	case Garbage:
		g := make([]byte, len(out))
		for i := range g {
			g[i] = byte(s.rng.UintN(256))
		}
		g[0] = 0x3f // never 'N'
		return g
	case BadChecksum:
		out[len(out)-1] ^= 0x5a
	case Truncated:
		out = out[:len(out)/2]
	}
	return out
}

// vmasModeChecksum reports whether req is a VMT-2000 mode command whose checksum leaves
// out the mode byte, as luckyzjian/VMAS computes it.
func vmasModeChecksum(req []byte) bool {
	return len(req) == 10 && uint16(req[6])<<8|uint16(req[7]) == nt.CmdVMTMode && req[9] == nt.Checksum(req[5:8])
}

func fixSum(req []byte) []byte {
	b := append([]byte(nil), req...)
	b[len(b)-1] = nt.Checksum(b[5 : len(b)-1])
	return b
}

func errorFrame(addr [2]byte, cmd, code uint16) []byte {
	return nt.Encode(nt.Frame{Addr: addr, Kind: nt.KindError, Cmd: cmd, Data: []byte{byte(code >> 8), byte(code)}})
}

// answer is the correct reply to f; s.mu is held.
func (s *Sim) answer(f nt.Frame, now time.Time) []byte {
	e := s.o.Engine.Sample(now)
	w := s.o.Weather.Sample(now)
	switch {
	case s.o.Model == nt.VMT2000 && f.Cmd == nt.CmdVMTRPM:
		return nt.EncodeVMTRPM(f.Addr, e.RPM)
	case s.o.Model == nt.VMT2000 && f.Cmd == nt.CmdVMTMode && len(f.Data) == 1:
		cmd := nt.CmdVMTMode
		if f.Data[0] > 1 {
			cmd = nt.CmdVMTMode&0xff00 | uint16(nt.VMTModeFailure)
		} else {
			s.workMode = f.Data[0]
		}
		return nt.Encode(nt.Frame{Addr: f.Addr, Kind: nt.KindOK, Cmd: cmd, Data: f.Data})
	case s.o.Model == nt.FTH2 && f.Cmd == nt.CmdFTH2Read:
		return nt.EncodeFTH2(f.Addr, nt.FTH2Data{TempC: w.TempC, RHpct: w.RHpct, PressureKPa: w.PressureKPa})
	case s.o.Model == nt.FMP1 && f.Cmd == nt.CmdFMP1Read:
		st01 := s.calFail
		if now.Before(s.calEnd) {
			st01 |= nt.FMP1Calibrating
		}
		return nt.EncodeFMP1(f.Addr, nt.FMP1Data{ST01: st01, RPM: e.RPM, Freq: uint16(e.RPM / 30), OilTempC: e.OilTempC,
			TempC: w.TempC, RHpct: w.RHpct, PressureKPa: w.PressureKPa})
	case s.o.Model == nt.FMP1 && f.Cmd == nt.CmdFMP1Cal && len(f.Data) == 5:
		s.calMask, s.calEnd, s.calFail = f.Data[0], now.Add(s.o.CalTime), 0
		if s.o.CalFail {
			if s.calMask&nt.CalOilTemp != 0 {
				s.calFail |= nt.FMP1OilCalFailed
			}
			if s.calMask&nt.CalPressure != 0 {
				s.calFail |= nt.FMP1PresCalFail
			}
		}
		return nt.Encode(nt.Frame{Addr: f.Addr, Kind: nt.KindOK, Cmd: f.Cmd})
	}
	return errorFrame(f.Addr, f.Cmd, nt.CodeBadCommand)
}

// Engine is a simulated engine: speed follows its target with a first-order lag
// (τ 0.5 s; 0.2 s when switched off) and a little noise; oil warms towards 90 °C. It is safe for concurrent use.
type Engine struct {
	mu     sync.Mutex
	rng    *rand.Rand
	last   time.Time
	target float64
	rpm    float64
	oil    float64
	oilEnd float64
	source func(now time.Time) EngineState
}

// SetSource makes Sample return what src says (nil: the engine's own model again): a
// whole-lane vehicle model (agent/simvehicle) feeds the meter this way.
func (e *Engine) SetSource(src func(now time.Time) EngineState) {
	e.mu.Lock()
	e.source = src
	e.mu.Unlock()
}

// IdleRPM is the speed a new Engine idles at.
const IdleRPM = 750

// NewEngine returns an engine at idle with oil at 60 °C warming to 90 °C, started at
// clock() (nil: time.Now). Sample must be given times from the same clock.
func NewEngine(seed uint64, clock func() time.Time) *Engine {
	if clock == nil {
		clock = time.Now
	}
	return &Engine{rng: rand.New(rand.NewPCG(seed, 0x656e67)), target: IdleRPM, rpm: IdleRPM, oil: 60, oilEnd: 90, last: clock()}
}

// SetTargetRPM sets the speed the driver aims at (0 stops the engine).
func (e *Engine) SetTargetRPM(rpm float64) {
	e.mu.Lock()
	e.target = max(0, rpm)
	e.mu.Unlock()
}

// SetOilTemp sets the oil temperature and holds it there.
func (e *Engine) SetOilTemp(c float64) {
	e.mu.Lock()
	e.oil, e.oilEnd = c, c
	e.mu.Unlock()
}

// EngineState is one sample of the engine.
type EngineState struct{ RPM, OilTempC float64 }

// Sample advances the engine to now and returns what the meter sees.
func (e *Engine) Sample(now time.Time) EngineState {
	e.mu.Lock()
	src := e.source
	e.mu.Unlock()
	if src != nil {
		return src(now)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if dt := now.Sub(e.last).Seconds(); dt > 0 {
		tau := 0.5
		if e.target == 0 { // switched off: the engine stops within about a second
			tau = 0.2
		}
		e.rpm += (e.target - e.rpm) * (1 - math.Exp(-dt/tau))
		e.oil += (e.oilEnd - e.oil) * (1 - math.Exp(-dt/600))
	}
	if now.After(e.last) {
		e.last = now
	}
	rpm := max(0, e.rpm+e.rng.NormFloat64()*3)
	if e.target == 0 && e.rpm < 5 {
		rpm = 0
	}
	return EngineState{RPM: rpm, OilTempC: e.oil}
}

// Weather is simulated ambient air: values drift slowly (a few tenths per minute) around
// their set points. It is safe for concurrent use.
type Weather struct {
	mu        sync.Mutex
	rng       *rand.Rand
	base, cur WeatherState
	last      time.Time
}

// WeatherState is one sample of the weather.
type WeatherState struct{ TempC, RHpct, PressureKPa float64 }

// NewWeather returns weather at 20 °C, 50 %, 101.3 kPa, starting at clock() (nil:
// time.Now).
func NewWeather(seed uint64, clock func() time.Time) *Weather {
	if clock == nil {
		clock = time.Now
	}
	b := WeatherState{TempC: 20, RHpct: 50, PressureKPa: 101.3}
	return &Weather{rng: rand.New(rand.NewPCG(seed, 0x776561)), base: b, cur: b, last: clock()}
}

// Set moves the set point (and the present value) to w.
func (w *Weather) Set(s WeatherState) {
	w.mu.Lock()
	w.base, w.cur = s, s
	w.mu.Unlock()
}

// Sample advances the drift to now and returns the weather.
func (w *Weather) Sample(now time.Time) WeatherState {
	w.mu.Lock()
	defer w.mu.Unlock()
	if dt := now.Sub(w.last).Seconds(); dt > 0 {
		k := math.Sqrt(min(dt, 60) / 60) // random walk, pulled back to the set point
		w.cur.TempC += 0.2*k*w.rng.NormFloat64() - (w.cur.TempC-w.base.TempC)*min(1, dt/600)
		w.cur.RHpct += 0.5*k*w.rng.NormFloat64() - (w.cur.RHpct-w.base.RHpct)*min(1, dt/600)
		w.cur.PressureKPa += 0.02*k*w.rng.NormFloat64() - (w.cur.PressureKPa-w.base.PressureKPa)*min(1, dt/600)
	}
	if now.After(w.last) {
		w.last = now
	}
	c := w.cur
	c.RHpct = max(0, min(100, c.RHpct))
	return c
}
