package nanhua_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
	"imagent/drivers/drivertest"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/gas/nanhua/nanhuasim"
)

// fast are options for replays: tiny drain and poll times, a short reply timeout.
func fast(m nanhua.Model) nanhua.Opts {
	return nanhua.Opts{Model: m, Timeout: 200 * time.Millisecond, Quiet: 2 * time.Millisecond, PollInterval: time.Millisecond}
}

// traceCases says, for every file in testdata, how to drive the Dev and what must come out.
type traceCase struct {
	opts func() nanhua.Opts
	run  func(t *testing.T, ctx context.Context, d *nanhua.Dev)
}

var traceCases = map[string]traceCase{
	"main_nha503.trace": {func() nanhua.Opts { return fast(nanhua.NHA503) }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.WantValues(t, r, map[drivers.Quantity]float64{drivers.HCppm: 123, drivers.COpct: 0.52, drivers.CO2pct: 14.6,
			drivers.O2pct: 0.45, drivers.NOppm: 850, drivers.RPM: 2480, drivers.OilTempC: 86.5, drivers.Lambda: 1.01})
		if r.Status != 0 || len(r.Raw) != nanhua.MainLen || r.Time.IsZero() {
			t.Errorf("status %v, raw % x, time %v", r.Status.Names(), r.Raw, r.Time)
		}
	}},
	"main_fla502.trace": {func() nanhua.Opts { return fast(nanhua.FLA502) }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.Near(t, "co_pct", r.Values[drivers.COpct], 0.523, 1e-9)
		drivertest.Near(t, "oil_temp_c", r.Values[drivers.OilTempC], 86.5, 1e-9)
		if r.Status != drivers.Warmup {
			t.Errorf("status = %v, want warmup", r.Status.Names())
		}
	}},
	"main_cdf5000_legacy19.trace": {func() nanhua.Opts { o := fast(nanhua.CDF5000); o.Legacy19 = true; return o }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.Near(t, "oil_temp_c (whole °C)", r.Values[drivers.OilTempC], 86, 1e-9)
		drivertest.Near(t, "computed lambda", r.Values[drivers.Lambda], 1.006997, 1e-6)
		drivertest.Near(t, "co_pct", r.Values[drivers.COpct], 0.2, 1e-9)
		if len(r.Raw) != nanhua.MainLegacyLen {
			t.Errorf("raw has %d bytes", len(r.Raw))
		}
	}},
	"main_lowflow_negative.trace": {func() nanhua.Opts { return fast(nanhua.NHA503) }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.WantValues(t, r, map[drivers.Quantity]float64{drivers.HCppm: -3, drivers.COpct: -0.01, drivers.CO2pct: 0.04,
			drivers.O2pct: 20.9, drivers.NOppm: -2, drivers.RPM: 0, drivers.OilTempC: 25, drivers.Lambda: 0})
		if r.Status != drivers.LowFlow|drivers.SensorAged {
			t.Errorf("status = %v, want low_flow sensor_aged", r.Status.Names())
		}
	}},
	"ambient.trace": {func() nanhua.Opts { return fast(nanhua.NHA503) }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		for _, want := range []map[drivers.Quantity]float64{
			{drivers.TempC: 20, drivers.PressureKPa: 101.3, drivers.RHpct: 50},
			{drivers.TempC: -5.5, drivers.PressureKPa: 100, drivers.RHpct: 90},
		} {
			r, err := d.ReadAmbient(ctx)
			if err != nil {
				t.Fatal(err)
			}
			drivertest.WantValues(t, r, want)
		}
	}},
	"zero.trace": {func() nanhua.Opts { return fast(nanhua.NHA503) }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		if err := d.Zero(ctx); err != nil {
			t.Fatal(err)
		}
	}},
	"zero_failed.trace": {func() nanhua.Opts { return fast(nanhua.NHA503) }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		drivertest.WantErr(t, "nanhua", d.Zero(ctx), drivers.ErrFailed)
	}},
	"leak.trace": {func() nanhua.Opts { return fast(nanhua.NHA503) }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		for _, want := range []bool{true, false} {
			tight, err := d.LeakCheck(ctx)
			if err != nil || tight != want {
				t.Fatalf("LeakCheck = %v, %v; want %v", tight, err, want)
			}
		}
	}},
	"pump.trace": {func() nanhua.Opts { return fast(nanhua.NHA503) }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		for _, err := range []error{d.SetPump(ctx, true), d.Backflush(ctx), d.SetPump(ctx, false)} {
			if err != nil {
				t.Fatal(err)
			}
		}
	}},
	"nak.trace": {func() nanhua.Opts { return fast(nanhua.NHA503) }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		r, err := d.Read(ctx)
		drivertest.WantErr(t, "nanhua", err, drivers.ErrNAK)
		if r.Values != nil || r.Raw != nil {
			t.Errorf("NAK gave a reading %+v", r)
		}
		drivertest.WantErr(t, "nanhua", d.SetPump(ctx, true), drivers.ErrNAK)
	}},
	"warmup_nha503.trace": {func() nanhua.Opts { return fast(nanhua.NHA503) }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		checkWarmup(t, ctx, d, drivers.Warmup, 90*time.Second)
		checkWarmup(t, ctx, d, 0, 0)
	}},
	"warmup_fla502.trace": {func() nanhua.Opts { return fast(nanhua.FLA502) }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		checkWarmup(t, ctx, d, drivers.Warmup, 300*time.Second)
	}},
	"fla502_hex.trace": {func() nanhua.Opts { o := fast(nanhua.FLA502); o.FLA502HexCommands = true; return o }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		checkWarmup(t, ctx, d, drivers.Zeroing, 0)
	}},
	"calgas_two_phase_nha503.trace": {func() nanhua.Opts { return fast(nanhua.NHA503) }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		if err := d.WriteCalGas(ctx, drivers.CalGas{C3H8ppm: 3200, COpct: 8, CO2pct: 12, NOppm: 3000, O2pct: 0.5}, false); err != nil {
			t.Fatal(err)
		}
		drivertest.WantErr(t, "nanhua", d.WriteCalGas(ctx, drivers.CalGas{C3H8ppm: 200, COpct: 0.5, CO2pct: 12, NOppm: 300}, true), drivers.ErrChecksum)
	}},
	"calgas_single_fla502.trace": {func() nanhua.Opts { return fast(nanhua.FLA502) }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		if err := d.WriteCalGas(ctx, drivers.CalGas{C3H8ppm: 3200, COpct: 8, CO2pct: 12, NOppm: 3000}, false); err != nil {
			t.Fatal(err)
		}
		drivertest.WantErr(t, "nanhua", d.WriteCalGas(ctx, drivers.CalGas{C3H8ppm: 200, COpct: 0.5, CO2pct: 12, NOppm: 300}, true), drivers.ErrFailed)
	}},
	"span_nha503.trace": {func() nanhua.Opts { return fast(nanhua.NHA503) }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		r, err := d.Span(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.WantValues(t, r, map[drivers.Quantity]float64{drivers.HCppm: 1600, drivers.COpct: 7.97, drivers.CO2pct: 11.96,
			drivers.O2pct: 0, drivers.NOppm: 2991, drivers.PEF: 0.505})
		if len(r.Raw) != nanhua.SpanLen || r.Raw[0] != nanhua.ResultBusy {
			t.Errorf("raw % x", r.Raw)
		}
	}},
	"span_failed.trace": {func() nanhua.Opts { return fast(nanhua.NHA503) }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		r, err := d.Span(ctx)
		drivertest.WantErr(t, "nanhua", err, drivers.ErrFailed)
		if r.Values != nil {
			t.Errorf("failed span returned values %v", r.Values)
		}
	}},
	"gascheck_fla502_hex.trace": {func() nanhua.Opts { o := fast(nanhua.FLA502); o.FLA502HexCommands = true; return o }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		r, err := d.GasCheck(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.WantValues(t, r, map[drivers.Quantity]float64{drivers.HCppm: 101, drivers.COpct: 0.498, drivers.CO2pct: 11.98,
			drivers.O2pct: 0, drivers.NOppm: 299, drivers.PEF: 0.505})
	}},
	"span_no_progress.trace": {func() nanhua.Opts { return fast(nanhua.NHA503) }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		r, err := d.Span(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.Near(t, "hc", r.Values[drivers.HCppm], 1616, 0)
		drivertest.Near(t, "co", r.Values[drivers.COpct], 8, 1e-9)
		drivertest.Near(t, "pef", r.Values[drivers.PEF], 0.505, 1e-9)
		if len(r.Raw) != nanhua.MainLen {
			t.Errorf("raw % x", r.Raw)
		}
	}},
	"pef.trace": {func() nanhua.Opts { return fast(nanhua.NHA503) }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		pef, err := d.PEF(ctx)
		if err != nil || pef != 0.505 {
			t.Fatalf("PEF = %v, %v", pef, err)
		}
		_, err = d.PEF(ctx)
		drivertest.WantErr(t, "nanhua", err, drivers.ErrNAK)
	}},
	"hc_residual.trace": {func() nanhua.Opts { o := fast(nanhua.NHA503); o.HCResidualTime = time.Millisecond; return o }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		hc, err := d.HCResidual(ctx)
		if err != nil || hc != 12 {
			t.Fatalf("HCResidual = %v, %v; want 12", hc, err)
		}
	}},
	"noise.trace": {func() nanhua.Opts { return fast(nanhua.NHA503) }, func(t *testing.T, ctx context.Context, d *nanhua.Dev) {
		for i, want := range []error{drivers.ErrFrame, nil, drivers.ErrChecksum, nil} {
			r, err := d.Read(ctx)
			if want != nil {
				drivertest.WantErr(t, "nanhua", err, want)
				continue
			}
			if err != nil {
				t.Fatalf("read %d: %v", i, err)
			}
			drivertest.Near(t, "hc_ppm", r.Values[drivers.HCppm], 123, 0)
		}
	}},
}

