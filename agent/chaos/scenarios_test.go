package chaos

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"imagent/agent/contract"
	"imagent/agent/internal/brokertest"
	"imagent/agent/platform"
)

// Scenario 1: the agent is SIGKILLed at random moments while it produces and syncs.
func TestChaos1SigkillLoop(t *testing.T) {
	broker := brokertest.StartMosquitto(t)
	p, _ := startPlatform(t, broker.URL, false)
	data := t.TempDir()
	tl := newTally()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := pick(25, 50) // issue 2 asks for at least 20 in CI
	for range kills {
		a := startAgent(t, tl, data, nil, "--broker", broker.URL, "--interval", "5ms", "--telemetry", "4")
		// Random moments: some kills land in start-up, most while producing and syncing.
		time.Sleep(time.Duration(20+rng.IntN(800)) * time.Millisecond)
		a.signal(syscall.SIGKILL)
	}
	end := time.Now()
	a := startAgent(t, tl, data, nil, "--broker", broker.URL, "--count", "1")
	settle(t, "1 sigkill loop", tl, p, data, end, 90*time.Second, text("kills=%d", kills))
	a.signal(syscall.SIGTERM)
}

// Scenario 2: the broker crashes (no persistence) or restarts cleanly (persistence on)
// several times while the agent produces.
func TestChaos2BrokerRestart(t *testing.T) {
	for _, persist := range []bool{false, true} {
		name := "2 broker killed"
		var opts []brokertest.MosquittoOption
		if persist {
			name = "2 broker restarted+persist"
			opts = append(opts, brokertest.WithPersistence())
		}
		t.Run(strings.TrimPrefix(name, "2 "), func(t *testing.T) {
			broker := brokertest.StartMosquitto(t, opts...)
			p, _ := startPlatform(t, broker.URL, false)
			data := t.TempDir()
			tl := newTally()
			count := pick(200, 2000)
			a := startAgent(t, tl, data, nil, "--broker", broker.URL, "--interval", "15ms", "--count", fmt.Sprint(count), "--telemetry", "5")
			outages := pick(3, 10)
			for range outages {
				time.Sleep(700 * time.Millisecond)
				if persist {
					broker.Stop()
				} else {
					broker.Kill()
				}
				time.Sleep(time.Duration(300+rand.IntN(1200)) * time.Millisecond)
				broker.Start()
			}
			a.waitProduced(2 * time.Minute)
			settle(t, name, tl, p, data, time.Now(), 90*time.Second, text("outages=%d", outages))
			a.signal(syscall.SIGTERM)
		})
	}
}

// Scenario 3: the link goes silent (packets held back, no FIN, no RST) while the agent is
// connected and producing; the keep-alive notices, and the agent reconnects when the link
// is back.
func TestChaos3SilentLinkLoss(t *testing.T) {
	broker := brokertest.StartMosquitto(t)
	px := startProxy(t, broker.Addr)
	p, _ := startPlatform(t, broker.URL, false) // the platform's own link is fine
	data := t.TempDir()
	tl := newTally()
	count := pick(250, 2500)
	a := startAgent(t, tl, data, nil, "--broker", "tcp://"+px.Addr, "--interval", "20ms", "--count", fmt.Sprint(count),
		"--keepalive", "2s", "--telemetry", "5")
	waitUntil(t, 20*time.Second, "the agent to connect", func() bool { return uplinkState(t, data).Connected })
	before := uplinkState(t, data).Epoch
	outages := pick(1, 4)
	for range outages {
		time.Sleep(time.Second)
		px.Silence()
		time.Sleep(pick(5*time.Second, 15*time.Second))
		px.Heal()
	}
	healed := time.Now()
	a.waitProduced(3 * time.Minute)
	settle(t, "3 silent link loss", tl, p, data, healed, 90*time.Second, text("outages=%d", outages))
	if after := uplinkState(t, data).Epoch; after <= before {
		t.Errorf("the agent never reconnected (epoch %d → %d): the silent link went unnoticed", before, after)
	}
	a.signal(syscall.SIGTERM)
}

