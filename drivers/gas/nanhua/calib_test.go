package nanhua_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"imagent/drivers"
	"imagent/drivers/drivertest"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/gas/nanhua/nanhuasim"
)

// slow are options for the simulator over a pty: replies get a second, since the test
// machine may be loaded.
func slow(m nanhua.Model) nanhua.Opts {
	o := fast(m)
	o.Timeout = time.Second
	return o
}

// TestSimCalibration writes calibration and check gas, spans and checks against the
// simulator over a pty, in both write styles (and the FLA-502 hex command bytes).
func TestSimCalibration(t *testing.T) {
	high := drivers.CalGas{C3H8ppm: 3200, COpct: 8, CO2pct: 12, NOppm: 3000, O2pct: 0}
	low := drivers.CalGas{C3H8ppm: 200, COpct: 0.5, CO2pct: 12, NOppm: 300}
	for _, tc := range []struct {
		name  string
		m     nanhua.Model
		style nanhua.CalGasStyle
		hex   bool
	}{
		{"NHA-503 two-phase", nanhua.NHA503, nanhua.CalGasAuto, false},
		{"FLA-502 single frame", nanhua.FLA502, nanhua.CalGasAuto, false},
		{"FLA-502 single frame hex", nanhua.FLA502, nanhua.CalGasSingleFrame, true},
		{"FLA-502 two-phase", nanhua.FLA502, nanhua.CalGasTwoPhase, false},
		{"CDF5000 single frame", nanhua.CDF5000, nanhua.CalGasSingleFrame, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := nanhuasim.New(nanhuasim.Options{Model: tc.m, CalGasStyle: tc.style, FLA502HexCommands: tc.hex,
				SpanTime: 200 * time.Millisecond, PEF: 0.512})
			o := slow(tc.m)
			o.CalGasStyle, o.FLA502HexCommands, o.PollInterval = tc.style, tc.hex, 30*time.Millisecond
			d := startSim(t, sim, o)
			ctx := ctxT(t)

			// A span before any gas was written fails.
			if _, err := d.Span(ctx); !errors.Is(err, drivers.ErrFailed) {
				t.Errorf("span without gas: %v, want ErrFailed", err)
			}
			if err := d.WriteCalGas(ctx, high, false); err != nil {
				t.Fatal(err)
			}
			if err := d.WriteCalGas(ctx, low, true); err != nil {
				t.Fatal(err)
			}
			got, ok := sim.CalGas(false)
			want := high
			if tc.style == nanhua.CalGasTwoPhase || tc.style == nanhua.CalGasAuto && tc.m != nanhua.FLA502 {
				want.O2pct = 0 // not sent
			}
			if !ok || got != want {
				t.Errorf("simulator calibration gas = %+v, %v; want %+v", got, ok, want)
			}
			if got, ok := sim.CalGas(true); !ok || got != low {
				t.Errorf("simulator check gas = %+v, %v; want %+v", got, ok, low)
			}

			r, err := d.Span(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// The reading has risen to within a few % of the bottle (HC as hexane = C3H8 × PEF).
			drivertest.Near(t, "span HC", r.Values[drivers.HCppm], 3200*0.512, 3200*0.512*0.25)
			drivertest.Near(t, "span CO", r.Values[drivers.COpct], 8, 2)
			drivertest.Near(t, "span PEF", r.Values[drivers.PEF], 0.512, 1e-9)
			if r.Status != 0 || len(r.Raw) != nanhua.SpanLen {
				t.Errorf("span reading %+v", r)
			}
			r, err = d.GasCheck(ctx)
			if err != nil {
				t.Fatal(err)
			}
			drivertest.Near(t, "check NO", r.Values[drivers.NOppm], 300, 75)
			if pef, err := d.PEF(ctx); err != nil || pef != 0.512 {
				t.Errorf("PEF = %v, %v", pef, err)
			}
		})
	}
}