func checkWarmup(t *testing.T, ctx context.Context, d *nanhua.Dev, wantStatus drivers.Status, wantLeft time.Duration) {
	t.Helper()
	st, err := d.Status(ctx)
	if err != nil || st != wantStatus {
		t.Fatalf("Status = %v, %v; want %v", st.Names(), err, wantStatus.Names())
	}
	left, err := d.WarmupLeft(ctx)
	if err != nil || left != wantLeft {
		t.Fatalf("WarmupLeft = %v, %v; want %v", left, err, wantLeft)
	}
}

// TestTraces replays every testdata/*.trace, whole and one byte per Read, and checks that
// the Dev wrote exactly the trace's bytes and used all of them.
func TestTraces(t *testing.T) {
	drivertest.ReplayDir(t, "testdata", traceCases, func(t *testing.T, ctx context.Context, p *drivertest.Playback, tc traceCase) {
		d, err := nanhua.New(p, tc.opts())
		if err != nil {
			t.Fatal(err)
		}
		tc.run(t, ctx, d)
	})
}

func TestNewOptions(t *testing.T) {
	p := drivertest.NewPlayback(&drivertest.Trace{})
	for _, o := range []nanhua.Opts{
		{},                 // no model
		{Model: "NHA-506"}, // unknown model
		{Model: nanhua.NHA503, FLA502HexCommands: true},
		{Model: nanhua.NHA503, Timeout: -time.Second},
		{Model: nanhua.NHA503, Fuel: 7},
		{Model: nanhua.NHA503, CalGasStyle: 9},
		{Model: nanhua.NHA503, HCResidualTime: -time.Second},
	} {
		if _, err := nanhua.New(p, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := nanhua.New(nil, nanhua.DefaultOpts); err == nil {
		t.Error("New(nil port) accepted")
	}
	d, err := nanhua.New(p, nanhua.DefaultOpts)
	if err != nil || d.Model() != nanhua.NHA503 {
		t.Fatalf("New(DefaultOpts) = %v, %v", d, err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("New did I/O: %v", err)
	}
}

var mode9600 = serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}

func TestConformance(t *testing.T) {
	for _, m := range []nanhua.Model{nanhua.NHA503, nanhua.FLA502} {
		t.Run(string(m), func(t *testing.T) {
			drivertest.Conformance(t, drivertest.Harness{
				Mode: mode9600,
				Serve: func(ctx context.Context, rw io.ReadWriter) error {
					return nanhuasim.New(nanhuasim.Options{Model: m}).Serve(ctx, rw)
				},
				New: func(rw io.ReadWriter) (drivers.Device, error) {
					return nanhua.New(rw, nanhua.Opts{Model: m})
				},
			})
		})
	}
}

// startSim runs sim behind a real pty and returns a Dev on the serial side.
func startSim(t *testing.T, sim *nanhuasim.Sim, o nanhua.Opts) *nanhua.Dev {
	return drivertest.StartSim(t, sim.Serve, mode9600, nanhua.New, o)
}

func ctxT(t *testing.T) context.Context { return drivertest.Context(t, 20*time.Second) }

// TestSerialNoise: every fault mode gives an error (never a panic or a bogus reading),
// and the same Dev reads correctly once the line is clean again.
func TestSerialNoise(t *testing.T) {
	car := nanhuasim.NewCar(1)
	sim := nanhuasim.New(nanhuasim.Options{Model: nanhua.NHA503, Vehicle: car, Seed: 7})
	d := startSim(t, sim, nanhua.Opts{Model: nanhua.NHA503, Timeout: 150 * time.Millisecond})
	ctx := ctxT(t)
	if err := d.SetPump(ctx, true); err != nil {
		t.Fatal(err)
	}
	drivertest.Noise[nanhuasim.Mode]{
		Device: d, SetMode: sim.SetMode, Normal: nanhuasim.Normal,
		Cases: []drivertest.NoiseCase[nanhuasim.Mode]{
			{Mode: nanhuasim.Garbage, Want: drivers.ErrFrame},
			{Mode: nanhuasim.BadChecksum, Want: drivers.ErrChecksum},
			{Mode: nanhuasim.Truncated, Want: drivers.ErrTimeout},
			{Mode: nanhuasim.NAKAll, Want: drivers.ErrNAK},
			{Mode: nanhuasim.Silent, Want: drivers.ErrTimeout},
			{Mode: nanhuasim.Garbage, Want: drivers.ErrFrame},
		},
		Check: func(t *testing.T, mode nanhuasim.Mode, r drivers.Reading) {
			if s := r.Values[drivers.COpct] + r.Values[drivers.CO2pct]; s < 14.5 || s > 15.5 {
				t.Errorf("after mode %v: CO+CO2 = %v, want a car's 14.5..15.5", mode, s)
			}
		},
	}.Run(t, ctx)
}

// TestSimSession walks through a lane's pre-test sequence against the simulator over a pty.
func TestSimSession(t *testing.T) {
	car := nanhuasim.NewCar(2)
	sim := nanhuasim.New(nanhuasim.Options{Model: nanhua.NHA503, Vehicle: car, Seed: 3,
		Warmup: 400 * time.Millisecond, ZeroTime: 150 * time.Millisecond})
	o := fast(nanhua.NHA503)
	o.PollInterval = 20 * time.Millisecond
	d := startSim(t, sim, o)
	ctx := ctxT(t)

	st, err := d.Status(ctx)
	if err != nil || st != drivers.Warmup {
		t.Fatalf("Status at power-up = %v, %v; want warmup", st.Names(), err)
	}
	left, err := d.WarmupLeft(ctx)
	if err != nil || left != time.Second { // 0.4 s rounded up to whole seconds
		t.Errorf("WarmupLeft = %v, %v; want 1s", left, err)
	}
	for st != 0 { // wait for the end of warm-up as the procedure does
		time.Sleep(50 * time.Millisecond)
		if st, err = d.Status(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if left, err := d.WarmupLeft(ctx); err != nil || left != 0 {
		t.Errorf("WarmupLeft after warm-up = %v, %v", left, err)
	}

	// Pump off: the bench sees ambient air, λ is not defined (0).
	r, err := d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.Near(t, "o2 (pump off)", r.Values[drivers.O2pct], 20.9, 1e-9)
	drivertest.Near(t, "co2 (pump off)", r.Values[drivers.CO2pct], 0.04, 1e-9)
	drivertest.Near(t, "rpm at idle", r.Values[drivers.RPM], nanhuasim.IdleRPM, 15)

	if err := d.Zero(ctx); err != nil {
		t.Fatalf("Zero: %v", err)
	}
	if tight, err := d.LeakCheck(ctx); err != nil || !tight {
		t.Fatalf("LeakCheck = %v, %v", tight, err)
	}
	if err := d.SetPump(ctx, true); err != nil {
		t.Fatal(err)
	}
	if !sim.PumpOn() {
		t.Fatal("simulator pump is off after SetPump(true)")
	}
	r, err = d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.Near(t, "co+co2 (probe in)", r.Values[drivers.COpct]+r.Values[drivers.CO2pct], 15, 0.5)
	drivertest.Near(t, "hc clean", r.Values[drivers.HCppm], 30, 3)
	drivertest.Near(t, "lambda clean", r.Values[drivers.Lambda], 1.00, 0.03)
	if r.Status != 0 {
		t.Errorf("status = %v", r.Status.Names())
	}

	car.SetDirty(true)
	r, err = d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Values[drivers.HCppm] < 100 || r.Values[drivers.COpct] < 1 {
		t.Errorf("dirty car reads HC %v CO %v", r.Values[drivers.HCppm], r.Values[drivers.COpct])
	}

	car.SetProbe(false)
	sim.SetLowFlow(true)
	sim.SetSensorAged(true)
	r, err = d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.Near(t, "o2 (probe out)", r.Values[drivers.O2pct], 20.9, 1e-9)
	if r.Status != drivers.LowFlow|drivers.SensorAged {
		t.Errorf("status = %v, want low_flow sensor_aged", r.Status.Names())
	}

	if err := d.Backflush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.SetPump(ctx, false); err != nil || sim.PumpOn() {
		t.Fatalf("SetPump(false) = %v, sim pump on = %v", err, sim.PumpOn())
	}
	if err := d.SetFuel(ctx, nanhua.LPG); err != nil || sim.Fuel() != nanhua.LPG {
		t.Fatalf("SetFuel(LPG) = %v, sim fuel %v", err, sim.Fuel())
	}

	sim.SetAmbient(nanhua.Ambient{TempC: 31.5, PressureKPa: 99.8, RHpct: 72.3})
	a, err := d.ReadAmbient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.WantValues(t, a, map[drivers.Quantity]float64{drivers.TempC: 31.5, drivers.PressureKPa: 99.8, drivers.RHpct: 72.3})
}

// TestSimLegacyAndHex: the 19-byte firmware (λ computed by the driver agrees with the
// simulator's own λ) and the FLA-502 hex command bytes, both ends configured alike.
func TestSimLegacyAndHex(t *testing.T) {
	clock := func() time.Time { return time.Unix(1700000000, 0) } // frozen: no rpm drift
	car := nanhuasim.NewCar(4)
	sim := nanhuasim.New(nanhuasim.Options{Model: nanhua.FLA502, Vehicle: car, Legacy19: true, FLA502HexCommands: true, Clock: clock})
	o := fast(nanhua.FLA502)
	o.Legacy19, o.FLA502HexCommands = true, true
	d := startSim(t, sim, o)
	ctx := ctxT(t)
	if err := d.SetPump(ctx, true); err != nil {
		t.Fatal(err)
	}
	r, err := d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Raw) != nanhua.MainLegacyLen {
		t.Errorf("raw is %d bytes", len(r.Raw))
	}
	e := nanhuasim.Exhaust{HCppm: r.Values[drivers.HCppm], COpct: r.Values[drivers.COpct], CO2pct: r.Values[drivers.CO2pct], O2pct: r.Values[drivers.O2pct]}
	drivertest.Near(t, "driver λ vs simulator λ", r.Values[drivers.Lambda], nanhuasim.Lambda(e, nanhua.Gasoline), 1e-9)
	drivertest.Near(t, "λ", r.Values[drivers.Lambda], 1.0, 0.03)
	if st, err := d.Status(ctx); err != nil || st != 0 {
		t.Errorf("Status over hex command = %v, %v", st.Names(), err)
	}
}

func TestZeroBounds(t *testing.T) {
	sim := nanhuasim.New(nanhuasim.Options{ZeroTime: time.Hour})
	o := fast(nanhua.NHA503)
	o.PollInterval, o.OpTimeout = 20*time.Millisecond, 300*time.Millisecond
	d := startSim(t, sim, o)

	drivertest.WantErr(t, "nanhua", d.Zero(ctxT(t)), drivers.ErrTimeout)

	// The simulator's zero is still running (05) when ctx, shorter than OpTimeout, ends.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := d.Zero(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Zero with an expiring ctx: %v, want context.DeadlineExceeded", err)
	}
}

func TestLeakFound(t *testing.T) {
	sim := nanhuasim.New(nanhuasim.Options{Leak: true, ZeroTime: 50 * time.Millisecond})
	o := fast(nanhua.NHA503)
	o.PollInterval = 10 * time.Millisecond
	d := startSim(t, sim, o)
	tight, err := d.LeakCheck(ctxT(t))
	if err != nil || tight {
		t.Fatalf("LeakCheck with a leak = %v, %v; want false, nil", tight, err)
	}
}
