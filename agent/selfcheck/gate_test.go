package selfcheck

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"imagent/agent/contract"
	"imagent/buffer"
	"imagent/config"
)

// clocks is a box's clocks under the test's control.
type clocks struct {
	wall   time.Time
	synced bool
	boot   string
	mono   int64
}

func (c *clocks) advance(d time.Duration) {
	c.wall = c.wall.Add(d)
	c.mono += d.Milliseconds()
}

func newGate(t *testing.T, store Store, c *clocks, roles ...string) *Gate {
	return NewGate(GateOptions{Store: store, Params: config.DefaultParams(), Roles: roles, Required: true,
		Now: func() time.Time { return c.wall }, Synced: func() bool { return c.synced },
		BootID: c.boot, MonoMS: func() int64 { return c.mono }, Location: time.FixedZone("CST", 8*3600)})
}

func openStore(t *testing.T, path string) *buffer.Outbox {
	t.Helper()
	ob, err := buffer.Open(context.Background(), path, buffer.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	return ob
}

func TestGateRequiredFollowsInstrumentsAndParams(t *testing.T) {
	c := &clocks{wall: time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC), synced: true, boot: "b1"}
	g := newGate(t, openStore(t, filepath.Join(t.TempDir(), "o.db")), c, "analyzer", "dyno", "weather")
	got := g.Required()
	want := []string{contract.CheckAnalyzerLeak, contract.CheckGasLow, contract.CheckDynoCoastDown, contract.CheckWeather}
	if !slices.Equal(got, want) {
		t.Errorf("required %v, want %v", got, want)
	}
	g.o.Required = false
	if r := g.Required(); r != nil {
		t.Errorf("not required, but %v", r)
	}
	if locked, why := g.Lock(context.Background()); locked {
		t.Errorf("locked with self-checks off: %s", why)
	}
}

func TestGateToday(t *testing.T) {
	ctx := context.Background()
	cst := time.FixedZone("CST", 8*3600)
	morning := time.Date(2026, 3, 2, 7, 30, 0, 0, cst)
	for _, c := range []struct {
		name string
		// pass: the clocks when the check passed; then: how the clocks change before asking.
		pass func() *clocks
		then func(c *clocks)
		want bool // unlocked
	}{
		{"synced, same day", func() *clocks { return &clocks{wall: morning, synced: true, boot: "b1", mono: 1000} },
			func(c *clocks) { c.advance(8 * time.Hour) }, true},
		{"synced, next day", func() *clocks { return &clocks{wall: morning, synced: true, boot: "b1", mono: 1000} },
			func(c *clocks) { c.advance(17 * time.Hour) }, false},
		{"passed before midnight UTC but the same day in CST", func() *clocks {
			return &clocks{wall: time.Date(2026, 3, 1, 17, 0, 0, 0, time.UTC), synced: true, boot: "b1", mono: 5}
		}, func(c *clocks) { c.advance(10 * time.Hour) }, true},
		{"passed while unsynced (1970), clock set later the same boot", func() *clocks {
			return &clocks{wall: time.Unix(3600, 0), synced: false, boot: "b1", mono: 60_000}
		}, func(c *clocks) {
			c.mono += int64(2 * time.Hour / time.Millisecond)
			c.wall, c.synced = morning.Add(2*time.Hour), true // NTP: the pass was at 07:30 today
		}, true},
		{"passed while unsynced, clock set the same boot but the pass was yesterday", func() *clocks {
			return &clocks{wall: time.Unix(3600, 0), synced: false, boot: "b1", mono: 60_000}
		}, func(c *clocks) {
			c.mono += int64(10 * time.Hour / time.Millisecond)
			c.wall, c.synced = morning.Add(2*time.Hour), true // 09:30 now, pass at 23:30 yesterday
		}, false},
		{"unsynced now, same boot, within the hours", func() *clocks { return &clocks{wall: time.Unix(0, 0), boot: "b1", mono: 10} },
			func(c *clocks) { c.advance(5 * time.Hour) }, true},
		{"unsynced now, same boot, too long ago", func() *clocks { return &clocks{wall: time.Unix(0, 0), boot: "b1", mono: 10} },
			func(c *clocks) { c.advance(25 * time.Hour) }, false},
		{"unsynced after a reboot", func() *clocks { return &clocks{wall: morning, synced: true, boot: "b1", mono: 10} },
			func(c *clocks) { c.boot, c.mono, c.synced, c.wall = "b2", 5, false, time.Unix(0, 0) }, false},
		{"synced after a reboot, pass was synced and today", func() *clocks { return &clocks{wall: morning, synced: true, boot: "b1", mono: 10} },
			func(c *clocks) { c.boot, c.mono, c.wall = "b2", 5, morning.Add(time.Hour) }, true},
		{"synced after a reboot, pass was unsynced", func() *clocks { return &clocks{wall: morning, synced: false, boot: "b1", mono: 10} },
			func(c *clocks) { c.boot, c.mono, c.synced, c.wall = "b2", 5, true, morning.Add(time.Hour) }, false},
		{"synced after a reboot, pass dated in the future", func() *clocks { return &clocks{wall: morning.Add(3 * time.Hour), synced: true, boot: "b1", mono: 10} },
			func(c *clocks) { c.boot, c.mono, c.wall = "b2", 5, morning.Add(time.Hour) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.db")
			clk := c.pass()
			g := newGate(t, openStore(t, path), clk, "analyzer")
			for _, chk := range g.Required() {
				if err := g.Passed(ctx, chk, "rec-"+chk); err != nil {
					t.Fatal(err)
				}
			}
			if locked, why := g.Lock(ctx); locked {
				t.Fatalf("locked right after the checks passed: %s", why)
			}
			c.then(clk)
			// A new gate on the same file: the passes survive a restart of the agent.
			g2 := newGate(t, openStore(t, filepath.Join(filepath.Dir(path), "outbox.db")), clk, "analyzer")
			locked, why := g2.Lock(ctx)
			if locked == c.want {
				t.Errorf("locked=%v (%s), want unlocked=%v", locked, why, c.want)
			}
		})
	}
}

func TestGateLocksUntilEveryRequiredCheckPassed(t *testing.T) {
	ctx := context.Background()
	c := &clocks{wall: time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC), synced: true, boot: "b1", mono: 1}
	g := newGate(t, openStore(t, filepath.Join(t.TempDir(), "o.db")), c, "analyzer", "weather")
	locked, why := g.Lock(ctx)
	if !locked || why == "" {
		t.Fatal("a lane without today's checks must be locked")
	}
	for _, chk := range []string{contract.CheckAnalyzerLeak, contract.CheckGasLow} {
		if err := g.Passed(ctx, chk, "r"); err != nil {
			t.Fatal(err)
		}
	}
	if m, _ := g.Missing(ctx); !slices.Equal(m, []string{contract.CheckWeather}) {
		t.Errorf("missing %v, want the weather check", m)
	}
	if err := g.Passed(ctx, contract.CheckWeather, "r"); err != nil {
		t.Fatal(err)
	}
	if locked, why := g.Lock(ctx); locked {
		t.Errorf("still locked: %s", why)
	}
}
