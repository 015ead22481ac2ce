package xincheng_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
	"imagent/drivers/drivertest"
	"imagent/drivers/dyno/xincheng"
	"imagent/drivers/dyno/xincheng/xinchengsim"
	"imagent/drivers/simport"
)

// fast are options for replays: short timeouts, so cases that wait for silence are quick.
func fast() xincheng.Opts {
	return xincheng.Opts{Timeout: 50 * time.Millisecond, CatchUp: time.Millisecond}
}

func wantStream(t *testing.T, r drivers.Reading, speed, force float64, st drivers.Status) {
	t.Helper()
	if len(r.Values) != 3 {
		t.Errorf("values %v", r.Values)
	}
	drivertest.Near(t, "speed_kmh", r.Values[drivers.SpeedKmh], speed, 0)
	drivertest.Near(t, "force_n", r.Values[drivers.ForceN], force, 0)
	drivertest.Near(t, "power_kw", r.Values[drivers.PowerKW], speed/3.6*force/1000, 1e-12)
	if r.Status != st {
		t.Errorf("status %v, want %v", r.Status.Names(), st.Names())
	}
	if r.Time.IsZero() {
		t.Error("no time")
	}
}

// traceCases says, for every file in testdata, how to drive the Dev and what must come out.
type traceCase struct {
	opts func() xincheng.Opts
	run  func(t *testing.T, ctx context.Context, d *xincheng.Dev)
}

var traceCases = map[string]traceCase{
	"doc_example.trace": {fast, func(t *testing.T, ctx context.Context, d *xincheng.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantStream(t, r, 25.6, 850.7, drivers.Controlling)
		drivertest.Near(t, "power (hand-computed)", r.Values[drivers.PowerKW], 6.049422, 1e-6)
		if len(r.Raw) != xincheng.ReplyLenV81 || r.Raw[0] != 'A' {
			t.Errorf("raw % x", r.Raw)
		}
		if _, err := d.Read(ctx); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("Read at the end of the trace: %v, want link closed", err)
		}
	}},
	"stream_resync.trace": {fast, func(t *testing.T, ctx context.Context, d *xincheng.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantStream(t, r, 25.1, 1432.5, drivers.Controlling)
		if k, _ := xincheng.DecodeReply(r.Raw, xincheng.V81); k.Photocells() != 5 || k.RemoteKey() != 0 {
			t.Errorf("key byte %#x", k.Key)
		}
		if st := d.Stats(); st.Frames != 2 || st.Debug != 1 || st.Discarded != 14 || st.Pending != 0 || st.BytesIn != 57 {
			t.Errorf("stats %+v", st)
		}
	}},
	"control_speed.trace": {fast, func(t *testing.T, ctx context.Context, d *xincheng.Dev) {
		if err := d.SetControl(ctx, drivers.ControlSpeed, 40); err != nil {
			t.Fatal(err)
		}
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantStream(t, r, 39.9, 350, drivers.Controlling)
		if err := d.SetControl(ctx, drivers.ControlOff, 0); err != nil {
			t.Fatal(err)
		}
	}},
	"control_unconfirmed.trace": {fast, func(t *testing.T, ctx context.Context, d *xincheng.Dev) {
		drivertest.WantErr(t, "xincheng", d.SetControl(ctx, drivers.ControlForce, 1200), drivers.ErrTimeout)
		if err := d.SetControl(ctx, drivers.ControlOff, 0); err != nil {
			t.Fatal(err)
		}
	}},
	"lift_motor.trace": {fast, func(t *testing.T, ctx context.Context, d *xincheng.Dev) {
		if err := d.SetLift(ctx, true); err != nil {
			t.Fatal(err)
		}
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantStream(t, r, 0, 0, drivers.LiftUp)
		if err := d.SetLift(ctx, false); err != nil {
			t.Fatal(err)
		}
		if err := d.SetMotor(ctx, true); err != nil {
			t.Fatal(err)
		}
		if r, err = d.Read(ctx); err != nil {
			t.Fatal(err)
		}
		wantStream(t, r, 35.2, 0, drivers.MotorOn)
		if err := d.SetMotor(ctx, false); err != nil {
			t.Fatal(err)
		}
	}},
	"ambient.trace": {fast, func(t *testing.T, ctx context.Context, d *xincheng.Dev) {
		a, err := d.ReadAmbient(ctx)
		if err != nil {
			t.Fatal(err)
		}
		drivertest.Near(t, "temp_c", a.Values[drivers.TempC], 23.5, 0)
		drivertest.Near(t, "rh_pct", a.Values[drivers.RHpct], 61.2, 0)
		drivertest.Near(t, "pressure_kpa", a.Values[drivers.PressureKPa], 100.8, 0)
		if len(a.Values) != 3 || len(a.Raw) != xincheng.ReplyLenV81 {
			t.Errorf("ambient %+v", a)
		}
		in, mass, err := d.ReadInertia(ctx)
		if err != nil || in != 907 || mass != 1500 {
			t.Errorf("ReadInertia = %v, %v, %v", in, mass, err)
		}
		dia, pulses, err := d.ReadRoller(ctx)
		if err != nil || dia != 21.8 || pulses != 600 {
			t.Errorf("ReadRoller = %v, %v, %v", dia, pulses, err)
		}
	}},
	"v80_stream.trace": {func() xincheng.Opts { o := fast(); o.Version = xincheng.V80; return o }, func(t *testing.T, ctx context.Context, d *xincheng.Dev) {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantStream(t, r, 25, 1440, drivers.Controlling)
		drivertest.Near(t, "ASM 5025 load", r.Values[drivers.PowerKW], 10, 1e-12)
		if len(r.Raw) != xincheng.ReplyLenV80 {
			t.Errorf("raw % x", r.Raw)
		}
	}},
	"noise.trace": {fast, func(t *testing.T, ctx context.Context, d *xincheng.Dev) {
		for i := range 3 {
			r, err := d.Read(ctx)
			drivertest.WantErr(t, "xincheng", err, drivers.ErrFrame)
			if r.Values != nil || r.Raw != nil {
				t.Errorf("case %d: an error came with a reading %+v", i, r)
			}
			if err := d.SetMotor(ctx, false); err != nil {
				t.Fatal(err)
			}
		}
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantStream(t, r, 0, 0, 0)
	}},
}

