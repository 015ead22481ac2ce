// Package mqw510xsim simulates a Mingquan MQW-5101 or MQW-5102 (the device side of
// package mqw510x): warm-up, zeroing, pump, leak test, low flow, the MQW-5102 max-hold,
// NOx and CO2 that follow a simulated engine (flb100sim.Engine), and fault injection. It is
// not the specification: traces in ../testdata are.
package mqw510xsim

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"imagent/drivers/opacity/flb100"
	"imagent/drivers/opacity/flb100/flb100sim"
	"imagent/drivers/opacity/mqw510x"
	"imagent/drivers/simport"
)

// Mode is a fault-injection mode, settable while the simulator runs.
type Mode int32

// Modes.
const (
	Normal      Mode = iota // answer correctly
	Silent                  // answer nothing
	Garbage                 // answer random bytes (never starting with ACK or NAK)
	BadChecksum             // answer with a wrong checksum
	Truncated               // answer only the first half of each reply
	NAKAll                  // refuse every command
)

func (m Mode) String() string {
	names := [...]string{"normal", "silent", "garbage", "bad-checksum", "truncated", "nak-all"}
	if m >= 0 && int(m) < len(names) {
		return names[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Ambient is what the MQW-5101's own sensors read.
type Ambient struct{ TempC, RHpct, PressureKPa float64 }

// Options configure a Sim. The zero value of each field is usable.
type Options struct {
	Model    mqw510x.Model // default MQW-5101
	Warmup   time.Duration // warm-up (prepare) time from New; 1F ends it
	ZeroTime time.Duration // how long the MQW-5101's zero keeps the zeroing bit set
	LeakTime time.Duration // how long a leak test runs
	Leak     bool          // the leak test fails
	Short    bool          // MQW-5102: answer the 23-byte real-time frame
	Ambient  Ambient       // default 20 °C, 50 %, 101.3 kPa
	Engine   *flb100sim.Engine
	Clock    func() time.Time
	Seed     uint64
}

// Sim is one simulated instrument. Its setters are safe to call while Serve runs.
type Sim struct {
	o Options

	mu        sync.Mutex
	fault     Mode
	rng       *rand.Rand
	start     time.Time
	pump      byte // S[0] pump bits
	zeroEnd   time.Time
	leakEnd   time.Time
	leakDone  bool
	lowFlow   bool
	clearedAt time.Time
	zeros     map[byte]int
	cals      map[byte]uint16
	buf       []byte
	lastIn    time.Time
}

// New returns a simulator.
func New(o Options) *Sim {
	if o.Model == "" {
		o.Model = mqw510x.MQW5101
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Ambient == (Ambient{}) {
		o.Ambient = Ambient{TempC: 20, RHpct: 50, PressureKPa: 101.3}
	}
	if o.Engine == nil {
		o.Engine = flb100sim.NewEngine(flb100sim.EngineOptions{Seed: o.Seed})
	}
	now := o.Clock()
	return &Sim{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x6d7177)), start: now, clearedAt: now,
		zeros: map[byte]int{}, cals: map[byte]uint16{}}
}

// Engine returns the engine the simulator measures.
func (s *Sim) Engine() *flb100sim.Engine { return s.o.Engine }

// SetMode switches fault injection.
func (s *Sim) SetMode(m Mode) {
	s.mu.Lock()
	s.fault = m
	s.mu.Unlock()
}

// SetLowFlow sets the MQW-5101's low-flow alarm.
func (s *Sim) SetLowFlow(low bool) {
	s.mu.Lock()
	s.lowFlow = low
	s.mu.Unlock()
}

// PumpOn reports whether the MQW-5101 samples from the probe.
func (s *Sim) PumpOn() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pump&mqw510x.S0PumpSample != 0
}

// Zeros is how many times the zero command cmd (21, 29 or 2A) was accepted.
func (s *Sim) Zeros(cmd byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.zeros[cmd]
}

// Calibration is the last word received with calibration command cmd.
func (s *Sim) Calibration(cmd byte) uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cals[cmd]
}

const (
	staleInput = 200 * time.Millisecond
	maxBuf     = 512
)

// Serve answers requests on rw until ctx is done (then it returns nil) or rw fails. rw is
// normally a pty master: EIO there means no process has the slave open, and Serve waits
// and retries. With SetReadDeadline on rw, ctx is honoured within 50 ms.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	return simport.Server{Name: "mqw510xsim", Input: s.Feed, Idle: s.dropStale}.Serve(ctx, rw)
}

