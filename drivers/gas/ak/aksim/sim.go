// Package aksim simulates an exhaust-gas bench speaking the AK protocol (the device side
// of package ak): remote and manual mode, sample gas, stand-by, pause, a timed zero,
// auto-range, an error list, a simulated car (nanhuasim.Car), and fault modes including
// XON/XOFF flow control. It is not the specification: the traces in ../testdata are.
package aksim

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"imagent/drivers"
	"imagent/drivers/gas/ak"
	"imagent/drivers/gas/nanhua/nanhuasim"
	"imagent/drivers/simport"
)

// Mode is a fault-injection mode, settable while the simulator runs.
type Mode int32

// Modes.
const (
	Normal     Mode = iota
	Silent          // answer nothing
	Garbage         // answer random printable bytes (never STX, ETX, XON or XOFF)
	Corrupt         // answer a frame with a broken header (the AK protocol has no checksum)
	Truncated       // answer the first half of each frame, without ETX
	NAKAll          // answer every request with the syntax-error token SE
	BusyAll         // answer every request with the busy token BS
	FlowHold        // send XOFF after each answer and XON only XONDelay later
	Interleave      // put XOFF and XON bytes inside each answer
)

func (m Mode) String() string {
	names := [...]string{"normal", "silent", "garbage", "corrupt", "truncated", "nak-all", "busy-all", "flow-hold", "interleave"}
	if m >= 0 && int(m) < len(names) {
		return names[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Options configure a Sim. The zero value of each field is usable.
type Options struct {
	Components []ak.Component // order of the AKON values, default ak.DefaultComponents()
	ZeroTime   time.Duration  // how long SNGA runs before the bench goes to stand-by
	ZeroFail   bool           // the zero leaves an error (E510) active
	Manual     bool           // start in manual mode (remote functions answered OF)
	XONDelay   time.Duration  // FlowHold: time between XOFF and XON, default 100 ms
	Vehicle    nanhuasim.Vehicle
	Clock      func() time.Time
	Seed       uint64
}

// Sim is one simulated bench. Its setters are safe to call while Serve runs.
type Sim struct {
	o Options

	mu         sync.Mutex
	fault      Mode
	rng        *rand.Rand
	in         []byte
	remote     bool
	mode       string // SMGA, STBY, SPAU, SNGA, SEGA
	opEnd      time.Time
	autoRange  bool
	errs       []string
	xonAt      time.Time // FlowHold: an XON is due at this time (zero: none)
	violations int       // bytes received while XOFF was outstanding
	requests   []string
}

// New returns a simulator.
func New(o Options) *Sim {
	if o.Components == nil {
		o.Components = ak.DefaultComponents()
	}
	if o.XONDelay <= 0 {
		o.XONDelay = 100 * time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Vehicle == nil {
		o.Vehicle = nanhuasim.NewCar(o.Seed)
	}
	return &Sim{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x616b)), remote: !o.Manual, mode: "STBY", autoRange: true}
}

// SetMode switches fault injection.
func (s *Sim) SetMode(m Mode) { s.mu.Lock(); s.fault = m; s.mu.Unlock() }

// SetManual puts the bench in manual (true) or remote mode, as its keypad would.
func (s *Sim) SetManual(manual bool) { s.mu.Lock(); s.remote = !manual; s.mu.Unlock() }

// SetErrors sets the active error codes (status digit 1 while any is active).
func (s *Sim) SetErrors(codes ...string) { s.mu.Lock(); s.errs = slices.Clone(codes); s.mu.Unlock() }

// Measuring reports whether the bench samples gas (SMGA).
func (s *Sim) Measuring() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.mode == "SMGA" }

// Violations is the number of bytes the host sent while an XOFF was outstanding.
func (s *Sim) Violations() int { s.mu.Lock(); defer s.mu.Unlock(); return s.violations }

// Requests returns the functions received so far, in order.
func (s *Sim) Requests() []string { s.mu.Lock(); defer s.mu.Unlock(); return slices.Clone(s.requests) }

// Reply takes one byte from the host and returns the answer once a frame from STX to ETX
// is in (nil before, and for bytes outside a frame).
func (s *Sim) Reply(in byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Clock()
	if !s.xonAt.IsZero() {
		s.violations++
	}
	in &= 0x7f
	switch {
	case in == ak.STX:
		s.in = append(s.in[:0], in)
		return nil
	case len(s.in) == 0:
		return nil
	}
	s.in = append(s.in, in)
	if len(s.in) > ak.MaxFrame {
		s.in = s.in[:0]
		return nil
	}
	if in != ak.ETX {
		return nil
	}
	frame := s.in
	s.in = nil
	if s.fault == Silent {
		return nil
	}
	req, err := ak.DecodeRequest(frame)
	if err != nil {
		return nil // not even a function to answer
	}
	s.requests = append(s.requests, req.Func)
	var r ak.Response
	switch s.fault {
	case NAKAll:
		r = ak.Response{Func: req.Func, Err: ak.ErrTokSyntax}
	case BusyAll:
		r = ak.Response{Func: req.Func, Err: ak.ErrTokBusy}
	default:
		r = s.answer(req, now)
	}
	if len(s.errs) > 0 {
		r.Status = 1
	}
	out := ak.EncodeResponse('_', r)
	switch s.fault {
	case Garbage:
		for i := range out {
			out[i] = byte(' ' + s.rng.UintN(95)) // printable: no STX, ETX, XON or XOFF
		}
	case Corrupt:
		out[7] = 'X' // the status digit
	case Truncated:
		out = out[:len(out)/2]
	case FlowHold:
		out = append(out, ak.XOFF)
		s.xonAt = now.Add(s.o.XONDelay)
	case Interleave:
		mid := len(out) / 2
		out = append(append(append([]byte{ak.XOFF}, out[:mid]...), ak.XON, ak.XOFF, ak.XON), out[mid:]...)
	}
	return out
}

// Poll returns what the bench sends by itself at now: the XON of FlowHold when due.
func (s *Sim) Poll() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.xonAt.IsZero() || s.o.Clock().Before(s.xonAt) {
		return nil
	}
	s.xonAt = time.Time{}
	return []byte{ak.XON}
}

