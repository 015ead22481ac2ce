package rpm5300_test

import (
	"context"
	"errors"
	"io"
	"math"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
	"imagent/drivers/drivertest"
	"imagent/drivers/tacho/nt/ntsim"
	"imagent/drivers/tacho/rpm5300"
	"imagent/drivers/tacho/rpm5300/rpm5300sim"
)

func fast() rpm5300.Opts {
	return rpm5300.Opts{Timeout: 50 * time.Millisecond, CatchUp: time.Millisecond}
}

type traceCase struct {
	run func(t *testing.T, ctx context.Context, d *rpm5300.Dev)
}

var traceCases = map[string]traceCase{
	"stream.trace": {func(t *testing.T, ctx context.Context, d *rpm5300.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Values[drivers.RPM] != 2480 || len(r.Values) != 1 || string(r.Raw) != "2480\r" || r.Time.IsZero() || r.Status != 0 {
			t.Errorf("reading %+v", r)
		}
		if st := d.Stats(); st.Frames != 3 || st.Discarded != 0 || st.BytesIn != 15 {
			t.Errorf("stats %+v", st)
		}
		if _, err := d.Read(ctx); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("Read at the end of the trace: %v", err)
		}
	}},
	"resync.trace": {func(t *testing.T, ctx context.Context, d *rpm5300.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Values[drivers.RPM] != 2480 || string(r.Raw) != "2480\r" {
			t.Errorf("reading %+v", r)
		}
		if st := d.Stats(); st.Frames != 2 || st.Discarded != 9 || st.Pending != 0 {
			t.Errorf("stats %+v", st)
		}
	}},
}

func TestTraces(t *testing.T) {
	drivertest.ReplayDir(t, "testdata", traceCases, func(t *testing.T, ctx context.Context, p *drivertest.Playback, tc traceCase) {
		d, err := rpm5300.New(p, fast())
		if err != nil {
			t.Fatal(err)
		}
		tc.run(t, ctx, d)
	})
}

func TestNewOptions(t *testing.T) {
	p := drivertest.NewPlayback(&drivertest.Trace{})
	for _, o := range []rpm5300.Opts{{Timeout: -1}, {CatchUp: -1}} {
		if _, err := rpm5300.New(p, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := rpm5300.New(nil, rpm5300.DefaultOpts); err == nil {
		t.Error("New(nil port) accepted")
	}
	if _, err := rpm5300.New(p, rpm5300.DefaultOpts); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("New did I/O: %v", err)
	}
}

var mode9600 = serial.Mode{BaudRate: 9600, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}

func TestConformance(t *testing.T) {
	drivertest.Conformance(t, drivertest.Harness{
		Mode: mode9600,
		Serve: func(ctx context.Context, rw io.ReadWriter) error {
			return rpm5300sim.New(rpm5300sim.Options{}).Serve(ctx, rw)
		},
		New: func(rw io.ReadWriter) (drivers.Device, error) { return rpm5300.New(rw, rpm5300.DefaultOpts) },
	})
}

func ctxT(t *testing.T) context.Context { return drivertest.Context(t, 30*time.Second) }

// TestSerialNoise: each fault mode fails Read with the right sentinel (never a panic or
// a bogus reading) or, for garbage between good frames, is skipped; the same Dev reads
// correctly once the line is clean again.
func TestSerialNoise(t *testing.T) {
	sim := rpm5300sim.New(rpm5300sim.Options{Period: 20 * time.Millisecond, Seed: 2})
	sp := drivertest.OpenSimPort(t, sim.Serve, mode9600)
	d, err := rpm5300.New(sp.Port, rpm5300.Opts{Timeout: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	for _, tc := range []struct {
		mode rpm5300sim.Mode
		want error
	}{
		{rpm5300sim.Garbage, drivers.ErrFrame},
		{rpm5300sim.BadFrame, drivers.ErrFrame},
		{rpm5300sim.Truncated, drivers.ErrFrame},
		{rpm5300sim.Silent, drivers.ErrTimeout},
		{rpm5300sim.Noisy, nil},
	} {
		sim.SetMode(tc.mode)
		before := d.Stats()
		for range 3 {
			r, err := d.Read(ctx)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("mode %v: %v", tc.mode, err)
				}
				continue
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("mode %v: Read err = %v, want %v", tc.mode, err, tc.want)
			}
			if r.Values != nil {
				t.Errorf("mode %v: values with an error", tc.mode)
			}
		}
		if tc.mode == rpm5300sim.Noisy && d.Stats().Discarded == before.Discarded {
			t.Error("noisy stream dropped nothing")
		}
		sim.SetMode(rpm5300sim.Normal)
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatalf("after mode %v, Normal: %v", tc.mode, err)
		}
		if math.Abs(r.Values[drivers.RPM]-ntsim.IdleRPM) > 20 {
			t.Errorf("after mode %v: %v r/min", tc.mode, r.Values[drivers.RPM])
		}
	}
}

// TestSimSession: the engine's speed comes through, newest first, space-padded frames too.
func TestSimSession(t *testing.T) {
	sim := rpm5300sim.New(rpm5300sim.Options{Period: 20 * time.Millisecond, SpacePad: true, Seed: 3})
	sp := drivertest.OpenSimPort(t, sim.Serve, mode9600)
	d, err := rpm5300.New(sp.Port, rpm5300.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	sim.Engine().SetTargetRPM(2500)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(r.Values[drivers.RPM]-2500) < 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rpm never reached 2500: %v", r.Values)
		}
	}
	time.Sleep(200 * time.Millisecond) // ten frames pile up; Read returns the newest and skips the rest
	before := d.Stats().Frames
	if _, err := d.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if n := d.Stats().Frames - before; n < 5 {
		t.Errorf("one Read after 200 ms parsed %d frames, want the whole backlog", n)
	}
	sim.Engine().SetTargetRPM(0)
	time.Sleep(1500 * time.Millisecond)
	if r, err := d.Read(ctx); err != nil || r.Values[drivers.RPM] != 0 || string(r.Raw) != "   0\r" {
		t.Errorf("engine off: %+v %v", r, err)
	}
	if sent, _ := sim.Sent(); sent == 0 {
		t.Error("simulator sent nothing")
	}
}
