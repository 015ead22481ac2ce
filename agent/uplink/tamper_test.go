package uplink

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imagent/agent/contract"
	"imagent/agent/internal/brokertest"
	"imagent/agent/platform"
	"imagent/buffer"
)

// TestTamperDetected edits one stored record and deletes another in the middle of an
// outbox's chain (someone with a shell and sqlite3 on the box), then lets the real uplink
// deliver: the reference platform reports both, as records arrive and in VerifyChain. Then
// it edits a record in the platform's own database: VerifyChain reports that too.
func TestTamperDetected(t *testing.T) {
	ctx := context.Background()
	b := brokertest.StartMochi(t)
	lg, logs := logger(t, "platform")
	dbPath := filepath.Join(t.TempDir(), "platform.db")
	p, err := platform.Open(ctx, platform.Options{Broker: b.URL, DBPath: dbPath, Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	runBG(t, "platform", p.Run)
	waitFor(t, 10*time.Second, "the platform", p.Connected)

	dir := t.TempDir()
	ob, err := buffer.Open(ctx, filepath.Join(dir, "outbox.db"), buffer.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ob.Close() })
	msgs := appendN(t, ob, 20)

	// Tamper through a second connection, as sqlite3 on the box would.
	raw, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "outbox.db")+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(msgs[7].Payload), "record 7", "record 7 (tampered)", 1)
	if edited == string(msgs[7].Payload) {
		t.Fatal("nothing to edit")
	}
	if _, err := raw.Exec(`UPDATE records SET payload = ? WHERE seq = 8`, edited); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`DELETE FROM records WHERE seq = 14`); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	startUplink(t, ob, testOptions(b.URL))
	waitFor(t, 20*time.Second, "the outbox to drain", func() bool { return unacked(t, ob) == 0 })
	waitFor(t, 5*time.Second, "the platform's count", func() bool { return p.Counts().Stored == 19 })

	probs, err := p.VerifyChain(ctx, lane.Station, lane.Lane)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"seq 9: " + platform.ProblemPrevHash, // 8 was edited: it no longer hashes to 9's link
		"seq 15: " + platform.ProblemGap,     // 14 was deleted
	}
	if got := kinds(probs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("problems %v, want %v", probs, want)
	}
	if n := p.Counts().ChainBreaks; n < 1 || !strings.Contains(logs.String(), "chain broken") {
		t.Fatalf("chain breaks %d at arrival; log:\n%s", n, logs)
	}

	// Now the platform's own copy of seq 3 is edited.
	pdb, err := sql.Open("sqlite3", "file:"+dbPath+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer pdb.Close()
	if _, err := pdb.Exec(`UPDATE records SET payload = replace(payload, 'record 2', 'record 2!') WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	probs, err = p.VerifyChain(ctx, lane.Station, lane.Lane)
	if err != nil {
		t.Fatal(err)
	}
	want = append([]string{"seq 3: " + platform.ProblemEdited, "seq 4: " + platform.ProblemPrevHash}, want...)
	if got := kinds(probs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("problems %v, want %v", probs, want)
	}
	for _, pr := range probs {
		if pr.Explained() {
			t.Fatalf("tampering reported as explained: %v", pr)
		}
	}
}

func kinds(ps []platform.ChainProblem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("seq %d: %s", p.Seq, p.Kind))
	}
	return out
}

// TestEvictionGapExplained: gaps left by evicted telemetry, covered by the agent's
// outbox_evicted event, are explained, while a gap outside it (or larger than it says) is not.
func TestEvictionGapExplained(t *testing.T) {
	ctx := context.Background()
	b := brokertest.StartMochi(t)
	p := startPlatform(t, b.URL, false)
	waitFor(t, 10*time.Second, "the platform", p.Connected)
	ob := openOutbox(t)
	msgs := appendN(t, ob, 12)
	ev := contract.Envelope{V: contract.Version, ID: contract.NewID(), Kind: contract.KindEvent,
		Station: lane.Station, Lane: lane.Lane, Agent: contract.AgentInfo{Version: "test", BootID: "boot"},
		Time: contract.Time{Wall: time.Now(), Clock: contract.ClockNTP},
		Body: []byte(`{"event":"outbox_evicted","attrs":{"from_seq":"3","to_seq":"6","count":"2"}}`)}
	if _, err := ob.Append(ctx, buffer.KindEvent, func(seq int64, prev []byte) (string, []byte, error) {
		raw, err := ev.Seal(seq, prev)
		return ev.ID, raw, err
	}); err != nil {
		t.Fatal(err)
	}
	_ = msgs
	dbDelete(t, ob, 4, 5, 10) // 4 and 5 "evicted" (within the event's range and count); 10 not
	startUplink(t, ob, testOptions(b.URL))
	waitFor(t, 20*time.Second, "the outbox to drain", func() bool { return unacked(t, ob) == 0 })
	probs, err := p.VerifyChain(ctx, lane.Station, lane.Lane)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"seq 6: " + platform.ProblemEvicted, "seq 11: " + platform.ProblemGap}
	if got := kinds(probs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("problems %v, want %v", probs, want)
	}
}

// dbDelete deletes rows by seq behind the outbox's back (for tests of gaps).
func dbDelete(t *testing.T, ob *buffer.Outbox, seqs ...int64) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+ob.Path()+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range seqs {
		if _, err := db.Exec(`DELETE FROM records WHERE seq = ?`, s); err != nil {
			t.Fatal(err)
		}
	}
}
