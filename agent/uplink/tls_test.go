package uplink

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"imagent/agent/internal/brokertest"
	"imagent/agent/internal/mqttutil"
	"imagent/agent/platform"
	"imagent/buffer"
)

// TestMutualTLS runs mosquitto with a TLS listener that requires a client certificate
// signed by the test's CA. An uplink without a certificate, and one with a certificate from
// another CA, are refused, told apart from network errors and backed off hard; the uplink
// with a valid certificate delivers its records.
func TestMutualTLS(t *testing.T) {
	certs := brokertest.NewCerts(t)
	b := brokertest.StartMosquitto(t, brokertest.WithTLS(certs, true))
	lg, _ := logger(t, "platform")
	p, err := platform.Open(context.Background(), platform.Options{Broker: b.URL, TLS: certs.ClientTLS(t, certs.ClientCert, certs.ClientKey),
		DBPath: filepath.Join(t.TempDir(), "platform.db"), Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	runBG(t, "platform", p.Run)
	waitFor(t, 10*time.Second, "the platform (valid certificate) to connect", p.Connected)

	// A plain paho client with no certificate cannot connect at all.
	c := mqtt.NewClient(mqttutil.ClientOptions(mqttutil.Conn{Broker: b.URL, ClientID: "bare", TLS: certs.ClientTLS(t, "", ""),
		KeepAlive: 5 * time.Second, PingTimeout: 2 * time.Second, ConnectTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second}))
	if err := mqttutil.Wait(context.Background(), c.Connect(), 5*time.Second); err == nil {
		c.Disconnect(0)
		t.Fatal("a client without a certificate connected to a broker that requires one")
	} else {
		t.Logf("no certificate: %v (class %s)", err, mqttutil.Classify(err))
	}

	for _, tc := range []struct{ name, cert, key string }{
		{"no certificate", "", ""},
		{"certificate from another CA", certs.RogueCert, certs.RogueKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ob := openOutbox(t)
			appendN(t, ob, 3)
			o := testOptions(b.URL)
			o.ClientID = "refused"
			o.TLS = certs.ClientTLS(t, tc.cert, tc.key)
			o.AuthBackoff = time.Hour
			u, _, stop := startUplink(t, ob, o)
			waitFor(t, 15*time.Second, "the connection to be refused", func() bool { return u.State().LastError != "" })
			// Several network-class retries would happen within this time at a 50-500 ms backoff.
			time.Sleep(time.Second)
			st := u.State()
			if st.Connected || st.ErrorClass != mqttutil.ClassAuth || time.Until(st.RetryAt) < 30*time.Minute {
				t.Fatalf("state %+v: want refused as auth, retry in about an hour", st)
			}
			ps, ok, err := ob.GetMeta(context.Background(), MetaStateKey)
			if err != nil || !ok || !strings.Contains(ps, `"error_class":"auth"`) {
				t.Fatalf("persisted state %q, %v, %v", ps, ok, err)
			}
			stop()
			if n := unacked(t, ob); n != 3 {
				t.Fatalf("%d un-acked after a refused connection, want 3", n)
			}
			t.Logf("%s: %s", tc.name, st.LastError)
		})
	}

	ob := openOutbox(t)
	msgs := appendN(t, ob, 5)
	o := testOptions(b.URL)
	o.ClientID = "valid"
	o.TLS = certs.ClientTLS(t, certs.ClientCert, certs.ClientKey)
	u, _, _ := startUplink(t, ob, o)
	waitFor(t, 20*time.Second, "the records to be acked over mutual TLS", func() bool { return unacked(t, ob) == 0 })
	if st := u.State(); !st.Connected || st.Acked != 5 {
		t.Fatalf("state %+v", st)
	}
	checkDelivered(t, p, msgs)
	if st := stats(t, ob); st.ByState[buffer.Acked] != 5 {
		t.Fatalf("outbox %+v", st.ByState)
	}
}
