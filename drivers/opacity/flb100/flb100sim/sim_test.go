package flb100sim

import (
	"bytes"
	"testing"
	"time"

	"imagent/drivers/opacity/flb100"
)

func TestFeedFraming(t *testing.T) {
	s := New(Options{})
	measure := flb100.Request(flb100.CmdMeasure)
	// Garbage, a request split in two, a frame with a bad checksum, a good status request.
	in := append([]byte{0x55, 0x02, 0x01}, measure[:2]...)
	if r := s.Feed(in); len(r) != 0 {
		t.Fatalf("replies to an incomplete request: %v", r)
	}
	bad := flb100.Request(flb100.CmdStatus)
	bad[3]++
	r := s.Feed(append(append(measure[2:], bad...), flb100.Request(flb100.CmdStatus)...))
	if len(r) != 2 || len(r[0].Bytes) != flb100.MeasureLen || len(r[1].Bytes) != flb100.StatusLen {
		t.Fatalf("replies %v", r)
	}
	if r := s.Feed(flb100.Request(0x7f)); len(r) != 1 || r[0].Bytes[0] != flb100.NAK {
		t.Errorf("unknown command: %v", r)
	}
}

func TestFaultModes(t *testing.T) {
	s := New(Options{Seed: 1})
	req := flb100.Request(flb100.CmdMeasure)
	good := s.Feed(req)[0].Bytes
	for _, m := range []Mode{Silent, Garbage, BadChecksum, Truncated, NAKAll} {
		s.SetMode(m)
		r := s.Feed(req)[0].Bytes
		switch m {
		case Silent:
			if r != nil {
				t.Errorf("silent answered % x", r)
			}
		case Garbage:
			if r[0] == flb100.ACK || r[0] == flb100.NAK {
				t.Errorf("garbage starts with %#02x", r[0])
			}
		case BadChecksum:
			if _, err := flb100.DecodeMeasure(r, false); err == nil || len(r) != len(good) {
				t.Errorf("bad checksum frame % x decodes", r)
			}
		case Truncated:
			if len(r) != len(good)/2 {
				t.Errorf("truncated % x", r)
			}
		case NAKAll:
			if r[0] != flb100.NAK {
				t.Errorf("nak-all % x", r)
			}
		}
		if m.String() == "" {
			t.Error("Mode.String")
		}
	}
}

func TestEngineProfile(t *testing.T) {
	e := NewEngine(EngineOptions{PeakK: 2, Spread: 1e-9})
	t0 := time.Unix(0, 0)
	if s := e.Sample(t0); s.RPM != 750 || s.K != 0.05 {
		t.Fatalf("idle %+v", s)
	}
	peak, ok := e.Accelerate(t0)
	if !ok || peak != 2 {
		t.Fatalf("Accelerate = %v, %v", peak, ok)
	}
	if _, ok := e.Accelerate(t0.Add(time.Second)); ok {
		t.Error("a second acceleration before settling was accepted")
	}
	prev := 0.0
	for ms := 0; ms <= 1200; ms += 100 {
		s := e.Sample(t0.Add(time.Duration(ms) * time.Millisecond))
		if s.K < prev {
			t.Errorf("k falls during the rise at %d ms", ms)
		}
		prev = s.K
	}
	if s := e.Sample(t0.Add(PeakTime)); s.K != 2 || s.RPM != 2600 {
		t.Errorf("at the peak %+v", s)
	}
	if p, running := e.Peaks(t0, t0.Add(time.Second)); len(p) != 0 || !running {
		t.Errorf("Peaks while running = %v, %v", p, running)
	}
	if p, running := e.Peaks(t0, t0.Add(DoneTime)); len(p) != 1 || running {
		t.Errorf("Peaks when done = %v, %v", p, running)
	}
	if s := e.Sample(t0.Add(time.Minute)); s.RPM != 750 || s.K != 0.05 {
		t.Errorf("back at idle %+v", s)
	}
	if p, _ := e.Peaks(t0.Add(time.Second), t0.Add(time.Minute)); len(p) != 0 {
		t.Errorf("Peaks since after the acceleration = %v", p)
	}
	if !bytes.Equal(nak(2), []byte{0x15, 0x04, 0x02, 0xe5}) {
		t.Errorf("nak % x", nak(2))
	}
}
