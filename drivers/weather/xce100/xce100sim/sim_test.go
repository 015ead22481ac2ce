package xce100sim

import (
	"errors"
	"math"
	"testing"

	"imagent/drivers"
	"imagent/drivers/weather/xce100"
)

func TestFaultFrames(t *testing.T) {
	s := New(Options{Weather: Fixed(Conditions{TempC: 20, RHpct: 50, PressureKPa: 100})})
	if got := string(s.Input('W')); got != "T20.0H50.0P100.0E" {
		t.Errorf("W → %q", got)
	}
	if got := s.Input('\n'); got != nil {
		t.Errorf("LF → %q", got)
	}
	for _, tc := range []struct {
		m    Mode
		want error
	}{{Garbage, drivers.ErrFrame}, {Truncated, drivers.ErrFrame}, {Malformed, drivers.ErrFrame}} {
		s.SetMode(tc.m)
		for range 20 {
			if _, err := xce100.DecodeFrame(s.Frame()); !errors.Is(err, tc.want) {
				t.Errorf("%v frame decodes: %v", tc.m, err)
			}
		}
	}
	s.SetMode(OutOfRange)
	f, err := xce100.DecodeFrame(s.Frame())
	if err != nil || xce100.DefaultLimits.Check(f.TempC, f.RH, f.P) == nil {
		t.Errorf("out-of-range frame %+v, %v", f, err)
	}
	s.SetMode(Silent)
	if b := s.Input('W'); b != nil {
		t.Errorf("silent station answered %q", b)
	}
}

func TestCalibrationInput(t *testing.T) {
	s := New(Options{Model: xce100.XCE101, Weather: Fixed(Conditions{TempC: 20, RHpct: 50, PressureKPa: 100})})
	feed := func(in string) string {
		var out []byte
		for _, c := range []byte(in) {
			out = append(out, s.Input(c)...)
		}
		return string(out)
	}
	if got := feed("B 253T"); got != "" {
		t.Errorf("calibration value without K → %q", got)
	}
	if got := feed("K"); got != xce100.CalReady {
		t.Errorf("K → %q", got)
	}
	if f := s.streamFrame(); f != nil {
		t.Errorf("streams %q while calibrating", f)
	}
	if got := feed("xB 253T"); got != xce100.CalOK {
		t.Errorf("B 253T → %q", got)
	}
	if c := s.Reading(); math.Abs(c.TempC-25.3) > 1e-9 || c.RHpct != 50 {
		t.Errorf("after calibration the station reads %+v", c)
	}
	if got := string(s.streamFrame()); got != "T25.3H50.0P100.0E" {
		t.Errorf("stream after calibration: %q", got)
	}
	if got := feed("KB9999T"); got != xce100.CalReady+xce100.CalRejected {
		t.Errorf("implausible calibration → %q", got)
	}
	if c := s.Reading(); math.Abs(c.TempC-25.3) > 1e-9 {
		t.Errorf("a refused calibration changed the reading: %+v", c)
	}
	if got := feed("KB 1X0H"); got != xce100.CalReady+xce100.CalRejected {
		t.Errorf("malformed calibration → %q", got)
	}
	s.SetCalFail(true)
	if got := feed("KB 500H"); got != xce100.CalReady+xce100.CalRejected {
		t.Errorf("CalFail → %q", got)
	}
}
