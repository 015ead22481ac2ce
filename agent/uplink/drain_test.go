package uplink

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"imagent/agent/internal/brokertest"
	"imagent/agent/internal/mqttutil"
)

// TestBucket checks the pacing arithmetic on a clock the test moves by hand.
func TestBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newBucket(100, 100, t0) // 100 per second, burst 100
	if d := b.wait(t0); d != 0 {
		t.Fatalf("a full bucket waits %v", d)
	}
	b.spend(350, t0) // one large item may overdraw
	if d := b.wait(t0); d != 2500*time.Millisecond {
		t.Fatalf("after overdrawing by 250 at 100/s: wait %v, want 2.5s", d)
	}
	if d := b.wait(t0.Add(2 * time.Second)); d != 500*time.Millisecond {
		t.Fatalf("2 s later: wait %v, want 0.5s", d)
	}
	if d := b.wait(t0.Add(10 * time.Second)); d != 0 {
		t.Fatalf("10 s later: wait %v", d)
	}
	if b.bal != 100 {
		t.Fatalf("balance %v after a long idle time, want the burst (100)", b.bal)
	}
	var free bucket // rate 0: unlimited
	free.spend(1e9, t0)
	if d := free.wait(t0); d != 0 {
		t.Fatalf("an unlimited bucket waits %v", d)
	}
}

// TestFreshAheadOfPacedBacklog: a 300-record backlog drains at 40 records/s while records
// appended after the connection overtake it, and the drain stays within its budget.
func TestFreshAheadOfPacedBacklog(t *testing.T) {
	b := brokertest.StartMochi(t)
	p := startPlatform(t, b.URL, false)
	waitFor(t, 10*time.Second, "the platform", p.Connected)
	ob := openOutbox(t)
	backlog := appendN(t, ob, 300)
	o := testOptions(b.URL)
	o.RateRecords = 40
	u, _, _ := startUplink(t, ob, o)
	waitFor(t, 10*time.Second, "the uplink to connect", func() bool { return u.State().Connected })
	start := time.Now()
	time.Sleep(500 * time.Millisecond)
	fresh := appendN(t, ob, 3)
	u.Kick()
	waitFor(t, 30*time.Second, "the fresh records to be stored", func() bool {
		for _, m := range fresh {
			if _, err := p.Record(context.Background(), m.ID); err != nil {
				return false
			}
		}
		return true
	})
	got := p.Counts().Stored
	if got >= int64(len(backlog)) {
		t.Fatalf("the fresh records were stored only after the whole backlog (%d stored)", got)
	}
	waitFor(t, 60*time.Second, "the backlog to drain", func() bool { return unacked(t, ob) == 0 })
	elapsed := time.Since(start)
	// The upper bound cannot fail on a slow machine: at 40/s with a burst of 40, 303
	// records take at least (303-40)/40 s.
	if minimum := time.Duration(float64(303-40) / 40 * float64(time.Second)); elapsed < minimum*9/10 {
		t.Fatalf("303 records at 40/s drained in %v, faster than the budget allows (%v)", elapsed, minimum)
	}
	st := u.State()
	if st.Fresh != 3 || st.Backlog != 300 {
		t.Fatalf("fresh %d, backlog %d sent; want 3 and 300", st.Fresh, st.Backlog)
	}
	t.Logf("backlog of 300 at 40 rec/s drained in %v; %d stored when the fresh records arrived", elapsed.Round(time.Millisecond), got)
}

// TestByteBudget: the backlog stays within RateBytes on the wire.
func TestByteBudget(t *testing.T) {
	b := brokertest.StartMochi(t)
	p := startPlatform(t, b.URL, false)
	waitFor(t, 10*time.Second, "the platform", p.Connected)
	ob := openOutbox(t)
	appendN(t, ob, 100)
	o := testOptions(b.URL)
	o.RateBytes = 8000 // 64 kbit/s
	u, _, _ := startUplink(t, ob, o)
	start := time.Now()
	waitFor(t, 60*time.Second, "the backlog to drain", func() bool { return unacked(t, ob) == 0 })
	elapsed := time.Since(start)
	wire := u.State().WireBytes
	if minimum := time.Duration(float64(wire-8000) / 8000 * float64(time.Second)); elapsed < minimum*9/10 {
		t.Fatalf("%d wire bytes at 8000 B/s in %v, faster than the budget (%v)", wire, elapsed, minimum)
	}
	t.Logf("%d wire bytes at a budget of 8000 B/s: %v", wire, elapsed.Round(time.Millisecond))
}