// Scenario 5: the outbox fills up while the platform does not ack: on a small tmpfs with a
// quota, telemetry is evicted then refused, regulated records go on into the reserve until
// the disk itself is short, and everything drains once the platform acks again.
func TestChaos5DiskFullAtQuota(t *testing.T) {
	needRoot(t, "the disk-full scenario")
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	size := pick("8m", "24m")
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	broker := brokertest.StartMosquitto(t)
	p, _ := startPlatform(t, broker.URL, true) // not acking: the backlog grows
	tl := newTally()
	quota := pick("3", "10")
	a := startAgent(t, tl, dir, nil, "--broker", broker.URL, "--interval", "1ms", "--count", fmt.Sprint(pick(7000, 22000)),
		"--telemetry", "2", "--body-bytes", "2000", "--quota-mb", quota, "--min-free-mb", "1", "--maintain-every", "500ms",
		"--ack-timeout", "10s")
	a.waitProduced(4 * time.Minute)
	tl.mu.Lock()
	refused, failed := tl.refused, tl.failed
	tl.mu.Unlock()
	p.SetAcking(true)
	start := time.Now()
	o := settle(t, "5 disk full at quota", tl, p, dir, start, 2*time.Minute,
		text("refused=%d not-stored=%d tmpfs=%s quota=%sMB", refused, failed, size, quota))
	if refused == 0 {
		t.Errorf("no telemetry was ever refused: the quota was never reached")
	}
	if o.evicted == 0 || len(events(o.records, contract.EventOutboxEvicted)) == 0 {
		t.Errorf("no telemetry was evicted (or no outbox_evicted event)")
	}
	if len(events(o.records, contract.EventOutboxQuota)) == 0 {
		t.Errorf("no outbox_quota alarm event")
	}
	a.signal(syscall.SIGTERM)
}