func (s *Sim) dropStale() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) > 0 && time.Since(s.lastIn) > staleInput {
		s.buf = nil
	}
}

// Feed takes bytes from the host and returns the answers (nil: none) to the complete
// requests among them. Bytes before a 05 are skipped; a frame with a bad LEN or
// checksum is refused (NAK) and the search resumes after its first byte.
func (s *Sim) Feed(in []byte) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastIn = time.Now()
	s.buf = append(s.buf, in...)
	if len(s.buf) > maxBuf {
		s.buf = s.buf[len(s.buf)-maxBuf:]
	}
	var out [][]byte
	for len(s.buf) > 0 {
		if s.buf[0] != mqw510x.Start {
			s.buf = s.buf[1:]
			continue
		}
		if len(s.buf) < 3 {
			break
		}
		n := int(s.buf[2]) + 1
		if n < mqw510x.MinLen {
			s.buf = s.buf[1:]
			continue
		}
		if len(s.buf) < n {
			break
		}
		cmd, data, err := mqw510x.ParseRequest(s.buf[:n])
		if err != nil {
			s.buf = s.buf[1:]
			out = append(out, s.refuse())
			continue
		}
		s.buf = s.buf[n:]
		out = append(out, s.reply(cmd, data))
	}
	if len(s.buf) == 0 {
		s.buf = nil
	}
	return out
}

// refuse is a NAK, unless silent; s.mu is held. The refusal is a single 0x15 [I].
func (s *Sim) refuse() []byte {
	if s.fault == Silent {
		return nil
	}
	return []byte{mqw510x.NAK}
}

// reply is the answer after fault injection; s.mu is held.
func (s *Sim) reply(cmd byte, data []byte) []byte {
	r := s.answer(cmd, data, s.o.Clock())
	switch s.fault {
	case Silent:
		return nil
	case NAKAll:
		return []byte{mqw510x.NAK}
	case Garbage:
		// Never a byte a valid reply could start with.
		return simport.Garbage(s.rng, len(r), garbageStart)
	case BadChecksum:
		if n := len(r); n > 1 {
			r[n-1] ^= 0x5a
		}
	case Truncated:
		r = r[:len(r)/2]
	}
	return r
}

var garbageStart = []byte{0x00, 0x07, 0x3f, 0x55, 0x7e, 0xa5, 0xc3, 0xff}

func (s *Sim) warm(now time.Time) bool { return now.Sub(s.start) < s.o.Warmup }

// accepts says which commands the model answers and how many data bytes they take.
func (s *Sim) accepts(cmd byte) (dataLen int, ok bool) {
	if s.o.Model == mqw510x.MQW5102 {
		switch cmd {
		case mqw510x.CmdNOxZero, mqw510x.CmdOpacityZero, mqw510x.CmdClearMax, mqw510x.CmdGetMax:
			return 0, true
		case mqw510x.CmdRealtime, mqw510x.CmdCalCO2NO:
			return 2, true
		}
		return 0, false
	}
	switch {
	case cmd >= mqw510x.CmdPumpSample && cmd <= mqw510x.CmdLeakTest,
		cmd == mqw510x.CmdSkipWarmup, cmd == mqw510x.CmdZero,
		cmd == mqw510x.CmdRealtime, cmd == mqw510x.CmdStatus, cmd == mqw510x.CmdDataStatus,
		cmd == mqw510x.CmdLockKeys, cmd == mqw510x.CmdUnlockKeys, cmd == mqw510x.CmdFactoryReset:
		return 0, true
	case cmd == mqw510x.CmdCalNO, cmd >= mqw510x.CmdCalTemp && cmd <= mqw510x.CmdCalPipePressure:
		return 2, true
	}
	return 0, false
}

