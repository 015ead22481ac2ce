package ntsim

import (
	"errors"
	"math"
	"testing"
	"time"

	"imagent/drivers"
	"imagent/drivers/tacho/nt"
)

func TestEngineAndWeather(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	e := NewEngine(1, func() time.Time { return t0 })
	e.SetTargetRPM(2500)
	want := IdleRPM + (2500-IdleRPM)*(1-math.Exp(-2)) // τ 0.5 s, after 1 s
	if s := e.Sample(t0.Add(time.Second)); math.Abs(s.RPM-want) > 15 {
		t.Errorf("rpm 1 s after the step %v, want %v", s.RPM, want)
	}
	if s := e.Sample(t0.Add(10 * time.Minute)); s.OilTempC < 77 || s.OilTempC > 81 { // 60 → 90 °C, τ 10 min
		t.Errorf("oil after 10 min %v", s.OilTempC)
	}
	e.SetTargetRPM(0)
	if s := e.Sample(t0.Add(11 * time.Minute)); s.RPM != 0 {
		t.Errorf("engine off reads %v", s.RPM)
	}
	w := NewWeather(2, func() time.Time { return t0 })
	for i := range 600 {
		s := w.Sample(t0.Add(time.Duration(i) * time.Second))
		if math.Abs(s.TempC-20) > 2 || math.Abs(s.PressureKPa-101.3) > 0.3 || s.RHpct < 40 || s.RHpct > 60 {
			t.Fatalf("weather drifted to %+v after %d s", s, i)
		}
	}
}

func TestReplies(t *testing.T) {
	s := New(Options{Model: nt.FMP1, Seed: 1})
	req := func(cmd uint16, data ...byte) []byte {
		return nt.Encode(nt.Frame{Addr: [2]byte{'0', '1'}, Kind: nt.KindRequest, Cmd: cmd, Data: data})
	}
	f, err := nt.Decode(s.Reply(req(nt.CmdFMP1Read)))
	if err != nil {
		t.Fatal(err)
	}
	if x, err := nt.DecodeFMP1(f); err != nil || x.RPM < 700 || x.RPM > 800 || x.TempC != 20 {
		t.Errorf("FMP-1 data %+v %v", x, err)
	}
	f, _ = nt.Decode(s.Reply(req(nt.CmdVMTRPM)))
	if err := f.Err(); !errors.Is(err, drivers.ErrNAK) || err != nt.DeviceError(nt.CodeBadCommand) {
		t.Errorf("foreign command: %v", err)
	}
	bad := req(nt.CmdFMP1Read)
	bad[len(bad)-1]++
	f, _ = nt.Decode(s.Reply(bad))
	if err := f.Err(); err != nt.DeviceError(nt.CodeChecksum) || s.Counters().BadRequests != 1 {
		t.Errorf("bad checksum: %v %+v", err, s.Counters())
	}
	for _, m := range []Mode{Silent, Garbage, BadChecksum, Truncated, ErrorReply} {
		s.SetMode(m)
		out := s.Reply(req(nt.CmdFMP1Read))
		_, err := nt.Decode(out)
		if m == ErrorReply {
			f, _ := nt.Decode(out)
			err = f.Err()
		}
		if err == nil && m != Silent || m == Silent && out != nil {
			t.Errorf("mode %v: % x decoded fine", m, out)
		}
		if m.String() == "" {
			t.Error("no name")
		}
	}
	// take skips garbage and keeps a partial frame.
	s.SetMode(Normal)
	full := req(nt.CmdFMP1Read)
	buf := append([]byte{0x13, 'N', 0x00}, full[:5]...)
	for {
		_, rest, ok := s.take(buf)
		buf = rest
		if !ok {
			break
		}
	}
	if string(buf) != string(full[:5]) {
		t.Errorf("left % x", buf)
	}
}
