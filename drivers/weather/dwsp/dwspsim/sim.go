// Package dwspsim simulates a Modbus RTU weather station (the device side of package
// dwsp) with any dwsp.Layout: drifting weather, several slaves on one line, and fault
// injection. It is not the specification: the traces in ../testdata are.
package dwspsim

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"imagent/drivers/internal/modbus"
	"imagent/drivers/simport"
	"imagent/drivers/weather/dwsp"
)

// Mode is a fault-injection mode, settable while the simulator runs.
type Mode int32

// Modes.
const (
	Normal      Mode = iota // correct replies
	Silent                  // no reply
	Garbage                 // random bytes (never starting with the slave address)
	BadCRC                  // correct reply with a wrong CRC
	Truncated               // the first half of the reply
	Exception               // exception 04, slave device failure
	Busy                    // exception 06, slave device busy
	WrongSlave              // the reply comes from another address
	SensorFault             // a CRC-correct reply with every register 0xFFFF
)

func (m Mode) String() string {
	names := [...]string{"normal", "silent", "garbage", "bad-crc", "truncated", "exception", "busy", "wrong-slave", "sensor-fault"}
	if m >= 0 && int(m) < len(names) {
		return names[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Options configure a Sim. The zero value of each field is usable.
type Options struct {
	Addr    byte        // slave address, default 1
	Layout  dwsp.Layout // register map, default dwsp.DWSPT5
	Weather *Weather    // default NewWeather(DefaultConditions, Seed)
	Clock   func() time.Time
	Seed    uint64
}

// Sim is one simulated station. Its setters are safe to call while Serve runs.
type Sim struct {
	o Options

	mu       sync.Mutex
	mode     Mode
	rng      *rand.Rand
	requests int
}

// New returns a simulator; a bad layout is reported by Serve.
func New(o Options) *Sim {
	if o.Addr == 0 {
		o.Addr = 1
	}
	if o.Layout == (dwsp.Layout{}) {
		o.Layout = dwsp.DWSPT5
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Weather == nil {
		o.Weather = NewWeather(DefaultConditions, o.Seed)
	}
	return &Sim{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x64777370))}
}

// SetMode switches fault injection.
func (s *Sim) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// Weather is the simulated air.
func (s *Sim) Weather() *Weather { return s.o.Weather }

// Requests counts the requests addressed to this slave.
func (s *Sim) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Reply is the answer to one request frame after fault injection (nil: no answer, also
// for a request to another slave or one that does not decode).
func (s *Sim) Reply(frame []byte) []byte {
	r, err := modbus.DecodeRTURequest(frame)
	if err != nil || r.Addr != s.o.Addr {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	var out []byte
	l := s.o.Layout
	switch {
	case r.Func != modbus.ReadInput && r.Func != modbus.ReadHolding:
		out = modbus.EncodeRTUException(r.Addr, r.Func, modbus.ExIllegalFunction)
	case r.Reg < l.Start || int(r.Reg)+int(r.Value) > int(l.Start)+int(l.Count):
		out = modbus.EncodeRTUException(r.Addr, r.Func, modbus.ExIllegalAddress)
	default:
		c := s.o.Weather.At(s.o.Clock())
		regs := dwsp.Encode(dwsp.Values{TempC: c.TempC, RHpct: c.RHpct, PressureKPa: c.PressureKPa}, l)
		if s.mode == SensorFault {
			for i := range regs {
				regs[i] = 0xFFFF
			}
		}
		off := r.Reg - l.Start
		out, err = modbus.EncodeRTUReply(r, regs[off:off+r.Value])
		if err != nil {
			out = modbus.EncodeRTUException(r.Addr, r.Func, modbus.ExDeviceFailure)
		}
	}
	switch s.mode {
	case Silent:
		return nil
	case Garbage:
		g := make([]byte, len(out))
		for i := range g {
			g[i] = byte(s.rng.UintN(256))
		}
		if g[0] == s.o.Addr {
			g[0] ^= 0x80
		}
		return g
	case BadCRC:
		out[len(out)-1] ^= 0x5a
	case Truncated:
		out = out[:len(out)/2]
	case Exception:
		out = modbus.EncodeRTUException(r.Addr, r.Func, modbus.ExDeviceFailure)
	case Busy:
		out = modbus.EncodeRTUException(r.Addr, r.Func, modbus.ExBusy)
	case WrongSlave:
		out[0] = s.o.Addr%247 + 1
		out = modbus.AppendCRC(out[:len(out)-2])
	}
	return out
}

// frameGap: a pause this long ends a request (Modbus RTU's 3.5 characters, generously).
const frameGap = 10 * time.Millisecond

// requestLen is the length of a read request frame.
const requestLen = 8

// Serve answers requests on rw until ctx is done (then it returns nil) or rw fails. rw is
// normally a pty master (simport.Open): EIO there means no process has the slave open,
// and Serve waits and retries. Requests are delimited by length (8 bytes) and by pauses:
// bytes that do not make a valid request are dropped one at a time.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	if err := s.o.Layout.Validate(); err != nil {
		return fmt.Errorf("dwspsim: %w", err)
	}
	var in []byte
	last := time.Now()
	input := func(b []byte) [][]byte {
		if now := time.Now(); now.Sub(last) > frameGap {
			in = in[:0]
		}
		last = time.Now()
		in = append(in, b...)
		var replies [][]byte
		for len(in) >= requestLen {
			if _, err := modbus.DecodeRTURequest(in[:requestLen]); err != nil {
				in = in[1:]
				continue
			}
			replies = append(replies, s.Reply(in[:requestLen]))
			in = in[requestLen:]
		}
		return replies
	}
	idle := func() { in = in[:0] } // a pause ends any partial request
	return simport.Server{Name: "dwspsim", BufSize: 64, Input: input, Idle: idle}.Serve(ctx, rw)
}
