package xce100_test

import (
	"context"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
	"imagent/drivers/drivertest"
	"imagent/drivers/weather/xce100"
	"imagent/drivers/weather/xce100/xce100sim"
)

// fast are options for replays: short waits so a replay takes milliseconds.
func fast(m xce100.Model) xce100.Opts {
	return xce100.Opts{Model: m, Timeout: 150 * time.Millisecond, Quiet: 2 * time.Millisecond, CalWait: 20 * time.Millisecond}
}

func wantValues(t *testing.T, r drivers.Reading, temp, rh, p float64) {
	t.Helper()
	if len(r.Values) != 3 {
		t.Errorf("got %d values %v, want 3", len(r.Values), r.Values)
	}
	for q, v := range map[drivers.Quantity]float64{drivers.TempC: temp, drivers.RHpct: rh, drivers.PressureKPa: p} {
		if got, ok := r.Values[q]; !ok || math.Abs(got-v) > 1e-9 {
			t.Errorf("%s = %v (present %v), want %v", q, got, ok, v)
		}
	}
	if r.Time.IsZero() || r.Status != 0 {
		t.Errorf("time %v, status %v", r.Time, r.Status.Names())
	}
}

func wantErr(t *testing.T, r drivers.Reading, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
	if !strings.HasPrefix(err.Error(), "xce100: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
	if r.Values != nil || r.Raw != nil {
		t.Errorf("an error came with a reading %+v", r)
	}
}

func read(t *testing.T, ctx context.Context, d *xce100.Dev) drivers.Reading {
	t.Helper()
	r, err := d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// traceCases says, for every file in testdata, how to drive the Dev and what must come out.
type traceCase struct {
	model xce100.Model
	run   func(t *testing.T, ctx context.Context, d *xce100.Dev)
}

var traceCases = map[string]traceCase{
	"poll_xce100.trace": {xce100.XCE100, func(t *testing.T, ctx context.Context, d *xce100.Dev) {
		r := read(t, ctx, d)
		wantValues(t, r, 25.3, 56, 101.3)
		if string(r.Raw) != "T25.3H56.0P101.3E" {
			t.Errorf("Raw = %q", r.Raw)
		}
		r = read(t, ctx, d)
		wantValues(t, r, -5.2, 85.5, 98.75)
		if string(r.Raw) != "T -5.2H 85.5P 98.75E" {
			t.Errorf("Raw = %q", r.Raw)
		}
	}},
	"poll_noise_xce100.trace": {xce100.XCE100, func(t *testing.T, ctx context.Context, d *xce100.Dev) {
		for i, want := range []error{drivers.ErrFrame, nil, drivers.ErrFrame, nil, drivers.ErrFrame, nil,
			drivers.ErrTimeout, nil, drivers.ErrFrame, nil} {
			r, err := d.Read(ctx)
			if want != nil {
				wantErr(t, r, err, want)
				continue
			}
			if err != nil {
				t.Fatalf("read %d: %v", i, err)
			}
			if math.Abs(r.Values[drivers.TempC]-25.3) > 0.11 {
				t.Errorf("read %d: %v", i, r.Values)
			}
		}
	}},
	"stream_xce101.trace": {xce100.XCE101, func(t *testing.T, ctx context.Context, d *xce100.Dev) {
		r := read(t, ctx, d)
		wantValues(t, r, 22.6, 55.3, 100.8)
		if string(r.Raw) != "T22.6H55.3P100.8E" {
			t.Errorf("Raw = %q", r.Raw)
		}
		r, err := d.Read(ctx) // the stream has ended
		if err == nil || r.Values != nil {
			t.Errorf("Read after the end = %+v, %v", r, err)
		}
	}},
	"stream_noise_xce101.trace": {xce100.XCE101, func(t *testing.T, ctx context.Context, d *xce100.Dev) {
		r := read(t, ctx, d)
		wantValues(t, r, 21.1, 60.1, 100.9)
		if string(r.Raw) != "T21.1H60.1P100.9E" {
			t.Errorf("Raw = %q", r.Raw)
		}
	}},
	"calibrate_xce101.trace": {xce100.XCE101, func(t *testing.T, ctx context.Context, d *xce100.Dev) {
		wantValues(t, read(t, ctx, d), 24.8, 50, 101)
		if err := d.Calibrate(ctx, drivers.TempC, 25.3); err != nil {
			t.Fatalf("Calibrate: %v", err)
		}
		wantValues(t, read(t, ctx, d), 25.3, 50, 101)
		err := d.Calibrate(ctx, drivers.RHpct, 99.8)
		if !errors.Is(err, drivers.ErrFailed) || !strings.HasPrefix(err.Error(), "xce100: ") {
			t.Errorf("refused calibration: %v, want ErrFailed", err)
		}
	}},
}

// TestTraces replays every testdata/*.trace, whole and one byte per Read, and checks that
// the Dev wrote exactly the trace's bytes and used all of them.
func TestTraces(t *testing.T) {
	drivertest.ReplayDir(t, "testdata", traceCases, func(t *testing.T, ctx context.Context, p *drivertest.Playback, tc traceCase) {
		d, err := xce100.New(p, fast(tc.model))
		if err != nil {
			t.Fatal(err)
		}
		tc.run(t, ctx, d)
	})
}

func TestNewOptions(t *testing.T) {
	p := drivertest.NewPlayback(&drivertest.Trace{})
	for _, o := range []xce100.Opts{
		{Model: "XCE-102"},
		{Timeout: -time.Second},
		{Quiet: -1},
		{CalTries: -1},
		{Limits: xce100.Limits{TempMin: 10, TempMax: 0, RHMax: 100, PMax: 110}},
	} {
		if _, err := xce100.New(p, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := xce100.New(nil, xce100.DefaultOpts); err == nil {
		t.Error("New(nil port) accepted")
	}
	d, err := xce100.New(p, xce100.Opts{})
	if err != nil || d.Model() != xce100.XCE100 {
		t.Fatalf("New(zero Opts) = %v, %v", d, err)
	}
	if err := d.Calibrate(context.Background(), drivers.TempC, 20); err == nil {
		t.Error("XCE-100 Calibrate did not refuse")
	}
	if err := p.Close(); err != nil {
		t.Errorf("New or a refused Calibrate did I/O: %v", err)
	}
	for in, want := range map[string]xce100.Model{"XCE-100": xce100.XCE100, "xce_101": xce100.XCE101, " xce101 ": xce100.XCE101} {
		if got, err := xce100.ParseModel(in); err != nil || got != want {
			t.Errorf("ParseModel(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := xce100.ParseModel("XCE-1000"); err == nil {
		t.Error("ParseModel accepted XCE-1000")
	}
}

func TestCalibrateArguments(t *testing.T) {
	p := drivertest.NewPlayback(&drivertest.Trace{})
	d, err := xce100.New(p, xce100.Opts{Model: xce100.XCE101})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.Calibrate(ctx, drivers.COpct, 1); err == nil {
		t.Error("Calibrate(co_pct) accepted")
	}
	if err := d.Calibrate(ctx, drivers.PressureKPa, 1013.2); err == nil {
		t.Error("Calibrate(1013.2 kPa) accepted: ×10 does not fit in 4 characters")
	}
	if err := p.Close(); err != nil {
		t.Errorf("refused Calibrate did I/O: %v", err)
	}
}

// The line settings used in the lane software's example link string, "9600,N,8,1".
var mode9600 = serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}

func TestConformance(t *testing.T) {
	for _, m := range []xce100.Model{xce100.XCE100, xce100.XCE101} {
		t.Run(string(m), func(t *testing.T) {
			drivertest.Conformance(t, drivertest.Harness{
				Mode: mode9600,
				Serve: func(ctx context.Context, rw io.ReadWriter) error {
					return xce100sim.New(xce100sim.Options{Model: m, Period: 50 * time.Millisecond}).Serve(ctx, rw)
				},
				New: func(rw io.ReadWriter) (drivers.Device, error) {
					return xce100.New(rw, xce100.Opts{Model: m})
				},
			})
		})
	}
}

// startSim runs sim behind a real pty and returns a Dev on the serial side.
func startSim(t *testing.T, sim *xce100sim.Sim, o xce100.Opts) *xce100.Dev {
	return drivertest.StartSim(t, sim.Serve, mode9600, xce100.New, o)
}

func ctxT(t *testing.T) context.Context { return drivertest.Context(t, 30*time.Second) }

// TestSerialNoise: every fault mode gives an error (never a panic or a bogus reading), and
// the same Dev reads correctly once the line is clean again, polled and streaming.
func TestSerialNoise(t *testing.T) {
	cases := []struct {
		mode xce100sim.Mode
		want error
	}{
		{xce100sim.Garbage, drivers.ErrFrame},
		{xce100sim.OutOfRange, drivers.ErrFrame},
		{xce100sim.Malformed, drivers.ErrFrame},
		{xce100sim.Truncated, nil}, // polled: ErrTimeout; stream: ErrFrame (halves never close)
		{xce100sim.Silent, drivers.ErrTimeout},
		{xce100sim.Garbage, drivers.ErrFrame},
	}
	for _, m := range []xce100.Model{xce100.XCE100, xce100.XCE101} {
		t.Run(string(m), func(t *testing.T) {
			w := xce100sim.NewWeather(xce100sim.Conditions{TempC: 18, RHpct: 70, PressureKPa: 99.5}, 5)
			sim := xce100sim.New(xce100sim.Options{Model: m, Weather: w, Period: 40 * time.Millisecond, Seed: 9})
			d := startSim(t, sim, xce100.Opts{Model: m, Timeout: 300 * time.Millisecond})
			ctx := ctxT(t)
			for _, tc := range cases {
				want := tc.want
				if tc.mode == xce100sim.Truncated {
					want = map[xce100.Model]error{xce100.XCE100: drivers.ErrTimeout, xce100.XCE101: drivers.ErrFrame}[m]
				}
				sim.SetMode(tc.mode)
				if m == xce100.XCE101 {
					time.Sleep(60 * time.Millisecond) // let the last good frames pass
					d.Read(ctx)
				}
				for range 2 {
					r, err := d.Read(ctx)
					wantErr(t, r, err, want)
				}
				sim.SetMode(xce100sim.Normal)
				r, err := d.Read(ctx)
				if err != nil {
					t.Fatalf("after mode %v, Normal: %v", tc.mode, err)
				}
				if v := r.Values[drivers.TempC]; math.Abs(v-18) > 1.5 {
					t.Errorf("after mode %v: temp %v, want about 18", tc.mode, v)
				}
			}
		})
	}
}

// TestStreamNewest: after the agent has not read for a while, Read returns the newest
// frame, not the oldest in the backlog.
func TestStreamNewest(t *testing.T) {
	w := xce100sim.Fixed(xce100sim.Conditions{TempC: 10, RHpct: 40, PressureKPa: 101})
	sim := xce100sim.New(xce100sim.Options{Model: xce100.XCE101, Weather: w, Period: 20 * time.Millisecond, Separator: "\r\n"})
	d := startSim(t, sim, xce100.Opts{Model: xce100.XCE101})
	ctx := ctxT(t)
	wantValues(t, read(t, ctx, d), 10, 40, 101)
	w.Set(xce100sim.Conditions{TempC: 20, RHpct: 30, PressureKPa: 98})
	time.Sleep(300 * time.Millisecond) // a backlog of frames longer than one read: 20 °C first,
	w.Set(xce100sim.Conditions{TempC: 30, RHpct: 20, PressureKPa: 95})
	time.Sleep(300 * time.Millisecond) // then 30 °C
	r := read(t, ctx, d)
	wantValues(t, r, 30, 20, 95)
	if string(r.Raw) != "T30.0H20.0P95.0E" {
		t.Errorf("Raw = %q", r.Raw)
	}
}

// TestSimCalibration: the XCE-101 calibration handshake against the simulator over a pty,
// while it streams.
func TestSimCalibration(t *testing.T) {
	w := xce100sim.NewWeather(xce100sim.Conditions{TempC: 21, RHpct: 45, PressureKPa: 100.2}, 3)
	sim := xce100sim.New(xce100sim.Options{Model: xce100.XCE101, Weather: w, Period: 50 * time.Millisecond})
	d := startSim(t, sim, xce100.Opts{Model: xce100.XCE101})
	ctx := ctxT(t)
	read(t, ctx, d)
	if err := d.Calibrate(ctx, drivers.PressureKPa, 101.3); err != nil {
		t.Fatal(err)
	}
	r := read(t, ctx, d)
	if v := r.Values[drivers.PressureKPa]; math.Abs(v-101.3) > 0.15 {
		t.Errorf("pressure after calibration = %v, want 101.3 ± 0.15", v)
	}
	if off := sim.Offsets().PressureKPa; math.Abs(off-1.1) > 0.2 {
		t.Errorf("simulator offset = %v, want about 1.1", off)
	}
	sim.SetCalFail(true)
	if err := d.Calibrate(ctx, drivers.TempC, 20); !errors.Is(err, drivers.ErrFailed) {
		t.Errorf("refused calibration = %v, want ErrFailed", err)
	}
	sim.SetCalFail(false)
	sim.SetMode(xce100sim.Silent)
	if err := d.Calibrate(ctx, drivers.TempC, 20); !errors.Is(err, drivers.ErrTimeout) {
		t.Errorf("calibration of a silent station = %v, want ErrTimeout", err)
	}
	sim.SetMode(xce100sim.Normal)
	if _, err := d.Read(ctx); err != nil {
		t.Errorf("Read after the calibrations: %v", err)
	}
}

// TestPressureHPa: a station that sends hPa, both ends configured alike.
func TestPressureHPa(t *testing.T) {
	w := xce100sim.Fixed(xce100sim.Conditions{TempC: 12.5, RHpct: 33, PressureKPa: 97.2})
	sim := xce100sim.New(xce100sim.Options{Weather: w, PressureHPa: true})
	d := startSim(t, sim, xce100.Opts{PressureHPa: true})
	r := read(t, ctxT(t), d)
	wantValues(t, r, 12.5, 33, 97.2)
	if string(r.Raw) != "T12.5H33.0P972.0E" {
		t.Errorf("Raw = %q", r.Raw)
	}
	// The same station read as kPa is implausible, not a silent factor-of-ten error.
	d2 := startSim(t, xce100sim.New(xce100sim.Options{Weather: w, PressureHPa: true}), xce100.Opts{})
	r, err := d2.Read(ctxT(t))
	wantErr(t, r, err, drivers.ErrFrame)
}
