// Package nhf1sim simulates a Nanhua NHF-1 VMAS flowmeter on Modbus ASCII (the device side
// of package nhf1): the O2 sensor's warm-up, the blower, the O2 zero and calibrations, a
// simulated dilution tunnel (flv1000sim.Dilution) and fault injection. It is not the
// specification: traces in ../testdata are.
package nhf1sim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"imagent/drivers/flow/flv1000/flv1000sim"
	"imagent/drivers/flow/nhf1"
	"imagent/drivers/internal/modbus"
	"imagent/drivers/simport"
)

// Mode is a fault-injection mode, settable while the simulator runs.
type Mode int32

// Modes.
const (
	Normal      Mode = iota // answer correctly
	Silent                  // answer nothing
	Garbage                 // answer random bytes (never starting with ':')
	BadChecksum             // answer with a wrong LRC
	Truncated               // answer only the first half of each reply
	NAKAll                  // answer every request with exception 04 (device failure)
	Busy                    // answer every request with exception 06 (device busy)
	Refuse                  // writes report failure (result 0)
)

func (m Mode) String() string {
	names := [...]string{"normal", "silent", "garbage", "bad-checksum", "truncated", "nak-all", "busy", "refuse"}
	if m >= 0 && int(m) < len(names) {
		return names[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Options configure a Sim. The zero value of each field is usable.
type Options struct {
	Addr         byte          // slave address, default 1
	Warmup       time.Duration // O2 sensor warm-up from New
	Order        nhf1.Order    // register order of P and T (match the driver's Opts.Order)
	VMASStatus   bool          // status flow bit as luckyzjian/VMAS reads it
	StdFlowAt20C bool          // standard-flow register at 20 °C instead of 0 °C
	Dilution     *flv1000sim.Dilution
	Clock        func() time.Time
	Seed         uint64
}

// Sim is one simulated NHF-1. Its setters are safe to call while Serve runs.
type Sim struct {
	o     Options
	start time.Time

	mu     sync.Mutex
	fault  Mode
	rng    *rand.Rand
	writes map[uint16]uint16
	buf    []byte
	lastIn time.Time
}

// New returns a simulator.
func New(o Options) *Sim {
	if o.Addr == 0 {
		o.Addr = 1
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Dilution == nil {
		o.Dilution = flv1000sim.NewDilution(flv1000sim.DilutionOptions{})
	}
	return &Sim{o: o, start: o.Clock(), rng: rand.New(rand.NewPCG(o.Seed, 0x6e6866)), writes: map[uint16]uint16{}}
}

// Dilution returns the tunnel the simulator measures.
func (s *Sim) Dilution() *flv1000sim.Dilution { return s.o.Dilution }

// SetMode switches fault injection.
func (s *Sim) SetMode(m Mode) {
	s.mu.Lock()
	s.fault = m
	s.mu.Unlock()
}

// Written is the last value written to register reg (and whether there was one).
func (s *Sim) Written(reg uint16) (uint16, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.writes[reg]
	return v, ok
}

const (
	staleInput = 200 * time.Millisecond
	maxBuf     = 256
)

// Serve answers requests on rw until ctx is done (then it returns nil) or rw fails. rw is
// normally a pty master: EIO there means no process has the slave open, and Serve waits
// and retries. With SetReadDeadline on rw, ctx is honoured within 50 ms.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	return simport.Server{Name: "nhf1sim", Input: s.Feed, Idle: s.dropStale}.Serve(ctx, rw)
}

func (s *Sim) dropStale() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) > 0 && time.Since(s.lastIn) > staleInput {
		s.buf = nil
	}
}

// Feed takes characters from the host and returns the answers (nil: none) to the
// complete lines among them. Characters before ':' are skipped; a line with a bad LRC,
// for another address or not a valid request gets no answer, as Modbus slaves do.
func (s *Sim) Feed(in []byte) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastIn = time.Now()
	s.buf = append(s.buf, in...)
	if len(s.buf) > maxBuf {
		s.buf = s.buf[len(s.buf)-maxBuf:]
	}
	var out [][]byte
	for {
		i := bytes.IndexByte(s.buf, ':')
		if i < 0 {
			s.buf = nil
			break
		}
		s.buf = s.buf[i:]
		j := bytes.IndexByte(s.buf, '\n')
		if j < 0 {
			break
		}
		line := s.buf[:j+1]
		s.buf = s.buf[j+1:]
		if k := bytes.LastIndexByte(line, ':'); k > 0 { // a new frame started inside this one
			line = line[k:]
		}
		r, err := modbus.DecodeASCIIRequest(line)
		if err != nil || r.Addr != s.o.Addr {
			continue
		}
		out = append(out, s.reply(r))
	}
	if len(s.buf) == 0 {
		s.buf = nil
	}
	return out
}

