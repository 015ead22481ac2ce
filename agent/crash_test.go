package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"imagent/agent/internal/brokertest"
	"imagent/agent/platform"
	"imagent/buffer"
)

// agentProc is this test binary started as the imagent agent (see TestMain).
type agentProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

var committedRE = regexp.MustCompile(`^committed seq=(\d+) id=(\S+)$`)

// startAgent runs `imagent args...` as a child process and sends each committed id it
// prints to ids.
func startAgent(t *testing.T, ids chan<- string, args ...string) *agentProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "IMAGENT_AS_MAIN=1")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &agentProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := committedRE.FindStringSubmatch(sc.Text()); m != nil {
				ids <- m[2]
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
	}()
	return p
}

func (p *agentProc) signal(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
	<-p.done
}

// TestCrashLoop SIGKILLs the agent at random moments while it produces and syncs records,
// then lets it drain: every record it reported committed must reach the platform, the
// platform must hold every seq from 1 to the last exactly once, and a duplicate may only
// be a repeat of the same id.
func TestCrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop is long")
	}
	broker := brokertest.StartMosquitto(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	plat, err := platform.Open(ctx, platform.Options{Broker: broker.URL, ClientID: "crash-platform",
		DBPath: filepath.Join(t.TempDir(), "platform.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer plat.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = plat.Run(ctx) })

	data := t.TempDir()
	ids := make(chan string, 1<<16)
	committed := map[string]bool{}
	drain := func() {
		for {
			select {
			case id := <-ids:
				committed[id] = true
			default:
				return
			}
		}
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	const kills = 25
	for i := range kills {
		p := startAgent(t, ids, "soak", "--data", data, "--broker", broker.URL, "--interval", "5ms")
		// Random moments: some kills land in start-up, most while producing and syncing.
		time.Sleep(time.Duration(20+rng.IntN(800)) * time.Millisecond)
		p.signal(syscall.SIGKILL)
		drain()
		t.Logf("kill %d: %d records reported committed so far", i+1, len(committed))
	}
	// Let one last run commit a record and drain the backlog.
	p := startAgent(t, ids, "soak", "--data", data, "--broker", broker.URL, "--count", "1")
	deadline := time.Now().Add(90 * time.Second)
	var missing []string
	for {
		drain()
		missing = missing[:0]
		for id := range committed {
			if _, err := plat.Record(ctx, id); err != nil {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d committed records never reached the platform, e.g. %v", len(missing), len(committed), missing[:min(5, len(missing))])
	}
	// Wait until the outbox has nothing un-acked, then stop the agent cleanly.
	var lastSeq int64
	for {
		st, err := buffer.Inspect(ctx, filepath.Join(data, "outbox.db"))
		if err == nil && st.ByState[buffer.Pending]+st.ByState[buffer.Sent] == 0 {
			lastSeq = st.LastSeq
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds un-acked records: %+v, %v", st.ByState, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.signal(syscall.SIGTERM)

	recs, err := plat.Records(ctx, "SOAK01", "L1")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]string{}
	copies := 0
	for _, r := range recs {
		if other, ok := seen[r.Seq]; ok {
			t.Errorf("seq %d stored under two ids: %s and %s", r.Seq, other, r.ID)
		}
		seen[r.Seq] = r.ID
		copies += r.Copies - 1
	}
	for s := int64(1); s <= lastSeq; s++ {
		if _, ok := seen[s]; !ok {
			t.Errorf("seq %d missing at the platform", s)
		}
	}
	if int64(len(recs)) != lastSeq {
		t.Errorf("platform holds %d records, outbox's last seq is %d", len(recs), lastSeq)
	}
	problems, err := plat.VerifyChain(ctx, "SOAK01", "L1")
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("chain: %v", pr)
	}
	fmt.Fprintf(os.Stderr, "crash loop: %d SIGKILLs, %d records committed and reported, %d stored at the platform, %d duplicate copies (same id), 0 lost\n",
		kills, len(committed), len(recs), copies)
}
