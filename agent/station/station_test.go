package station

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/gas/nanhua/nanhuasim"
	"imagent/drivers/simport"
)

// simDevice runs an NHA-503 simulator on a real pseudo-terminal and a supervisor with the
// real driver on the slave side.
type simDevice struct {
	sim  *nanhuasim.Sim
	pty  *simport.PTY
	dev  *Device
	stop context.CancelFunc // stops the simulator only
}

func startSim(t *testing.T) *simDevice {
	t.Helper()
	pty, err := simport.Open()
	if err != nil {
		t.Fatal(err)
	}
	sd := &simDevice{pty: pty, sim: nanhuasim.New(nanhuasim.Options{Model: nanhua.NHA503, Seed: 7})}
	ctx, cancel := context.WithCancel(context.Background())
	simCtx, simStop := context.WithCancel(ctx)
	sd.stop = simStop
	var wg sync.WaitGroup
	wg.Go(func() { _ = sd.sim.Serve(simCtx, pty.Master) })
	open := func(ctx context.Context) (drivers.Device, io.Closer, error) {
		p, err := serial.Open(pty.SlavePath, &serial.Mode{BaudRate: 9600})
		if err != nil {
			return nil, nil, err
		}
		o := nanhua.DefaultOpts
		o.Timeout = 200 * time.Millisecond
		d, err := nanhua.New(p, o)
		if err != nil {
			p.Close()
			return nil, nil, err
		}
		return d, p, nil
	}
	sd.dev = NewDevice(Spec{Name: "analyzer", Role: "analyzer", Poll: 50 * time.Millisecond,
		BackoffMax: 500 * time.Millisecond}, open, slog.New(slog.DiscardHandler))
	wg.Go(func() { _ = sd.dev.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		pty.Close()
	})
	return sd
}

// waitState polls the snapshot until cond holds or the deadline passes.
func waitState(t *testing.T, d *Device, what string, cond func(Snapshot) bool) Snapshot {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := d.Snapshot()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: last snapshot %+v", what, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNoiseShowsAsErrorThenRecovers(t *testing.T) {
	sd := startSim(t)
	ok := func(s Snapshot) bool { return s.State == StateOK && len(s.Reading.Raw) == 21 }
	waitState(t, sd.dev, "first good frame", ok)
	for _, mode := range []nanhuasim.Mode{nanhuasim.Garbage, nanhuasim.BadChecksum, nanhuasim.Truncated, nanhuasim.NAKAll, nanhuasim.Silent} {
		sd.sim.SetMode(mode)
		s := waitState(t, sd.dev, "error state", func(s Snapshot) bool { return s.State == StateError && s.Err != "" })
		t.Logf("mode %v: %s", mode, s.Err)
		sd.sim.SetMode(nanhuasim.Normal)
		before := s.LastFrame
		waitState(t, sd.dev, "recovery", func(s Snapshot) bool { return ok(s) && s.LastFrame.After(before) })
	}
}

func TestPortVanishesIsReportedAndDoRefuses(t *testing.T) {
	sd := startSim(t)
	waitState(t, sd.dev, "first good frame", func(s Snapshot) bool { return s.State == StateOK })
	sd.stop()
	sd.pty.Close() // the slave path disappears, as when a USB adapter is unplugged
	waitState(t, sd.dev, "absent", func(s Snapshot) bool { return s.State == StateAbsent })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := sd.dev.Do(ctx, func(ctx context.Context, d drivers.Device) error { return nil })
	if err == nil {
		t.Fatal("a command on an absent device must fail")
	}
}

func TestDoRunsCommandsBetweenPolls(t *testing.T) {
	sd := startSim(t)
	waitState(t, sd.dev, "first good frame", func(s Snapshot) bool { return s.State == StateOK })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := sd.dev.Do(ctx, func(ctx context.Context, d drivers.Device) error {
		return d.(drivers.Pump).SetPump(ctx, true)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sd.sim.PumpOn() {
		t.Fatal("pump command did not reach the simulator")
	}
}

func TestLinkDeadClassification(t *testing.T) {
	for _, soft := range []error{drivers.ErrTimeout, drivers.ErrChecksum, drivers.ErrNAK, drivers.ErrFrame} {
		if linkDead(soft) {
			t.Errorf("%v must not reset the link at once", soft)
		}
	}
	if !linkDead(io.ErrUnexpectedEOF) {
		t.Error("EOF must reset the link")
	}
}