// answer is the correct reply; s.mu is held.
func (s *Sim) answer(cmd byte, data []byte, now time.Time) []byte {
	if n, ok := s.accepts(cmd); !ok || n != len(data) {
		return []byte{mqw510x.NAK}
	}
	ack := mqw510x.EncodeReply(cmd)
	switch cmd {
	case mqw510x.CmdRealtime:
		if s.o.Model == mqw510x.MQW5102 {
			return mqw510x.EncodeRealtime5102(s.data5102(now, data[1] != 0))
		}
		return mqw510x.EncodeRealtime5101(s.data5101(now))
	case mqw510x.CmdStatus:
		return mqw510x.EncodeStatus5101(s.status(now))
	case mqw510x.CmdDataStatus:
		return mqw510x.EncodeDataStatus5101(s.data5101(now), s.status(now))
	case mqw510x.CmdPumpSample:
		s.pump = mqw510x.S0PumpSample
	case mqw510x.CmdPumpAir:
		s.pump = mqw510x.S0PumpAir
	case mqw510x.CmdBackflush:
		s.pump = mqw510x.S0Backflush
	case mqw510x.CmdStop:
		s.pump = 0
	case mqw510x.CmdSkipWarmup:
		s.start = now.Add(-s.o.Warmup)
	case mqw510x.CmdLeakTest:
		if s.warm(now) || now.Before(s.leakEnd) {
			return []byte{mqw510x.NAK}
		}
		s.leakEnd, s.leakDone = now.Add(s.o.LeakTime), true
	case mqw510x.CmdZero, mqw510x.CmdNOxZero, mqw510x.CmdOpacityZero:
		if s.warm(now) {
			return []byte{mqw510x.NAK}
		}
		s.zeros[cmd]++
		if cmd == mqw510x.CmdZero {
			s.zeroEnd = now.Add(s.o.ZeroTime)
		}
	case mqw510x.CmdClearMax:
		s.clearedAt = now
	case mqw510x.CmdGetMax:
		k, _ := s.o.Engine.Max(s.clearedAt, now)
		return mqw510x.EncodeMax5102(mqw510x.Max5102{
			N: flb100.NFromK(k, flb100.PathLength), Ns: flb100.NFromK(k, flb100.StandardPath), K: k,
		})
	default:
		if len(data) == 2 {
			s.cals[cmd] = uint16(data[0])<<8 | uint16(data[1])
		}
	}
	return ack
}

// gas is the NOx (ppm) and CO2 (%) of the exhaust at engine sample e: both rise with
// speed, as under the lug-down load.
func (s *Sim) gas(e flb100sim.Sample) (nox, co2 float64) {
	if e.NOxPPM > 0 { // the engine's source says (a whole-lane vehicle model)
		return e.NOxPPM, e.CO2Pct
	}
	load := (e.RPM - s.o.Engine.IdleRPM()) / 1850
	load = min(max(load, 0), 1)
	return 300 + 900*load + 10*s.rng.Float64(), 2 + 6*load
}

func (s *Sim) data5101(now time.Time) mqw510x.Data5101 {
	e := s.o.Engine.Sample(now)
	nox, _ := s.gas(e)
	if s.pump&mqw510x.S0PumpSample == 0 {
		nox = 0 // the NO cell sees ambient air
	}
	return mqw510x.Data5101{
		NOx: nox, TempC: s.o.Ambient.TempC, RHpct: s.o.Ambient.RHpct, PressureKPa: s.o.Ambient.PressureKPa,
		OilTempC: e.OilC, PipeP: 0, RPM: e.RPM,
		N: flb100.NFromK(e.K, flb100.PathLength), Ns: flb100.NFromK(e.K, flb100.StandardPath), K: e.K,
		GasTemp1: byte(e.GasTempC), GasTemp2: byte(e.GasTempC),
	}
}

func (s *Sim) data5102(now time.Time, attached bool) mqw510x.Data5102 {
	e := s.o.Engine.Sample(now)
	nox, co2 := s.gas(e)
	x := mqw510x.Data5102{OilTempC: e.OilC, RPM: e.RPM, NOx: nox, CO2: co2, GasTempC: e.GasTempC, Short: s.o.Short}
	if attached {
		x.N, x.Ns, x.K = flb100.NFromK(e.K, flb100.PathLength), flb100.NFromK(e.K, flb100.StandardPath), e.K
	}
	return x
}

func (s *Sim) status(now time.Time) mqw510x.Status5101 {
	var st mqw510x.Status5101
	st[0] = s.pump
	if s.pump&mqw510x.S0PumpSample != 0 {
		st[2] |= mqw510x.S2Testing
	}
	if now.Before(s.zeroEnd) {
		st[1] |= mqw510x.S1NOZeroing
	}
	if now.Before(s.leakEnd) {
		st[2] |= mqw510x.S2LeakTest
	} else if s.leakDone && !s.o.Leak {
		st[4] |= mqw510x.S4LeakOK
	}
	if s.warm(now) {
		st[4] |= mqw510x.S4Prepare
	}
	if s.lowFlow {
		st[4] |= mqw510x.S4LowFlow
	}
	return st
}
