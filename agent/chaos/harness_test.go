package chaos

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"imagent/agent/contract"
	"imagent/agent/platform"
	"imagent/agent/uplink"
	"imagent/buffer"
)

// long is set by `make chaos`: more kills, longer outages, more records.
var long = os.Getenv("CHAOS_LONG") == "1"

// pick returns the bounded or the long value.
func pick[T any](bounded, longer T) T {
	if long {
		return longer
	}
	return bounded
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// agentBin builds the imagent binary once per test run, with this test binary's build tags
// (so go-sqlite3's C object comes from the build cache).
func agentBin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "imagent-chaos-")
		if buildErr != nil {
			return
		}
		tags := ""
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "-tags" {
					tags = s.Value
				}
			}
		}
		binPath = filepath.Join(buildDir, "imagent")
		args := []string{"build", "-o", binPath}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		cmd := exec.Command("go", append(args, "imagent/agent")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build imagent/agent: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// rec is one record the agent reported committed.
type rec struct {
	seq  int64
	kind string
	at   time.Time // when the test read the line
}

// tally collects what every run of the agent in a scenario reported.
type tally struct {
	mu      sync.Mutex
	recs    map[string]rec
	refused int
	failed  int
}

func newTally() *tally { return &tally{recs: map[string]rec{}} }

var lineRE = regexp.MustCompile(`^committed seq=(\d+) id=(\S+) kind=(\S+)$`)

// agent is one imagent child process.
type agent struct {
	t        testing.TB
	cmd      *exec.Cmd
	done     chan struct{}
	produced chan struct{} // closed when it says it has produced everything
	log      string
}

// startAgent runs `imagent soak --data dir args...` (wrapped by prefix, e.g. ip netns exec)
// and feeds its committed lines into tl.
func startAgent(t testing.TB, tl *tally, dir string, prefix []string, args ...string) *agent {
	t.Helper()
	bin := agentBin(t)
	full := append(append(append([]string{}, prefix...), bin, "soak", "--data", dir), args...)
	cmd := exec.Command(full[0], full[1:]...)
	logPath := filepath.Join(t.TempDir(), "agent.log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &agent{t: t, cmd: cmd, done: make(chan struct{}), produced: make(chan struct{}), log: logPath}
	go func() { // owned by the process: ends when its stdout closes
		defer close(a.done)
		defer lf.Close()
		sc := bufio.NewScanner(out)
		produced := false
		for sc.Scan() {
			line := sc.Text()
			if m := lineRE.FindStringSubmatch(line); m != nil {
				seq, _ := strconv.ParseInt(m[1], 10, 64)
				tl.mu.Lock()
				tl.recs[m[2]] = rec{seq: seq, kind: m[3], at: time.Now()}
				tl.mu.Unlock()
				continue
			}
			switch {
			case strings.HasPrefix(line, "refused "):
				tl.mu.Lock()
				tl.refused++
				tl.mu.Unlock()
			case strings.HasPrefix(line, "failed "):
				tl.mu.Lock()
				tl.failed++
				tl.mu.Unlock()
			case strings.HasPrefix(line, "produced") && !produced:
				produced = true
				close(a.produced)
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		a.signal(syscall.SIGKILL)
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("agent log (tail):\n%s", b)
		}
	})
	return a
}

// signal sends sig and waits for the process to end.
func (a *agent) signal(sig syscall.Signal) {
	select {
	case <-a.done:
		return
	default:
	}
	_ = a.cmd.Process.Signal(sig)
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
		a.t.Errorf("agent ignored %v for 20 s", sig)
	}
}

// waitProduced waits until the agent says it produced all its records.
func (a *agent) waitProduced(d time.Duration) {
	a.t.Helper()
	select {
	case <-a.produced:
	case <-a.done:
		a.t.Fatalf("agent exited before producing everything")
	case <-time.After(d):
		a.t.Fatalf("agent did not finish producing within %v", d)
	}
}

// startPlatform runs the reference platform in this process until the test ends.
func startPlatform(t testing.TB, broker string, noAck bool) (*platform.Platform, string) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "platform.db")
	p, err := platform.Open(context.Background(), platform.Options{Broker: broker, DBPath: db, NoAck: noAck,
		Logger: slog.New(slog.DiscardHandler), ClientID: "chaos-platform"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = p.Close() })
	return p, db
}

func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// outcome is what settle found.
type outcome struct {
	produced, delivered, lost, dups, evicted int
	drain                                    time.Duration
	records                                  []platform.Stored
	problems                                 []platform.ChainProblem
}

