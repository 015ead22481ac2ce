package buffer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// envelope is the payload the tests build: enough to check the chain from the stored bytes.
type envelope struct {
	Seq  int64  `json:"seq"`
	ID   string `json:"id"`
	Prev string `json:"prev_hash"`
	Pad  string `json:"pad,omitempty"`
}

// builder returns a build func whose payload embeds seq and prevHash, with id prefix-seq.
func builder(prefix string, pad int) func(int64, []byte) (string, []byte, error) {
	return func(seq int64, prev []byte) (string, []byte, error) {
		id := fmt.Sprintf("%s-%d", prefix, seq)
		b, err := json.Marshal(envelope{Seq: seq, ID: id, Prev: hex.EncodeToString(prev), Pad: strings.Repeat("x", pad)})
		return id, b, err
	}
}

func openT(t testing.TB, path string) *Outbox {
	t.Helper()
	o, err := Open(context.Background(), path, Opts{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return o
}

func appendN(t testing.TB, o *Outbox, kind Kind, prefix string, n int) []Msg {
	t.Helper()
	var out []Msg
	for range n {
		m, err := o.Append(context.Background(), kind, builder(prefix, 0))
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		out = append(out, m)
	}
	return out
}

// allRecords reads every row in seq order, whatever its state.
func allRecords(t testing.TB, o *Outbox) []Msg {
	t.Helper()
	rows, err := o.db.Query(`SELECT ` + msgColumns + ` FROM records ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []Msg
	for rows.Next() {
		m, err := scanMsg(rows)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// verifyChain checks that seqs are 1..n without gaps, each hash is sha256 of its payload, each
// payload names its own seq and the previous record's hash, and the persisted counter and last
// hash match the last row. It returns the records.
func verifyChain(t testing.TB, o *Outbox) []Msg {
	t.Helper()
	recs := allRecords(t, o)
	var prev []byte
	for i, m := range recs {
		if m.Seq != int64(i+1) {
			t.Fatalf("record %d has seq %d, want %d (gap or reuse)", i, m.Seq, i+1)
		}
		sum := sha256.Sum256(m.Payload)
		if !bytes.Equal(m.Hash, sum[:]) {
			t.Fatalf("seq %d: stored hash %x != sha256(payload) %x", m.Seq, m.Hash, sum)
		}
		var e envelope
		if err := json.Unmarshal(m.Payload, &e); err != nil {
			t.Fatalf("seq %d: payload: %v", m.Seq, err)
		}
		if e.Seq != m.Seq || e.ID != m.ID {
			t.Fatalf("seq %d: payload names seq %d id %q, row id %q", m.Seq, e.Seq, e.ID, m.ID)
		}
		if e.Prev != hex.EncodeToString(prev) {
			t.Fatalf("seq %d: prev_hash %q, want %x", m.Seq, e.Prev, prev)
		}
		prev = m.Hash
	}
	last, h, err := readChain(context.Background(), o.db)
	if err != nil {
		t.Fatal(err)
	}
	if last != int64(len(recs)) || !bytes.Equal(h, prev) {
		t.Fatalf("meta chain (seq %d, hash %x) does not match the last row (seq %d, hash %x)", last, h, len(recs), prev)
	}
	return recs
}

func integrityCheck(t testing.TB, db *sql.DB) {
	t.Helper()
	var s string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	if s != "ok" {
		t.Fatalf("integrity_check: %s", s)
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	o := openT(t, filepath.Join(t.TempDir(), "sub", "dir", "outbox.db"))
	defer o.Close()

	var want []Msg
	for i := range 5 {
		kind := KindTest
		if i%2 == 1 {
			kind = KindTelemetry
		}
		m, err := o.Append(ctx, kind, builder("r", 10))
		if err != nil {
			t.Fatal(err)
		}
		if m.Seq != int64(i+1) || m.State != Pending || m.Kind != kind || m.Epoch != 0 || m.Attempts != 0 {
			t.Fatalf("append %d returned %+v", i, m)
		}
		want = append(want, m)
	}
	got, err := o.Pending(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("Pending returned %d records, want 5", len(got))
	}
	for i, m := range got {
		w := want[i]
		if m.Seq != w.Seq || m.ID != w.ID || m.Kind != w.Kind || !bytes.Equal(m.Payload, w.Payload) ||
			!bytes.Equal(m.Hash, w.Hash) || !m.Created.Equal(w.Created) || m.State != Pending {
			t.Fatalf("Pending[%d] = %+v, want %+v", i, m, w)
		}
	}
	// Paging by after, strictly by seq (telemetry is not pushed back).
	page, err := o.Pending(ctx, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].Seq != 3 || page[1].Seq != 4 {
		t.Fatalf("Pending(after 2, max 2) = %v", seqsOf(page))
	}
	if _, err := o.Pending(ctx, 0, 0); err == nil {
		t.Fatal("Pending with max 0 gave no error")
	}

	if err := o.MarkSent(ctx, 7, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	got, _ = o.Pending(ctx, 0, 10)
	if s := seqsOf(got); fmt.Sprint(s) != "[4 5]" {
		t.Fatalf("pending after MarkSent = %v", s)
	}
	m, err := o.BySeq(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if m.State != Sent || m.Epoch != 7 || m.Attempts != 1 {
		t.Fatalf("after MarkSent: %+v", m)
	}
	n, err := o.Ack(ctx, want[0].ID, want[1].ID, "no-such-id")
	if err != nil || n != 2 {
		t.Fatalf("Ack = %d, %v; want 2 rows", n, err)
	}
	m, _ = o.Get(ctx, want[0].ID)
	if m.State != Acked {
		t.Fatalf("after Ack: %+v", m)
	}
	// Acked records are not marked sent again.
	if err := o.MarkSent(ctx, 8, 1); err != nil {
		t.Fatal(err)
	}
	if m, _ = o.BySeq(ctx, 1); m.State != Acked || m.Epoch != 7 {
		t.Fatalf("MarkSent touched an acked record: %+v", m)
	}
	verifyChain(t, o)
}

func seqsOf(ms []Msg) []int64 {
	var s []int64
	for _, m := range ms {
		s = append(s, m.Seq)
	}
	return s
}

func TestAppendFailedBuildDoesNotConsumeSeq(t *testing.T) {
	ctx := context.Background()
	o := openT(t, filepath.Join(t.TempDir(), "o.db"))
	defer o.Close()
	appendN(t, o, KindTest, "a", 2)

	boom := errors.New("boom")
	var offered int64
	_, err := o.Append(ctx, KindTest, func(seq int64, prev []byte) (string, []byte, error) {
		offered = seq
		return "", nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Append with failing build: %v, want it to wrap boom", err)
	}
	if offered != 3 {
		t.Fatalf("build offered seq %d, want 3", offered)
	}
	// Bad builder output and bad kinds store nothing either.
	if _, err := o.Append(ctx, KindTest, func(int64, []byte) (string, []byte, error) { return "", []byte("x"), nil }); err == nil {
		t.Fatal("empty id accepted")
	}
	if _, err := o.Append(ctx, KindTest, func(int64, []byte) (string, []byte, error) { return "x", nil, nil }); err == nil {
		t.Fatal("empty payload accepted")
	}
	if _, err := o.Append(ctx, "weather", builder("a", 0)); err == nil {
		t.Fatal("unknown kind accepted")
	}
	if _, err := o.Append(ctx, KindTest, nil); err == nil {
		t.Fatal("nil build accepted")
	}
	// A duplicate id is refused and does not consume the seq.
	_, err = o.Append(ctx, KindTest, func(seq int64, prev []byte) (string, []byte, error) {
		return "a-1", []byte("dup"), nil
	})
	if !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("duplicate id: %v, want ErrDuplicateID", err)
	}
	// A cancelled context stores nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := o.Append(cctx, KindTest, builder("a", 0)); err == nil {
		t.Fatal("Append with a cancelled context succeeded")
	}

	m, err := o.Append(ctx, KindTest, builder("a", 0))
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq != 3 {
		t.Fatalf("next seq after failures = %d, want 3", m.Seq)
	}
	verifyChain(t, o)
}

func TestChainAndSeqSurviveReopenAndRowDeletion(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "o.db")
	o := openT(t, path)
	first := appendN(t, o, KindCheck, "c", 3)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	o = openT(t, path)
	var gotPrev []byte
	m, err := o.Append(ctx, KindCheck, func(seq int64, prev []byte) (string, []byte, error) {
		gotPrev = prev
		return builder("c", 0)(seq, prev)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(first[2].Payload)
	if m.Seq != 4 || !bytes.Equal(gotPrev, want[:]) {
		t.Fatalf("after reopen: seq %d prev %x; want seq 4 prev %x", m.Seq, gotPrev, want)
	}
	verifyChain(t, o)

	// Later pruning deletes rows; the counter and the chain live in meta, not in max(seq).
	lastHash := m.Hash
	if _, err := o.db.Exec(`DELETE FROM records WHERE seq >= 3`); err != nil {
		t.Fatal(err)
	}
	o.Close()
	o = openT(t, path)
	defer o.Close()
	m, err = o.Append(ctx, KindCheck, func(seq int64, prev []byte) (string, []byte, error) {
		gotPrev = prev
		return builder("c", 0)(seq, prev)
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq != 5 || !bytes.Equal(gotPrev, lastHash) {
		t.Fatalf("after deleting rows: seq %d prev %x; want seq 5 prev %x", m.Seq, gotPrev, lastHash)
	}
}

func TestFirstRecordHasNilPrevHash(t *testing.T) {
	o := openT(t, filepath.Join(t.TempDir(), "o.db"))
	defer o.Close()
	called := false
	_, err := o.Append(context.Background(), KindEvent, func(seq int64, prev []byte) (string, []byte, error) {
		called = true
		if seq != 1 || prev != nil {
			t.Errorf("first build got seq %d prev %x; want 1, nil", seq, prev)
		}
		return "e-1", []byte("{}"), nil
	})
	if err != nil || !called {
		t.Fatalf("Append: %v (called %v)", err, called)
	}
}

func TestCloseWithoutAckRequeues(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "o.db")
	o := openT(t, path)
	ms := appendN(t, o, KindTest, "t", 4)
	if err := o.MarkSent(ctx, 3, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Ack(ctx, ms[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	o = openT(t, path)
	defer o.Close()
	got, err := o.Pending(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(seqsOf(got)); s != "[2 3 4]" {
		t.Fatalf("pending after reopen = %s, want [2 3 4]", s)
	}
	m, _ := o.BySeq(ctx, 2)
	if m.Attempts != 1 || m.Epoch != 3 {
		t.Fatalf("requeued record lost its send history: %+v", m)
	}
	if m, _ = o.BySeq(ctx, 1); m.State != Acked {
		t.Fatalf("acked record after reopen: %+v", m)
	}
	st, err := o.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ByState[Sent] != 0 || st.ByState[Pending] != 3 || st.ByState[Acked] != 1 {
		t.Fatalf("stats after reopen: %+v", st.ByState)
	}
}

func TestRequeue(t *testing.T) {
	ctx := context.Background()
	o := openT(t, filepath.Join(t.TempDir(), "o.db"))
	defer o.Close()
	appendN(t, o, KindTest, "t", 6)
	if err := o.MarkSent(ctx, 1, 1, 2); err != nil {
		t.Fatal(err)
	}
	if err := o.MarkSent(ctx, 2, 3, 4); err != nil {
		t.Fatal(err)
	}
	if err := o.MarkSent(ctx, 3, 5); err != nil {
		t.Fatal(err)
	}
	n, err := o.RequeueOlder(ctx, 2)
	if err != nil || n != 2 {
		t.Fatalf("RequeueOlder(2) = %d, %v; want 2", n, err)
	}
	got, _ := o.Pending(ctx, 0, 10)
	if s := fmt.Sprint(seqsOf(got)); s != "[1 2 6]" {
		t.Fatalf("pending = %s, want [1 2 6]", s)
	}
	// A resend counts another attempt.
	if err := o.MarkSent(ctx, 4, 1); err != nil {
		t.Fatal(err)
	}
	if m, _ := o.BySeq(ctx, 1); m.Attempts != 2 || m.Epoch != 4 {
		t.Fatalf("resent record: %+v", m)
	}
	n, err = o.Requeue(ctx)
	if err != nil || n != 4 {
		t.Fatalf("Requeue = %d, %v; want 4 (seqs 1, 3, 4, 5)", n, err)
	}
	got, _ = o.Pending(ctx, 0, 10)
	if len(got) != 6 {
		t.Fatalf("pending after Requeue = %v", seqsOf(got))
	}
}

func TestAckIdempotentAndReject(t *testing.T) {
	ctx := context.Background()
	o := openT(t, filepath.Join(t.TempDir(), "o.db"))
	defer o.Close()
	ms := appendN(t, o, KindRepair, "m", 4)

	for i, want := range []int64{1, 0, 0} {
		n, err := o.Ack(ctx, ms[1].ID)
		if err != nil || n != want {
			t.Fatalf("Ack #%d = %d, %v; want %d", i, n, err, want)
		}
	}
	if n, err := o.Ack(ctx, "unknown-1", "unknown-2"); err != nil || n != 0 {
		t.Fatalf("Ack of unknown ids = %d, %v", n, err)
	}
	if n, err := o.Ack(ctx); err != nil || n != 0 {
		t.Fatalf("Ack() = %d, %v", n, err)
	}

	if err := o.Reject(ctx, ms[2].ID, "bad vin"); err != nil {
		t.Fatal(err)
	}
	m, _ := o.Get(ctx, ms[2].ID)
	if m.State != Rejected || m.Reason != "bad vin" {
		t.Fatalf("after Reject: %+v", m)
	}
	// First verdict is final: no ack over a reject, no reject over an ack.
	if n, _ := o.Ack(ctx, ms[2].ID); n != 0 {
		t.Fatal("Ack changed a rejected record")
	}
	if err := o.Reject(ctx, ms[1].ID, "duplicate"); err != nil {
		t.Fatal(err)
	}
	if m, _ := o.Get(ctx, ms[1].ID); m.State != Acked {
		t.Fatalf("Reject changed an acked record: %+v", m)
	}
	if err := o.Reject(ctx, "nope", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Reject unknown id: %v", err)
	}
	// Rejected records are never pending again, not even after a reopen.
	got, _ := o.Pending(ctx, 0, 10)
	if s := fmt.Sprint(seqsOf(got)); s != "[1 4]" {
		t.Fatalf("pending = %s, want [1 4]", s)
	}
}

func TestGetNotFound(t *testing.T) {
	ctx := context.Background()
	o := openT(t, filepath.Join(t.TempDir(), "o.db"))
	defer o.Close()
	if _, err := o.Get(ctx, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get: %v", err)
	}
	if _, err := o.BySeq(ctx, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("BySeq: %v", err)
	}
}

func TestStats(t *testing.T) {
	ctx := context.Background()
	o := openT(t, filepath.Join(t.TempDir(), "o.db"))
	defer o.Close()

	st, err := o.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.OldestUnacked.IsZero() || st.OldestUnackedSeq != 0 || st.LastSeq != 0 || len(st.ByKind) != 0 || len(st.ByState) != 4 {
		t.Fatalf("empty stats: %+v", st)
	}
	if st.FileBytes <= 0 {
		t.Fatalf("FileBytes = %d", st.FileBytes)
	}

	tests := appendN(t, o, KindTest, "t", 3)
	tele := appendN(t, o, KindTelemetry, "l", 2)
	if _, err := o.Ack(ctx, tests[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := o.MarkSent(ctx, 1, tests[1].Seq); err != nil {
		t.Fatal(err)
	}
	if err := o.Reject(ctx, tele[0].ID, "x"); err != nil {
		t.Fatal(err)
	}
	st, err = o.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var testBytes int64
	for _, m := range tests {
		testBytes += int64(len(m.Payload))
	}
	if got, want := st.ByKind[KindTest], (KindStats{Pending: 1, Sent: 1, Acked: 1, Bytes: testBytes,
		UnackedBytes: int64(len(tests[1].Payload) + len(tests[2].Payload))}); got != want {
		t.Fatalf("ByKind[test] = %+v, want %+v", got, want)
	}
	if got, want := st.ByKind[KindTelemetry], (KindStats{Pending: 1, Rejected: 1, Bytes: int64(len(tele[0].Payload) + len(tele[1].Payload)),
		UnackedBytes: int64(len(tele[1].Payload))}); got != want {
		t.Fatalf("ByKind[telemetry] = %+v, want %+v", got, want)
	}
	if st.ByState[Pending] != 2 || st.ByState[Sent] != 1 || st.ByState[Acked] != 1 || st.ByState[Rejected] != 1 {
		t.Fatalf("ByState = %v", st.ByState)
	}
	if st.OldestUnackedSeq != 2 || !st.OldestUnacked.Equal(tests[1].Created) || st.LastSeq != 5 {
		t.Fatalf("oldest unacked seq %d at %v, last seq %d", st.OldestUnackedSeq, st.OldestUnacked, st.LastSeq)
	}
	var files int64
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if fi, err := os.Stat(o.Path() + suffix); err == nil {
			files += fi.Size()
		}
	}
	if st.FileBytes != files {
		t.Fatalf("FileBytes = %d, files on disk = %d", st.FileBytes, files)
	}
}

func TestMeta(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "o.db")
	o := openT(t, path)
	if _, ok, err := o.GetMeta(ctx, "boot_id"); ok || err != nil {
		t.Fatalf("GetMeta of a missing key: ok %v, err %v", ok, err)
	}
	if err := o.SetMeta(ctx, "boot_id", "a"); err != nil {
		t.Fatal(err)
	}
	if err := o.SetMeta(ctx, "boot_id", "b"); err != nil {
		t.Fatal(err)
	}
	if err := o.SetMeta(ctx, "buffer.seq", "0"); err == nil {
		t.Fatal("SetMeta of a reserved key succeeded")
	}
	if err := o.SetMeta(ctx, "", "x"); err == nil {
		t.Fatal("SetMeta of an empty key succeeded")
	}
	o.Close()
	o = openT(t, path)
	defer o.Close()
	if v, ok, err := o.GetMeta(ctx, "boot_id"); v != "b" || !ok || err != nil {
		t.Fatalf("GetMeta after reopen = %q, %v, %v", v, ok, err)
	}
}

func TestSettingsTookEffect(t *testing.T) {
	o := openT(t, filepath.Join(t.TempDir(), "we#ird?na%me.db"))
	defer o.Close()
	if _, err := os.Stat(o.Path()); err != nil {
		t.Fatalf("the database is not at the path asked for: %v", err)
	}
	var mode string
	var syncMode, busy, ver int
	if err := o.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	o.db.QueryRow(`PRAGMA synchronous`).Scan(&syncMode)
	o.db.QueryRow(`PRAGMA busy_timeout`).Scan(&busy)
	o.db.QueryRow(`PRAGMA user_version`).Scan(&ver)
	if mode != "wal" || syncMode != 2 || busy != 5000 || ver != SchemaVersion() {
		t.Fatalf("journal_mode %s synchronous %d busy_timeout %d user_version %d", mode, syncMode, busy, ver)
	}
	// Appends take the write lock at BEGIN (_txlock=immediate).
	tx, err := o.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	other, err := sql.Open("sqlite3", dsn(o.Path(), "_busy_timeout=0"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Exec(`BEGIN IMMEDIATE`); err == nil {
		t.Fatal("a second writer got the lock while a transaction was open: BEGIN is not IMMEDIATE")
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, "", Opts{}); err == nil {
		t.Fatal("Open of an empty path succeeded")
	}
	dir := t.TempDir()
	// A directory where the file should be is not corruption: report it, move nothing.
	if _, err := Open(ctx, dir, Opts{}); err == nil {
		t.Fatal("Open of a directory succeeded")
	}
	ents, _ := os.ReadDir(filepath.Dir(dir))
	for _, e := range ents {
		if strings.Contains(e.Name(), ".corrupt-") {
			t.Fatalf("moved something aside: %s", e.Name())
		}
	}
}

func TestCreatedIsWallTimeOnly(t *testing.T) {
	o := openT(t, filepath.Join(t.TempDir(), "o.db"))
	defer o.Close()
	before := time.Now().Add(-time.Second)
	m := appendN(t, o, KindEvent, "e", 1)[0]
	if m.Created.Before(before) || m.Created.After(time.Now().Add(time.Second)) {
		t.Fatalf("Created = %v", m.Created)
	}
}

func TestConcurrentAppends(t *testing.T) {
	ctx := context.Background()
	o := openT(t, filepath.Join(t.TempDir(), "o.db"))
	const workers, each = 4, 25
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for range each {
				if _, err := o.Append(ctx, KindTelemetry, builder(fmt.Sprintf("w%d", w), 0)); err != nil {
					errs <- err
					return
				}
				if _, err := o.Pending(ctx, 0, 5); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if recs := verifyChain(t, o); len(recs) != workers*each {
		t.Fatalf("%d records, want %d", len(recs), workers*each)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestInspectChangesNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob, err := Open(ctx, path, Opts{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	for i := range 3 {
		if _, err := ob.Append(ctx, KindTest, func(seq int64, prev []byte) (string, []byte, error) {
			return fmt.Sprintf("inspect-%d", i), []byte(`{}`), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ob.MarkSent(ctx, 1, 1, 2); err != nil {
		t.Fatal(err)
	}
	st, err := Inspect(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if st.ByState[Sent] != 2 || st.ByState[Pending] != 1 || st.LastSeq != 3 {
		t.Fatalf("inspect: %+v last %d", st.ByState, st.LastSeq)
	}
	// Unlike Open, Inspect must not have requeued the sent records of the live outbox.
	live, err := ob.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if live.ByState[Sent] != 2 {
		t.Fatalf("inspect changed the outbox: %+v", live.ByState)
	}
	if _, err := Inspect(ctx, filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Fatal("inspecting a missing file must fail")
	}
}
