// Package flb100sim simulates a Fuli FLB-100 opacimeter (the device side of package
// flb100): warm-up, the zero (linearity correction) that answers only when done, the
// measurement modes, the free-acceleration peak hold fed by a simulated Engine, and fault
// injection. It is not the specification: traces in ../testdata are.
package flb100sim

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"imagent/drivers/opacity/flb100"
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
	Busy                    // the acceleration reply says "in progress"; other commands as usual
)

func (m Mode) String() string {
	names := [...]string{"normal", "silent", "garbage", "bad-checksum", "truncated", "nak-all", "busy"}
	if m >= 0 && int(m) < len(names) {
		return names[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Options configure a Sim. The zero value of each field is usable.
type Options struct {
	Warmup time.Duration // warm-up time from New
	// ZeroTime is how long the linearity correction takes; the reply comes only then.
	// Longer than 3 s: no reply at all, as the manual says.
	ZeroTime        time.Duration
	NPath           float64 // path the reported N refers to; default flb100.StandardPath
	OilWholeDegrees bool    // encode oil temperature in whole °C (see flb100.Opts)
	Engine          *Engine // default NewEngine(EngineOptions{Seed: Seed})
	Clock           func() time.Time
	Seed            uint64
}

type measMode int

const (
	modeDirect measMode = iota
	modeSteady
	modeAccel
)

// Sim is one simulated FLB-100. Its setters are safe to call while Serve runs.
type Sim struct {
	o     Options
	start time.Time

	mu      sync.Mutex
	fault   Mode
	rng     *rand.Rand
	mode    measMode
	armed   bool
	armedAt time.Time
	zeros   int
	buf     []byte
	lastIn  time.Time
}

// New returns a simulator.
func New(o Options) *Sim {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.NPath == 0 {
		o.NPath = flb100.StandardPath
	}
	if o.Engine == nil {
		o.Engine = NewEngine(EngineOptions{Seed: o.Seed})
	}
	return &Sim{o: o, start: o.Clock(), rng: rand.New(rand.NewPCG(o.Seed, 0x666c62))}
}

// Engine returns the engine the simulator measures.
func (s *Sim) Engine() *Engine { return s.o.Engine }

// SetMode switches fault injection.
func (s *Sim) SetMode(m Mode) {
	s.mu.Lock()
	s.fault = m
	s.mu.Unlock()
}

// Zeros is how many zero commands were completed.
func (s *Sim) Zeros() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.zeros
}

// Armed reports whether acceleration mode is on and the trigger armed.
func (s *Sim) Armed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.armed
}

const (
	staleInput = 200 * time.Millisecond // an incomplete request older than this is noise
	maxBuf     = 512
)

// Serve answers requests on rw until ctx is done (then it returns nil) or rw fails. rw is
// normally a pty master (simport.Open): EIO there means no process has the slave open,
// and Serve waits and retries. With SetReadDeadline on rw, ctx is honoured within 50 ms.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	l := simport.NewLink("flb100sim", rw)
	var b [256]byte
	for {
		n, st, err := l.Read(ctx, b[:], time.Time{})
		switch st {
		case simport.Stopped:
			return err
		case simport.Idle:
			s.dropStale()
			continue
		case simport.Detached:
			continue
		}
		for _, r := range s.Feed(b[:n]) {
			if r.Delay > 0 && !simport.Sleep(ctx, r.Delay) {
				return nil
			}
			if err := l.Write(ctx, r.Bytes); err != nil {
				return err
			}
		}
	}
}

// Reply is one answer: Bytes sent after Delay (nil Bytes: no answer).
type Reply struct {
	Bytes []byte
	Delay time.Duration
}

// dropStale discards an incomplete request nobody is finishing.
func (s *Sim) dropStale() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) > 0 && time.Since(s.lastIn) > staleInput {
		s.buf = s.buf[:0]
	}
}

