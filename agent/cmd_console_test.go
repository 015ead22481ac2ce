package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"imagent/config"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/gas/nanhua/nanhuasim"
	"imagent/drivers/simport"
)

func runCLI(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(ctx, args, &out, &errOut)
	return out.String() + errOut.String(), err
}

// TestCheckAndRecordsCLI: with the agent running (a simulated lane), `check run` asks it
// over its socket; `records list|show|export` read the outbox beside it.
func TestCheckAndRecordsCLI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log, _ := newLogger(os.Stderr, "error")
	lane, err := startSimLane(ctx, simLaneOpts{dir: t.TempDir(), listen: "127.0.0.1:0", speed: 20, log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer lane.close()
	if lane.consoleAddr(ctx) == "" {
		t.Fatal("console not up")
	}
	waitReady(ctx, lane.runtime().devices[0], 20*time.Second) //nolint:errcheck // checked by the check below
	out, err := runCLI(t, ctx, "check", "run", "--config", lane.cfgPath)
	if err != nil || !strings.Contains(out, "analyzer_leak on analyzer: PASS") || !strings.Contains(out, "in the agent") {
		t.Fatalf("check run: %v\n%s", err, out)
	}
	seq := regexp.MustCompile(`record seq (\d+), id (\S+)`).FindStringSubmatch(out)
	if seq == nil {
		t.Fatalf("no record in %q", out)
	}
	out, err = runCLI(t, ctx, "records", "list", "--config", lane.cfgPath, "--kind", "check")
	if err != nil || !strings.Contains(out, seq[2]) || !strings.Contains(out, "analyzer_leak analyzer") || !strings.Contains(out, "pass") {
		t.Fatalf("records list: %v\n%s", err, out)
	}
	out, err = runCLI(t, ctx, "records", "show", "--config", lane.cfgPath, seq[1])
	if err != nil || !strings.Contains(out, `"check": "analyzer_leak"`) || !strings.Contains(out, "id         "+seq[2]) {
		t.Fatalf("records show: %v\n%s", err, out)
	}
	out, err = runCLI(t, ctx, "records", "show", "--config", lane.cfgPath, "--raw", seq[2])
	if err != nil || !json.Valid([]byte(out)) {
		t.Fatalf("records show --raw: %v\n%s", err, out)
	}
	file := filepath.Join(t.TempDir(), "checks.json")
	if out, err := runCLI(t, ctx, "records", "export", "--data", filepath.Join(filepath.Dir(lane.cfgPath), "agent"), "--kind", "check", "--out", file); err != nil {
		t.Fatalf("records export: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(file)
	var arr []map[string]any
	if err := json.Unmarshal(b, &arr); err != nil || len(arr) != 1 || arr[0]["id"] != seq[2] {
		t.Fatalf("export file: %v %s", err, b)
	}
	out, err = runCLI(t, ctx, "records", "export", "--config", lane.cfgPath, "--format", "csv", "--kind", "check")
	if err != nil || !strings.HasPrefix(out, "seq,id,kind") || !strings.Contains(out, seq[2]) {
		t.Fatalf("records export csv: %v\n%s", err, out)
	}
	if _, err := runCLI(t, ctx, "records", "show", "--config", lane.cfgPath, "no-such-record"); err == nil {
		t.Error("show of a missing record succeeded")
	}
}

// TestCheckRunStandalone: with no agent running, `check run` opens the device itself and
// stores the record in the outbox for the next upload.
func TestCheckRunStandalone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pty, err := simport.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	sim := nanhuasim.New(nanhuasim.Options{Model: nanhua.NHA503, LeakTime: 300 * time.Millisecond, Leak: true})
	sctx, scancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = sim.Serve(sctx, pty.Master); close(done) }()
	defer func() { scancel(); <-done }()
	dir := t.TempDir()
	path := writeConfig(t, dir, pty.SlavePath, "tcp://127.0.0.1:1")
	out, err := runCLI(t, ctx, "check", "run", "--config", path)
	if err != nil || !strings.Contains(out, "no agent is running") || !strings.Contains(out, "analyzer_leak on analyzer: FAIL") {
		t.Fatalf("check run: %v\n%s", err, out)
	}
	out, err = runCLI(t, ctx, "records", "list", "--config", path)
	if err != nil || !strings.Contains(out, "analyzer_leak analyzer") || !strings.Contains(out, "fail") || !strings.Contains(out, "pending") {
		t.Fatalf("records list: %v\n%s", err, out)
	}
}

// writeConfig writes a station configuration for one NHA-503 on port.
func writeConfig(t *testing.T, dir, port, broker string) string {
	t.Helper()
	text := string(config.DefaultTOML())
	for _, r := range [][2]string{
		{`data_dir = "/var/lib/imagent"`, `data_dir = ` + strconv.Quote(filepath.Join(dir, "agent"))},
		{`port = "sim:nanhua"`, `port = ` + strconv.Quote(port)},
		{`broker = "tcp://127.0.0.1:1883"`, `broker = ` + strconv.Quote(broker)},
		{`poll = "500ms"`, `poll = "100ms"`},
		{`listen = "127.0.0.1:8080"`, `listen = "127.0.0.1:0"`},
	} {
		text = strings.Replace(text, r[0], r[1], 1)
	}
	path := filepath.Join(dir, "imagent.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigApplyRestartsAgent runs `imagent run` as a real process, applies a new
// configuration with `imagent config apply`, and checks that the agent restarted itself on
// it (same process, new settings), then rolls it back the same way.
func TestConfigApplyRestartsAgent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log, _ := newLogger(os.Stderr, "error")
	broker, url, err := startMochi(log)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	pty, err := simport.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	sim := nanhuasim.New(nanhuasim.Options{Model: nanhua.NHA503})
	sctx, scancel := context.WithCancel(ctx)
	simDone := make(chan struct{})
	go func() { _ = sim.Serve(sctx, pty.Master); close(simDone) }()
	defer func() { scancel(); <-simDone }()

	dir := t.TempDir()
	path := writeConfig(t, dir, pty.SlavePath, url)
	cmd := exec.Command(os.Args[0], "run", "--config", path)
	cmd.Env = append(os.Environ(), "IMAGENT_AS_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()

	ac := newAgentClient(filepath.Join(dir, "agent"))
	// lane waits until the agent answers on its socket with want as its lane (a restart
	// takes a moment: the old process answers until it stops).
	lane := func(want string) string {
		var st struct {
			Lane    string `json:"lane"`
			Devices []struct {
				State string `json:"state"`
			} `json:"devices"`
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case err := <-exited:
				t.Fatalf("the agent exited: %v\n%s", err, stderr.String())
			default:
			}
			if err := ac.call(ctx, http.MethodGet, "/api/status", nil, &st); err == nil && len(st.Devices) == 1 && st.Devices[0].State == "ok" && st.Lane == want {
				return st.Lane
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("the agent did not answer on its socket with lane %s (last: %q)\n%s", want, st.Lane, stderr.String())
		return ""
	}
	lane("L1")
	orig, _ := os.ReadFile(path)
	next := filepath.Join(t.TempDir(), "new.toml")
	if err := os.WriteFile(next, []byte(strings.Replace(string(orig), `lane = "L1"`, `lane = "L2"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(orig), `lane = "L1"`, `lane = "L/2"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, ctx, "config", "apply", "--config", path, bad); err == nil || !strings.Contains(out+err.Error(), "station.lane") {
		t.Fatalf("apply of an invalid file: %v\n%s", err, out)
	}
	pid := cmd.Process.Pid
	if out, err := runCLI(t, ctx, "config", "apply", "--config", path, next); err != nil || !strings.Contains(out, ".prev") {
		t.Fatalf("config apply: %v\n%s", err, out)
	}
	lane("L2")
	if cmd.Process.Pid != pid {
		t.Fatal("pid changed")
	}
	if prev, _ := os.ReadFile(path + ".prev"); string(prev) != string(orig) {
		t.Error("previous version not kept")
	}
	if out, err := runCLI(t, ctx, "config", "rollback", "--config", path); err != nil {
		t.Fatalf("config rollback: %v\n%s", err, out)
	}
	lane("L1")
	if !strings.Contains(stderr.String(), "restarting on the applied configuration") {
		t.Errorf("the agent did not log its restarts:\n%s", stderr.String())
	}
}

func TestConsolePasswd(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { w.WriteString("a good long password\n"); w.Close() }()
	var out, errOut bytes.Buffer
	if err := cmdConsolePasswd([]string{"--iterations", "100000"}, r, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(out.String())
	m := regexp.MustCompile(`^password_hash = "(\$pbkdf2-sha256\$i=100000\$[^"]+)"$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("output %q", line)
	}
	c, err := config.Parse("c.toml", append(config.DefaultTOML(), []byte(line+"\n")...), config.LoadOpts{})
	if err != nil || c.Console.PasswordHash != m[1] {
		t.Fatalf("the printed line does not load: %v", err)
	}
	r2, w2, _ := os.Pipe()
	go func() { w2.WriteString("short\n"); w2.Close() }()
	if err := cmdConsolePasswd(nil, r2, &out, &errOut); err == nil {
		t.Error("a short password was hashed")
	}
}

// TestSerialProber: the console's prober (probePort, one reading per protocol) finds the
// NHA-503 simulator on a pty and nothing else there.
func TestSerialProber(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pty, err := simport.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	sim := nanhuasim.New(nanhuasim.Options{Model: nanhua.NHA503})
	sctx, scancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = sim.Serve(sctx, pty.Master); close(done) }()
	defer func() { scancel(); <-done }()
	p := serialProber{timeout: 400 * time.Millisecond}
	res, err := p.Probe(ctx, pty.SlavePath)
	if err != nil || len(res) == 0 {
		t.Fatalf("probe: %v %+v", err, res)
	}
	var found []string
	for _, r := range res {
		if r.Found {
			found = append(found, r.Protocol)
		}
	}
	if len(found) != 1 || found[0] != "gas/nanhua" || res[0].Values["o2_pct"] == 0 {
		t.Fatalf("found %v in %+v", found, res)
	}
	if _, err := p.Probe(ctx, "/dev/serial/by-id/no-such-port"); err == nil {
		t.Error("probe of a missing port succeeded")
	}
}

// TestConsolePortBusy: a console that cannot listen is logged and left out; the agent runs.
func TestConsolePortBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log, _ := newLogger(io.Discard, "error")
	lane, err := startSimLane(ctx, simLaneOpts{dir: t.TempDir(), listen: ln.Addr().String(), speed: 10, log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer lane.close()
	if a := lane.consoleAddr(ctx); a != "" {
		t.Fatalf("console listening on %s, which is taken", a)
	}
	if err := waitReady(ctx, lane.runtime().devices[0], 20*time.Second); err != nil {
		t.Fatalf("the agent does not run without its console: %v", err)
	}
	// The trusted socket still serves the CLI.
	var st struct {
		Station string `json:"station"`
	}
	if err := newAgentClient(filepath.Join(filepath.Dir(lane.cfgPath), "agent")).call(ctx, http.MethodGet, "/api/status", nil, &st); err != nil || st.Station != "DEMO01" {
		t.Fatalf("socket: %v %+v", err, st)
	}
}
