package dwsp_test

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
	"imagent/drivers/internal/modbus"
	"imagent/drivers/weather/dwsp"
	"imagent/drivers/weather/dwsp/dwspsim"
)

func fast(o dwsp.Opts) dwsp.Opts {
	o.Timeout, o.Quiet = 150*time.Millisecond, 2*time.Millisecond
	return o
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
	if r.Time.IsZero() || r.Status != 0 || len(r.Raw) == 0 {
		t.Errorf("time %v, status %v, raw % x", r.Time, r.Status.Names(), r.Raw)
	}
}

func wantErr(t *testing.T, r drivers.Reading, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
	if !strings.HasPrefix(err.Error(), "dwsp: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
	if r.Values != nil || r.Raw != nil {
		t.Errorf("an error came with a reading %+v", r)
	}
}

func read(t *testing.T, ctx context.Context, d *dwsp.Dev) drivers.Reading {
	t.Helper()
	r, err := d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var good = []byte{0x01, 0x04, 0x06, 0x27, 0x94, 0x00, 0xea, 0x01, 0xe7, 0x37, 0xb7}

type traceCase struct {
	opts dwsp.Opts
	run  func(t *testing.T, ctx context.Context, d *dwsp.Dev)
}

var traceCases = map[string]traceCase{
	"read_dwspt5.trace": {dwsp.Opts{}, func(t *testing.T, ctx context.Context, d *dwsp.Dev) {
		r := read(t, ctx, d)
		wantValues(t, r, 23.4, 48.7, 101.32)
		if string(r.Raw) != string(good) {
			t.Errorf("Raw = % x", r.Raw)
		}
		wantValues(t, read(t, ctx, d), -3.5, 91, 99.85)
	}},
	"read_rz1.trace": {dwsp.Opts{Layout: dwsp.RZ1}, func(t *testing.T, ctx context.Context, d *dwsp.Dev) {
		wantValues(t, read(t, ctx, d), 25, 50, 101.2)
	}},
	"exception_dwspt5.trace": {dwsp.Opts{}, func(t *testing.T, ctx context.Context, d *dwsp.Dev) {
		r, err := d.Read(ctx)
		wantErr(t, r, err, drivers.ErrNAK)
		var ex *modbus.ExceptionError
		if !errors.As(err, &ex) || ex.Code != modbus.ExDeviceFailure {
			t.Errorf("exception = %v", err)
		}
		r, err = d.Read(ctx)
		wantErr(t, r, err, drivers.ErrBusy)
		read(t, ctx, d)
	}},
	"noise_dwspt5.trace": {dwsp.Opts{}, func(t *testing.T, ctx context.Context, d *dwsp.Dev) {
		for i, want := range []error{drivers.ErrFrame, nil, drivers.ErrChecksum, nil, drivers.ErrTimeout, nil,
			drivers.ErrFrame, nil, drivers.ErrFrame, nil} {
			r, err := d.Read(ctx)
			if want != nil {
				wantErr(t, r, err, want)
				continue
			}
			if err != nil {
				t.Fatalf("read %d: %v", i, err)
			}
			wantValues(t, r, 23.4, 48.7, 101.32)
		}
	}},
	"addr2_holding.trace": {dwsp.Opts{Addr: 2, Func: modbus.ReadHolding}, func(t *testing.T, ctx context.Context, d *dwsp.Dev) {
		wantValues(t, read(t, ctx, d), 23.4, 48.7, 101.32)
	}},
}

func TestTraces(t *testing.T) {
	drivertest.ReplayDir(t, "testdata", traceCases, func(t *testing.T, ctx context.Context, p *drivertest.Playback, tc traceCase) {
		d, err := dwsp.New(p, fast(tc.opts))
		if err != nil {
			t.Fatal(err)
		}
		tc.run(t, ctx, d)
	})
}

func TestNewOptions(t *testing.T) {
	p := drivertest.NewPlayback(&drivertest.Trace{})
	for _, o := range []dwsp.Opts{
		{Addr: 248},
		{Func: 0x06},
		{Layout: dwsp.Layout{Name: "bad", Count: 2, Temp: dwsp.Field{Index: 0, Scale: 1}, RH: dwsp.Field{Index: 1, Scale: 1}, Pressure: dwsp.Field{Index: 2, Scale: 1}}},
		{Timeout: -1},
		{Limits: dwsp.Limits{TempMin: 1, TempMax: 1, RHMax: 1, PMax: 1}},
	} {
		if _, err := dwsp.New(p, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := dwsp.New(nil, dwsp.DefaultOpts); err == nil {
		t.Error("New(nil port) accepted")
	}
	d, err := dwsp.New(p, dwsp.Opts{})
	if err != nil || d.Layout().Name != "DWSP-T5" {
		t.Fatalf("New(zero Opts) = %v, %v", d, err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("New did I/O: %v", err)
	}
}

// Lane software opens these stations with its generic "9600,N,8,1" link string.
var mode9600 = serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}

func TestConformance(t *testing.T) {
	for _, l := range []dwsp.Layout{dwsp.DWSPT5, dwsp.RZ1} {
		t.Run(l.Name, func(t *testing.T) {
			drivertest.Conformance(t, drivertest.Harness{
				Mode: mode9600,
				Serve: func(ctx context.Context, rw io.ReadWriter) error {
					return dwspsim.New(dwspsim.Options{Layout: l}).Serve(ctx, rw)
				},
				New: func(rw io.ReadWriter) (drivers.Device, error) {
					return dwsp.New(rw, dwsp.Opts{Layout: l})
				},
			})
		})
	}
}

func startSim(t *testing.T, sim *dwspsim.Sim, o dwsp.Opts) *dwsp.Dev {
	return drivertest.StartSim(t, sim.Serve, mode9600, dwsp.New, o)
}

func ctxT(t *testing.T) context.Context { return drivertest.Context(t, 30*time.Second) }

// TestSerialNoise: every fault mode gives an error (never a panic or a bogus reading),
// and the same Dev reads correctly once the line is clean again.
func TestSerialNoise(t *testing.T) {
	w := dwspsim.NewWeather(dwspsim.Conditions{TempC: 5, RHpct: 80, PressureKPa: 96}, 2)
	sim := dwspsim.New(dwspsim.Options{Addr: 7, Weather: w, Seed: 4})
	d := startSim(t, sim, dwsp.Opts{Addr: 7, Timeout: 200 * time.Millisecond})
	ctx := ctxT(t)
	for _, tc := range []struct {
		mode dwspsim.Mode
		want error
	}{
		{dwspsim.Garbage, drivers.ErrFrame},
		{dwspsim.BadCRC, drivers.ErrChecksum},
		{dwspsim.Truncated, drivers.ErrTimeout},
		{dwspsim.Exception, drivers.ErrNAK},
		{dwspsim.Busy, drivers.ErrBusy},
		{dwspsim.WrongSlave, drivers.ErrFrame},
		{dwspsim.SensorFault, drivers.ErrFrame},
		{dwspsim.Silent, drivers.ErrTimeout},
		{dwspsim.Garbage, drivers.ErrFrame},
	} {
		sim.SetMode(tc.mode)
		for range 2 {
			r, err := d.Read(ctx)
			wantErr(t, r, err, tc.want)
		}
		sim.SetMode(dwspsim.Normal)
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatalf("after mode %v, Normal: %v", tc.mode, err)
		}
		if v := r.Values[drivers.RHpct]; math.Abs(v-80) > 3 {
			t.Errorf("after mode %v: RH %v, want about 80", tc.mode, v)
		}
	}
	if n := sim.Requests(); n != 27 {
		t.Errorf("simulator saw %d requests, want 27", n)
	}
}

// TestOtherSlaveSilent: a driver configured for slave 3 gets no answer from slave 1.
func TestOtherSlaveSilent(t *testing.T) {
	sim := dwspsim.New(dwspsim.Options{Addr: 1})
	d := startSim(t, sim, dwsp.Opts{Addr: 3, Timeout: 100 * time.Millisecond})
	r, err := d.Read(ctxT(t))
	wantErr(t, r, err, drivers.ErrTimeout)
	if sim.Requests() != 0 {
		t.Errorf("slave 1 answered a request to slave 3")
	}
}

// TestWeatherFollows: readings follow the simulated weather, for each layout's scaling.
func TestWeatherFollows(t *testing.T) {
	for _, l := range []dwsp.Layout{dwsp.DWSPT5, dwsp.RZ1} {
		t.Run(l.Name, func(t *testing.T) {
			w := dwspsim.Fixed(dwspsim.Conditions{TempC: -7.5, RHpct: 95, PressureKPa: 62.4})
			sim := dwspsim.New(dwspsim.Options{Layout: l, Weather: w})
			d := startSim(t, sim, dwsp.Opts{Layout: l})
			ctx := ctxT(t)
			r := read(t, ctx, d)
			for q, want := range map[drivers.Quantity]float64{drivers.TempC: -7.5, drivers.RHpct: 95, drivers.PressureKPa: 62.4} {
				if got := r.Values[q]; math.Abs(got-want) > 0.01 {
					t.Errorf("%s = %v, want %v", q, got, want)
				}
			}
			w.Set(dwspsim.Conditions{TempC: 35, RHpct: 10, PressureKPa: 104})
			if got := read(t, ctx, d).Values[drivers.TempC]; math.Abs(got-35) > 0.01 {
				t.Errorf("temp after the weather changed = %v", got)
			}
		})
	}
}

// TestRegisterOutsideMap: a layout that reads past the station's registers gets
// exception 02 (illegal data address), not a reading.
func TestRegisterOutsideMap(t *testing.T) {
	sim := dwspsim.New(dwspsim.Options{})
	l := dwsp.DWSPT5
	l.Start = 10
	d := startSim(t, sim, dwsp.Opts{Layout: l})
	r, err := d.Read(ctxT(t))
	wantErr(t, r, err, drivers.ErrNAK)
	var ex *modbus.ExceptionError
	if !errors.As(err, &ex) || ex.Code != modbus.ExIllegalAddress {
		t.Errorf("err = %v, want exception 02", err)
	}
}
