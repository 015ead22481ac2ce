package promptsink_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/agent/procedure"
	"imagent/agent/promptsink"
	"imagent/agent/promptsink/ledboard"
	"imagent/agent/station"
	"imagent/drivers"
	"imagent/drivers/simport"
)

func TestFrames(t *testing.T) {
	f := ledboard.Encode("D", "7", "hold 2500 r/min", "12 s")
	if string(f) != "$D,7,hold 2500 r/min,12 s*"+string(f[len(f)-4:len(f)-2])+"\r\n" {
		t.Fatalf("frame %q", f)
	}
	fields, err := ledboard.Decode(f)
	if err != nil || len(fields) != 4 || fields[2] != "hold 2500 r/min" {
		t.Fatalf("decode %q: %v %v", f, fields, err)
	}
	// Separators in the text are replaced, so a field cannot be split or faked.
	g, _ := ledboard.Decode(ledboard.Encode("D", "1", "a,b*c$d", "x\ny"))
	if len(g) != 4 || g[2] != "a b c d" || g[3] != "x y" {
		t.Errorf("unsafe text: %q", g)
	}
	bad := bytes.Replace(f, []byte("2500"), []byte("2600"), 1)
	if _, err := ledboard.Decode(bad); err == nil {
		t.Error("a changed frame passes its checksum")
	}
	var s ledboard.Sim
	if r, _ := ledboard.Decode(s.Reply(bad)); r[0] != "N" {
		t.Errorf("board answered %q to a bad frame", r)
	}
	if r, _ := ledboard.Decode(s.Reply(ledboard.Encode("X", "3"))); r[0] != "N" || r[1] != "3" {
		t.Errorf("board answered %q to an unknown command", r)
	}
}

func TestConsole(t *testing.T) {
	var b strings.Builder
	c := promptsink.Console(&b)
	for i := 3; i > 0; i-- {
		c(procedure.Prompt{Phase: "high_idle", Text: "hold 2500 r/min", TargetRPM: 2500, Remaining: i})
	}
	c(procedure.Prompt{Phase: "free", Text: "press the pedal fully", Pedal: procedure.PedalFull})
	want := "  prompt   [high_idle] hold 2500 r/min  (2500 r/min  3 s)\n  prompt   [free] press the pedal fully  (PEDAL FULL)\n"
	if b.String() != want {
		t.Errorf("console wrote\n%q\nwant\n%q", b.String(), want)
	}
}

// TestBoardOnPty drives the simulated board through a real pseudo-terminal, with the
// driver under a station supervisor as the agent runs it.
func TestBoardOnPty(t *testing.T) {
	pty, err := simport.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var sim ledboard.Sim
	wg.Go(func() { _ = sim.Serve(ctx, pty.Master) })
	open := func(ctx context.Context) (drivers.Device, io.Closer, error) {
		p, err := serial.Open(pty.SlavePath, &serial.Mode{BaudRate: 9600})
		if err != nil {
			return nil, nil, err
		}
		return ledboard.New(p), p, nil
	}
	dev := station.NewDevice(station.Spec{Name: "board", Role: "display", Protocol: "display/ledtext", Poll: 100 * time.Millisecond}, open, slog.New(slog.DiscardHandler))
	wg.Go(func() { _ = dev.Run(ctx) })
	board := promptsink.NewBoard(dev, nil)
	wg.Go(func() { _ = board.Run(ctx) })
	show := promptsink.Tee(board.Prompt)
	show(procedure.Prompt{Phase: "asm", Text: "drive at 25 km/h", TargetKmh: 25, Remaining: 90})
	want := ledboard.Display{Line1: "drive at 25 km/h", Line2: "25.0 km/h  90 s"}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, n := sim.Shown()
		if got == want && n >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("board shows %+v after %d displays, want %+v (device %s %s)", got, n, want, dev.Snapshot().State, dev.Snapshot().Err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The supervisor's polls (queries) keep the board's state visible.
	for dev.Snapshot().State != station.StateOK {
		if time.Now().After(deadline) {
			t.Fatalf("board state %s: %s", dev.Snapshot().State, dev.Snapshot().Err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if sim.Refused() != 0 {
		t.Errorf("the board refused %d frames", sim.Refused())
	}
}
