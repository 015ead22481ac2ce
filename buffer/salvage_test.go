package buffer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// pageOf returns the root page number of the named table or index in a closed file.
func pageOf(t *testing.T, path, name string) int64 {
	t.Helper()
	had := sidecars(path)
	defer dropCreatedSidecars(path, had) // a read-only connection leaves its -wal and -shm
	db, err := sql.Open("sqlite3", dsn(path, "mode=ro"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var root int64
	if err := db.QueryRow(`SELECT rootpage FROM sqlite_master WHERE name = ?`, name).Scan(&root); err != nil {
		t.Fatal(err)
	}
	return root
}

// scribblePage overwrites page n (1-based) of a closed database file.
func scribblePage(t *testing.T, path string, n int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096
	off := (n - 1) * pageSize
	if off+pageSize > int64(len(b)) {
		t.Fatalf("page %d is past the end of a %d-byte file", n, len(b))
	}
	for i := off + 8; i < off+pageSize; i++ {
		b[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// originals reads every row of a closed, intact file by seq.
func originals(t *testing.T, path string) map[int64]Msg {
	t.Helper()
	o := openT(t, path)
	defer o.Close()
	out := map[int64]Msg{}
	for _, m := range allRecords(t, o) {
		out[m.Seq] = m
	}
	return out
}

func TestSalvageAfterIndexDamage(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "o.db")
	closedDBFile(t, path, 200)
	orig := originals(t, path)
	scribblePage(t, path, pageOf(t, path, "records_state_seq"))

	o := openT(t, path)
	defer o.Close()
	q := o.Quarantined()
	if len(q) == 0 {
		t.Fatal("a damaged index was not noticed by quick_check")
	}
	fresh := appendN(t, o, KindEvent, "new", 3)
	if fresh[0].Seq != 201 {
		t.Fatalf("first seq after quarantine %d, want 201", fresh[0].Seq)
	}
	r, err := o.Salvage(ctx, q[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("salvage: %v", r)
	if r.Copied != 200 || r.Pending != 100 || r.Damaged+r.Conflicts+r.Unreadable != 0 || r.FirstSeq != 1 || r.LastSeq != 200 {
		t.Fatalf("salvage report %+v, want all 200 rows copied, 100 to send", r)
	}
	got := allRecords(t, o)
	if len(got) != 203 {
		t.Fatalf("%d records after salvage, want 203", len(got))
	}
	for _, m := range got[:200] {
		want := orig[m.Seq]
		if m.ID != want.ID || !bytes.Equal(m.Payload, want.Payload) {
			t.Fatalf("seq %d salvaged as %s, want %s with the same bytes", m.Seq, m.ID, want.ID)
		}
		wantState := Pending
		if want.State == Acked {
			wantState = Acked
		}
		if m.State != wantState {
			t.Fatalf("seq %d salvaged in state %s, want %s", m.Seq, m.State, wantState)
		}
	}
	// The salvaged rows still link into their old chain, and the new chain is untouched.
	for i := 1; i < 200; i++ {
		var e envelope
		if err := json.Unmarshal(got[i].Payload, &e); err != nil {
			t.Fatal(err)
		}
		if e.Prev != hex.EncodeToString(got[i-1].Hash) {
			t.Fatalf("salvaged seq %d does not link to seq %d", got[i].Seq, got[i-1].Seq)
		}
	}
	m, err := o.Append(ctx, KindEvent, builder("after", 0))
	if err != nil {
		t.Fatal(err)
	}
	var e envelope
	_ = json.Unmarshal(m.Payload, &e)
	if m.Seq != 204 || e.Prev != hex.EncodeToString(fresh[2].Hash) {
		t.Fatalf("append after salvage: seq %d prev %s, want 204 chained to seq 203", m.Seq, e.Prev)
	}
	// Again: nothing new, and the quarantined file is unchanged.
	before, _ := os.ReadFile(q[0])
	r, err = o.Salvage(ctx, q[0])
	if err != nil || r.Copied != 0 || r.Present != 200 {
		t.Fatalf("second salvage %+v, %v; want 200 already present", r, err)
	}
	after, _ := os.ReadFile(q[0])
	if !bytes.Equal(before, after) {
		t.Fatal("salvage changed the quarantined file")
	}
	if extra, _ := filepath.Glob(q[0] + "?*"); len(extra) != 0 {
		t.Fatalf("files left beside the quarantined one: %v", extra)
	}
}

func TestSalvageAfterDataPageDamage(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "o.db")
	closedDBFile(t, path, 200)
	orig := originals(t, path)
	// A leaf page of the records table in the middle of the file.
	fi, _ := os.Stat(path)
	scribblePage(t, path, fi.Size()/4096/2)

	o := openT(t, path)
	defer o.Close()
	q := o.Quarantined()
	if len(q) == 0 {
		t.Fatal("a damaged data page was not noticed by quick_check")
	}
	r, err := o.Salvage(ctx, q[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("salvage: %v", r)
	if r.Copied < 150 || r.Copied+r.Damaged+r.Unreadable+r.Missing != 200 {
		t.Fatalf("salvage report %+v: every one of the 200 seqs must be copied or accounted for", r)
	}
	for _, m := range allRecords(t, o) {
		want, ok := orig[m.Seq]
		if !ok || m.ID != want.ID || !bytes.Equal(m.Payload, want.Payload) {
			t.Fatalf("salvaged seq %d is not the original row", m.Seq)
		}
	}
}

// resealFix rewrites a builder payload: marks it and, when told, links it to newPrev.
func resealFix(m Msg, newPrev []byte) ([]byte, error) {
	var e envelope
	if err := json.Unmarshal(m.Payload, &e); err != nil {
		return nil, err
	}
	e.Pad = "corrected"
	if newPrev != nil {
		e.Prev = hex.EncodeToString(newPrev)
	}
	return json.Marshal(e)
}

func TestReseal(t *testing.T) {
	ctx := context.Background()
	o := openT(t, filepath.Join(t.TempDir(), "o.db"))
	defer o.Close()
	ms := appendN(t, o, KindTest, "t", 10)
	if err := o.MarkSent(ctx, 1, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Reseal(ctx, 2, 100, resealFix); !errors.Is(err, ErrNotResealable) {
		t.Fatalf("reseal over a sent record: %v, want ErrNotResealable", err)
	}
	if _, err := o.Reseal(ctx, 3, 5, resealFix); !errors.Is(err, ErrNotResealable) {
		t.Fatalf("reseal of 7 records with max 5: %v, want ErrNotResealable", err)
	}
	if got := allRecords(t, o); !bytes.Equal(got[5].Payload, ms[5].Payload) {
		t.Fatal("a refused reseal changed a record")
	}
	// Telemetry seq 7 is evicted meanwhile: seq 8 keeps its link to 7's (unchanged) bytes.
	if _, err := o.db.Exec(`DELETE FROM records WHERE seq = 7`); err != nil {
		t.Fatal(err)
	}
	n, err := o.Reseal(ctx, 3, 100, resealFix)
	if err != nil || n != 6 {
		t.Fatalf("reseal: %d changed, %v; want 6", n, err)
	}
	got := allRecords(t, o)
	for i, m := range got {
		var e envelope
		if err := json.Unmarshal(m.Payload, &e); err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(m.Payload); !bytes.Equal(sum[:], m.Hash) {
			t.Fatalf("seq %d: stored hash is not its payload's", m.Seq)
		}
		if m.Seq > 3 && e.Pad != "corrected" || m.Seq <= 3 && e.Pad == "corrected" {
			t.Fatalf("seq %d: pad %q", m.Seq, e.Pad)
		}
		switch {
		case m.Seq == 1:
		case m.Seq == 8:
			if e.Prev != hex.EncodeToString(ms[6].Hash) {
				t.Fatalf("seq 8 relinked although its predecessor was evicted unchanged")
			}
		default:
			if e.Prev != hex.EncodeToString(got[i-1].Hash) {
				t.Fatalf("seq %d does not link to seq %d after reseal", m.Seq, got[i-1].Seq)
			}
		}
	}
	m, err := o.Append(ctx, KindTest, builder("t", 0))
	if err != nil {
		t.Fatal(err)
	}
	var e envelope
	_ = json.Unmarshal(m.Payload, &e)
	if e.Prev != hex.EncodeToString(got[len(got)-1].Hash) {
		t.Fatal("the next append does not chain onto the resealed last record")
	}
}

// TestSecondaryOpen: a technician's command opening the outbox beside the agent neither
// requeues the agent's sent records nor moves a damaged file from under it.
func TestSecondaryOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "o.db")
	o := openT(t, path)
	appendN(t, o, KindTest, "t", 3)
	if err := o.MarkSent(ctx, 1, 1, 2); err != nil {
		t.Fatal(err)
	}
	sec, err := Open(ctx, path, Opts{Secondary: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, o, `state = 'sent'`); n != 2 {
		t.Fatalf("a secondary open requeued the agent's sent records (%d left sent)", n)
	}
	sec.Close()
	o.Close()

	closedDBFile(t, path, 0)
	scribblePage(t, path, pageOf(t, path, "records_state_seq"))
	before, _ := os.ReadFile(path)
	if _, err := Open(ctx, path, Opts{Secondary: true}); err == nil {
		t.Fatal("a secondary open of a damaged file succeeded")
	}
	after, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("a secondary open moved or changed the damaged file: %v", err)
	}
	if m, _ := filepath.Glob(path + ".corrupt-*"); len(m) != 0 {
		t.Fatalf("quarantined by a secondary open: %v", m)
	}
}
