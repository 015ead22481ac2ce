// Package xce100sim simulates the XCE-100 (polled) and XCE-101 (streaming) weather
// stations, the device side of package xce100: drifting weather, XCE-101 calibration and
// fault injection. It is not the specification: the traces in ../testdata are.
package xce100sim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"imagent/drivers/simport"
	"imagent/drivers/weather/xce100"
)

// Mode is a fault-injection mode, settable while the simulator runs.
type Mode int32

// Modes.
const (
	Normal     Mode = iota // correct frames
	Silent                 // send nothing
	Garbage                // random bytes instead of frames (never a 'T')
	Truncated              // only the first half of each frame
	OutOfRange             // well-formed frames with an implausible temperature (150 °C)
	Malformed              // frames with the fields out of order (T…P…H…E)
)

func (m Mode) String() string {
	switch m {
	case Normal:
		return "normal"
	case Silent:
		return "silent"
	case Garbage:
		return "garbage"
	case Truncated:
		return "truncated"
	case OutOfRange:
		return "out-of-range"
	case Malformed:
		return "malformed"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Options configure a Sim. The zero value of each field is usable.
type Options struct {
	Model       xce100.Model  // default XCE-100
	Period      time.Duration // XCE-101 frame period, default 200 ms
	Separator   string        // XCE-101 bytes after each frame, default none
	Weather     *Weather      // default NewWeather(DefaultConditions, Seed)
	PressureHPa bool          // send pressure in hPa
	Clock       func() time.Time
	Seed        uint64 // garbage bytes and the default weather's walk
}

// Sim is one simulated station. Its setters are safe to call while Serve runs.
type Sim struct {
	o Options

	mu          sync.Mutex
	mode        Mode
	rng         *rand.Rand
	offset      Conditions // calibration offsets added to the weather
	calFail     bool
	calibrating bool
	calDeadline time.Time
	cmd         []byte // XCE-101: calibration command being received
}

// New returns a simulator.
func New(o Options) *Sim {
	if o.Model == "" {
		o.Model = xce100.XCE100
	}
	if o.Period <= 0 {
		o.Period = 200 * time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Weather == nil {
		o.Weather = NewWeather(DefaultConditions, o.Seed)
	}
	return &Sim{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x786365))}
}

// SetMode switches fault injection.
func (s *Sim) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// SetCalFail makes the XCE-101 refuse calibrations (BDSB).
func (s *Sim) SetCalFail(fail bool) {
	s.mu.Lock()
	s.calFail = fail
	s.mu.Unlock()
}

// Weather is the simulated air.
func (s *Sim) Weather() *Weather { return s.o.Weather }

// Offsets are the calibration corrections the station applies to the weather.
func (s *Sim) Offsets() Conditions {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offset
}

// Reading is what the station would display now (weather plus calibration offsets).
func (s *Sim) Reading() Conditions {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reading()
}

func (s *Sim) reading() Conditions {
	c := s.o.Weather.At(s.o.Clock())
	return Conditions{TempC: c.TempC + s.offset.TempC, RHpct: c.RHpct + s.offset.RHpct, PressureKPa: c.PressureKPa + s.offset.PressureKPa}
}

// Frame is the station's next frame after fault injection (nil: send nothing).
func (s *Sim) Frame() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frame()
}

func (s *Sim) frame() []byte {
	c := s.reading()
	p := c.PressureKPa
	if s.o.PressureHPa {
		p *= 10
	}
	f := xce100.Frame{TempC: c.TempC, RH: c.RHpct, P: p}
	switch s.mode {
	case Silent:
		return nil
	case Garbage:
		g := make([]byte, 12+s.rng.IntN(12))
		for i := range g {
			for g[i] = byte(s.rng.UintN(256)); g[i] == xce100.TagTemp; g[i] = byte(s.rng.UintN(256)) {
			}
		}
		return g
	case Truncated:
		b := xce100.AppendFrame(nil, f)
		return b[:len(b)/2]
	case OutOfRange:
		f.TempC = 150
	case Malformed:
		b := xce100.AppendFrame(nil, f)
		h, p := bytes.IndexByte(b, xce100.TagRH), bytes.IndexByte(b, xce100.TagPressure)
		out := append([]byte{}, b[:h]...)
		out = append(out, b[p:len(b)-1]...)
		out = append(out, b[h:p]...)
		return append(out, xce100.TagEnd)
	}
	return xce100.AppendFrame(nil, f)
}