// TestTraces replays every testdata/*.trace, whole and one byte per Read, and checks that
// the Dev wrote exactly the trace's bytes and used all of them.
func TestTraces(t *testing.T) {
	drivertest.ReplayDir(t, "testdata", traceCases, func(t *testing.T, ctx context.Context, p *drivertest.Playback, tc traceCase) {
		d, err := xincheng.New(p, tc.opts())
		if err != nil {
			t.Fatal(err)
		}
		tc.run(t, ctx, d)
	})
}

func TestNewOptions(t *testing.T) {
	p := drivertest.NewPlayback(&drivertest.Trace{})
	for _, o := range []xincheng.Opts{
		{Version: 3},
		{Timeout: -time.Second},
		{CatchUp: -1},
	} {
		if _, err := xincheng.New(p, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := xincheng.New(nil, xincheng.DefaultOpts); err == nil {
		t.Error("New(nil port) accepted")
	}
	d, err := xincheng.New(p, xincheng.DefaultOpts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		mode   drivers.ControlMode
		target float64
	}{{drivers.ControlSpeed, -1}, {drivers.ControlForce, math.NaN()}, {drivers.ControlPower, math.Inf(1)}, {drivers.ControlMode(9), 1}} {
		if err := d.SetControl(ctx, tc.mode, tc.target); err == nil {
			t.Errorf("SetControl(%v, %v) accepted", tc.mode, tc.target)
		}
	}
	if err := p.Close(); err != nil {
		t.Errorf("New or a rejected SetControl did I/O: %v", err)
	}
}

// mode38400 is the controller's line: 38400 8N1.
var mode38400 = serial.Mode{BaudRate: 38400, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit}

func TestConformance(t *testing.T) {
	for _, v := range []xincheng.Version{xincheng.V81, xincheng.V80} {
		t.Run(v.String(), func(t *testing.T) {
			drivertest.Conformance(t, drivertest.Harness{
				Mode: mode38400,
				Serve: func(ctx context.Context, rw io.ReadWriter) error {
					return xinchengsim.New(xinchengsim.Options{Version: v, Period: 30 * time.Millisecond}).Serve(ctx, rw)
				},
				New: func(rw io.ReadWriter) (drivers.Device, error) {
					return xincheng.New(rw, xincheng.Opts{Version: v})
				},
			})
		})
	}
}

func ctxT(t *testing.T) context.Context { return drivertest.Context(t, 30*time.Second) }

func startSim(t *testing.T, sim *xinchengsim.Sim, o xincheng.Opts) *xincheng.Dev {
	return drivertest.StartSim(t, sim.Serve, mode38400, xincheng.New, o)
}

// TestSerialNoise: each fault mode either fails Read with the right sentinel (never a
// panic or a bogus reading) or, for garbage between good frames, is skipped; the same Dev
// reads correctly once the line is clean again.
func TestSerialNoise(t *testing.T) {
	sim := xinchengsim.New(xinchengsim.Options{Period: 10 * time.Millisecond, Seed: 9})
	sim.Roller().SetThrottle(0.2)
	d := startSim(t, sim, xincheng.Opts{Timeout: 150 * time.Millisecond})
	ctx := ctxT(t)
	for _, tc := range []struct {
		mode xinchengsim.Mode
		want error
	}{
		{xinchengsim.Garbage, drivers.ErrFrame},
		{xinchengsim.Corrupt, drivers.ErrFrame},
		{xinchengsim.Truncated, drivers.ErrFrame},
		{xinchengsim.Silent, drivers.ErrTimeout},
		{xinchengsim.Noisy, nil},
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
				t.Errorf("mode %v: Read returned values with an error", tc.mode)
			}
		}
		if after := d.Stats(); tc.mode == xinchengsim.Noisy && (after.Debug == before.Debug || after.Discarded == before.Discarded) {
			t.Errorf("noisy stream: stats before %+v after %+v", before, after)
		}
		sim.SetMode(xinchengsim.Normal)
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatalf("after mode %v, Normal: %v", tc.mode, err)
		}
		if r.Values[drivers.SpeedKmh] <= 0 {
			t.Errorf("after mode %v: speed %v with the throttle open", tc.mode, r.Values[drivers.SpeedKmh])
		}
	}
}