// answer is the correct answer to req; s.mu is held.
func (s *Sim) answer(req ak.Request, now time.Time) ak.Response {
	s.finish(now)
	r := ak.Response{Func: req.Func}
	if req.Func[0] == 'S' && !s.remote && req.Func != "SREM" {
		r.Err = ak.ErrTokOffline
		return r
	}
	switch req.Func {
	case "AKON":
		for _, c := range s.o.Components {
			r.Data = append(r.Data, strconv.FormatFloat(s.gas(now, c.Quantity)/c.Scale, 'f', 4, 64))
		}
	case "ASTZ":
		r.Data = []string{"SMAN", s.mode}
		if s.remote {
			r.Data[0] = "SREM"
		}
		if s.autoRange {
			r.Data = append(r.Data, "SARE")
		}
	case "ASTF":
		r.Data = slices.Clone(s.errs)
	case "SREM":
		s.remote = true
	case "SMAN":
		s.remote = false
	case "SRES":
		s.errs, s.mode = nil, "STBY"
	case "SMGA", "STBY", "SPAU":
		s.mode = req.Func
	case "SARE":
		s.autoRange = true
	case "SARA":
		s.autoRange = false
	case "SNGA", "SEGA":
		s.mode, s.opEnd = req.Func, now.Add(s.o.ZeroTime)
	case "SEMB":
		if len(req.Args) != 1 || len(req.Args[0]) != 2 || req.Args[0][0] != 'M' || req.Args[0][1] < '1' || req.Args[0][1] > '9' {
			r.Err = ak.ErrTokFormat
		}
	default:
		r.Err = ak.ErrTokSyntax
	}
	return r
}

// finish ends a due zero or span: the bench goes to stand-by [I].
func (s *Sim) finish(now time.Time) {
	if (s.mode == "SNGA" || s.mode == "SEGA") && !now.Before(s.opEnd) {
		if s.mode == "SNGA" && s.o.ZeroFail {
			s.errs = append(s.errs, "E510")
		}
		s.mode = "STBY"
	}
}

func (s *Sim) gas(now time.Time, q drivers.Quantity) float64 {
	e := s.o.Vehicle.Exhaust(now)
	switch s.mode {
	case "SMGA":
	case "SNGA":
		e = nanhuasim.Exhaust{}
	default:
		e = nanhuasim.Exhaust{CO2pct: 0.04, O2pct: 20.9}
	}
	switch q {
	case drivers.COpct:
		return e.COpct
	case drivers.CO2pct:
		return e.CO2pct
	case drivers.HCppm:
		return e.HCppm
	case drivers.O2pct:
		return e.O2pct
	case drivers.NOppm, drivers.NOxppm:
		return e.NOppm
	case drivers.Lambda:
		return nanhuasim.Lambda(e, 0)
	}
	return 0
}

// Serve answers requests on rw and sends XON when due, until ctx is done (then it returns
// nil) or rw fails, with the pty-master rules of nanhuasim.Sim.Serve (EIO: nobody has the
// slave open; wait).
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	return simport.Server{Name: "aksim", Input: simport.PerByte(s.Reply), Poll: s.Poll, BufSize: 64, PollSlice: 20 * time.Millisecond}.Serve(ctx, rw)
}
