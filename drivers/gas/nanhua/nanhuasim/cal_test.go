package nanhuasim

import (
	"bytes"
	"math"
	"testing"
	"time"

	"imagent/drivers"
	"imagent/drivers/gas/nanhua"
)

func feed(s *Sim, b []byte) []byte {
	var out []byte
	for _, c := range b {
		out = append(out, s.Reply(c)...)
	}
	return out
}

func TestReplyGasWrites(t *testing.T) {
	clk := newClock()
	gas := drivers.CalGas{C3H8ppm: 3200, COpct: 8, CO2pct: 12, NOppm: 3000}
	data, err := nanhua.EncodeCalData(gas)
	if err != nil {
		t.Fatal(err)
	}

	s := New(Options{Model: nanhua.NHA503, Clock: clk.Now})
	if r := s.Reply(0x09); !bytes.Equal(r, []byte{nanhua.ACK}) {
		t.Fatalf("item 9 = % x, want 06", r)
	}
	if r := feed(s, data[:8]); r != nil {
		t.Fatalf("partial data answered % x", r)
	}
	if r := s.Reply(data[8]); !bytes.Equal(r, []byte{nanhua.ResultOK}) {
		t.Fatalf("data = % x, want 00", r)
	}
	if g, ok := s.CalGas(false); !ok || g != gas {
		t.Errorf("gas = %+v, %v", g, ok)
	}

	// A bad sum is answered 01 and nothing is stored.
	bad := bytes.Clone(data)
	bad[8]++
	if r := feed(s, append([]byte{0x0b}, bad...)); !bytes.Equal(r, []byte{nanhua.ACK, nanhua.ResultFailed}) {
		t.Errorf("check gas with a bad sum = % x, want 06 01", r)
	}
	if _, ok := s.CalGas(true); ok {
		t.Error("check gas stored despite a bad sum")
	}

	// A write abandoned half way is forgotten after a second: the next byte is a command.
	s.Reply(0x09)
	feed(s, data[:3])
	clk.Add(2 * time.Second)
	if r := s.Reply(0x0d); !bytes.Equal(r, []byte{0x01, 0xf9}) {
		t.Errorf("PEF after a stale write = % x", r)
	}

	// NAK-all and silence do not start a write.
	s.SetMode(NAKAll)
	s.Reply(0x09)
	s.SetMode(Normal)
	if r := s.Reply(0x0d); len(r) != 2 {
		t.Errorf("PEF after a NAKed write = % x", r)
	}

	f := New(Options{Model: nanhua.FLA502, Clock: clk.Now})
	frame, err := nanhua.EncodeCalFrame(0x0b, gas, nanhua.FLA502)
	if err != nil {
		t.Fatal(err)
	}
	if r := feed(f, frame); !bytes.Equal(r, []byte{nanhua.ACK, nanhua.ResultOK}) {
		t.Errorf("single frame = % x, want 06 00", r)
	}
	if g, ok := f.CalGas(true); !ok || g != gas {
		t.Errorf("FLA-502 check gas = %+v, %v", g, ok)
	}
	frame[11]++
	if r := feed(f, frame); !bytes.Equal(r, []byte{nanhua.ACK, nanhua.ResultFailed}) {
		t.Errorf("single frame with a bad sum = % x, want 06 01", r)
	}
}

func TestReplySpan(t *testing.T) {
	clk := newClock()
	s := New(Options{Model: nanhua.FLA502, Clock: clk.Now, SpanTime: 10 * time.Second, PEF: 0.5})
	if r := s.Reply(0x0a); !bytes.Equal(r, []byte{nanhua.ResultFailed}) {
		t.Fatalf("span without gas = % x, want 01", r)
	}
	gas := drivers.CalGas{C3H8ppm: 1000, COpct: 4, CO2pct: 10, NOppm: 2000, O2pct: 1}
	frame, _ := nanhua.EncodeCalFrame(0x09, gas, nanhua.FLA502)
	feed(s, frame)
	span := func() nanhua.Span {
		t.Helper()
		x, err := nanhua.DecodeSpan(s.Reply(0x0a), nanhua.FLA502, nanhua.SpanFormat{})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	if x := span(); x.HC != 0 || x.PEF != 0.5 {
		t.Errorf("span start = %+v", x)
	}
	clk.Add(2 * time.Second) // one time constant
	x := span()
	if want := 500 * (1 - math.Exp(-1)); math.Abs(x.HC-want) > 1 || math.Abs(x.CO-4*(1-math.Exp(-1))) > 0.002 {
		t.Errorf("span after τ = %+v, want HC %v", x, want)
	}
	if r := s.Reply(0x07); r[0] != nanhua.NAK {
		t.Errorf("leak check during a span = % x, want NAK", r)
	}
	clk.Add(8 * time.Second)
	if r := s.Reply(0x0a); !bytes.Equal(r, []byte{nanhua.ResultOK}) {
		t.Errorf("span end = % x", r)
	}
}

func TestResidualFlush(t *testing.T) {
	clk := newClock()
	car := NewCar(3)
	car.SetProbe(false)
	s := New(Options{Vehicle: car, Clock: clk.Now, ResidualHC: 100, ResidualTau: 10 * time.Second})
	hc := func() float64 {
		x, err := nanhua.DecodeMain(s.Reply(0x01), nanhua.NHA503)
		if err != nil {
			t.Fatal(err)
		}
		return x.HC
	}
	clk.Add(time.Minute) // pump off: nothing is flushed, and the bench sees air
	if v := hc(); v != 0 {
		t.Errorf("pump off HC = %v", v)
	}
	s.Reply(0x04)
	if v := hc(); v != 100 {
		t.Errorf("HC at pump start = %v, want 100", v)
	}
	clk.Add(10 * time.Second)
	if v := hc(); math.Abs(v-100*math.Exp(-1)) > 1 {
		t.Errorf("HC after τ = %v, want 37", v)
	}
	s.Reply(0x06)
	clk.Add(time.Minute)
	s.Reply(0x04)
	if v := hc(); math.Abs(v-100*math.Exp(-1)) > 1 {
		t.Errorf("HC after a pause = %v, want still 37", v)
	}
}
