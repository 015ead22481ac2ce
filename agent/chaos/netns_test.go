package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"imagent/agent/internal/brokertest"
	"imagent/agent/platform"
)

// netns is a network namespace of the test's own, removed at cleanup. Nothing in the host
// namespace is touched.
type netns struct {
	name string
	t    *testing.T
}

func (n *netns) run(args ...string) {
	n.t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.name}, args...)...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("in netns %s: %s: %v\n%s", n.name, strings.Join(args, " "), err, out)
	}
}

func (n *netns) prefix() []string { return []string{"ip", "netns", "exec", n.name} }

// newLossyNetns makes a namespace whose loopback is a 64 kbit/s link (tbf) that drops 5 %
// of packets in each direction (nftables numgen), as toolchain.md §6 describes.
func newLossyNetns(t *testing.T) *netns {
	needRoot(t, "the slow lossy link")
	for _, tool := range []string{"ip", "tc", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found (apt-get install iproute2 nftables; .ci/run installs them): %v", tool, err)
		}
	}
	n := &netns{name: fmt.Sprintf("imchaos%d", rand.IntN(1e6)), t: t}
	if out, err := exec.Command("ip", "netns", "add", n.name).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.name).Run() })
	n.run("ip", "link", "set", "lo", "up")
	n.run("ip", "link", "set", "lo", "mtu", "1500") // tbf drops packets larger than its burst
	n.run("tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", "64kbit", "burst", "1600", "latency", "500ms")
	n.run("nft", "add", "table", "inet", "impair")
	n.run("nft", "add", "chain", "inet", "impair", "out", "{ type filter hook output priority 0; }")
	n.run("nft", "add", "rule", "inet", "impair", "out", "numgen", "random", "mod", "100", "lt", "5", "counter", "drop")
	return n
}

// startNetnsMosquitto runs mosquitto inside the namespace on 127.0.0.1:1883.
func startNetnsMosquitto(t *testing.T, n *netns) string {
	t.Helper()
	bin, err := brokertest.MosquittoPath()
	if err != nil {
		t.Skipf("%v", err)
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "mosquitto.log")
	conf := filepath.Join(dir, "mosquitto.conf")
	lines := []string{"user root", "listener 1883 127.0.0.1", "allow_anonymous true", "persistence false",
		"log_dest file " + logPath, "log_type error", "log_type warning", "log_type notice", "log_type information",
		"max_queued_messages 100000"}
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", n.name, bin, "-c", conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	waitUntil(t, 10*time.Second, "mosquitto in the namespace", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "listen socket on port 1883")
	})
	return "tcp://127.0.0.1:1883"
}

// Scenario 4: broker, platform and agent in a namespace whose link runs at 64 kbit/s and
// loses 5 % of the packets each way.
func TestChaos4SlowLossyLink(t *testing.T) {
	n := newLossyNetns(t)
	url := startNetnsMosquitto(t, n)
	bin := agentBin(t)
	dbPath := filepath.Join(t.TempDir(), "platform.db")
	plat := exec.Command("ip", "netns", "exec", n.name, bin, "platform", "--broker", url, "--db", dbPath, "--log", "warn")
	plat.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	platLog, _ := os.Create(filepath.Join(t.TempDir(), "platform.log"))
	plat.Stdout, plat.Stderr = platLog, platLog
	if err := plat.Start(); err != nil {
		t.Fatal(err)
	}
	platDone := make(chan struct{})
	go func() { _ = plat.Wait(); close(platDone) }()
	t.Cleanup(func() { _ = plat.Process.Kill(); <-platDone })
	// The test reads the platform's database beside the platform process.
	waitUntil(t, 10*time.Second, "the platform's database", func() bool { _, err := os.Stat(dbPath); return err == nil })
	p, err := platform.Open(context.Background(), platform.Options{DBPath: dbPath})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })

	data := t.TempDir()
	tl := newTally()
	// About twice what the link carries: a backlog builds up and has to drain through it.
	count := pick(80, 800)
	a := startAgent(t, tl, data, n.prefix(), "--broker", url, "--interval", "50ms", "--count", fmt.Sprint(count),
		"--body-bytes", "500", "--ack-timeout", "30s", "--keepalive", "30s", "--telemetry", "5")
	a.waitProduced(pick(2*time.Minute, 10*time.Minute))
	settle(t, "4 slow lossy link", tl, p, data, time.Now(), pick(3*time.Minute, 10*time.Minute), nftDrops(t, n))
	a.signal(syscall.SIGTERM)
}

// nftDrops reads how many packets the impairment dropped.
func nftDrops(t *testing.T, n *netns) func(outcome) string {
	return func(outcome) string {
		out, err := exec.Command("ip", "netns", "exec", n.name, "nft", "list", "chain", "inet", "impair", "out").CombinedOutput()
		if err != nil {
			return ""
		}
		for _, l := range strings.Split(string(out), "\n") {
			if i := strings.Index(l, "counter packets "); i >= 0 {
				f := strings.Fields(l[i+len("counter packets "):])
				if len(f) > 0 {
					return "link=64kbit/s loss=5% dropped_packets=" + f[0]
				}
			}
		}
		return ""
	}
}
