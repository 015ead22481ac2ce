package record

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"imagent/agent/contract"
	"imagent/buffer"
)

func writeClock(t *testing.T, path, line string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFileClock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	c := &FileClock{Path: path}
	if q := c.Quality(); q != contract.ClockNTP {
		t.Fatalf("quality without a file %q, want ntp", q)
	}
	writeClock(t, path, "-3h unsynced")
	time.Sleep(150 * time.Millisecond)
	if d := time.Since(c.Now()); d < 3*time.Hour-time.Second || d > 3*time.Hour+time.Second {
		t.Fatalf("clock 3 h back reads %v behind", d)
	}
	if q := c.Quality(); q != contract.ClockUnsynced {
		t.Fatalf("quality %q", q)
	}
	writeClock(t, path, "garbage")
	time.Sleep(150 * time.Millisecond)
	if q := c.Quality(); q != contract.ClockUnsynced {
		t.Fatalf("a bad file changed the clock: %q", q)
	}
	if _, _, err := ParseClockFile(path); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestWatcherStepsAndSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	writeClock(t, path, "0s unsynced")
	var mu sync.Mutex
	var steps []Step
	var syncs []Sync
	w := &Watcher{Clock: &FileClock{Path: path}, Every: 50 * time.Millisecond, Threshold: time.Second,
		OnStep: func(_ context.Context, s Step) { mu.Lock(); steps = append(steps, s); mu.Unlock() },
		OnSync: func(_ context.Context, s Sync) { mu.Lock(); syncs = append(syncs, s); mu.Unlock() }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond)
	writeClock(t, path, "-3h unsynced")
	wait("a step back", func() bool { return len(steps) == 1 })
	writeClock(t, path, "2h unsynced")
	wait("a step forward", func() bool { return len(steps) == 2 })
	writeClock(t, path, "2h ntp")
	wait("the sync", func() bool { return len(syncs) == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := steps[0].Delta; d > -3*time.Hour+2*time.Second || d < -3*time.Hour-2*time.Second {
		t.Fatalf("first step %v, want about -3h", d)
	}
	if d := steps[1].Delta; d < 5*time.Hour-2*time.Second || d > 5*time.Hour+2*time.Second {
		t.Fatalf("second step %v, want about +5h", d)
	}
	if len(steps) != 2 || w.State().Steps != 2 || w.State().Quality != contract.ClockNTP {
		t.Fatalf("steps %v, state %+v", steps, w.State())
	}
}

// TestCorrectAfterSync: records made while the clock read 1970 are re-sealed, once the clock
// synchronises, with wall_corrected close to the time they were really made; the chain stays
// linked and the original wall time is kept.
func TestCorrectAfterSync(t *testing.T) {
	ctx := context.Background()
	ob, err := buffer.Open(ctx, filepath.Join(t.TempDir(), "outbox.db"), buffer.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	path := filepath.Join(t.TempDir(), "clock")
	epoch := -time.Since(time.Unix(600, 0)) // the clock reads 1970-01-01T00:10:00 now
	writeClock(t, path, epoch.String()+" unsynced")
	clk := &FileClock{Path: path}
	boot := BootID()
	mk := &Maker{Outbox: ob, Station: "S1", Lane: "L1", Version: "t", BootID: boot, Now: clk.Now, Clock: clk.Quality}
	var made []time.Time
	var msgs []buffer.Msg
	for i := range 4 {
		made = append(made, time.Now())
		m, err := mk.Commit(ctx, contract.KindEvent, contract.EventBody{Event: "x", Detail: string(rune('a' + i))}, false)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
		time.Sleep(100 * time.Millisecond)
	}
	// Sync: the clock is right now.
	writeClock(t, path, "0s ntp")
	time.Sleep(150 * time.Millisecond)
	s := Sync{Wall: clk.Now().UTC(), MonoMS: MonoMS(), Quality: contract.ClockNTP}
	ev, err := mk.Commit(ctx, contract.KindEvent, contract.EventBody{Event: contract.EventClockSync}, false)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ob.Reseal(ctx, msgs[0].Seq-1, MaxReseal, Correct(boot, s, ev.ID))
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 { // 4 corrected, and the sync event relinked
		t.Fatalf("%d records rewritten, want 5", n)
	}
	var prev []byte
	for i := int64(1); i <= ev.Seq; i++ {
		m, err := ob.BySeq(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		_, e, err := contract.Decode(m.Payload)
		if err != nil {
			t.Fatalf("seq %d no longer decodes: %v", i, err)
		}
		if e.PrevHash != hex.EncodeToString(prev) {
			t.Fatalf("seq %d: prev_hash does not link to seq %d", i, i-1)
		}
		sum := sha256.Sum256(m.Payload)
		prev = sum[:]
		if i == ev.Seq {
			if !e.Time.WallCorrected.IsZero() || e.ID != ev.ID {
				t.Fatalf("the sync event itself was corrected: %+v", e.Time)
			}
			continue
		}
		if e.Time.Wall.Year() != 1970 || e.Time.CorrectedBy != ev.ID {
			t.Fatalf("seq %d time %+v: want the 1970 wall kept and corrected_by %s", i, e.Time, ev.ID)
		}
		if d := e.Time.WallCorrected.Sub(made[i-1]); d < -time.Second || d > time.Second {
			t.Fatalf("seq %d corrected to %v, made at %v (off by %v)", i, e.Time.WallCorrected, made[i-1], d)
		}
	}
	var e contract.Envelope
	last, _ := ob.BySeq(ctx, ev.Seq)
	_ = json.Unmarshal(last.Payload, &e)
	next, err := mk.Commit(ctx, contract.KindEvent, contract.EventBody{Event: "after"}, false)
	if err != nil {
		t.Fatal(err)
	}
	_, ne, _ := contract.Decode(next.Payload)
	if ne.PrevHash != hex.EncodeToString(prev) {
		t.Fatal("the record after the correction does not chain onto the resealed sync event")
	}
}
