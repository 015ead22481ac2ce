// Package nhc03sim simulates a Nanhua NHC-03 dyno controller (the device side of package
// nhc03): it answers real-time, status and variable requests and control words, and
// drives the same Roller model as the Xincheng simulator, with a lift that takes time
// to travel. Faults (silence, garbage, bad checksum, truncated replies, NAK) can be
// switched on while it runs. It is not the specification: traces in ../testdata are.
package nhc03sim

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"imagent/drivers"
	"imagent/drivers/dyno/nhc03"
	"imagent/drivers/dyno/xincheng/xinchengsim"
	"imagent/drivers/simport"
)

// Mode is a fault-injection mode, settable while the simulator runs.
type Mode int32

// Modes.
const (
	Normal      Mode = iota // answer correctly
	Silent                  // answer nothing
	Garbage                 // answer random bytes (never NAK first)
	BadChecksum             // answer data replies with a wrong checksum
	Truncated               // answer only the first half of each data reply
	NAKAll                  // answer NAK to everything
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
	Roller    *xinchengsim.Roller // default xinchengsim.NewRoller(RollerOptions{Seed: Seed})
	LiftTime  time.Duration       // lift travel time; 0: at once
	Head      byte                // first byte of data replies, default nhc03.ACK
	InertiaKg uint16              // variable 6, default 907
	Clock     func() time.Time    // default time.Now
	Seed      uint64
}

// Sim is one simulated controller. Its setters are safe to call while Serve runs.
type Sim struct {
	o      Options
	roller *xinchengsim.Roller

	mu        sync.Mutex
	mode      Mode
	rng       *rand.Rand
	vars      map[byte]uint16
	liftUp    bool
	liftSince time.Time
	distZero  float64
	requests  uint64
	bad       uint64
	last      nhc03.Request
}

// New returns a simulator, lift down, no control.
func New(o Options) *Sim {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Roller == nil {
		o.Roller = xinchengsim.NewRoller(xinchengsim.RollerOptions{Seed: o.Seed})
	}
	if o.Head == 0 {
		o.Head = nhc03.ACK
	}
	if o.InertiaKg == 0 {
		o.InertiaKg = 907
	}
	return &Sim{
		o:      o,
		roller: o.Roller,
		rng:    rand.New(rand.NewPCG(o.Seed, 0x6e6863)),
		vars:   map[byte]uint16{nhc03.VarInertia: o.InertiaKg},
	}
}

// Roller returns the simulated machine, to drive the vehicle and look at its state.
func (s *Sim) Roller() *xinchengsim.Roller { return s.roller }

// SetThrottle sets the simulated vehicle's accelerator, 0..1 (see Roller.SetThrottle).
func (s *Sim) SetThrottle(x float64) { s.roller.SetThrottle(x) }

// SetDriveSpeed makes the simulated driver hold kmh against the load (see
// Roller.SetDriveSpeed); a negative kmh hands back to SetThrottle.
func (s *Sim) SetDriveSpeed(kmh float64) { s.roller.SetDriveSpeed(kmh) }

// SetMode switches fault injection.
func (s *Sim) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// Var returns variable n as last written (or as the simulator keeps it).
func (s *Sim) Var(n byte) uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.vars[n]
}

// Counters of the simulator since New.
type Counters struct {
	Requests    uint64 // valid requests
	BadRequests uint64 // requests with a bad checksum or framing
}

// Counters returns the simulator's counters.
func (s *Sim) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Counters{Requests: s.requests, BadRequests: s.bad}
}

// LastRequest is the last valid request received.
func (s *Sim) LastRequest() nhc03.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
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
			req, rest, ok := s.next(buf)
			buf = rest
			if !ok {
				break
			}
			replies = append(replies, s.Reply(req))
		}
		return replies
	}
	return simport.Server{Name: "nhc03sim", BufSize: 64, Input: input}.Serve(ctx, rw)
}

