// Package flv1000sim simulates a Fuli FLV-1000 VMAS flowmeter (the device side of package
// flv1000): the O2 sensor's warm-up, flow, pressure and temperature range flags, the
// calibrations, a simulated dilution tunnel (Dilution) and fault injection. It accepts the
// manual's literal request frames as well as correctly summed ones. It is not the
// specification: traces in ../testdata are.
package flv1000sim

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"imagent/drivers/flow/flv1000"
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

// Options configure a Sim. The zero value of each field is usable.
type Options struct {
	Warmup time.Duration // O2 sensor warm-up from New (the manual: about 2 min)
	// Lenient accepts requests with any checksum, as luckyzjian/VMAS sends them (its
	// checksums follow none of the manual's rules, and it appends a 00 byte).
	Lenient     bool
	StdFlowAt0C bool // answer 87/85 at 0 °C instead of 20 °C
	Dilution    *Dilution
	Clock       func() time.Time
	Seed        uint64
}

// Sim is one simulated FLV-1000. Its setters are safe to call while Serve runs.
type Sim struct {
	o     Options
	start time.Time

	mu     sync.Mutex
	fault  Mode
	rng    *rand.Rand
	cals   map[byte]float64
	buf    []byte
	lastIn time.Time
}

// New returns a simulator.
func New(o Options) *Sim {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Dilution == nil {
		o.Dilution = NewDilution(DilutionOptions{})
	}
	return &Sim{o: o, start: o.Clock(), rng: rand.New(rand.NewPCG(o.Seed, 0x666c76)), cals: map[byte]float64{}}
}

// Dilution returns the tunnel the simulator measures.
func (s *Sim) Dilution() *Dilution { return s.o.Dilution }

// SetMode switches fault injection.
func (s *Sim) SetMode(m Mode) {
	s.mu.Lock()
	s.fault = m
	s.mu.Unlock()
}

// Calibration is the last value received with calibration command cmd, in the manual's
// units (and whether one was received).
func (s *Sim) Calibration(cmd byte) (float64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.cals[cmd]
	return v, ok
}

const (
	staleInput = 200 * time.Millisecond
	maxBuf     = 512
)

// Serve answers requests on rw until ctx is done (then it returns nil) or rw fails. rw is
// normally a pty master: EIO there means no process has the slave open, and Serve waits
// and retries. With SetReadDeadline on rw, ctx is honoured within 50 ms.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	return simport.Server{Name: "flv1000sim", Input: s.Feed, Idle: s.dropStale}.Serve(ctx, rw)
}

func (s *Sim) dropStale() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) > 0 && time.Since(s.lastIn) > staleInput {
		s.buf = nil
	}
}

// known reports whether cmd is a command of the manual.
func known(cmd byte) bool {
	return cmd >= flv1000.CmdO2 && cmd <= flv1000.CmdVersion ||
		cmd >= flv1000.CmdCalO2 && cmd <= flv1000.CmdCalFlow || cmd == flv1000.CmdFactoryReset ||
		cmd >= 0xB1 && cmd <= 0xB9
}

// Feed takes bytes from the host and returns the answers (nil: none) to the complete
// requests among them. 00 bytes and bytes that start no known command are skipped; a
// request with a wrong checksum gets NAK.
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
		if !known(s.buf[0]) {
			s.buf = s.buf[1:]
			continue
		}
		if len(s.buf) < 2 {
			break
		}
		n := int(s.buf[1]) + 1
		if n < 3 || n > 16 {
			s.buf = s.buf[1:]
			continue
		}
		if len(s.buf) < n {
			break
		}
		cmd, data, err := flv1000.ParseRequest(s.buf[:n], s.o.Lenient)
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

func (s *Sim) refuse() []byte {
	if s.fault == Silent {
		return nil
	}
	return []byte{flv1000.NAK}
}

// reply is the answer after fault injection; s.mu is held.
func (s *Sim) reply(cmd byte, data []byte) []byte {
	r := s.answer(cmd, data, s.o.Clock())
	switch s.fault {
	case Silent:
		return nil
	case NAKAll:
		return []byte{flv1000.NAK}
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

func (s *Sim) sample(now time.Time) (Sample, float64) {
	e := s.o.Dilution.Sample(now)
	ref := 20.0
	if s.o.StdFlowAt0C {
		ref = 0
	}
	return e, e.StdFlow(ref)
}

// answer is the correct reply; s.mu is held.
func (s *Sim) answer(cmd byte, data []byte, now time.Time) []byte {
	e, std := s.sample(now)
	if cmd >= flv1000.CmdCalO2 && cmd <= flv1000.CmdCalFlow {
		if len(data) != 2 {
			return []byte{flv1000.NAK}
		}
		sc := 10.0
		if cmd <= flv1000.CmdCalO2High {
			sc = 100
		}
		s.cals[cmd] = float64(int16(uint16(data[0])<<8|uint16(data[1]))) / sc
		return flv1000.EncodeAck(cmd)
	}
	if len(data) != 0 {
		return []byte{flv1000.NAK}
	}
	switch cmd {
	case flv1000.CmdO2:
		return flv1000.EncodeValue(cmd, e.O2Pct)
	case flv1000.CmdPressure:
		return flv1000.EncodeValue(cmd, e.PressureKPa)
	case flv1000.CmdTemp:
		return flv1000.EncodeValue(cmd, e.TempC)
	case flv1000.CmdFlowActual:
		return flv1000.EncodeValue(cmd, e.FlowLps)
	case flv1000.CmdFlowStd:
		return flv1000.EncodeValue(cmd, std)
	case flv1000.CmdRawAll:
		return flv1000.EncodeAll(cmd, flv1000.All{O2Pct: e.O2Pct, PressureKPa: e.PressureKPa, TempC: e.TempC, FlowLps: e.FlowLps})
	case flv1000.CmdStdAll:
		return flv1000.EncodeAll(cmd, flv1000.All{O2Pct: e.O2Pct, PressureKPa: e.PressureKPa, TempC: e.TempC, FlowLps: std})
	case flv1000.CmdStatus:
		var st flv1000.State
		if now.Sub(s.start) < s.o.Warmup {
			st.S1 |= flv1000.S1O2Warming
		}
		if e.FlowLps < 80 || e.FlowLps > 200 {
			st.S1 |= flv1000.S1FlowRange
		}
		if e.PressureKPa < 50 || e.PressureKPa > 130 {
			st.S1 |= flv1000.S1PressureBad
		}
		if e.TempC < -20 || e.TempC > 180 {
			st.S1 |= flv1000.S1TempBad
		}
		return flv1000.EncodeState(st)
	case flv1000.CmdFactoryReset:
		s.cals = map[byte]float64{}
		return flv1000.EncodeAck(cmd)
	}
	return []byte{flv1000.NAK}
}
