package buffer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeUptime is a kernel uptime the test moves by hand: a boot id and ms since boot.
type fakeUptime struct {
	mu   sync.Mutex
	boot string
	ms   int64
}

func (f *fakeUptime) get() (string, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.boot, f.ms
}

func (f *fakeUptime) advance(d time.Duration) {
	f.mu.Lock()
	f.ms += d.Milliseconds()
	f.mu.Unlock()
}

func (f *fakeUptime) reboot(id string) {
	f.mu.Lock()
	f.boot, f.ms = id, 5000
	f.mu.Unlock()
}

func openOpts(t testing.TB, path string, o Opts) *Outbox {
	t.Helper()
	ob, err := Open(context.Background(), path, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return ob
}

func count(t testing.TB, o *Outbox, where string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := o.db.QueryRow(`SELECT count(*) FROM records WHERE `+where, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestQuotaEvictionOrder(t *testing.T) {
	ctx := context.Background()
	const quota = 512 << 10
	o := openOpts(t, filepath.Join(t.TempDir(), "o.db"), Opts{QuotaBytes: quota})
	defer o.Close()

	// Regulated records to about 40 % of the quota, every other one acked.
	var regulated []Msg
	for i := 0; ; i++ {
		m, err := o.Append(ctx, KindTest, builder("t", 2000))
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := o.Ack(ctx, m.ID); err != nil {
				t.Fatal(err)
			}
		} else {
			regulated = append(regulated, m)
		}
		if st, _ := o.Stats(ctx); st.UsedBytes > quota*4/10 {
			break
		}
	}
	// Telemetry, twice the quota's worth: older telemetry and acked records make way, and
	// every acked record goes before the first telemetry record does.
	var tele []Msg
	firstTeleEvicted := -1
	for i := 0; i < 2*quota/2000; i++ {
		m, err := o.Append(ctx, KindTelemetry, builder("l", 2000))
		if err != nil {
			t.Fatalf("telemetry %d refused while older telemetry could be evicted: %v", i, err)
		}
		tele = append(tele, m)
		if firstTeleEvicted < 0 && count(t, o, `kind = 'telemetry'`) < int64(len(tele)) {
			firstTeleEvicted = i
			if n := count(t, o, `state = 'acked'`); n != 0 {
				t.Fatalf("telemetry evicted while %d acked records remain", n)
			}
		}
	}
	if firstTeleEvicted < 0 {
		t.Fatal("no telemetry was ever evicted")
	}
	if n := count(t, o, `kind = 'test' AND state = 'pending'`); n != int64(len(regulated)) {
		t.Fatalf("%d un-acked test records left, want %d: regulated records were evicted", n, len(regulated))
	}
	st, err := o.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.UsedBytes > quota+64<<10 {
		t.Fatalf("used %d bytes with a quota of %d", st.UsedBytes, quota)
	}
	t.Logf("after telemetry: used %d of %d, files %d, %d telemetry kept of %d", st.UsedBytes, quota, st.FileBytes,
		count(t, o, `kind = 'telemetry'`), len(tele))

	// Regulated records go past the quota (into the reserve) and push the telemetry out;
	// then telemetry is refused.
	var refused error
	for i := 0; i < 4*quota/2000 && refused == nil; i++ {
		m, err := o.Append(ctx, KindCheck, builder("c", 2000))
		if err != nil {
			t.Fatalf("regulated record refused: %v", err)
		}
		regulated = append(regulated, m)
		if count(t, o, `kind = 'telemetry'`) == 0 {
			var m Msg
			if m, refused = o.Append(ctx, KindTelemetry, builder("l2", 2000)); refused == nil {
				tele = append(tele, m)
			}
		}
	}
	if !errors.Is(refused, ErrQuotaFull) {
		t.Fatalf("telemetry at a quota full of regulated records: %v, want ErrQuotaFull", refused)
	}
	for _, m := range regulated {
		if _, err := o.BySeq(ctx, m.Seq); err != nil {
			t.Fatalf("regulated seq %d: %v", m.Seq, err)
		}
	}
	st, err = o.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Refused != 1 || st.Evicted != int64(len(tele)) {
		t.Fatalf("refused %d (want 1), evicted %d (want %d)", st.Refused, st.Evicted, len(tele))
	}
	ev, ok, err := o.PendingEviction(ctx)
	if err != nil || !ok || ev.Count != int64(len(tele)) || ev.From != tele[0].Seq || ev.To != tele[len(tele)-1].Seq {
		t.Fatalf("pending eviction %+v %v %v, want %d records %d-%d", ev, ok, err, len(tele), tele[0].Seq, tele[len(tele)-1].Seq)
	}
	if err := o.ClearEviction(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := o.PendingEviction(ctx); ok {
		t.Fatal("eviction still pending after ClearEviction")
	}
	// The chain of the surviving records is unbroken where nothing was evicted.
	integrityCheck(t, o.db)
}

func TestRetentionOnUptimeLedger(t *testing.T) {
	ctx := context.Background()
	up := &fakeUptime{boot: "boot-1", ms: 1000}
	path := filepath.Join(t.TempDir(), "o.db")
	opts := Opts{Retention: time.Hour, Uptime: up.get}
	o := openOpts(t, path, opts)
	ms := appendN(t, o, KindTest, "t", 4)
	for _, m := range ms[:3] {
		if _, err := o.Ack(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	maintain := func() Maintenance {
		t.Helper()
		r, err := o.Maintain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	up.advance(30 * time.Minute)
	if r := maintain(); r.Expired != 0 {
		t.Fatalf("expired %d after 30 min of a 1 h retention", r.Expired)
	}
	if st, _ := o.Stats(ctx); st.OldestUnackedAge != 30*time.Minute || st.LastAckAge != 30*time.Minute {
		t.Fatalf("oldest un-acked age %v, last ack age %v; want 30m on the ledger", st.OldestUnackedAge, st.LastAckAge)
	}
	// The agent restarts within the same boot 10 min later: those 10 min count.
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	up.advance(10 * time.Minute)
	o = openOpts(t, path, opts)
	if got := o.Uptime(); got != 40*time.Minute {
		t.Fatalf("ledger after a restart in the same boot = %v, want 40m", got)
	}
	// The box reboots (its wall clock may read 1970 now; nothing looks at it). Time it was
	// off does not count: the ledger continues where it was saved.
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	up.reboot("boot-2")
	o = openOpts(t, path, opts)
	if got := o.Uptime(); got != 40*time.Minute {
		t.Fatalf("ledger after a reboot = %v, want 40m", got)
	}
	up.advance(19 * time.Minute)
	if r := maintain(); r.Expired != 0 {
		t.Fatalf("expired %d after 59 min on the ledger", r.Expired)
	}
	up.advance(2 * time.Minute)
	if r := maintain(); r.Expired != 3 {
		t.Fatalf("expired %d after 61 min on the ledger, want the 3 acked records", r.Expired)
	}
	if n := count(t, o, `1`); n != 1 {
		t.Fatalf("%d records left, want the un-acked one", n)
	}
	// Inspect (another process, read-only) sees the same ledger.
	st, err := Inspect(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	_ = st
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	// A reboot with a synchronised wall clock at both ends credits the time switched off.
	wall := time.Date(2025, 6, 3, 8, 0, 0, 0, time.UTC)
	synced := Opts{Retention: time.Hour, Uptime: up.get, SyncedWall: func() (time.Time, bool) { return wall, true }}
	o = openOpts(t, path, synced)
	before := o.Uptime()
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	wall = wall.Add(8 * time.Hour)
	up.reboot("boot-3")
	o = openOpts(t, path, synced)
	defer o.Close()
	if got := o.Uptime() - before; got != 8*time.Hour {
		t.Fatalf("powered-off credit with a synchronised clock = %v, want 8h", got)
	}
}

func TestLedgerNeverRunsBackwards(t *testing.T) {
	ctx := context.Background()
	up := &fakeUptime{boot: "b1", ms: 0}
	path := filepath.Join(t.TempDir(), "o.db")
	o := openOpts(t, path, Opts{Uptime: up.get})
	up.advance(time.Hour)
	appendN(t, o, KindEvent, "e", 1) // stamped at 1 h; the ledger was saved at 0
	// A crash: the ledger is not saved again. The next boot starts from the record's stamp.
	if err := o.db.Close(); err != nil {
		t.Fatal(err)
	}
	up.reboot("b2")
	o = openOpts(t, path, Opts{Uptime: up.get})
	defer o.Close()
	if got := o.Uptime(); got < time.Hour {
		t.Fatalf("ledger %v after a crash, below the last record's stamp (1h)", got)
	}
	if st, _ := o.Stats(ctx); st.OldestUnackedAge != 0 {
		t.Fatalf("oldest un-acked age %v, want 0", st.OldestUnackedAge)
	}
}

func TestMaintainCheckpointsWAL(t *testing.T) {
	ctx := context.Background()
	const quota = 2 << 20 // WAL limit 256 KiB
	o := openOpts(t, filepath.Join(t.TempDir(), "o.db"), Opts{QuotaBytes: quota})
	defer o.Close()
	// As if SQLite's own checkpoints could not keep up (or a reader held them off).
	if _, err := o.db.Exec(`PRAGMA wal_autocheckpoint = 0`); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		if _, err := o.Append(ctx, KindTest, builder("t", 3000)); err != nil {
			t.Fatal(err)
		}
	}
	before, err := o.usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before.wal <= o.opts.walLimit() {
		t.Fatalf("WAL only %d bytes after 600 KB of records", before.wal)
	}
	r, err := o.Maintain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := o.usage(ctx)
	if !r.Checkpointed || after.wal > o.opts.walLimit() {
		t.Fatalf("WAL %d → %d bytes (limit %d), checkpointed %v", before.wal, after.wal, o.opts.walLimit(), r.Checkpointed)
	}
	if n := count(t, o, `1`); n != 200 {
		t.Fatalf("%d records after the checkpoint, want 200", n)
	}
}

// TestMaintainKeepsDiskFree writes to a small tmpfs with Maintain running now and then, as
// the agent runs it: acked records and telemetry are evicted and the WAL checkpointed in
// time to keep MinFreeBytes free, so appends never meet a full disk, even without a quota;
// un-acked regulated records are all kept.
func TestMaintainKeepsDiskFree(t *testing.T) {
	ctx := context.Background()
	dir := mountTmpfs(t, "8m")
	o := openOpts(t, filepath.Join(dir, "o.db"), Opts{MinFreeBytes: 1 << 20})
	defer o.Close()
	var kept []Msg
	var evicted, minFree int64 = 0, 1 << 40
	for i := range 2500 {
		m, err := o.Append(ctx, KindTest, builder("t", 2000))
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if i%50 == 0 {
			kept = append(kept, m) // never acked
		} else if _, err := o.Ack(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := o.Append(ctx, KindTelemetry, builder("l", 2000)); err != nil {
			t.Fatalf("telemetry %d: %v", i, err)
		}
		if i%10 == 9 {
			r, err := o.Maintain(ctx)
			if err != nil {
				t.Fatalf("maintain after %d: %v", i, err)
			}
			evicted += r.EvictedAcked + r.EvictedTelemetry
			minFree = min(minFree, r.FreeBytes)
		}
	}
	if evicted == 0 {
		t.Fatal("nothing was ever evicted on an 8 MiB filesystem")
	}
	for _, m := range kept {
		if _, err := o.BySeq(ctx, m.Seq); err != nil {
			t.Fatalf("un-acked test record %d: %v", m.Seq, err)
		}
	}
	t.Logf("10 MB written to an 8 MiB tmpfs: %d records evicted, least free after maintain %d KiB", evicted, minFree>>10)
}

// TestLargeBacklogStartup opens an outbox holding 100,000 un-acked records. Start-up must
// not depend on the backlog: every statement Open and the first sends run is answered from
// an index (checked with EXPLAIN QUERY PLAN), and the figures printed show the times.
func TestLargeBacklogStartup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-record outbox")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "o.db")
	o := openT(t, path)
	const n = 100000
	tx, err := o.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("p", 300)
	for seq := 1; seq <= n; seq++ {
		state := "pending"
		if seq%3 == 0 {
			state = "sent"
		}
		if _, err := tx.Exec(`INSERT INTO records(seq, id, kind, payload, hash, state, epoch, attempts, created_unix_ms, reason, created_up_ms)
			VALUES (?, ?, 'test', ?, x'00', ?, 1, 1, 0, '', ?)`, seq, fmt.Sprintf("big-%d", seq), pad, state, seq); err != nil {
			t.Fatal(err)
		}
	}
	if err := setMeta(ctx, tx, metaSeq, fmt.Sprint(n)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)

	start := time.Now()
	o = openT(t, path)
	opened := time.Since(start)
	defer o.Close()
	page, err := o.Pending(ctx, 0, 32)
	if err != nil || len(page) != 32 || page[0].Seq != 1 {
		t.Fatalf("first page: %d records, %v", len(page), err)
	}
	firstPage := time.Since(start)
	m, err := o.Append(ctx, KindTest, builder("new", 0))
	if err != nil || m.Seq != n+1 {
		t.Fatalf("append after a large backlog: seq %d, %v", m.Seq, err)
	}
	if c := count(t, o, `state = 'pending'`); c != n+1 {
		t.Fatalf("%d pending after open, want %d (sent records requeued)", c, n+1)
	}
	fmt.Fprintf(os.Stderr, "buffer: open with a %d-record backlog (%d MB): %v to open (quick_check included), %v to the first page of 32\n",
		n, fi.Size()>>20, opened.Round(time.Millisecond), firstPage.Round(time.Millisecond))

	for _, q := range []struct{ sql string }{
		{`SELECT ` + msgColumns + ` FROM records WHERE state = 'pending' AND seq > 5 ORDER BY seq LIMIT 32`},
		{`UPDATE records SET state = 'pending' WHERE state = 'sent'`},
		{`UPDATE records SET state = 'pending' WHERE state = 'sent' AND coalesce(epoch, 0) < 3`},
		{`SELECT created_up_ms FROM records WHERE seq = (SELECT max(seq) FROM records)`},
		{`UPDATE records SET acked_up_ms = 1 WHERE state = 'acked' AND acked_up_ms IS NULL`},
		{`SELECT seq FROM records WHERE state = 'acked' AND acked_up_ms <= 5 LIMIT 1000`},
		{`SELECT seq, coalesce(size, length(payload)), state FROM records WHERE state = 'acked' ORDER BY seq LIMIT 512`},
		{`SELECT seq, coalesce(size, length(payload)), state FROM records WHERE kind = 'telemetry' ORDER BY seq LIMIT 512`},
		{`SELECT seq FROM records WHERE size IS NULL LIMIT 1000`},
	} {
		rows, err := o.db.Query(`EXPLAIN QUERY PLAN ` + q.sql)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, d := range plan {
			if strings.HasPrefix(d, "SCAN") && !strings.Contains(d, "USING") {
				t.Errorf("%s\n  scans the table: %v", q.sql, plan)
			}
		}
	}
}

// TestDiskReserveKeepsDrainPossible: on a filesystem running out of space, telemetry is
// refused first, then regulated records once only the last quarter of MinFreeBytes is
// left; that reserve lets acks, eviction and checkpoints still run, so the outbox drains
// and takes records again.
func TestDiskReserveKeepsDrainPossible(t *testing.T) {
	ctx := context.Background()
	dir := mountTmpfs(t, "4m")
	o := openOpts(t, filepath.Join(dir, "o.db"), Opts{MinFreeBytes: 1 << 20})
	defer o.Close()
	var regulated []Msg
	var teleRefused, regRefused error
	for i := 0; i < 3000 && regRefused == nil; i++ {
		if i%2 == 0 {
			if _, err := o.Append(ctx, KindTelemetry, builder("l", 2000)); err != nil && teleRefused == nil {
				teleRefused = err
			}
			continue
		}
		m, err := o.Append(ctx, KindTest, builder("t", 2000))
		if err != nil {
			regRefused = err
			break
		}
		regulated = append(regulated, m)
	}
	if !errors.Is(teleRefused, ErrQuotaFull) || !errors.Is(regRefused, ErrDiskFull) {
		t.Fatalf("telemetry refused with %v, regulated with %v", teleRefused, regRefused)
	}
	if free := freeBytes(dir); free < (1<<20)/4-64<<10 {
		t.Fatalf("only %d bytes free after refusing regulated records", free)
	}
	// The platform acks everything: the acks are recorded, Maintain frees the space.
	for _, m := range regulated {
		if _, err := o.Ack(ctx, m.ID); err != nil {
			t.Fatalf("ack on a nearly full disk: %v", err)
		}
	}
	r, err := o.Maintain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.EvictedAcked == 0 || r.LowDisk {
		t.Fatalf("maintain after the acks: %+v", r)
	}
	if _, err := o.Append(ctx, KindTest, builder("after", 10)); err != nil {
		t.Fatalf("append after draining: %v", err)
	}
	t.Logf("%d regulated records fitted; then %v", len(regulated), regRefused)
}