// TestSimSession drives the simulated vehicle through what an ASM 5025 test asks of the
// dyno, over a real pty: lift down, vehicle at 25 km/h, constant power 10 kW, ambient,
// then control off, lift up.
func TestSimSession(t *testing.T) {
	sim := xinchengsim.New(xinchengsim.Options{Period: 10 * time.Millisecond, Seed: 4,
		Ambient: xinchengsim.Ambient{TempC: 28, RHpct: 70, PressureKPa: 99.5}})
	d := startSim(t, sim, xincheng.Opts{})
	ctx := ctxT(t)

	if err := d.SetLift(ctx, false); err != nil {
		t.Fatal(err)
	}
	sim.Roller().SetDriveSpeed(25)
	waitFor(t, ctx, d, "25 km/h", func(r drivers.Reading) bool { return math.Abs(r.Values[drivers.SpeedKmh]-25) < 0.5 })
	if err := d.SetControl(ctx, drivers.ControlPower, 10); err != nil {
		t.Fatal(err)
	}
	if mode, target := sim.Roller().Control(); mode != drivers.ControlPower || target != 10 {
		t.Fatalf("simulator control = %v %v", mode, target)
	}
	r := waitFor(t, ctx, d, "10 kW at 25 km/h", func(r drivers.Reading) bool {
		return math.Abs(r.Values[drivers.PowerKW]-10) < 0.3 && math.Abs(r.Values[drivers.SpeedKmh]-25) < 0.5
	})
	drivertest.Near(t, "force at 10 kW, 25 km/h", r.Values[drivers.ForceN], 1440, 50)
	if r.Status != drivers.Controlling {
		t.Errorf("status %v", r.Status.Names())
	}

	a, err := d.ReadAmbient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drivertest.Near(t, "temp_c", a.Values[drivers.TempC], 28, 0.2)
	drivertest.Near(t, "rh_pct", a.Values[drivers.RHpct], 70, 0.7)
	drivertest.Near(t, "pressure_kpa", a.Values[drivers.PressureKPa], 99.5, 0.05)

	if err := d.SetBaseMass(ctx, 1350); err != nil {
		t.Fatal(err)
	}
	if in, mass, err := d.ReadInertia(ctx); err != nil || in != 907 || mass != 1350 {
		t.Errorf("ReadInertia = %v %v %v", in, mass, err)
	}

	if err := d.SetControl(ctx, drivers.ControlSpeed, 40); err != nil {
		t.Fatal(err)
	}
	sim.Roller().SetDriveSpeed(45) // the driver pushes; the dyno holds 40
	waitFor(t, ctx, d, "held at 40 km/h", func(r drivers.Reading) bool { return math.Abs(r.Values[drivers.SpeedKmh]-40) < 0.5 })

	sim.Roller().SetThrottle(0)
	if err := d.SetControl(ctx, drivers.ControlOff, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.SetLift(ctx, true); err != nil {
		t.Fatal(err)
	}
	r = waitFor(t, ctx, d, "stopped", func(r drivers.Reading) bool { return r.Values[drivers.SpeedKmh] == 0 })
	if r.Status != drivers.LiftUp {
		t.Errorf("status %v, want lift_up", r.Status.Names())
	}
	if err := d.SetMotor(ctx, true); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(5 * time.Second); sim.LastCommand() != xincheng.MotorStart && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond) // the simulator takes the command in its own time
	}
	if st := sim.Roller().State(); !st.Motor || !st.Lift {
		t.Errorf("simulator state %+v", st)
	}
	if c := sim.Counters(); c.BadCommands != 0 || c.Commands < 10 {
		t.Errorf("simulator counters %+v", c)
	}
}

