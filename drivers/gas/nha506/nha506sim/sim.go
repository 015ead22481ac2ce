// Package nha506sim simulates a Nanhua NHA-506 analyzer (the device side of package
// nha506): warm-up, then an automatic zero, then ready; pump on/off; a simulated car
// (nanhuasim.Car) and the fault modes of nanhuasim. It is not the specification: the
// traces in ../testdata are.
package nha506sim

import (
	"context"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"imagent/drivers"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/gas/nanhua/nanhuasim"
	"imagent/drivers/gas/nha506"
	"imagent/drivers/simport"
)

// Mode is a fault-injection mode (the same set as nanhuasim).
type Mode = nanhuasim.Mode

// Fault modes.
const (
	Normal      = nanhuasim.Normal
	Silent      = nanhuasim.Silent
	Garbage     = nanhuasim.Garbage
	BadChecksum = nanhuasim.BadChecksum
	Truncated   = nanhuasim.Truncated
	NAKAll      = nanhuasim.NAKAll
)

// Options configure a Sim. The zero value of each field is usable.
type Options struct {
	Warmup   time.Duration     // warm-up time from New ('H')
	ZeroTime time.Duration     // the automatic zero that follows warm-up ('Z')
	Vehicle  nanhuasim.Vehicle // default nanhuasim.NewCar(Seed)
	Clock    func() time.Time  // default time.Now
	Seed     uint64
}

// Sim is one simulated NHA-506. Its setters are safe to call while Serve runs.
type Sim struct {
	o     Options
	start time.Time

	mu   sync.Mutex
	mode Mode
	rng  *rand.Rand
	pump bool
}

// New returns a simulator.
func New(o Options) *Sim {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Vehicle == nil {
		o.Vehicle = nanhuasim.NewCar(o.Seed)
	}
	return &Sim{o: o, start: o.Clock(), rng: rand.New(rand.NewPCG(o.Seed, 0x353036))}
}

// SetMode switches fault injection.
func (s *Sim) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// PumpOn reports whether the pump runs.
func (s *Sim) PumpOn() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pump
}

// Status is the state at now.
func (s *Sim) status(now time.Time) drivers.Status {
	t := now.Sub(s.start)
	switch {
	case t < s.o.Warmup:
		return drivers.Warmup
	case t < s.o.Warmup+s.o.ZeroTime:
		return drivers.Zeroing
	}
	return 0
}

// garbageStart are first bytes no reply starts with.
var garbageStart = []byte{0x07, 0x3f, 0x55, 0x7e, 0xa5, 0xc3, 0xf0, 0xff}

// Reply is the answer to one command byte after fault injection (nil: no answer).
func (s *Sim) Reply(cmd byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.mode {
	case Silent:
		return nil
	case NAKAll:
		return []byte{nha506.NAK}
	}
	now := s.o.Clock()
	var r []byte
	switch cmd {
	case nha506.CmdPump:
		s.pump = true
		r = []byte{nha506.ACK}
	case nha506.CmdStop:
		s.pump = false
		r = []byte{nha506.ACK}
	case nha506.CmdStatus:
		r = []byte{nha506.StatusByte(s.status(now))}
	case nha506.CmdData:
		r = s.data(now)
	default:
		r = []byte{nha506.NAK}
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

func (s *Sim) data(now time.Time) []byte {
	e := s.o.Vehicle.Exhaust(now)
	if !s.pump || s.status(now) != 0 {
		e = nanhuasim.Exhaust{CO2pct: 0.04, O2pct: 20.9, RPM: e.RPM, OilTempC: e.OilTempC}
	}
	return nha506.EncodeData(nha506.Data{HC: e.HCppm, CO: e.COpct, CO2: e.CO2pct, O2: e.O2pct, NO: e.NOppm,
		RPM: e.RPM, OilTemp: e.OilTempC, Lambda: nanhuasim.Lambda(e, nanhua.Gasoline)})
}

// Serve answers commands on rw until ctx is done (then it returns nil) or rw fails, with
// the pty-master rules of nanhuasim.Sim.Serve (EIO: nobody has the slave open; wait).
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	return simport.Server{Name: "nha506sim", Input: simport.PerByte(s.Reply), BufSize: 1}.Serve(ctx, rw)
}