// denyHook lets a client in only with the password "right", and counts attempts.
type denyHook struct {
	mochi.HookBase
	attempts atomic.Int32
}

func (h *denyHook) ID() string { return "deny" }
func (h *denyHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (h *denyHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	h.attempts.Add(1)
	return string(pk.Connect.Password) == "right"
}
func (h *denyHook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool { return true }

// TestAuthRefusedBacksOffHard: a broker refusing the password is retried only after
// AuthBackoff, while a broker that is down is retried at the network backoff.
func TestAuthRefusedBacksOffHard(t *testing.T) {
	h := new(denyHook)
	b := brokertest.StartMochiAuth(t, h)
	ob := openOutbox(t)
	appendN(t, ob, 2)
	o := testOptions(b.URL)
	o.Username, o.Password = "lane", "wrong"
	o.AuthBackoff = time.Hour
	u, log, stop := startUplink(t, ob, o)
	waitFor(t, 10*time.Second, "the refusal", func() bool { return u.State().LastError != "" })
	time.Sleep(1500 * time.Millisecond) // ≥ 3 retries at the 50-500 ms network backoff
	st := u.State()
	if n := h.attempts.Load(); n != 1 || st.ErrorClass != mqttutil.ClassAuth || time.Until(st.RetryAt) < 30*time.Minute {
		t.Fatalf("%d attempts, state %+v; want one attempt, auth, retry in about an hour", n, st)
	}
	if !strings.Contains(log.String(), "refused our credentials") {
		t.Fatal("the refusal was not logged as such")
	}
	stop()

	// The same uplink against a dead address keeps retrying quickly, as a network error.
	o = testOptions("tcp://127.0.0.1:1")
	o.AuthBackoff = time.Hour
	u, _, _ = startUplink(t, openOutbox(t), o)
	waitFor(t, 10*time.Second, "a connection error", func() bool { return u.State().LastError != "" })
	if st := u.State(); st.ErrorClass != mqttutil.ClassNetwork || time.Until(st.RetryAt) > time.Second {
		t.Fatalf("state %+v: want a network error retried within the backoff", st)
	}
}

// TestStallWatchdog: connected, records waiting, no platform ack for StallAfter → the
// uplink drops the connection and reconnects (a new epoch) by itself; once the platform acks
// again everything drains.
func TestStallWatchdog(t *testing.T) {
	b := brokertest.StartMochi(t)
	p := startPlatform(t, b.URL, true) // stores, never acks
	waitFor(t, 10*time.Second, "the platform", p.Connected)
	ob := openOutbox(t)
	msgs := appendN(t, ob, 10)
	o := testOptions(b.URL)
	o.AckTimeout = time.Minute // no resends within the test: only the watchdog acts
	o.StallAfter = 2 * time.Second
	var stalls atomic.Int32
	o.OnStall = func(noAck time.Duration, waiting int) {
		if noAck >= 2*time.Second && waiting > 0 {
			stalls.Add(1)
		}
	}
	u, log, _ := startUplink(t, ob, o)
	waitFor(t, 20*time.Second, "a stall to be detected", func() bool { return stalls.Load() > 0 && u.State().Epoch >= 2 })
	if !strings.Contains(log.String(), "stalled") {
		t.Fatal("the stall was not logged")
	}
	ps, _, _ := ob.GetMeta(context.Background(), MetaStateKey)
	if !strings.Contains(ps, `"stalls":`) {
		t.Fatalf("persisted state %s does not count the stall", ps)
	}
	p.SetAcking(true)
	waitFor(t, 30*time.Second, "the records to drain once the platform acks", func() bool { return unacked(t, ob) == 0 })
	checkDelivered(t, p, msgs)
	t.Logf("stalls %d, epochs %d", u.State().Stalls, u.State().Epoch)
}