// Feed takes bytes from the host and returns the answers to the complete requests among
// them. Bytes before a DID, and frames with a wrong length byte, are skipped; a frame
// with a wrong checksum gets no answer (as the manual says). Serve calls it; tests may
// call it directly.
func (s *Sim) Feed(in []byte) []Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastIn = time.Now()
	s.buf = append(s.buf, in...)
	if len(s.buf) > maxBuf {
		s.buf = s.buf[len(s.buf)-maxBuf:]
	}
	var out []Reply
	for len(s.buf) > 0 {
		if s.buf[0] != flb100.DID {
			s.buf = s.buf[1:]
			continue
		}
		if len(s.buf) < 2 {
			break
		}
		n := int(s.buf[1])
		if n < flb100.MinLen {
			s.buf = s.buf[1:]
			continue
		}
		if len(s.buf) < n {
			break
		}
		frame := s.buf[:n]
		cmd, data, err := flb100.ParseRequest(frame)
		if err != nil {
			s.buf = s.buf[1:] // resynchronise inside the bad frame
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

// reply is the answer to one request after fault injection; s.mu is held.
func (s *Sim) reply(cmd byte, data []byte) Reply {
	now := s.o.Clock()
	r := s.answer(cmd, data, now)
	switch s.fault {
	case Silent:
		return Reply{}
	case NAKAll:
		return Reply{Bytes: nak(cmd)}
	case Garbage:
		return Reply{Bytes: simport.Garbage(s.rng, max(len(r.Bytes), 3), garbageStart)}
	case BadChecksum:
		if n := len(r.Bytes); n > 1 {
			r.Bytes[n-1] ^= 0x5a
		}
	case Truncated:
		r.Bytes = r.Bytes[:len(r.Bytes)/2]
	}
	return r
}

var garbageStart = []byte{0x00, 0x07, 0x3f, 0x55, 0x7e, 0xa5, 0xc3, 0xff}

// nak is the refusal frame NAK LB CMD CS [C-doc: replies are ACK/NAK LB CMD [DF] CS].
func nak(cmd byte) []byte {
	b := []byte{flb100.NAK, 4, cmd, 0}
	b[3] = flb100.Checksum(b[:3])
	return b
}

func (s *Sim) warm(now time.Time) bool { return now.Sub(s.start) < s.o.Warmup }

// answer is the correct reply; s.mu is held.
func (s *Sim) answer(cmd byte, data []byte, now time.Time) Reply {
	if len(data) != 0 {
		return Reply{Bytes: nak(cmd)}
	}
	ack := func() Reply { return Reply{Bytes: flb100.EncodeReply(cmd)} }
	switch cmd {
	case flb100.CmdStatus:
		return Reply{Bytes: flb100.EncodeState(s.state(now))}
	case flb100.CmdMeasure:
		e := s.o.Engine.Sample(now)
		return Reply{Bytes: flb100.EncodeMeasure(flb100.Measure{
			K: e.K, N: flb100.NFromK(e.K, s.o.NPath), GasTempC: e.GasTempC, OilTempC: e.OilC, RPM: e.RPM,
		}, s.o.OilWholeDegrees)}
	case flb100.CmdSteady:
		e := s.o.Engine.Sample(now)
		return Reply{Bytes: flb100.EncodeSteady(flb100.Steady{K: e.K, N: flb100.NFromK(e.K, s.o.NPath), RPM: e.RPM, OilTempC: e.OilC}, s.o.OilWholeDegrees)}
	case flb100.CmdAccel:
		return Reply{Bytes: flb100.EncodeAccel(s.accel(now))}
	case flb100.CmdZero:
		if s.warm(now) {
			return Reply{Bytes: nak(cmd)}
		}
		if s.o.ZeroTime > 3*time.Second {
			return Reply{} // the manual: no reply when the action takes longer than 3 s
		}
		s.zeros++
		return Reply{Bytes: flb100.EncodeReply(cmd), Delay: s.o.ZeroTime}
	case flb100.CmdDirectMode, flb100.CmdLinCheckMode:
		s.mode, s.armed = modeDirect, false
		return ack()
	case flb100.CmdSteadyMode:
		s.mode, s.armed = modeSteady, false
		return ack()
	case flb100.CmdAccelMode:
		s.mode = modeAccel
		return ack()
	case flb100.CmdTrigger:
		if s.mode != modeAccel {
			return Reply{Bytes: nak(cmd)}
		}
		s.armed, s.armedAt = true, now
		return ack()
	case flb100.CmdStopSteady, flb100.CmdStartSteady:
		return ack()
	}
	return Reply{Bytes: nak(cmd)}
}

// accel is the acceleration state; s.mu is held.
func (s *Sim) accel(now time.Time) flb100.Accel {
	if s.fault == Busy {
		return flb100.Accel{State: flb100.AccelRunning}
	}
	if !s.armed {
		return flb100.Accel{State: flb100.AccelNone}
	}
	peaks, running := s.o.Engine.Peaks(s.armedAt, now)
	switch {
	case running:
		return flb100.Accel{State: flb100.AccelRunning}
	case len(peaks) == 0:
		return flb100.Accel{State: flb100.AccelNone}
	}
	if len(peaks) > 4 {
		peaks = peaks[len(peaks)-4:]
	}
	a := flb100.Accel{State: flb100.AccelValid}
	copy(a.Peaks[4-len(peaks):], peaks)
	var sum float64
	for _, p := range a.Peaks {
		sum += p
	}
	a.Avg = sum / 4
	return a
}

// state is the status the device reports; s.mu is held.
func (s *Sim) state(now time.Time) flb100.State {
	var st flb100.State
	switch s.mode {
	case modeDirect:
		st.S1 |= flb100.S1Direct
	case modeSteady:
		st.S1 |= flb100.S1Steady
	case modeAccel:
		st.S1 |= flb100.S1Accel
	}
	if s.warm(now) {
		st.S1 |= flb100.S1Warmup
	}
	if s.armed {
		st.S1 |= flb100.S1Armed
		peaks, running := s.o.Engine.Peaks(s.armedAt, now)
		if running || s.fault == Busy {
			st.S2 |= flb100.S2AccelBusy
		}
		if len(peaks) >= 3 {
			st.S1 |= flb100.S1AccelOK
		}
	}
	return st
}
