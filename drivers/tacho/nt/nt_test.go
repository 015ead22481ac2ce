package nt_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
	"imagent/drivers/drivertest"
	"imagent/drivers/tacho/nt"
	"imagent/drivers/tacho/nt/ntsim"
)

func fast(m nt.Model) func() nt.Opts {
	return func() nt.Opts { return nt.Opts{Model: m, Timeout: 100 * time.Millisecond, Quiet: 2 * time.Millisecond} }
}

func wantValues(t *testing.T, r drivers.Reading, want map[drivers.Quantity]float64) {
	t.Helper()
	if len(r.Values) != len(want) {
		t.Errorf("values %v, want %v", r.Values, want)
	}
	for q, v := range want {
		drivertest.Near(t, string(q), r.Values[q], v, 1e-9)
	}
	if r.Time.IsZero() || len(r.Raw) == 0 {
		t.Errorf("reading %+v", r)
	}
}

type traceCase struct {
	opts func() nt.Opts
	run  func(t *testing.T, ctx context.Context, d *nt.Dev)
}

var traceCases = map[string]traceCase{
	"vmt_rpm.trace": {fast(nt.VMT2000), func(t *testing.T, ctx context.Context, d *nt.Dev) {
		for _, rpm := range []float64{2480, 812} {
			r, err := d.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wantValues(t, r, map[drivers.Quantity]float64{drivers.RPM: rpm})
		}
	}},
	"vmt_mode.trace": {fast(nt.VMT2000), func(t *testing.T, ctx context.Context, d *nt.Dev) {
		if err := d.SetWorkMode(ctx, 0); err != nil {
			t.Fatal(err)
		}
		drivertest.WantErr(t, "nt", d.SetWorkMode(ctx, 1), drivers.ErrFailed)
	}},
	"vmt_mode_vmas.trace": {func() nt.Opts { o := fast(nt.VMT2000)(); o.VMASModeChecksum = true; return o }, func(t *testing.T, ctx context.Context, d *nt.Dev) {
		if err := d.SetWorkMode(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}},
	"fmp1.trace": {fast(nt.FMP1), func(t *testing.T, ctx context.Context, d *nt.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantValues(t, r, map[drivers.Quantity]float64{drivers.RPM: 2480, drivers.OilTempC: 86.5, drivers.TempC: 23.4,
			drivers.RHpct: 56.7, drivers.PressureKPa: 100.9})
		if r.Status != 0 {
			t.Errorf("status %v", r.Status.Names())
		}
		a, err := d.ReadAmbient(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantValues(t, a, map[drivers.Quantity]float64{drivers.TempC: -5.5, drivers.RHpct: 90, drivers.PressureKPa: 100})
		if a.Status != drivers.Busy {
			t.Errorf("status while calibrating %v", a.Status.Names())
		}
		if err := d.Calibrate(ctx, nt.CalOilTemp|nt.CalPressure, 100.9, 86.5); err != nil {
			t.Fatal(err)
		}
	}},
	"fth2.trace": {fast(nt.FTH2), func(t *testing.T, ctx context.Context, d *nt.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantValues(t, r, map[drivers.Quantity]float64{drivers.TempC: 22.5, drivers.RHpct: 59, drivers.PressureKPa: 101.3})
	}},
	"error.trace": {fast(nt.FMP1), func(t *testing.T, ctx context.Context, d *nt.Dev) {
		r, err := d.Read(ctx)
		drivertest.WantErr(t, "nt", err, drivers.ErrNAK)
		var de nt.DeviceError
		if !errors.As(err, &de) || de != nt.DeviceError(nt.CodeBadCommand) || r.Values != nil {
			t.Errorf("err %v, reading %+v", err, r)
		}
	}},
	"noise.trace": {fast(nt.VMT2000), func(t *testing.T, ctx context.Context, d *nt.Dev) {
		for _, want := range []error{drivers.ErrChecksum, drivers.ErrFrame, drivers.ErrFrame, drivers.ErrTimeout} {
			r, err := d.Read(ctx)
			drivertest.WantErr(t, "nt", err, want)
			if r.Values != nil {
				t.Errorf("%v came with values", err)
			}
		}
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantValues(t, r, map[drivers.Quantity]float64{drivers.RPM: 2480})
	}},
}

func TestTraces(t *testing.T) {
	drivertest.ReplayDir(t, "testdata", traceCases, func(t *testing.T, ctx context.Context, p *drivertest.Playback, tc traceCase) {
		d, err := nt.New(p, tc.opts())
		if err != nil {
			t.Fatal(err)
		}
		tc.run(t, ctx, d)
	})
}

func TestNewOptions(t *testing.T) {
	p := drivertest.NewPlayback(&drivertest.Trace{})
	for _, o := range []nt.Opts{{}, {Model: "FMP-2"}, {Model: nt.FMP1, Timeout: -1}} {
		if _, err := nt.New(p, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := nt.New(nil, nt.DefaultOpts); err == nil {
		t.Error("New(nil port) accepted")
	}
	ctx := context.Background()
	vmt, _ := nt.New(p, nt.Opts{Model: nt.VMT2000})
	fth, _ := nt.New(p, nt.Opts{Model: nt.FTH2})
	fmp, _ := nt.New(p, nt.Opts{Model: nt.FMP1})
	if _, err := vmt.ReadAmbient(ctx); err == nil {
		t.Error("VMT-2000 ReadAmbient accepted")
	}
	if err := fth.SetWorkMode(ctx, 0); err == nil {
		t.Error("FTH-2 SetWorkMode accepted")
	}
	if err := vmt.Calibrate(ctx, nt.CalOilTemp, 100, 80); err == nil {
		t.Error("VMT-2000 Calibrate accepted")
	}
	if err := fmp.Calibrate(ctx, 0x02, 100, 80); err == nil {
		t.Error("bad mask accepted")
	}
	if err := p.Close(); err != nil {
		t.Errorf("New or a refused call did I/O: %v", err)
	}
	for in, want := range map[string]nt.Model{"vmt-2000": nt.VMT2000, "VUT 3000": nt.VMT2000, "fmp1": nt.FMP1, " FTH-2": nt.FTH2} {
		if m, err := nt.ParseModel(in); err != nil || m != want {
			t.Errorf("ParseModel(%q) = %v %v", in, m, err)
		}
	}
	if _, err := nt.ParseModel("FLA-502"); err == nil {
		t.Error("ParseModel accepted an analyzer")
	}
}

// mode19200 is the family's line: 19200 8N1.
var mode19200 = serial.Mode{BaudRate: 19200, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}

func TestConformance(t *testing.T) {
	for _, m := range []nt.Model{nt.VMT2000, nt.FMP1, nt.FTH2} {
		t.Run(string(m), func(t *testing.T) {
			drivertest.Conformance(t, drivertest.Harness{
				Mode: mode19200,
				Serve: func(ctx context.Context, rw io.ReadWriter) error {
					return ntsim.New(ntsim.Options{Model: m}).Serve(ctx, rw)
				},
				New: func(rw io.ReadWriter) (drivers.Device, error) { return nt.New(rw, nt.Opts{Model: m}) },
			})
		})
	}
}

func ctxT(t *testing.T) context.Context { return drivertest.Context(t, 30*time.Second) }

func startSim(t *testing.T, sim *ntsim.Sim, o nt.Opts) *nt.Dev {
	return drivertest.StartSim(t, sim.Serve, mode19200, nt.New, o)
}

// TestSerialNoise: every fault mode gives an error (never a panic or a bogus reading),
// and the same Dev reads correctly once the line is clean again.
func TestSerialNoise(t *testing.T) {
	sim := ntsim.New(ntsim.Options{Model: nt.FMP1, Seed: 3})
	d := startSim(t, sim, nt.Opts{Model: nt.FMP1, Timeout: 150 * time.Millisecond})
	ctx := ctxT(t)
	drivertest.Noise[ntsim.Mode]{
		Device: d, SetMode: sim.SetMode, Normal: ntsim.Normal,
		Cases: []drivertest.NoiseCase[ntsim.Mode]{
			{Mode: ntsim.Garbage, Want: drivers.ErrFrame},
			{Mode: ntsim.BadChecksum, Want: drivers.ErrChecksum},
			{Mode: ntsim.Truncated, Want: drivers.ErrTimeout},
			{Mode: ntsim.ErrorReply, Want: drivers.ErrNAK},
			{Mode: ntsim.Silent, Want: drivers.ErrTimeout},
		},
		Check: func(t *testing.T, mode ntsim.Mode, r drivers.Reading) {
			drivertest.Near(t, "rpm at idle", r.Values[drivers.RPM], ntsim.IdleRPM, 20)
		},
	}.Run(t, ctx)
}

// TestSimSession: rpm follows the engine, mode set, FMP-1 calibration with its busy time
// and a failed one, FTH-2 weather, all over a pty.
func TestSimSession(t *testing.T) {
	ctx := ctxT(t)
	vsim := ntsim.New(ntsim.Options{Model: nt.VMT2000, Seed: 1})
	vmt := startSim(t, vsim, nt.Opts{Model: nt.VMT2000})
	vsim.Engine().SetTargetRPM(2500)
	time.Sleep(time.Second) // two time constants
	r, err := vmt.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rpm := r.Values[drivers.RPM]; rpm < 2100 || rpm > 2520 {
		t.Errorf("rpm 1 s after a step to 2500: %v", rpm)
	}
	if err := vmt.SetWorkMode(ctx, 1); err != nil || vsim.WorkMode() != 1 {
		t.Errorf("SetWorkMode(1) = %v, simulator mode %d", err, vsim.WorkMode())
	}
	drivertest.WantErr(t, "nt", vmt.SetWorkMode(ctx, 7), drivers.ErrFailed)
	vmas, err := nt.New(nil2(t, vsim), nt.Opts{Model: nt.VMT2000, VMASModeChecksum: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := vmas.SetWorkMode(ctx, 0); err != nil {
		t.Errorf("VMAS checksum: %v", err)
	}

	fsim := ntsim.New(ntsim.Options{Model: nt.FMP1, Seed: 2, CalTime: 200 * time.Millisecond})
	fmp := startSim(t, fsim, nt.Opts{Model: nt.FMP1})
	fsim.Engine().SetOilTemp(82)
	fsim.Weather().Set(ntsim.WeatherState{TempC: 31, RHpct: 80, PressureKPa: 98.6})
	r, err = fmp.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.Near(t, "oil", r.Values[drivers.OilTempC], 82, 0.05)
	drivertest.Near(t, "temp", r.Values[drivers.TempC], 31, 0.2)
	drivertest.Near(t, "pressure", r.Values[drivers.PressureKPa], 98.6, 0.1)
	if err := fmp.Calibrate(ctx, nt.CalPressure, 98.6, 0); err != nil {
		t.Fatal(err)
	}
	if r, _ := fmp.Read(ctx); r.Status != drivers.Busy {
		t.Errorf("status during calibration %v", r.Status.Names())
	}
	time.Sleep(250 * time.Millisecond)
	if r, _ := fmp.Read(ctx); r.Status != 0 {
		t.Errorf("status after calibration %v", r.Status.Names())
	}

	bad := ntsim.New(ntsim.Options{Model: nt.FMP1, CalFail: true})
	fmpBad := startSim(t, bad, nt.Opts{Model: nt.FMP1})
	if err := fmpBad.Calibrate(ctx, nt.CalOilTemp, 0, 80); err != nil {
		t.Fatal(err)
	}
	if r, _ := fmpBad.Read(ctx); r.Status != drivers.Fault {
		t.Errorf("status after a failed calibration %v", r.Status.Names())
	}

	wsim := ntsim.New(ntsim.Options{Model: nt.FTH2, Seed: 4})
	wsim.Weather().Set(ntsim.WeatherState{TempC: -8, RHpct: 35, PressureKPa: 102.1})
	fth := startSim(t, wsim, nt.Opts{Model: nt.FTH2})
	a, err := fth.ReadAmbient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.Near(t, "FTH-2 temp", a.Values[drivers.TempC], -8, 0.2)
	drivertest.Near(t, "FTH-2 RH", a.Values[drivers.RHpct], 35, 0.5)
	drivertest.Near(t, "FTH-2 pressure", a.Values[drivers.PressureKPa], 102.1, 0.1)
	// A command the FTH-2 does not know is answered 'E' 00F0.
	fthAsVMT := startSim(t, wsim, nt.Opts{Model: nt.VMT2000, AnyReplyAddr: true})
	if _, err := fthAsVMT.Read(ctx); !errors.Is(err, drivers.ErrNAK) {
		t.Errorf("rpm from an FTH-2: %v", err)
	}
}

// nil2 opens a second port on a fresh pty served by sim.
func nil2(t *testing.T, sim *ntsim.Sim) serial.Port {
	return drivertest.OpenSimPort(t, sim.Serve, mode19200).Port
}