// writeWait bounds one write, so a reader that does not drain the line cannot block the
// simulator.
const writeWait = 200 * time.Millisecond

// calTimeout ends an XCE-101 calibration that never got its value.
const calTimeout = 5 * time.Second

// Serve runs the station on rw until ctx is done (then it returns nil) or rw fails. rw is
// normally a pty master (simport.Open): EIO there means no process has the slave open,
// and Serve waits and retries. rw should have SetReadDeadline (ctx is honoured within
// 50 ms); without it an XCE-101 streams only as fast as bytes arrive.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	if s.o.Model != xce100.XCE100 && s.o.Model != xce100.XCE101 {
		return fmt.Errorf("xce100sim: unknown model %q", s.o.Model)
	}
	l := simport.NewLink("xce100sim", rw)
	stream := s.o.Model == xce100.XCE101
	next := time.Now().Add(s.o.Period)
	buf := make([]byte, 64)
	for {
		if ctx.Err() != nil {
			return nil
		}
		if stream && !time.Now().Before(next) {
			next = next.Add(s.o.Period)
			if now := time.Now(); next.Before(now) {
				next = now.Add(s.o.Period)
			}
			if f := s.streamFrame(); len(f) > 0 {
				if err := l.WriteWithin(ctx, append(f, s.o.Separator...), writeWait); err != nil {
					return err
				}
			}
		}
		until := time.Now().Add(simport.PollSlice)
		if stream && next.Before(until) {
			until = next
		}
		n, st, err := l.Read(ctx, buf, until)
		if st == simport.Stopped {
			return err
		}
		for _, c := range buf[:n] {
			// a full or absent reader loses the reply, as a real line would
			if err := l.WriteWithin(ctx, s.Input(c), writeWait); err != nil {
				return err
			}
		}
	}
}

// streamFrame is the XCE-101's periodic frame, or nil while it is calibrating.
func (s *Sim) streamFrame() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calibrating {
		if time.Now().Before(s.calDeadline) {
			return nil
		}
		s.calibrating, s.cmd = false, nil
	}
	return s.frame()
}

// Input handles one byte from the host and returns the reply (nil for none). Serve calls
// it; tests may call it directly.
func (s *Sim) Input(c byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.o.Model == xce100.XCE100 {
		if c == 'W' {
			return s.frame() // the line end that follows is ignored
		}
		return nil
	}
	if s.mode == Silent {
		return nil
	}
	switch {
	case c == xce100.CalEnter[0]:
		s.calibrating, s.cmd = true, nil
		s.calDeadline = time.Now().Add(calTimeout)
		return []byte(xce100.CalReady)
	case !s.calibrating:
		return nil
	case len(s.cmd) == 0 && c != 'B':
		return nil
	}
	s.cmd = append(s.cmd, c)
	if len(s.cmd) < 6 {
		return nil
	}
	cmd := s.cmd
	s.calibrating, s.cmd = false, nil
	tag, v, err := xce100.ParseCalCommand(cmd)
	if err != nil || s.calFail {
		return []byte(xce100.CalRejected)
	}
	w := s.o.Weather.At(s.o.Clock())
	off := s.offset
	switch tag {
	case xce100.TagTemp:
		off.TempC = v - w.TempC
	case xce100.TagRH:
		off.RHpct = v - w.RHpct
	case xce100.TagPressure:
		if s.o.PressureHPa {
			v /= 10
		}
		off.PressureKPa = v - w.PressureKPa
	}
	if err := xce100.DefaultLimits.Check(w.TempC+off.TempC, w.RHpct+off.RHpct, w.PressureKPa+off.PressureKPa); err != nil {
		return []byte(xce100.CalRejected)
	}
	s.offset = off
	return []byte(xce100.CalOK)
}