// next finds the next valid request in buf, skipping bytes that cannot start one (and
// counting bad checksums). It returns the rest of buf.
func (s *Sim) next(buf []byte) (nhc03.Request, []byte, bool) {
	for len(buf) > 0 {
		if buf[0] != nhc03.Head {
			buf = buf[1:]
			continue
		}
		if len(buf) < nhc03.RequestLen {
			return nhc03.Request{}, buf, false
		}
		r, err := nhc03.DecodeRequest(buf[:nhc03.RequestLen])
		if err != nil {
			s.mu.Lock()
			s.bad++
			s.mu.Unlock()
			buf = buf[1:]
			continue
		}
		return r, buf[nhc03.RequestLen:], true
	}
	return nhc03.Request{}, buf, false
}

// Reply is the simulator's answer to one request, after fault injection (nil for none).
// Serve calls it; tests may call it directly.
func (s *Sim) Reply(r nhc03.Request) []byte {
	now := s.o.Clock()
	st := s.roller.Step(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	s.last = r
	out := s.answer(r, st, now)
	data := len(out) > 1
	switch s.mode {
	case Silent:
		return nil
	case NAKAll:
		return []byte{nhc03.NAK}
	case Garbage:
		g := make([]byte, len(out))
		for i := range g {
			g[i] = byte(s.rng.UintN(256))
		}
		if g[0] == nhc03.NAK {
			g[0] = 0x3f
		}
		return g
	case BadChecksum:
		if data {
			out[len(out)-1] ^= 0x5a
		}
	case Truncated:
		if data {
			out = out[:len(out)/2]
		}
	}
	return out
}

// answer is the correct reply; s.mu is held.
func (s *Sim) answer(r nhc03.Request, st xinchengsim.RollerState, now time.Time) []byte {
	ack := []byte{nhc03.ACK}
	switch r.Cmd {
	case nhc03.CmdRealtime:
		return nhc03.EncodeRealtime(nhc03.Realtime{Head: s.o.Head, PowerKW: st.PowerKW, ForceN: st.ForceN, SpeedKmh: st.SpeedKmh})
	case nhc03.CmdStatus:
		return nhc03.EncodeWord(s.o.Head, s.status(now))
	case nhc03.CmdReadVar:
		v := s.vars[r.Var]
		if r.Var == nhc03.VarDistance {
			v = uint16(min(st.DistanceM-s.distZero, 65535))
		}
		return nhc03.EncodeWord(s.o.Head, v)
	case nhc03.CmdWriteVar:
		s.vars[r.Var] = r.Value
		return ack
	case nhc03.CtrlOff:
		s.roller.SetControl(drivers.ControlOff, 0)
	case nhc03.CtrlSpeed:
		s.roller.SetControl(drivers.ControlSpeed, float64(s.vars[nhc03.VarSpeedTarget])/100)
	case nhc03.CtrlForce:
		s.roller.SetControl(drivers.ControlForce, float64(s.vars[nhc03.VarForceTarget])+float64(s.vars[nhc03.VarForceTenths])/10)
	case nhc03.CtrlPower:
		s.roller.SetControl(drivers.ControlPower, float64(s.vars[nhc03.VarPowerTarget])/100)
	case nhc03.CtrlLiftUp, nhc03.CtrlLiftDown:
		up := r.Cmd == nhc03.CtrlLiftUp
		if up != s.liftUp {
			s.liftUp, s.liftSince = up, now
			s.roller.SetLift(up)
		}
	case nhc03.CtrlMotorOn:
		s.roller.SetMotor(true)
	case nhc03.CtrlMotorOff:
		s.roller.SetMotor(false)
	case nhc03.CtrlResetDistance:
		s.distZero = st.DistanceM
	case nhc03.CtrlDriveSim, nhc03.CtrlASM, nhc03.CtrlTimer1On, nhc03.CtrlTimer1Off, nhc03.CtrlVarLoad,
		nhc03.CtrlTimer2On, nhc03.CtrlTimer2Off, nhc03.CtrlConstAccel:
		// accepted, not simulated
	default:
		return []byte{nhc03.NAK}
	}
	return ack
}

// status is the status word: lift up (bit 0) or down (bit 1) once it has travelled;
// s.mu is held.
func (s *Sim) status(now time.Time) uint16 {
	if now.Sub(s.liftSince) < s.o.LiftTime {
		return 0
	}
	if s.liftUp {
		return nhc03.StatusLiftUp
	}
	return nhc03.StatusLiftDown
}