func TestSimSpanEdges(t *testing.T) {
	gas := drivers.CalGas{C3H8ppm: 1000, COpct: 3, CO2pct: 12, NOppm: 1000}
	t.Run("no progress", func(t *testing.T) {
		sim := nanhuasim.New(nanhuasim.Options{}) // SpanTime 0: 00 at once
		d := startSim(t, sim, slow(nanhua.NHA503))
		ctx := ctxT(t)
		if err := d.WriteCalGas(ctx, gas, false); err != nil {
			t.Fatal(err)
		}
		r, err := d.Span(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Raw) != nanhua.MainLen || r.Values[drivers.PEF] != 0.505 {
			t.Errorf("fallback reading %+v", r)
		}
	})
	t.Run("fails", func(t *testing.T) {
		sim := nanhuasim.New(nanhuasim.Options{SpanTime: 50 * time.Millisecond, SpanFail: true})
		o := slow(nanhua.NHA503)
		o.PollInterval = 20 * time.Millisecond
		d := startSim(t, sim, o)
		ctx := ctxT(t)
		if err := d.WriteCalGas(ctx, gas, false); err != nil {
			t.Fatal(err)
		}
		drivertest.WantErr(t, "nanhua", func() error { _, err := d.Span(ctx); return err }(), drivers.ErrFailed)
	})
	t.Run("bounded", func(t *testing.T) {
		sim := nanhuasim.New(nanhuasim.Options{SpanTime: time.Hour})
		o := slow(nanhua.NHA503)
		o.PollInterval, o.OpTimeout = 20*time.Millisecond, 200*time.Millisecond
		d := startSim(t, sim, o)
		ctx := ctxT(t)
		if err := d.WriteCalGas(ctx, gas, false); err != nil {
			t.Fatal(err)
		}
		_, err := d.Span(ctx)
		drivertest.WantErr(t, "nanhua", err, drivers.ErrTimeout)
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := d.GasCheck(short); err == nil {
			t.Error("gas check with an expiring ctx succeeded")
		}
	})
	t.Run("bad values", func(t *testing.T) {
		sim := nanhuasim.New(nanhuasim.Options{})
		d := startSim(t, sim, slow(nanhua.NHA503))
		drivertest.WantErr(t, "nanhua", d.WriteCalGas(ctxT(t), drivers.CalGas{C3H8ppm: -5}, false), drivers.ErrFrame)
		if _, ok := sim.CalGas(false); ok {
			t.Error("a refused write reached the simulator")
		}
	})
}

// TestSimHCResidual: the residual HC in the sample path is flushed out while the pump
// draws through the probe; pumping through the air inlet does not see it at all.
func TestSimHCResidual(t *testing.T) {
	car := nanhuasim.NewCar(5)
	car.SetProbe(false) // the probe hangs in ambient air during the residual check
	sim := nanhuasim.New(nanhuasim.Options{Vehicle: car, ResidualHC: 60, ResidualTau: 200 * time.Millisecond})
	o := slow(nanhua.NHA503)
	o.HCResidualTime = 50 * time.Millisecond
	d := startSim(t, sim, o)
	ctx := ctxT(t)
	first, err := d.HCResidual(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first <= 5 || first >= 60 {
		t.Errorf("first residual HC = %v, want between 5 and 60 (partly flushed)", first)
	}
	if sim.PumpOn() {
		t.Error("pump left running after HCResidual")
	}
	o.HCResidualTime = time.Second // 5 τ more
	d2 := startSim(t, sim, o)
	second, err := d2.HCResidual(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second >= first || second > 2 {
		t.Errorf("residual after a long flush = %v (first %v), want ≤ 2", second, first)
	}

	sim.SetResidualHC(80)
	o.HCResidualAir, o.HCResidualTime = true, time.Millisecond
	d3 := startSim(t, sim, o)
	if hc, err := d3.HCResidual(ctx); err != nil || hc != 0 {
		t.Errorf("residual through the air inlet = %v, %v; want 0 (the hose is bypassed)", hc, err)
	}

	// A cancelled wait still stops the pump.
	o.HCResidualAir, o.HCResidualTime = false, time.Hour
	d4 := startSim(t, sim, o)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := d4.HCResidual(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("HCResidual with an expiring ctx: %v", err)
	}
	if sim.PumpOn() {
		t.Error("pump left running after a cancelled HCResidual")
	}
}
