// Package nhtsim simulates a Nanhua NHT-6, NHT-1 or NHT-1L opacimeter (the device side of
// package nht): warm-up, calibration, status codes, max-hold and the NHT-6 test results
// fed by a simulated engine (flb100sim.Engine), and fault injection. It is not the
// specification: traces in ../testdata are.
package nhtsim

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"imagent/drivers/opacity/flb100"
	"imagent/drivers/opacity/flb100/flb100sim"
	"imagent/drivers/opacity/nht"
	"imagent/drivers/simport"
)

// Mode is a fault-injection mode, settable while the simulator runs.
type Mode int32

// Modes.
const (
	Normal      Mode = iota // answer correctly
	Silent                  // answer nothing
	Garbage                 // answer random bytes (never starting with the echo or NAK)
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

// NAK error codes the simulator uses [I]: the real codes are not in any source found.
const (
	NAKUnknown  byte = 0x01 // unknown command for this model
	NAKChecksum byte = 0x02 // request checksum wrong
	NAKNotNow   byte = 0x03 // not possible now (warming up)
)

// Options configure a Sim. The zero value of each field is usable.
type Options struct {
	Model      nht.Model     // default NHT-6
	Warmup     time.Duration // warm-up time from New (A2 ends it early)
	OilCelsius bool          // send the oil word in °C instead of kelvin
	NoOilProbe bool          // the oil word reads 0xFFFF
	NPath      float64       // path the reported N refers to; default flb100.StandardPath
	Engine     *flb100sim.Engine
	Clock      func() time.Time
	Seed       uint64
}

// Sim is one simulated opacimeter. Its setters are safe to call while Serve runs.
type Sim struct {
	o Options

	mu        sync.Mutex
	fault     Mode
	rng       *rand.Rand
	start     time.Time
	method    byte
	clearedAt time.Time
	testAt    time.Time
	testing   bool
	zeros     int
	alarm     uint16
	buf       []byte
	lastIn    time.Time
}

// New returns a simulator.
func New(o Options) *Sim {
	if o.Model == "" {
		o.Model = nht.NHT6
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.NPath == 0 {
		o.NPath = flb100.StandardPath
	}
	if o.Engine == nil {
		o.Engine = flb100sim.NewEngine(flb100sim.EngineOptions{Seed: o.Seed})
	}
	now := o.Clock()
	return &Sim{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x6e6874)), start: now, clearedAt: now, method: nht.StatusRealtime}
}

// Engine returns the engine the simulator measures.
func (s *Sim) Engine() *flb100sim.Engine { return s.o.Engine }

// SetMode switches fault injection.
func (s *Sim) SetMode(m Mode) {
	s.mu.Lock()
	s.fault = m
	s.mu.Unlock()
}

// SetAlarm sets the 16 alarm bits A3 reports.
func (s *Sim) SetAlarm(w uint16) {
	s.mu.Lock()
	s.alarm = w
	s.mu.Unlock()
}

// Zeros is how many calibrations were run.
func (s *Sim) Zeros() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.zeros
}

// Method is the status / test method last set with A0.
func (s *Sim) Method() byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.method
}

const (
	staleInput = 200 * time.Millisecond
	maxBuf     = 512
)

// Serve answers requests on rw until ctx is done (then it returns nil) or rw fails. rw is
// normally a pty master: EIO there means no process has the slave open, and Serve waits
// and retries. With SetReadDeadline on rw, ctx is honoured within 50 ms.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	return simport.Server{Name: "nhtsim", Input: s.Feed, Idle: s.dropStale}.Serve(ctx, rw)
}

func (s *Sim) dropStale() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) > 0 && time.Since(s.lastIn) > staleInput {
		s.buf = nil
	}
}

// known reports whether the model answers cmd.
func (s *Sim) known(cmd byte) bool {
	switch cmd {
	case nht.CmdStopWarmup, nht.CmdAlarm, nht.CmdZero, nht.CmdRealtime, nht.CmdMax, nht.CmdClearMax:
		return true
	case nht.CmdSetStatus, nht.CmdGetStatus:
		return s.o.Model != nht.NHT1L
	case nht.CmdStatus1L:
		return s.o.Model == nht.NHT1L
	case nht.CmdTestResults:
		return nht.HasResults(s.o.Model)
	}
	return false
}