func waitFor(t *testing.T, ctx context.Context, d *xincheng.Dev, what string, ok func(drivers.Reading) bool) drivers.Reading {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var r drivers.Reading
	var err error
	for time.Now().Before(deadline) {
		if r, err = d.Read(ctx); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok(r) {
			return r
		}
	}
	t.Fatalf("no %s within 15 s; last reading %v", what, r.Values)
	return r
}

var streamSeconds = flag.Float64("stream-seconds", 3, "how long TestStream100Hz feeds frames")

// TestStream100Hz feeds the controller's stream at 100 frames/s (the vendor's fastest
// rate) over a real pty at 38400 8N1 for -stream-seconds, with the driver reading in a
// loop as the agent does, and reports frames sent and parsed and the bytes pending
// between the writer and the parser. It asserts only what must hold at any speed: every
// frame parsed, none corrupted, the readings in order, and the pending bytes bounded
// (no growing backlog). Speed itself is measured by the benchmarks.
func TestStream100Hz(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for seconds")
	}
	pty, err := simport.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	port, err := serial.Open(pty.SlavePath, &mode38400)
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	d, err := xincheng.New(port, xincheng.Opts{})
	if err != nil {
		t.Fatal(err)
	}

	const period = 10 * time.Millisecond
	total := int(*streamSeconds * float64(time.Second/period))
	var sentBytes atomic.Uint64
	var mu sync.Mutex
	var pendingAtWrite []uint64 // bytes written but not yet parsed, sampled after each write
	writerDone := make(chan error, 1)
	go func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		for i := range total {
			<-tick.C
			// Frame i: speed i mod 200, force i, duty -i: each reading names its frame.
			f := xincheng.EncodeReply(xincheng.Reply{Func: xincheng.StreamSpeed, V: [3]float32{float32(i % 200), float32(i), float32(-i)}}, xincheng.V81)
			if _, err := pty.Master.Write(f); err != nil {
				writerDone <- err
				return
			}
			sent := sentBytes.Add(uint64(len(f)))
			st := d.Stats()
			mu.Lock()
			pendingAtWrite = append(pendingAtWrite, uint64(max(0, int64(sent)-int64(st.BytesIn)))+st.Pending)
			mu.Unlock()
		}
		writerDone <- nil
	}()

	ctx := ctxT(t)
	last := -1
	reads, skipped := 0, 0
	start := time.Now()
	for last < total-1 {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatalf("Read after frame %d: %v", last, err)
		}
		reads++
		f, err := xincheng.DecodeReply(r.Raw, xincheng.V81)
		if err != nil {
			t.Fatal(err)
		}
		i := int(f.V[1])
		if f.V[2] != -f.V[1] || r.Values[drivers.SpeedKmh] != float64(i%200) || i <= last {
			t.Fatalf("reading %+v after frame %d: corrupt or out of order", r.Values, last)
		}
		skipped += i - last - 1
		last = i
	}
	elapsed := time.Since(start)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	st := d.Stats()
	mu.Lock()
	pend := slices.Clone(pendingAtWrite)
	mu.Unlock()
	slices.Sort(pend)
	maxPend := pend[len(pend)-1]
	t.Logf("stream 100 frames/s for %.1f s over a pty at 38400 8N1: sent %d frames (%d bytes), parsed %d frames (%d bytes), "+
		"%d Reads returned %d frames (newer frames made %d older ones moot), discarded %d bytes; "+
		"bytes pending after a write: median %d, p99 %d, max %d (one frame is %d)",
		elapsed.Seconds(), total, sentBytes.Load(), st.Frames, st.BytesIn, reads, reads, skipped, st.Discarded,
		pend[len(pend)/2], pend[len(pend)*99/100], maxPend, xincheng.ReplyLenV81)
	if st.Frames != uint64(total) || st.BytesIn != sentBytes.Load() || st.Discarded != 0 || st.Pending != 0 {
		t.Errorf("frames lost or corrupted: sent %d frames / %d bytes, stats %+v", total, sentBytes.Load(), st)
	}
	// Bounded backlog: whatever the load on the machine, the parser never falls more
	// than a few frames behind a 100 frames/s writer (one second of stream would be 1700 bytes).
	if limit := uint64(32 * xincheng.ReplyLenV81); maxPend > limit {
		t.Errorf("up to %d bytes were pending, more than %d: the parser does not keep up", maxPend, limit)
	}
}