// reply is the answer after fault injection; s.mu is held.
func (s *Sim) reply(r modbus.Request) []byte {
	switch s.fault {
	case Silent:
		return nil
	case NAKAll:
		return modbus.EncodeASCIIException(r.Addr, r.Func, modbus.ExDeviceFailure)
	case Busy:
		return modbus.EncodeASCIIException(r.Addr, r.Func, modbus.ExBusy)
	}
	b := s.answer(r, s.o.Clock())
	switch s.fault {
	case Garbage:
		g := make([]byte, len(b))
		for i := range g {
			g[i] = "0123456789ABCDEF\r\n"[s.rng.IntN(18)]
		}
		return g
	case BadChecksum:
		n := len(b)
		if b[n-3] == '0' { // change the LRC's last digit
			b[n-3] = '1'
		} else {
			b[n-3] = '0'
		}
	case Truncated:
		b = b[:len(b)/2]
	}
	return b
}

// answer is the correct reply; s.mu is held.
func (s *Sim) answer(r modbus.Request, now time.Time) []byte {
	e := s.o.Dilution.Sample(now)
	if r.Func == modbus.WriteSingle {
		switch {
		case r.Reg >= nhf1.RegBlower && r.Reg <= nhf1.RegCalO2Low, r.Reg == nhf1.RegRestore:
		default:
			return modbus.EncodeASCIIException(r.Addr, r.Func, modbus.ExIllegalAddress)
		}
		warm := now.Sub(s.start) < s.o.Warmup
		if s.fault == Refuse || (warm && r.Reg == nhf1.RegO2Zero) {
			return nhf1.EncodeWriteReply(r.Addr, r.Reg, false)
		}
		s.writes[r.Reg] = r.Value
		if r.Reg == nhf1.RegBlower {
			s.o.Dilution.SetBlower(r.Value != 0)
		}
		return nhf1.EncodeWriteReply(r.Addr, r.Reg, true)
	}
	switch {
	case r.Reg == nhf1.RegData && r.Value == nhf1.DataCount:
		ref := 0.0
		if s.o.StdFlowAt20C {
			ref = 20
		}
		return nhf1.EncodeData(r.Addr, s.o.Order, nhf1.Data{O2Pct: e.O2Pct, PressureKPa: e.PressureKPa, TempC: e.TempC,
			FlowLps: e.FlowLps, StdFlowLps: e.StdFlow(ref)})
	case r.Reg == nhf1.RegStatus && r.Value == 1:
		var v uint16
		if now.Sub(s.start) < s.o.Warmup {
			v |= nhf1.StatusWarmup
		}
		flowOK := e.FlowLps >= 80 && e.FlowLps <= 200
		if s.o.Dilution.Blower() {
			v |= nhf1.StatusBlower
		}
		if flowOK {
			if s.o.VMASStatus {
				v |= nhf1.StatusFlowVMAS
			} else {
				v |= nhf1.StatusFlowOK
			}
		}
		b, _ := modbus.EncodeASCIIReply(r, []uint16{v})
		return b
	}
	return modbus.EncodeASCIIException(r.Addr, r.Func, modbus.ExIllegalAddress)
}