// Feed takes bytes from the host and returns the answers (nil: no answer) to the
// complete requests among them. A known command with a bad checksum is refused; bytes
// that start no known command and do not form a valid two-byte request are skipped.
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
		n := nht.RequestLen(s.buf[0])
		if len(s.buf) < n {
			break
		}
		cmd, data, err := nht.ParseRequest(s.buf[:n])
		switch {
		case err == nil && s.known(cmd):
			s.buf = s.buf[n:]
			out = append(out, s.reply(cmd, data))
		case err == nil:
			s.buf = s.buf[n:]
			out = append(out, s.fail(nht.EncodeNAK(NAKUnknown)))
		case s.known(s.buf[0]):
			s.buf = s.buf[n:]
			out = append(out, s.fail(nht.EncodeNAK(NAKChecksum)))
		default:
			s.buf = s.buf[1:]
		}
	}
	if len(s.buf) == 0 {
		s.buf = nil
	}
	return out
}

// fail applies the silent fault to a refusal; s.mu is held.
func (s *Sim) fail(r []byte) []byte {
	if s.fault == Silent {
		return nil
	}
	return r
}

// reply is the answer after fault injection; s.mu is held.
func (s *Sim) reply(cmd byte, data []byte) []byte {
	r := s.answer(cmd, data, s.o.Clock())
	switch s.fault {
	case Silent:
		return nil
	case NAKAll:
		return nht.EncodeNAK(NAKNotNow)
	case Garbage:
		// Never a byte a valid reply could start with.
		return simport.Garbage(s.rng, len(r), garbageStart)
	case BadChecksum:
		if n := len(r); n > 1 && r[0] != nht.NAK {
			r[n-1] ^= 0x5a
		}
	case Truncated:
		r = r[:len(r)/2]
	}
	return r
}

var garbageStart = []byte{0x00, 0x07, 0x3f, 0x55, 0x7e, 0x96, 0xc3, 0xff}

func (s *Sim) warm(now time.Time) bool { return now.Sub(s.start) < s.o.Warmup }

// answer is the correct reply; s.mu is held.
func (s *Sim) answer(cmd byte, data []byte, now time.Time) []byte {
	switch cmd {
	case nht.CmdRealtime:
		e := s.o.Engine.Sample(now)
		return nht.EncodeRealtime(nht.Realtime{
			N: flb100.NFromK(e.K, s.o.NPath), K: e.K, RPM: e.RPM, OilTempC: e.OilC, OilOK: !s.o.NoOilProbe,
		}, !s.o.OilCelsius)
	case nht.CmdGetStatus, nht.CmdStatus1L:
		c := s.method
		switch {
		case s.warm(now):
			c = nht.StatusWarmup
		case cmd == nht.CmdStatus1L && c == nht.StatusRealtime:
			c = nht.StatusRealtime2 // newer NHT-1L firmware
		}
		return nht.EncodeReply(cmd, c)
	case nht.CmdSetStatus:
		s.method = data[0]
		if s.method == nht.StatusAccel {
			s.testing, s.testAt = true, now
		} else {
			s.testing = false
		}
		return nht.EncodeReply(cmd)
	case nht.CmdStopWarmup:
		s.start = now.Add(-s.o.Warmup)
		return nht.EncodeReply(cmd)
	case nht.CmdZero:
		if s.warm(now) {
			return nht.EncodeNAK(NAKNotNow)
		}
		s.zeros++
		return nht.EncodeReply(cmd)
	case nht.CmdAlarm:
		return nht.EncodeReply(cmd, byte(s.alarm>>8), byte(s.alarm))
	case nht.CmdClearMax:
		s.clearedAt = now
		return nht.EncodeReply(cmd)
	case nht.CmdMax:
		k, rpm := s.o.Engine.Max(s.clearedAt, now)
		return nht.EncodeMax(nht.Max{N: flb100.NFromK(k, s.o.NPath), K: k, RPM: rpm})
	case nht.CmdTestResults:
		var r nht.Results
		if s.testing {
			peaks, _ := s.o.Engine.Peaks(s.testAt, now)
			var sum float64
			for i := 0; i < len(peaks) && i < 3; i++ {
				r.K[i] = peaks[i]
				sum += peaks[i]
			}
			if n := min(len(peaks), 3); n > 0 {
				r.KAvg = sum / float64(n)
			}
		}
		r.LowRPM = s.o.Engine.IdleRPM()
		return nht.EncodeResults(r)
	}
	return nht.EncodeNAK(NAKUnknown)
}
