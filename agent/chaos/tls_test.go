package chaos

import (
	"context"
	"fmt"
	"log/slog"
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

// TestAgentMutualTLS runs the agent binary with its TLS settings in the configuration file
// ([mqtt.tls] ca, cert, key) against mosquitto requiring client certificates made by the
// test. Without a client certificate the broker refuses the agent, which reports an auth
// error in `imagent status` and keeps its records; with one, it syncs them.
func TestAgentMutualTLS(t *testing.T) {
	certs := brokertest.NewCerts(t)
	broker := brokertest.StartMosquitto(t, brokertest.WithTLS(certs, true))
	db := filepath.Join(t.TempDir(), "platform.db")
	p, err := platform.Open(context.Background(), platform.Options{Broker: broker.URL, DBPath: db, ClientID: "tls-platform",
		TLS: certs.ClientTLS(t, certs.ClientCert, certs.ClientKey), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = p.Close() })
	waitUntil(t, 10*time.Second, "the platform to connect over mutual TLS", p.Connected)

	writeConfig := func(withCert bool) string {
		tlsLines := fmt.Sprintf("ca = %q\n", certs.CA)
		if withCert {
			tlsLines += fmt.Sprintf("cert = %q\nkey = %q\n", certs.ClientCert, certs.ClientKey)
		}
		cfg := fmt.Sprintf(`[station]
id = "SOAK01"
lane = "L1"

[mqtt]
broker = %q
auth_backoff = "1h"

[mqtt.tls]
%s`, broker.URL, tlsLines)
		path := filepath.Join(t.TempDir(), "imagent.toml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	data := t.TempDir()
	tl := newTally()
	a := startAgent(t, tl, data, nil, "--config", writeConfig(false), "--count", "5", "--interval", "10ms")
	a.waitProduced(20 * time.Second)
	waitUntil(t, 20*time.Second, "the refusal to be recorded", func() bool { return uplinkState(t, data).ErrorClass != "" })
	ps := uplinkState(t, data)
	if ps.Connected || ps.ErrorClass != "auth" || ps.RetryInS < 1800 {
		t.Fatalf("without a client certificate: %+v; want refused as auth and retried in about an hour", ps)
	}
	out, err := exec.Command(agentBin(t), "status", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "AUTH ERROR") || !strings.Contains(string(out), "5 un-acked") {
		t.Fatalf("imagent status: %v\n%s", err, out)
	}
	t.Logf("status without a certificate:\n%s", out)
	a.signal(syscall.SIGTERM)
	if n := p.Counts().Stored; n != 0 {
		t.Fatalf("the platform stored %d records from an agent the broker refused", n)
	}

	a = startAgent(t, tl, data, nil, "--config", writeConfig(true), "--count", "5", "--interval", "10ms")
	o := settle(t, "mTLS", tl, p, data, time.Now(), 30*time.Second, text("refused without a certificate, synced with one"))
	if o.delivered != 10 {
		t.Fatalf("%d delivered, want 10", o.delivered)
	}
	a.signal(syscall.SIGTERM)
}
