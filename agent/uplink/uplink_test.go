package uplink

import (
	"bytes"
	"context"
	"errors"
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
	"imagent/agent/platform"
	"imagent/buffer"
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

func logger(t testing.TB, name string) (*slog.Logger, *syncBuf) {
	buf := new(syncBuf)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", name, buf)
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// runBG runs f until the test ends, then cancels it and checks it returned nil.
func runBG(t testing.TB, name string, f func(context.Context) error) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s: Run returned %v", name, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("%s: Run did not return within 30 s of cancel", name)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func openOutbox(t testing.TB) *buffer.Outbox {
	ob, err := buffer.Open(context.Background(), filepath.Join(t.TempDir(), "outbox.db"), buffer.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close() })
	return ob
}

// appendN appends n event records for lane, chained as the agent chains them.
func appendN(t testing.TB, ob *buffer.Outbox, n int) []buffer.Msg {
	var out []buffer.Msg
	for i := 0; i < n; i++ {
		e := contract.Envelope{V: contract.Version, ID: contract.NewID(), Kind: contract.KindEvent,
			Station: lane.Station, Lane: lane.Lane, Agent: contract.AgentInfo{Version: "test", BootID: "boot"},
			Time: contract.Time{Wall: time.Now(), MonoMS: int64(i), Clock: contract.ClockUnsynced},
			Body: []byte(fmt.Sprintf(`{"event":"test","detail":"record %d"}`, i))}
		m, err := ob.Append(context.Background(), buffer.KindEvent, func(seq int64, prev []byte) (string, []byte, error) {
			raw, err := e.Seal(seq, prev)
			return e.ID, raw, err
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func startPlatform(t testing.TB, broker string, noAck bool) *platform.Platform {
	lg, _ := logger(t, "platform")
	p, err := platform.Open(context.Background(), platform.Options{Broker: broker,
		DBPath: filepath.Join(t.TempDir(), "platform.db"), Logger: lg, NoAck: noAck})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() }) // registered first: runs after Run has stopped
	runBG(t, "platform", p.Run)
	return p
}

func testOptions(broker string) Options {
	return Options{Broker: broker, Topics: lane, Version: "test", BootID: "boot",
		ConnectTimeout: 5 * time.Second, AckTimeout: 3 * time.Second, Window: 8,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond}
}

func startUplink(t testing.TB, ob *buffer.Outbox, o Options) (*Uplink, *syncBuf, context.CancelFunc) {
	lg, buf := logger(t, "uplink")
	o.Logger = lg
	u := New(ob, o)
	stop := runBG(t, "uplink", u.Run)
	return u, buf, stop
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func stats(t testing.TB, ob *buffer.Outbox) buffer.Stats {
	st, err := ob.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func unacked(t testing.TB, ob *buffer.Outbox) int64 {
	st := stats(t, ob)
	return st.ByState[buffer.Pending] + st.ByState[buffer.Sent]
}

// checkDelivered asserts the platform holds exactly the records msgs, once each, in seq
// order, with an intact hash chain.
func checkDelivered(t *testing.T, p *platform.Platform, msgs []buffer.Msg) {
	t.Helper()
	got, err := p.Records(context.Background(), lane.Station, lane.Lane)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) {
		t.Fatalf("platform holds %d records, want %d", len(got), len(msgs))
	}
	for i, s := range got {
		if s.ID != msgs[i].ID || s.Seq != msgs[i].Seq || !bytes.Equal(s.Payload, msgs[i].Payload) {
			t.Errorf("platform record %d: id %s seq %d, want id %s seq %d (same bytes: %v)",
				i, s.ID, s.Seq, msgs[i].ID, msgs[i].Seq, bytes.Equal(s.Payload, msgs[i].Payload))
		}
	}
	probs, err := p.VerifyChain(context.Background(), lane.Station, lane.Lane)
	if err != nil || len(probs) != 0 {
		t.Errorf("VerifyChain = %v, %v; want no problems", probs, err)
	}
}

func TestBacklogDeliveredOnceBrokerStarts(t *testing.T) {
	b := brokertest.StartMochi(t)
	b.Stop() // the address is known, nothing listens yet
	ob := openOutbox(t)
	msgs := appendN(t, ob, 20)
	u, _, _ := startUplink(t, ob, testOptions(b.URL))

	waitFor(t, 10*time.Second, "a failed connection attempt", func() bool { return u.State().LastError != "" })
	if st := u.State(); st.Connected {
		t.Fatalf("connected with no broker: %+v", st)
	}
	b.Start()
	p := startPlatform(t, b.URL, false)
	waitFor(t, 30*time.Second, "every record acked", func() bool { return stats(t, ob).ByState[buffer.Acked] == 20 })
	if n := unacked(t, ob); n != 0 {
		t.Errorf("%d records still unacked", n)
	}
	checkDelivered(t, p, msgs)
	st := u.State()
	if !st.Connected || st.Acked != 20 || st.LastAck.IsZero() || st.InFlight != 0 {
		t.Errorf("State = %+v", st)
	}
}

// TestBrokerOutage is the acceptance test: a real mosquitto dies while the agent keeps
// producing; once it is back, the platform has every record exactly once, in order.
func TestBrokerOutage(t *testing.T) {
	b := brokertest.StartMosquitto(t)
	p := startPlatform(t, b.URL, false)
	ob := openOutbox(t)
	u, _, _ := startUplink(t, ob, testOptions(b.URL))
	waitFor(t, 30*time.Second, "uplink and platform connected", func() bool { return u.State().Connected && p.Connected() })
	epoch := u.State().Epoch

	b.Kill()
	waitFor(t, 30*time.Second, "the uplink to notice the outage", func() bool { return !u.State().Connected })
	var msgs []buffer.Msg
	for range 50 {
		msgs = append(msgs, appendN(t, ob, 1)...)
		u.Kick()
	}
	b.Start()

	waitFor(t, 60*time.Second, "every record acked", func() bool { return unacked(t, ob) == 0 })
	st := stats(t, ob)
	if st.ByState[buffer.Acked] != 50 || st.ByState[buffer.Rejected] != 0 {
		t.Errorf("outbox states %v, want 50 acked", st.ByState)
	}
	checkDelivered(t, p, msgs)
	if c := p.Counts(); c.Stored != 50 {
		t.Errorf("platform counts %+v: want 50 stored", c)
	}
	if e := u.State().Epoch; e <= epoch {
		t.Errorf("epoch %d after the outage, want > %d", e, epoch)
	}
}

func TestMalformedAcksIgnored(t *testing.T) {
	b := brokertest.StartMochi(t)
	p := startPlatform(t, b.URL, false)
	ob := openOutbox(t)
	u, logs, _ := startUplink(t, ob, testOptions(b.URL))
	msgs := appendN(t, ob, 3)
	u.Kick()
	waitFor(t, 20*time.Second, "the first records acked", func() bool { return unacked(t, ob) == 0 })
	epoch := u.State().Epoch

	for _, bad := range []string{
		"\x00\xffgarbage",
		`{"v":2,"acks":[{"id":"` + msgs[0].ID + `","status":"stored"}]}`,
		`{"v":1,"acks":[{"id":"` + msgs[0].ID + `","status":"maybe"}]}`,
		`{"v":1,"acks":[{"status":"stored"}]}`,
	} {
		if err := b.Server().Publish(lane.Acks(), []byte(bad), false, 1); err != nil {
			t.Fatal(err)
		}
	}
	// A well-formed ack for an id this agent never sent changes nothing.
	if err := b.Server().Publish(lane.Acks(), []byte(`{"v":1,"acks":[{"id":"not-ours","status":"stored"}]}`), false, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "four malformed ack messages logged", func() bool {
		return strings.Count(logs.String(), "ignoring malformed ack message") == 4
	})
	msgs = append(msgs, appendN(t, ob, 3)...)
	u.Kick()
	waitFor(t, 20*time.Second, "the later records acked", func() bool { return stats(t, ob).ByState[buffer.Acked] == 6 })
	checkDelivered(t, p, msgs)
	if st := u.State(); !st.Connected || st.Epoch != epoch {
		t.Errorf("State = %+v; want still connected on epoch %d", st, epoch)
	}
}

func TestResendWithoutPlatformAck(t *testing.T) {
	b := brokertest.StartMochi(t)
	p := startPlatform(t, b.URL, true) // stores, never acks
	ob := openOutbox(t)
	o := testOptions(b.URL)
	o.AckTimeout = 300 * time.Millisecond
	u, _, _ := startUplink(t, ob, o)
	msgs := appendN(t, ob, 5)
	u.Kick()

	waitFor(t, 30*time.Second, "every record received three times", func() bool {
		recs, err := p.Records(context.Background(), lane.Station, lane.Lane)
		if err != nil || len(recs) != 5 {
			return false
		}
		for _, r := range recs {
			if r.Copies < 3 {
				return false
			}
		}
		return true
	})
	checkDelivered(t, p, msgs) // five records, the same ids, nothing else
	c := p.Counts()
	if c.Stored != 5 || c.Duplicates != c.Received-5 || c.AcksSent != 0 {
		t.Errorf("platform counts %+v: want 5 stored, every other copy a duplicate, no acks", c)
	}
	if st := stats(t, ob); st.ByState[buffer.Acked] != 0 {
		t.Errorf("outbox states %v: acked without a platform ack", st.ByState)
	}
	if st := u.State(); st.Resent < 10 {
		t.Errorf("State = %+v; want at least 10 resends", st)
	}
	for _, m := range msgs {
		got, err := ob.Get(context.Background(), m.ID)
		if err != nil || got.State != buffer.Sent {
			t.Errorf("record %d: %+v, %v; want sent (PUBACKed, not acked)", m.Seq, got, err)
		}
	}

	p.SetAcking(true)
	waitFor(t, 20*time.Second, "every record acked once the platform acks", func() bool { return unacked(t, ob) == 0 })
	if n := stats(t, ob).ByState[buffer.Acked]; n != 5 {
		t.Errorf("%d acked, want 5", n)
	}
}

func TestRejectedRecord(t *testing.T) {
	b := brokertest.StartMochi(t)
	p := startPlatform(t, b.URL, false)
	ob := openOutbox(t)
	u, logs, _ := startUplink(t, ob, testOptions(b.URL))
	appendN(t, ob, 1)
	bad, err := ob.Append(context.Background(), buffer.KindEvent, func(seq int64, _ []byte) (string, []byte, error) {
		return "bad-1", []byte(fmt.Sprintf(`{"v":1,"id":"bad-1","seq":%d,"kind":"bogus"}`, seq)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, ob, 1)
	u.Kick()
	waitFor(t, 20*time.Second, "nothing left to send", func() bool { return unacked(t, ob) == 0 })
	got, err := ob.Get(context.Background(), bad.ID)
	if err != nil || got.State != buffer.Rejected || !strings.Contains(got.Reason, `unknown kind "bogus"`) {
		t.Fatalf("bad record: %+v, %v; want rejected with the reason", got, err)
	}
	if st := stats(t, ob); st.ByState[buffer.Acked] != 2 {
		t.Errorf("outbox states %v, want 2 acked", st.ByState)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "rejected a record") {
		t.Error("the rejection was not logged as an error")
	}
	if c := p.Counts(); c.Stored != 2 || c.Rejected != 1 {
		t.Errorf("platform counts %+v", c)
	}
	if st := u.State(); st.Rejected != 1 || st.Acked != 2 {
		t.Errorf("State = %+v", st)
	}
}

// statusWatcher collects every status message published for lane.
func statusWatcher(t *testing.T, broker string) <-chan contract.Status {
	ch := make(chan contract.Status, 100)
	o := mqttutil.ClientOptions(mqttutil.Conn{Broker: broker, ClientID: mqttutil.ClientID("watch-"),
		KeepAlive: 10 * time.Second, PingTimeout: 5 * time.Second, ConnectTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
	c := mqtt.NewClient(o)
	if err := mqttutil.Wait(context.Background(), c.Connect(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(100) })
	tok := c.Subscribe(lane.Status(), 1, func(_ mqtt.Client, m mqtt.Message) {
		s, err := contract.DecodeStatus(m.Payload())
		if err != nil {
			t.Errorf("bad status message %q: %v", m.Payload(), err)
			return
		}
		ch <- *s
	})
	if err := mqttutil.Wait(context.Background(), tok, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return ch
}

func nextStatus(t *testing.T, ch <-chan contract.Status) contract.Status {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(20 * time.Second):
		t.Fatal("no status message within 20 s")
		return contract.Status{}
	}
}

// waitState skips status messages until one with the given state arrives.
func waitState(t *testing.T, ch <-chan contract.Status, state string) contract.Status {
	t.Helper()
	for {
		if s := nextStatus(t, ch); s.State == state {
			return s
		}
	}
}

func TestStatusWillAndEpochs(t *testing.T) {
	b := brokertest.StartMochi(t)
	watch := statusWatcher(t, b.URL)
	ob := openOutbox(t)
	appendN(t, ob, 2) // a backlog, never sent (no platform needed)
	o := testOptions(b.URL)
	o.ClientID = "uplink-under-test"
	u, _, stop := startUplink(t, ob, o)

	s := nextStatus(t, watch)
	if s.State != contract.StateOnline || s.Version != "test" || s.BootID != "boot" || s.Backlog == nil || s.Backlog.Pending+s.Backlog.Sent != 2 {
		t.Fatalf("first status %+v (backlog %+v); want online with a backlog of 2", s, s.Backlog)
	}
	if e := u.State().Epoch; e != 1 {
		t.Fatalf("epoch %d on the first connection, want 1", e)
	}

	// The broker drops the client: it publishes the last will, and the uplink comes back.
	cl, ok := b.Server().Clients.Get(o.ClientID)
	if !ok {
		t.Fatal("uplink client not found in the broker")
	}
	cl.Stop(errors.New("kicked by the test"))
	// The will and the reconnected uplink's online status may reach the watcher in either
	// order (the broker sends the will asynchronously); the uplink answers a late "offline"
	// for its own lane by publishing online again, so online always comes last.
	if s := waitState(t, watch, contract.StateOffline); s.Version != "" {
		t.Fatalf("offline status %+v, want the bare last will", s)
	}
	waitState(t, watch, contract.StateOnline)
	if e := u.State().Epoch; e != 2 {
		t.Fatalf("epoch %d after one reconnect, want 2", e)
	}
	// A late will, made deterministic: someone sets the lane offline while it is connected.
	if err := b.Server().Publish(lane.Status(), contract.OfflineStatus(), true, 1); err != nil {
		t.Fatal(err)
	}
	waitState(t, watch, contract.StateOffline)
	if s := waitState(t, watch, contract.StateOnline); s.Version != "test" {
		t.Fatalf("reasserted status %+v", s)
	}
	if e := u.State().Epoch; e != 2 {
		t.Fatalf("epoch %d; the reassertion must not reconnect", e)
	}

	// A clean stop publishes offline itself (a clean disconnect discards the will).
	stop()
	waitState(t, watch, contract.StateOffline)
	// Epochs continue across runs: they are persisted in the outbox.
	u2, _, _ := startUplink(t, ob, o)
	waitState(t, watch, contract.StateOnline)
	waitFor(t, 10*time.Second, "the new uplink's state", func() bool { return u2.State().Connected })
	if e := u2.State().Epoch; e != 3 {
		t.Fatalf("epoch %d after a restart, want 3", e)
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	ob := openOutbox(t)
	for _, o := range []Options{{Topics: lane}, {Broker: "tcp://127.0.0.1:1"}} {
		if err := New(ob, o).Run(context.Background()); err == nil {
			t.Errorf("Run(%+v) = nil, want an error", o)
		}
	}
}

// BenchmarkDrain measures draining a 10,000-record backlog through mochi to the reference
// platform, acks included (records/s = 10000 / time per op).
func BenchmarkDrain(b *testing.B) {
	const n = 10000
	broker := brokertest.StartMochi(b)
	p := startPlatform(b, broker.URL, false)
	waitFor(b, 10*time.Second, "the platform", p.Connected)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ob := openOutbox(b)
		appendN(b, ob, n)
		o := testOptions(broker.URL)
		o.Window = 32
		o.AckTimeout = 30 * time.Second
		o.ClientID = fmt.Sprintf("bench-%d", i)
		b.StartTimer()
		start := time.Now()
		_, _, stop := startUplink(b, ob, o)
		waitFor(b, 5*time.Minute, "the backlog drained", func() bool { return unacked(b, ob) == 0 })
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "records/s")
		b.StopTimer()
		stop()
	}
}
