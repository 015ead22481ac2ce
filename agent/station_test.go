package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"imagent/agent/station"
	"imagent/config"
	"imagent/drivers/simport"
)

// simSlot is one simulator on a pseudo-terminal behind a stable symlink.
type simSlot struct {
	proto  protocol
	model  string
	link   string
	pty    *simport.PTY
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *simSlot) start(t *testing.T) {
	t.Helper()
	pty, err := simport.Open()
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(s.link)
	if err := os.Symlink(pty.SlavePath, s.link); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.pty, s.cancel, s.done = pty, cancel, make(chan struct{})
	go func() { defer close(s.done); _ = s.proto.sim(simSpec{Model: s.model, Seed: 3})(ctx, pty.Master) }()
}

// stop kills the simulator and closes its pty, as when an instrument's USB adapter is
// pulled: the slave path disappears.
func (s *simSlot) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
	s.pty.Close()
	s.cancel = nil
}

// TestWholeStation runs a lane from one configuration file on five simulators over
// pseudo-terminals. Closing any one pty must be reported within 3 s while the other
// devices keep sampling, and the device must recover when its simulator returns.
func TestWholeStation(t *testing.T) {
	dir := t.TempDir()
	tmpl, err := os.ReadFile("../testdata/station/whole-station.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "station.toml")
	if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(string(tmpl), "@DIR@", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath, config.LoadOpts{Protocols: protocolNames()})
	if err != nil {
		t.Fatal(err)
	}
	slots := map[string]*simSlot{}
	for _, d := range cfg.Devices {
		p, ok := lookupProtocol(d.Protocol)
		if !ok {
			t.Fatalf("no protocol %s", d.Protocol)
		}
		s := &simSlot{proto: p, model: d.Model, link: d.Port}
		s.start(t)
		slots[d.Name] = s
	}
	t.Cleanup(func() {
		for _, s := range slots {
			s.stop()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	rt, err := newRuntime(ctx, cfg, slog.New(slog.DiscardHandler), runtimeOpts{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = rt.run(ctx) })
	defer func() { cancel(); wg.Wait(); rt.close() }()

	byName := map[string]*station.Device{}
	for _, d := range rt.devices {
		byName[d.Spec().Name] = d
	}
	waitAll := func(what string, names []string, cond func(station.Snapshot) bool, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for _, n := range names {
			for !cond(byName[n].Snapshot()) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: %s did not get there within %v: %+v", what, n, within, byName[n].Snapshot())
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	sampling := func(s station.Snapshot) bool {
		return (s.State == station.StateOK || s.State == station.StateWarmup) && time.Since(s.LastFrame) < 2*time.Second
	}
	names := []string{"analyzer", "opacimeter", "dyno", "tachometer", "weather"}
	waitAll("start", names, sampling, 15*time.Second)

	for _, victim := range names {
		others := make([]string, 0, len(names)-1)
		before := map[string]time.Time{}
		for _, n := range names {
			if n != victim {
				others = append(others, n)
				before[n] = byName[n].Snapshot().LastFrame
			}
		}
		slots[victim].stop()
		lost := time.Now()
		// Reported within 3 s: the device leaves the sampling states.
		waitAll("loss of "+victim, []string{victim}, func(s station.Snapshot) bool {
			return s.State == station.StateError || s.State == station.StateAbsent
		}, 3*time.Second)
		t.Logf("%s: loss reported after %v", victim, time.Since(lost).Round(time.Millisecond))
		// The others keep sampling meanwhile: each brings a newer frame while the victim
		// is still gone.
		for _, n := range others {
			waitAll("others during loss of "+victim, []string{n}, func(s station.Snapshot) bool {
				return sampling(s) && s.LastFrame.After(before[n])
			}, 3*time.Second)
		}
		if s := byName[victim].Snapshot(); s.State == station.StateOK {
			t.Fatalf("%s reads ok while its simulator is gone", victim)
		}
		// The device recovers when its simulator returns on the same stable path.
		slots[victim].start(t)
		back := time.Now()
		waitAll("recovery of "+victim, []string{victim}, sampling, 15*time.Second)
		t.Logf("%s: recovered %v after its port returned", victim, time.Since(back).Round(time.Millisecond))
	}
}
