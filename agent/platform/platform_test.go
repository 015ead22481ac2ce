package platform

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"imagent/agent/contract"
	"imagent/agent/internal/brokertest"
	"imagent/agent/internal/mqttutil"
)

var lane = contract.Topics{Station: "4403001", Lane: "L1"}

// syncBuf collects log output from several goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startPlatform opens a platform on a fresh database and runs it until the test ends.
func startPlatform(t *testing.T, broker string, noAck bool) (*Platform, *syncBuf) {
	t.Helper()
	logs := new(syncBuf)
	lg := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Open(ctx, Options{Broker: broker, DBPath: filepath.Join(t.TempDir(), "platform.db"), Logger: lg, NoAck: noAck})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "the platform to connect", p.Connected)
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := p.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("platform log:\n%s", logs)
		}
	})
	return p, logs
}

// agent is a bare MQTT client standing in for the agent: it publishes records and collects
// the acks the platform sends back.
type agent struct {
	t    *testing.T
	c    mqtt.Client
	acks chan contract.Ack
}

func newAgent(t *testing.T, broker string, tp contract.Topics) *agent {
	t.Helper()
	a := &agent{t: t, acks: make(chan contract.Ack, 1000)}
	o := mqttutil.ClientOptions(mqttutil.Conn{Broker: broker, ClientID: mqttutil.ClientID("test-agent-"),
		KeepAlive: 10 * time.Second, PingTimeout: 5 * time.Second, ConnectTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
	a.c = mqtt.NewClient(o)
	if err := mqttutil.Wait(context.Background(), a.c.Connect(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	tok := a.c.Subscribe(tp.Acks(), 1, func(_ mqtt.Client, m mqtt.Message) {
		as, err := contract.DecodeAcks(m.Payload())
		if err != nil {
			t.Errorf("platform sent a bad acks message: %v", err)
			return
		}
		for _, k := range as.Acks {
			a.acks <- k
		}
	})
	if err := mqttutil.Wait(context.Background(), tok, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.c.Disconnect(100) })
	return a
}

func (a *agent) publish(topic string, payload []byte) {
	a.t.Helper()
	if err := mqttutil.Wait(context.Background(), a.c.Publish(topic, 1, false, payload), 10*time.Second); err != nil {
		a.t.Fatal(err)
	}
}

// ack waits for the next ack.
func (a *agent) ack() contract.Ack {
	a.t.Helper()
	select {
	case k := <-a.acks:
		return k
	case <-time.After(20 * time.Second):
		a.t.Fatal("no ack from the platform within 20 s")
		return contract.Ack{}
	}
}

// noAck checks that no ack arrives for a while.
func (a *agent) noAck(d time.Duration) {
	a.t.Helper()
	select {
	case k := <-a.acks:
		a.t.Fatalf("unexpected ack %+v", k)
	case <-time.After(d):
	}
}

// chain builds n sealed envelopes for tp with bodies of about bodyBytes, each linked to the
// one before.
func chain(t *testing.T, tp contract.Topics, n int, bodyBytes int) [][]byte {
	t.Helper()
	sizes := make([]int, n)
	for i := range sizes {
		sizes[i] = bodyBytes
	}
	return chainSizes(t, tp, sizes...)
}

func chainSizes(t *testing.T, tp contract.Topics, sizes ...int) [][]byte {
	t.Helper()
	var out [][]byte
	var prev []byte
	for i, size := range sizes {
		seq := int64(i + 1)
		body, _ := json.Marshal(contract.EventBody{Event: "test", Detail: strings.Repeat("d", size)})
		e := contract.Envelope{V: contract.Version, ID: contract.NewID(), Kind: contract.KindEvent,
			Station: tp.Station, Lane: tp.Lane, Agent: contract.AgentInfo{Version: "test", BootID: "boot"},
			Time: contract.Time{Wall: time.Now(), MonoMS: seq, Clock: contract.ClockUnsynced}, Body: body}
		raw, err := e.Seal(seq, prev)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(raw)
		prev = sum[:]
		out = append(out, raw)
	}
	return out
}

func idOf(t *testing.T, raw []byte) string {
	t.Helper()
	_, e, err := contract.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return e.ID
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStoreAckAndDuplicates(t *testing.T) {
	b := brokertest.StartMochi(t)
	p, _ := startPlatform(t, b.URL, false)
	a := newAgent(t, b.URL, lane)
	recs := chainSizes(t, lane, 10, 10, 10, 10, 10, 10<<10) // the large one goes gzipped

	// Publish out of order: storage order is by seq, not arrival.
	for _, i := range []int{2, 0, 1, 4, 3, 5} {
		wire := contract.Compress(recs[i])
		if i == 5 && wire[0] != 0x1f {
			t.Fatal("test setup: the large record is not gzipped")
		}
		a.publish(lane.Records(), wire)
		k := a.ack()
		if k.ID != idOf(t, recs[i]) || k.Status != contract.AckStored || k.Seq != int64(i+1) {
			t.Fatalf("ack %+v, want stored %s seq %d", k, idOf(t, recs[i]), i+1)
		}
	}
	// A resend of the same bytes is a duplicate.
	a.publish(lane.Records(), recs[1])
	if k := a.ack(); k.ID != idOf(t, recs[1]) || k.Status != contract.AckDuplicate {
		t.Fatalf("ack %+v, want duplicate of %s", k, idOf(t, recs[1]))
	}

	got, err := p.Records(context.Background(), lane.Station, lane.Lane)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Fatalf("%d records stored, want 6", len(got))
	}
	for i, s := range got {
		if s.Seq != int64(i+1) || s.ID != idOf(t, recs[i]) || !bytes.Equal(s.Payload, recs[i]) {
			t.Errorf("record %d: seq %d id %s (payload equal %v)", i, s.Seq, s.ID, bytes.Equal(s.Payload, recs[i]))
		}
		if want := 1 + btoi(i == 1); s.Copies != want {
			t.Errorf("record %d: %d copies, want %d", i, s.Copies, want)
		}
		if s.Envelope.ID != s.ID || s.Station != lane.Station || s.Lane != lane.Lane || s.Kind != contract.KindEvent {
			t.Errorf("record %d: fields %+v", i, s)
		}
	}
	one, err := p.Record(context.Background(), idOf(t, recs[3]))
	if err != nil || one.Seq != 4 {
		t.Fatalf("Record = %+v, %v", one, err)
	}
	if _, err := p.Record(context.Background(), "nope"); err == nil {
		t.Fatal("Record of an unknown id succeeded")
	}
	want := Counts{Received: 7, Stored: 6, Duplicates: 1, AcksSent: 7}
	if c := p.Counts(); c != want {
		t.Errorf("Counts = %+v, want %+v", c, want)
	}
	probs, err := p.VerifyChain(context.Background(), lane.Station, lane.Lane)
	if err != nil || len(probs) != 0 {
		t.Errorf("VerifyChain = %v, %v; want no problems", probs, err)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRejectedAndMalformed(t *testing.T) {
	b := brokertest.StartMochi(t)
	p, logs := startPlatform(t, b.URL, false)
	a := newAgent(t, b.URL, lane)
	other := contract.Topics{Station: lane.Station, Lane: "L9"}

	// Invalid, but with an id: rejected with the reason.
	a.publish(lane.Records(), []byte(`{"v":1,"id":"bad-1","seq":7,"kind":"tset"}`))
	k := a.ack()
	if k.ID != "bad-1" || k.Seq != 7 || k.Status != contract.AckRejected || !strings.Contains(k.Reason, `unknown kind "tset"`) {
		t.Fatalf("ack %+v, want rejected bad-1 naming the kind", k)
	}
	// A valid envelope published on another lane's topic: rejected.
	rec := chain(t, other, 1, 10)[0]
	a.publish(lane.Records(), rec)
	if k := a.ack(); k.ID != idOf(t, rec) || k.Status != contract.AckRejected {
		t.Fatalf("ack %+v, want rejected (wrong topic)", k)
	}
	// Unparseable: no ack, counted as malformed.
	a.publish(lane.Records(), []byte("\x00garbage"))
	a.publish(lane.Records(), []byte{0x1f, 0x8b, 1, 2, 3})
	a.noAck(300 * time.Millisecond)
	// Same id, other bytes: rejected, the stored record untouched.
	good := chain(t, lane, 1, 10)[0]
	a.publish(lane.Records(), good)
	if k := a.ack(); k.Status != contract.AckStored {
		t.Fatalf("ack %+v, want stored", k)
	}
	_, e, _ := contract.Decode(good)
	e.Body = json.RawMessage(`{"event":"edited"}`)
	edited, _ := json.Marshal(e)
	a.publish(lane.Records(), edited)
	if k := a.ack(); k.ID != e.ID || k.Status != contract.AckRejected || !strings.Contains(k.Reason, "different content") {
		t.Fatalf("ack %+v, want rejected (id reused)", k)
	}
	s, err := p.Record(context.Background(), e.ID)
	if err != nil || !bytes.Equal(s.Payload, good) || s.Copies != 1 {
		t.Fatalf("stored record changed: %v copies=%d", err, s.Copies)
	}
	want := Counts{Received: 6, Stored: 1, Rejected: 3, Malformed: 2, AcksSent: 4}
	if c := p.Counts(); c != want {
		t.Errorf("Counts = %+v, want %+v", c, want)
	}
	if n := strings.Count(logs.String(), "malformed record without an id"); n != 2 {
		t.Errorf("%d malformed records logged, want 2", n)
	}
}

func TestNoAckThenAcking(t *testing.T) {
	b := brokertest.StartMochi(t)
	p, _ := startPlatform(t, b.URL, true)
	a := newAgent(t, b.URL, lane)
	recs := chain(t, lane, 2, 10)
	a.publish(lane.Records(), recs[0])
	waitFor(t, "the record to be stored", func() bool { return p.Counts().Stored == 1 })
	a.noAck(300 * time.Millisecond)
	p.SetAcking(true)
	a.publish(lane.Records(), recs[0])
	if k := a.ack(); k.Status != contract.AckDuplicate || k.ID != idOf(t, recs[0]) {
		t.Fatalf("ack %+v, want duplicate", k)
	}
	a.publish(lane.Records(), recs[1])
	if k := a.ack(); k.Status != contract.AckStored || k.ID != idOf(t, recs[1]) {
		t.Fatalf("ack %+v, want stored", k)
	}
}

func TestVerifyChain(t *testing.T) {
	b := brokertest.StartMochi(t)
	p, _ := startPlatform(t, b.URL, false)
	a := newAgent(t, b.URL, lane)
	ctx := context.Background()

	recs := chain(t, lane, 8, 10)
	send := func(tp contract.Topics, raw []byte) {
		a.publish(tp.Records(), raw)
	}
	// Lane 1: seqs 1..8 without 4, and 7 re-sealed on a forged predecessor hash.
	for i, r := range recs {
		if i == 3 {
			continue
		}
		if i == 6 {
			_, e, _ := contract.Decode(r)
			r, _ = e.Seal(7, []byte("not the hash of seq 6 at all....")) // a forged link
		}
		send(lane, r)
	}
	// Lane 2: intact.
	l2 := contract.Topics{Station: lane.Station, Lane: "L2"}
	n2 := newAgent(t, b.URL, l2)
	for _, r := range chain(t, l2, 4, 10) {
		n2.publish(l2.Records(), r)
	}
	// Lane 3: the first record received is seq 2.
	l3 := contract.Topics{Station: lane.Station, Lane: "L3"}
	for _, r := range chain(t, l3, 3, 10)[1:] {
		n2.publish(l3.Records(), r)
	}
	// Lane 4: seqs 1..3, then the agent quarantined its outbox and starts a new chain at 4
	// (seq continues, prev_hash is empty); the new chain itself is intact.
	l4 := contract.Topics{Station: lane.Station, Lane: "L4"}
	for _, r := range chain(t, l4, 3, 10) {
		n2.publish(l4.Records(), r)
	}
	var prev []byte
	for seq := int64(4); seq <= 5; seq++ {
		_, e, _ := contract.Decode(chain(t, l4, 1, 10)[0])
		e.ID = contract.NewID()
		raw, err := e.Seal(seq, prev)
		if err != nil {
			t.Fatal(err)
		}
		n2.publish(l4.Records(), raw)
		sum := sha256.Sum256(raw)
		prev = sum[:]
	}
	waitFor(t, "all records stored", func() bool { return p.Counts().Stored == 7+4+2+5 })
	if probs, err := p.VerifyChain(ctx, l4.Station, l4.Lane); err != nil || len(probs) != 1 || probs[0].Kind != ProblemRestart || probs[0].Seq != 4 {
		t.Errorf("lane 4 problems = %v, %v; want one restart at seq 4", probs, err)
	}

	probs, err := p.VerifyChain(ctx, lane.Station, lane.Lane)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(probs)
	// Re-sealing 7 changed its bytes, so 8's (genuine) link no longer matches either: an
	// edited record shows as a broken link on both sides.
	if len(probs) != 3 || probs[0].Kind != ProblemGap || probs[0].Seq != 5 || !strings.Contains(probs[0].Detail, "seq 4..4 missing") ||
		probs[1].Kind != ProblemPrevHash || probs[1].Seq != 7 || probs[2].Kind != ProblemPrevHash || probs[2].Seq != 8 {
		t.Errorf("lane 1 problems = %s; want a gap before 5 and bad links at 7 and 8", got)
	}
	if probs, err := p.VerifyChain(ctx, l2.Station, l2.Lane); err != nil || len(probs) != 0 {
		t.Errorf("lane 2 problems = %v, %v; want none", probs, err)
	}
	if probs, err := p.VerifyChain(ctx, l3.Station, l3.Lane); err != nil || len(probs) != 1 || probs[0].Kind != ProblemGap || probs[0].Seq != 2 {
		t.Errorf("lane 3 problems = %v, %v; want a gap before seq 2", probs, err)
	}
}

func TestStatusAndReconnect(t *testing.T) {
	b := brokertest.StartMochi(t)
	p, _ := startPlatform(t, b.URL, false)
	a := newAgent(t, b.URL, lane)
	online, _ := contract.EncodeStatus(&contract.Status{V: 1, State: contract.StateOnline, Version: "9.9"})
	if err := mqttutil.Wait(context.Background(), a.c.Publish(lane.Status(), 1, true, online), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the online status", func() bool { s, ok := p.Status(lane.Station, lane.Lane); return ok && s.Version == "9.9" })

	// The broker restarts (sessions and retained messages gone); the platform reconnects
	// and subscribes again by itself.
	b.Stop()
	waitFor(t, "the platform to notice", func() bool { return !p.Connected() })
	b.Start()
	waitFor(t, "the platform to reconnect", p.Connected)
	a2 := newAgent(t, b.URL, lane)
	rec := chain(t, lane, 1, 10)[0]
	a2.publish(lane.Records(), rec)
	if k := a2.ack(); k.ID != idOf(t, rec) || k.Status != contract.AckStored {
		t.Fatalf("after the broker restart: ack %+v", k)
	}
	if err := mqttutil.Wait(context.Background(), a2.c.Publish(lane.Status(), 1, true, contract.OfflineStatus()), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the offline status", func() bool { s, _ := p.Status(lane.Station, lane.Lane); return s.State == contract.StateOffline })
}
