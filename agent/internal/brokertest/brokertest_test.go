package brokertest

import (
	"context"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"imagent/agent/internal/mqttutil"
)

func connect(t *testing.T, url string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqttutil.ClientOptions(mqttutil.Conn{Broker: url, ClientID: mqttutil.ClientID("bt-"),
		KeepAlive: 10 * time.Second, PingTimeout: 5 * time.Second, ConnectTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}))
	if err := mqttutil.Wait(context.Background(), c.Connect(), 10*time.Second); err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func publish(c mqtt.Client, d time.Duration) error {
	return mqttutil.Wait(context.Background(), c.Publish("bt/x", 1, false, []byte("x")), d)
}

func TestMosquittoLifecycle(t *testing.T) {
	m := StartMosquitto(t, WithPersistence())
	c := connect(t, m.URL)
	if err := publish(c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// Paused: the QoS 1 publish gets no PUBACK until it is resumed.
	m.Pause()
	if err := publish(c, 300*time.Millisecond); err == nil {
		t.Fatal("PUBACK from a paused broker")
	}
	m.Resume()
	if err := publish(c, 5*time.Second); err != nil {
		t.Fatalf("after resume: %v", err)
	}
	addr := m.Addr
	m.Stop()
	m.Start()
	connect(t, m.URL)
	m.Kill()
	m.Start()
	connect(t, m.URL)
	if m.Addr != addr {
		t.Errorf("address changed from %s to %s", addr, m.Addr)
	}
	if !strings.Contains(m.Log(), "Received PUBLISH") {
		t.Errorf("the broker log has no PUBLISH lines:\n%s", m.Log())
	}
}

func TestMochiRestart(t *testing.T) {
	m := StartMochi(t)
	addr := m.Addr
	c := connect(t, m.URL)
	if err := publish(c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	m.Stop()
	if m.Server() != nil {
		t.Fatal("Server() not nil after Stop")
	}
	m.Start()
	if m.Addr != addr {
		t.Errorf("address changed from %s to %s", addr, m.Addr)
	}
	connect(t, m.URL)
}