// settle waits (up to max) until every committed record is at the platform or accounted
// for as evicted telemetry and the agent's outbox holds nothing un-acked, then checks the
// platform's records and chain and prints the scenario's figure line. from is when the
// fault (or production) ended: drain time is measured from there.
func settle(t *testing.T, name string, tl *tally, p *platform.Platform, dataDir string, from time.Time, max time.Duration,
	detail func(outcome) string) outcome {
	t.Helper()
	ctx := context.Background()
	outbox := filepath.Join(dataDir, "outbox.db")
	var o outcome
	deadline := time.Now().Add(max)
	for {
		o = measure(t, tl, p)
		unacked := int64(-1)
		if st, err := buffer.Inspect(ctx, outbox); err == nil {
			unacked = st.ByState[buffer.Pending] + st.ByState[buffer.Sent]
		}
		if o.lost == 0 && unacked == 0 {
			o.drain = time.Since(from)
			break
		}
		if time.Now().After(deadline) {
			o.drain = time.Since(from)
			t.Errorf("%s: after %v: %d committed records missing at the platform, %d un-acked in the outbox", name, max, o.lost, unacked)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Every seq at most once, and only explained breaks in the chain.
	seen := map[int64]string{}
	for _, r := range o.records {
		if other, ok := seen[r.Seq]; ok {
			t.Errorf("%s: seq %d stored under two ids: %s and %s", name, r.Seq, other, r.ID)
		}
		seen[r.Seq] = r.ID
	}
	for _, pr := range o.problems {
		if !pr.Explained() {
			t.Errorf("%s: chain: %v", name, pr)
		}
	}
	extra := ""
	if detail != nil {
		extra = detail(o)
	}
	if o.evicted > 0 {
		extra = fmt.Sprintf("evicted=%d %s", o.evicted, extra)
	}
	if extra != "" {
		extra = " " + strings.TrimSpace(extra)
	}
	figure(fmt.Sprintf("chaos: %-26s produced=%d delivered=%d lost=%d duplicates=%d drain=%.1fs%s",
		name, o.produced, o.delivered, o.lost, o.dups, o.drain.Seconds(), extra))
	if o.lost != 0 {
		t.Errorf("%s: %d records lost", name, o.lost)
	}
	if o.produced == 0 {
		t.Errorf("%s: nothing was produced; the scenario proved nothing", name)
	}
	return o
}

// figure prints one figure line to stderr and, when $CHAOS_FIGURES names a file, appends it
// there too (go test shows a passing package's output only with -v; make test prints the
// file).
func figure(line string) {
	fmt.Fprintln(os.Stderr, line)
	if path := os.Getenv("CHAOS_FIGURES"); path != "" {
		if f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
}

// text is a fixed detail for the figure line.
func text(format string, args ...any) func(outcome) string {
	return func(outcome) string { return fmt.Sprintf(format, args...) }
}

// measure compares what the agent committed with what the platform holds.
func measure(t *testing.T, tl *tally, p *platform.Platform) outcome {
	t.Helper()
	ctx := context.Background()
	recs, err := p.Records(ctx, "SOAK01", "L1")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	var o outcome
	for _, r := range recs {
		have[r.ID] = true
		o.dups += r.Copies - 1
	}
	o.records = recs
	o.problems, err = p.VerifyChain(ctx, "SOAK01", "L1")
	if err != nil {
		t.Fatal(err)
	}
	ev := evictedRanges(recs)
	tl.mu.Lock()
	defer tl.mu.Unlock()
	o.produced = len(tl.recs)
	for id, r := range tl.recs {
		switch {
		case have[id]:
			o.delivered++
		case r.kind == contract.KindTelemetry && ev.take(r.seq):
			o.evicted++
		default:
			o.lost++
		}
	}
	return o
}

type evRange struct{ from, to, count int64 }
type evSet []evRange

// take accounts one missing telemetry seq to an eviction event that covers it.
func (s evSet) take(seq int64) bool {
	for i := range s {
		if seq >= s[i].from && seq <= s[i].to && s[i].count > 0 {
			s[i].count--
			return true
		}
	}
	return false
}

func evictedRanges(recs []platform.Stored) evSet {
	var out evSet
	for _, r := range recs {
		if r.Kind != contract.KindEvent {
			continue
		}
		var b contract.EventBody
		if json.Unmarshal(r.Envelope.Body, &b) != nil || b.Event != contract.EventOutboxEvicted {
			continue
		}
		from, _ := strconv.ParseInt(b.Attrs["from_seq"], 10, 64)
		to, _ := strconv.ParseInt(b.Attrs["to_seq"], 10, 64)
		n, _ := strconv.ParseInt(b.Attrs["count"], 10, 64)
		out = append(out, evRange{from, to, n})
	}
	return out
}

// events returns the agent's event records of one kind at the platform.
func events(recs []platform.Stored, name string) []platform.Stored {
	var out []platform.Stored
	for _, r := range recs {
		var b contract.EventBody
		if r.Kind == contract.KindEvent && json.Unmarshal(r.Envelope.Body, &b) == nil && b.Event == name {
			out = append(out, r)
		}
	}
	return out
}

// uplinkState reads what the agent's uplink persisted in its outbox.
func uplinkState(t *testing.T, dataDir string) uplink.PersistedState {
	t.Helper()
	path := filepath.Join(dataDir, "outbox.db")
	if _, err := os.Stat(path); err != nil {
		return uplink.PersistedState{} // not made yet
	}
	m, err := buffer.InspectMeta(context.Background(), path, "uplink.")
	if err != nil {
		t.Fatal(err)
	}
	var ps uplink.PersistedState
	if v, ok := m[uplink.MetaStateKey]; ok {
		_ = json.Unmarshal([]byte(v), &ps)
	}
	if v, ok := m["uplink.epoch"]; ok {
		ps.Epoch, _ = strconv.ParseInt(v, 10, 64)
	}
	return ps
}

// rootPage returns the root page of a table or index of a closed SQLite file.
func rootPage(t *testing.T, path, name string) int64 {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(`SELECT rootpage FROM sqlite_master WHERE name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func needRoot(t *testing.T, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("%s needs root (mount, network namespaces); run the suite as root, as CI does", what)
	}
}
