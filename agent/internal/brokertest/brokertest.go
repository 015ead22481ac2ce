// Package brokertest runs real MQTT brokers for tests: Mosquitto (Debian's binary) as a child
// process, and mochi-mqtt in-process. Both listen on 127.0.0.1 on a port chosen at start and
// keep it across Stop/Start, so a test can take the broker away and bring it back while the
// clients under test keep dialling the same address. Everything is cleaned up by t.Cleanup.
//
// The methods call t.Fatal on failure, so call them from the test's own goroutine.
package brokertest

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// startTimeout bounds how long a broker may take to accept connections.
const startTimeout = 10 * time.Second

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	return addr
}

// MosquittoPath returns the mosquitto binary, looked up on PATH and then in /usr/sbin (where
// Debian installs it, often not on a non-root PATH).
func MosquittoPath() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	const deb = "/usr/sbin/mosquitto"
	if _, err := os.Stat(deb); err != nil {
		return "", fmt.Errorf("brokertest: mosquitto not found on PATH or at %s: %w", deb, err)
	}
	return deb, nil
}

// MosquittoOption changes the broker's configuration.
type MosquittoOption func(*mosqConf)

type mosqConf struct {
	persistence bool
	tls         bool
	extra       []string
}

// WithPersistence turns on mosquitto's persistence (saved on a clean Stop, not on Kill), in a
// directory of the test's own.
func WithPersistence() MosquittoOption { return func(c *mosqConf) { c.persistence = true } }

// WithConfig appends raw lines to the configuration file.
func WithConfig(lines ...string) MosquittoOption {
	return func(c *mosqConf) { c.extra = append(c.extra, lines...) }
}

// Mosquitto is a mosquitto child process.
type Mosquitto struct {
	Addr string // 127.0.0.1:port
	URL  string // tcp://127.0.0.1:port

	t       testing.TB
	bin     string
	conf    string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// StartMosquitto writes a configuration for this test (log to a file, anonymous access,
// persistence off unless WithPersistence), starts the broker and waits until its port
// accepts connections. It skips the test when mosquitto is not installed.
func StartMosquitto(t testing.TB, opts ...MosquittoOption) *Mosquitto {
	t.Helper()
	bin, err := MosquittoPath()
	if err != nil {
		t.Skipf("%v; .ci/run installs it (apt-get install mosquitto)", err)
	}
	var c mosqConf
	for _, o := range opts {
		o(&c)
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	scheme := "tcp://"
	if c.tls {
		scheme = "ssl://"
	}
	m := &Mosquitto{
		Addr: addr, URL: scheme + addr, t: t, bin: bin,
		conf: filepath.Join(dir, "mosquitto.conf"), logPath: filepath.Join(dir, "mosquitto.log"),
	}
	// Started as root, mosquitto drops to user "mosquitto", which cannot write into a 0700
	// test directory: "user root" keeps it as it is (ignored when not started as root).
	lines := []string{
		"user root",
		"listener " + port + " 127.0.0.1",
		"allow_anonymous true",
		"log_dest file " + m.logPath, // stdout into a pipe is block-buffered and lost on SIGKILL
		"log_type all",
		"max_queued_messages 100000",
	}
	if c.persistence {
		pdir := filepath.Join(dir, "persist")
		if err := os.MkdirAll(pdir, 0o777); err != nil {
			t.Fatalf("brokertest: %v", err)
		}
		lines = append(lines, "persistence true", "persistence_location "+pdir+"/")
	} else {
		lines = append(lines, "persistence false")
	}
	lines = append(lines, c.extra...)
	if err := os.WriteFile(m.conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	t.Cleanup(m.kill)
	m.Start()
	return m
}

// Start starts the broker again on the same port (a no-op if it is running).
func (m *Mosquitto) Start() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return
	}
	cmd := exec.Command(m.bin, "-c", m.conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("brokertest: start mosquitto: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }() // owned by this broker; ends with the process
	m.cmd, m.exited = cmd, exited
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", m.Addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-exited:
			m.cmd = nil
			m.t.Fatalf("brokertest: mosquitto exited at start:\n%s", m.logTail())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("brokertest: mosquitto does not accept on %s after %v:\n%s", m.Addr, startTimeout, m.logTail())
		}
	}
}

// Stop shuts the broker down cleanly (SIGTERM; persistence, if on, is saved) and waits for it.
func (m *Mosquitto) Stop() {
	m.t.Helper()
	m.signal(syscall.SIGCONT) // a paused broker cannot handle SIGTERM
	if !m.signalAndWait(syscall.SIGTERM, 5*time.Second) {
		m.t.Errorf("brokertest: mosquitto ignored SIGTERM for 5 s; killed it")
		m.kill()
	}
}

// Kill ends the broker with SIGKILL (a crash: nothing is saved) and waits for it.
func (m *Mosquitto) Kill() {
	m.t.Helper()
	m.kill()
}

// Pause freezes the broker (SIGSTOP): connections stay open but nothing is answered, so
// QoS 1 publishes stay un-PUBACKed. Kill works on a paused broker; Resume continues it.
func (m *Mosquitto) Pause() { m.signal(syscall.SIGSTOP) }

// Resume continues a paused broker (SIGCONT).
func (m *Mosquitto) Resume() { m.signal(syscall.SIGCONT) }

// Log returns the broker's log file so far.
func (m *Mosquitto) Log() string {
	b, err := os.ReadFile(m.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

func (m *Mosquitto) logTail() string {
	s := m.Log()
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}

func (m *Mosquitto) signal(sig syscall.Signal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		_ = m.cmd.Process.Signal(sig)
	}
}

func (m *Mosquitto) kill() {
	if !m.signalAndWait(syscall.SIGKILL, 10*time.Second) {
		m.t.Errorf("brokertest: mosquitto (pid %d) did not die on SIGKILL", m.pid())
	}
}

// Pid is the running broker's process id (0 while stopped).
func (m *Mosquitto) Pid() int { return m.pid() }

func (m *Mosquitto) pid() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return 0
	}
	return m.cmd.Process.Pid
}