// Scenario 6: the outbox file is damaged while the agent is down. At start it is
// quarantined and a new chain starts; the technician salvages the old file while the agent
// runs, and every record reaches the platform.
func TestChaos6CorruptDatabaseAtBoot(t *testing.T) {
	broker := brokertest.StartMosquitto(t)
	// No platform yet: nothing the agent sends now is stored anywhere but in its outbox.
	data := t.TempDir()
	tl := newTally()
	n := pick(200, 2000)
	a := startAgent(t, tl, data, nil, "--broker", broker.URL, "--interval", "2ms", "--count", fmt.Sprint(n), "--telemetry", "5")
	a.waitProduced(time.Minute)
	a.signal(syscall.SIGTERM) // a clean stop checkpoints everything into the main file
	path := filepath.Join(data, "outbox.db")
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatal("the WAL is still there after a clean stop")
	}
	// A torn write lands on the index the uplink reads the backlog with.
	page := rootPage(t, path, "records_state_seq")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := (page-1)*4096 + 8; i < page*4096; i++ {
		b[i] = byte(i * 13)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	p, _ := startPlatform(t, broker.URL, false)
	a = startAgent(t, tl, data, nil, "--broker", broker.URL, "--interval", "20ms", "--count", fmt.Sprint(pick(50, 500)))
	waitUntil(t, 20*time.Second, "the quarantine", func() bool {
		m, _ := filepath.Glob(path + ".corrupt-*")
		return len(m) > 0
	})
	moved, _ := filepath.Glob(path + ".corrupt-*[0-9]")
	if len(moved) != 1 {
		t.Fatalf("quarantined files %v", moved)
	}
	out, err := exec.Command(agentBin(t), "outbox", "salvage", "--data", data, moved[0]).CombinedOutput()
	if err != nil {
		t.Fatalf("salvage: %v\n%s", err, out)
	}
	salvaged := time.Now()
	a.waitProduced(time.Minute)
	o := settle(t, "6 corrupt db at boot", tl, p, data, salvaged, 90*time.Second, text("salvage: %s", firstLine(string(out))))
	if len(events(o.records, contract.EventOutboxQuarantined)) != 1 {
		t.Errorf("want one outbox_quarantined event")
	}
	a.signal(syscall.SIGTERM)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if i := strings.Index(s, ": read "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// Scenario 7: the agent's wall clock is stepped back, then forward, by hours; then it
// loses its synchronisation during a network outage and gets it back. Nothing is lost or
// reordered, the steps are recorded, and records made while unsynchronised are corrected.
// The host clock is never touched: the agent reads its wall clock through --clock-file.
func TestChaos7ClockSteps(t *testing.T) {
	broker := brokertest.StartMosquitto(t)
	p, _ := startPlatform(t, broker.URL, false)
	data := t.TempDir()
	clock := filepath.Join(t.TempDir(), "clock")
	set := func(line string) {
		t.Helper()
		if err := os.WriteFile(clock, []byte(line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set("0s ntp")
	tl := newTally()
	a := startAgent(t, tl, data, nil, "--broker", broker.URL, "--interval", "25ms", "--telemetry", "5",
		"--clock-file", clock, "--maintain-every", "1s", "--log", "info")
	waitUntil(t, 20*time.Second, "the agent to connect", func() bool { return uplinkState(t, data).Connected })
	hold := pick(1500*time.Millisecond, 5*time.Second)
	time.Sleep(hold)
	set("-3h ntp") // stepped back
	time.Sleep(hold)
	set("2h ntp") // stepped forward by 5 h
	time.Sleep(hold)
	set("0s ntp")
	time.Sleep(hold)
	// The network goes and the clock loses its synchronisation, reading 1970.
	broker.Kill()
	set(fmt.Sprintf("%s unsynced", -time.Since(time.Unix(3600, 0)).Round(time.Second)))
	time.Sleep(hold)
	lostSync := time.Now()
	time.Sleep(hold)
	set("0s ntp") // synchronised again, while still offline
	waitUntil(t, 20*time.Second, "the clock_sync event to be committed", func() bool {
		m, _ := exec.Command("grep", "-c", "records re-sealed", a.log).Output()
		return strings.TrimSpace(string(m)) != "0" && len(m) > 0
	})
	broker.Start()
	a.signal(syscall.SIGTERM)
	end := time.Now()
	a = startAgent(t, tl, data, nil, "--broker", broker.URL, "--count", "1", "--clock-file", clock)
	tl.mu.Lock()
	made := map[string]time.Time{}
	for id, r := range tl.recs {
		made[id] = r.at
	}
	tl.mu.Unlock()
	var steps, syncs []platform.Stored
	corrected := 0
	o := settle(t, "7 clock steps", tl, p, data, end, 90*time.Second, func(o outcome) string {
		steps, syncs = events(o.records, contract.EventClockStep), events(o.records, contract.EventClockSync)
		for _, r := range o.records {
			if !r.Envelope.Time.WallCorrected.IsZero() {
				corrected++
			}
		}
		return fmt.Sprintf("steps=%d syncs=%d corrected=%d", len(steps), len(syncs), corrected)
	})
	if len(steps) < 3 || len(syncs) != 1 {
		t.Errorf("%d clock_step and %d clock_sync events; want at least 3 steps (back, forward, back to 0, to 1970) and one sync",
			len(steps), len(syncs))
	}
	for _, r := range o.records {
		e := r.Envelope
		if e.Time.WallCorrected.IsZero() {
			// Synchronised when made, or published before the sync (the platform corrects
			// those from the clock_sync event).
			continue
		}
		if len(syncs) == 1 && e.Time.CorrectedBy != syncs[0].ID {
			t.Errorf("seq %d corrected by %s, want the clock_sync event %s", e.Seq, e.Time.CorrectedBy, syncs[0].ID)
		}
		if at, ok := made[e.ID]; ok {
			if d := e.Time.WallCorrected.Sub(at); d < -2*time.Second || d > 2*time.Second {
				t.Errorf("seq %d: wall_corrected %v, but it was made at %v", e.Seq, e.Time.WallCorrected, at)
			}
		}
		if e.Time.Wall.Year() != 1970 || e.Time.Clock != contract.ClockUnsynced {
			t.Errorf("seq %d: the original wall time %v (%s) was not kept", e.Seq, e.Time.Wall, e.Time.Clock)
		}
	}
	if corrected == 0 {
		t.Errorf("no record made while unsynchronised (after %v) was corrected", lostSync)
	}
	a.signal(syscall.SIGTERM)
}

// Scenario 8: the platform stores but never acks, for longer than the stall watchdog
// allows; then it starts acking. Resends make duplicates (counted), the watchdog restarts
// the uplink, nothing is lost.
func TestChaos8PlatformNeverAcks(t *testing.T) {
	broker := brokertest.StartMosquitto(t)
	p, _ := startPlatform(t, broker.URL, true)
	data := t.TempDir()
	tl := newTally()
	a := startAgent(t, tl, data, nil, "--broker", broker.URL, "--interval", "20ms", "--count", fmt.Sprint(pick(300, 3000)),
		"--ack-timeout", "3s", "--stall-after", "4s", "--telemetry", "5")
	time.Sleep(pick(9*time.Second, 60*time.Second))
	p.SetAcking(true)
	start := time.Now()
	a.waitProduced(3 * time.Minute)
	o := settle(t, "8 platform never acks", tl, p, data, start, 90*time.Second, func(outcome) string {
		return fmt.Sprintf("stalls=%d", uplinkState(t, data).Stalls)
	})
	ps := uplinkState(t, data)
	if ps.Stalls == 0 || len(events(o.records, contract.EventUplinkStalled)) == 0 {
		t.Errorf("the stall watchdog never restarted the uplink (stalls %d)", ps.Stalls)
	}
	if o.dups == 0 {
		t.Errorf("no duplicates although nothing was acked for several ack timeouts")
	}
	a.signal(syscall.SIGTERM)
}