// signalAndWait sends sig and waits up to d for the process to exit. It reports false if
// the process was still running after d.
func (m *Mosquitto) signalAndWait(sig syscall.Signal, d time.Duration) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return true
	}
	if err := m.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		m.t.Logf("brokertest: signal %v: %v", sig, err)
	}
	select {
	case <-m.exited:
		m.cmd = nil
		return true
	case <-time.After(d):
		return false
	}
}

// Mochi is an in-process mochi-mqtt broker that allows every client.
type Mochi struct {
	Addr string // 127.0.0.1:port
	URL  string // tcp://127.0.0.1:port

	t       testing.TB
	hooks   []mqtt.Hook
	noAllow bool // the hooks alone decide who may connect

	mu     sync.Mutex
	server *mqtt.Server
}

// StartMochi starts mochi on 127.0.0.1 with auth.AllowHook and the given extra hooks (added
// again, in order, by every Start).
func StartMochi(t testing.TB, hooks ...mqtt.Hook) *Mochi {
	t.Helper()
	m := &Mochi{t: t, hooks: hooks, Addr: "127.0.0.1:0"}
	t.Cleanup(func() { m.Stop() })
	m.Start()
	return m
}

// StartMochiAuth is StartMochi without auth.AllowHook: the given hooks decide who may
// connect and what they may do (a hook providing OnConnectAuthenticate and OnACLCheck).
func StartMochiAuth(t testing.TB, hooks ...mqtt.Hook) *Mochi {
	t.Helper()
	m := &Mochi{t: t, hooks: hooks, Addr: "127.0.0.1:0", noAllow: true}
	t.Cleanup(func() { m.Stop() })
	m.Start()
	return m
}

// Server returns the running server (nil while stopped), for inline subscriptions,
// kicking clients (Clients.Get(id) then Stop) and the like.
func (m *Mochi) Server() *mqtt.Server {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.server
}

// Start starts a new server on the same address (a no-op if one is running). Sessions and
// retained messages of an earlier server are gone, as after a restart without persistence.
func (m *Mochi) Start() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.server != nil {
		return
	}
	s := mqtt.New(&mqtt.Options{
		InlineClient: true,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if !m.noAllow {
		if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
			m.t.Fatalf("brokertest: mochi: %v", err)
		}
	}
	for _, h := range m.hooks {
		if err := s.AddHook(h, nil); err != nil {
			m.t.Fatalf("brokertest: mochi hook %s: %v", h.ID(), err)
		}
	}
	var err error
	deadline := time.Now().Add(startTimeout)
	for {
		// The port of a just-closed server may take a moment to be free again.
		tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: m.Addr})
		if err = s.AddListener(tcp); err == nil {
			m.Addr = tcp.Address()
			break
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("brokertest: mochi listen %s: %v", m.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.URL = "tcp://" + m.Addr
	if err := s.Serve(); err != nil {
		m.t.Fatalf("brokertest: mochi serve: %v", err)
	}
	m.server = s
}

// Stop closes the server and every client connection.
func (m *Mochi) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.server == nil {
		return
	}
	_ = m.server.Close()
	m.server = nil
}
