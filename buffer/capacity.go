package buffer

// Capacity: the byte quota, eviction, retention of acked records and WAL checkpoints.
//
// # Ages without a wall clock: the uptime ledger
//
// A box without an RTC boots in 1970 and may step its clock by years when NTP arrives, so
// no age in the outbox is measured on the wall clock. Ages are measured on the uptime
// ledger instead: a persisted count of milliseconds the box has been up, advanced by the
// kernel's CLOCK_BOOTTIME (which never steps and counts suspend). The ledger is saved in
// the meta table with the boot id and CLOCK_BOOTTIME of the save (by Open, Maintain and
// Close). At Open:
//
//   - same boot as the last save (the agent restarted): the ledger continues with the
//     uptime that passed in between, so agent restarts lose nothing;
//   - another boot: the ledger continues from the saved value. Time the box was off does
//     not count, unless Opts.SyncedWall says the wall clock was synchronised both at the
//     save and now, in which case the wall time between them is added (at most 400 days);
//   - never below the stamps already written (the last record's created_up_ms, the last
//     ack's acked_up_ms), so the ledger never runs backwards after a crash.
//
// Every record is stamped with the ledger when it is appended (created_up_ms) and when it
// is acked (acked_up_ms). Retention deletes acked records whose acked_up_ms is more than
// Opts.Retention behind the ledger; the oldest un-acked age in Stats is ledger minus its
// created_up_ms. The error is one-sided: an age can only come out too short by the power-off
// time (and up to one save interval lost in a crash), never too long, so a record is never
// expired early; a box switched off every night keeps its acked records longer than 30
// calendar days, and the quota still bounds the space they take.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Meta keys of the capacity bookkeeping.
const (
	metaUpMS        = reservedPrefix + "up_ms"          // the uptime ledger at the last save
	metaUpBoot      = reservedPrefix + "up_boot"        // boot id at the last save
	metaUpMono      = reservedPrefix + "up_mono_ms"     // CLOCK_BOOTTIME at the last save
	metaUpWall      = reservedPrefix + "up_wall_ms"     // synchronised wall clock at the last save, "" if it was not
	metaLastAckUnix = reservedPrefix + "last_ack_unix"  // wall ms of the last ack
	metaLastAckUp   = reservedPrefix + "last_ack_up_ms" // ledger of the last ack
	metaEvicted     = reservedPrefix + "evicted"        // un-acked telemetry evicted, ever
	metaRefused     = reservedPrefix + "refused"        // telemetry refused at quota, ever
	metaEviction    = reservedPrefix + "eviction"       // evictions not yet reported: "from-to:count"
)

// maxOffCredit bounds the powered-off time a synchronised wall clock may add to the ledger.
const maxOffCredit = 400 * 24 * time.Hour

// KernelUptime returns the kernel's boot id and CLOCK_BOOTTIME in milliseconds ("" and the
// best reading it has when /proc cannot be read).
func KernelUptime() (string, int64) {
	var ts unix.Timespec
	var ms int64
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err == nil {
		ms = int64(ts.Sec)*1000 + int64(ts.Nsec)/1e6 // 32-bit fields on armv7
	}
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", ms
	}
	return strings.TrimSpace(string(b)), ms
}

// ledger maps CLOCK_BOOTTIME of this boot onto the persisted uptime ledger.
type ledger struct {
	base  int64 // ledger ms at mono0
	mono0 int64 // CLOCK_BOOTTIME ms when base was set
	boot  string
}

// uptimeMS is the uptime ledger now.
func (o *Outbox) uptimeMS() int64 {
	_, mono := o.opts.Uptime()
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.led.base + max(0, mono-o.led.mono0)
}

// Uptime is the uptime ledger now: how long, in total, the box has been up while this
// outbox existed (see the package's capacity notes).
func (o *Outbox) Uptime() time.Duration { return time.Duration(o.uptimeMS()) * time.Millisecond }

// initLedger continues the ledger from the last save (see the notes at the top).
func (o *Outbox) initLedger(ctx context.Context) error {
	boot, mono := o.opts.Uptime()
	base := metaInt(ctx, o.db, metaUpMS)
	savedBoot, _, _ := getMeta(ctx, o.db, metaUpBoot)
	savedMono := metaInt(ctx, o.db, metaUpMono)
	switch {
	case boot != "" && savedBoot == boot && mono >= savedMono:
		base += mono - savedMono
	case o.opts.SyncedWall != nil:
		if w := metaInt(ctx, o.db, metaUpWall); w > 0 {
			if now, ok := o.opts.SyncedWall(); ok {
				if d := now.UnixMilli() - w; d > 0 && d < maxOffCredit.Milliseconds() {
					base += d
				}
			}
		}
	}
	base = max(base, metaInt(ctx, o.db, metaLastAckUp))
	if o.schema >= 2 {
		var last sql.NullInt64
		err := o.db.QueryRowContext(ctx, `SELECT created_up_ms FROM records WHERE seq = (SELECT max(seq) FROM records)`).Scan(&last)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fail("read ledger", err)
		}
		base = max(base, last.Int64)
	}
	o.mu.Lock()
	o.led = ledger{base: base, mono0: mono, boot: boot}
	o.mu.Unlock()
	if o.readOnly {
		return nil
	}
	// Acked records from before the ledger existed start their retention now.
	if _, err := o.exec(ctx, `UPDATE records SET acked_up_ms = ? WHERE state = ? AND acked_up_ms IS NULL`,
		base, string(Acked)); err != nil {
		return fail("stamp acked records", err)
	}
	return o.saveLedger(ctx)
}

// saveLedger persists the ledger with the boot id and uptime it was read at.
func (o *Outbox) saveLedger(ctx context.Context) error {
	boot, mono := o.opts.Uptime()
	o.mu.Lock()
	up := o.led.base + max(0, mono-o.led.mono0)
	o.mu.Unlock()
	wall := ""
	if o.opts.SyncedWall != nil {
		if now, ok := o.opts.SyncedWall(); ok {
			wall = strconv.FormatInt(now.UnixMilli(), 10)
		}
	}
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return fail("save ledger: begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	for _, kv := range [][2]string{
		{metaUpMS, strconv.FormatInt(up, 10)}, {metaUpBoot, boot},
		{metaUpMono, strconv.FormatInt(mono, 10)}, {metaUpWall, wall},
	} {
		if err := setMeta(ctx, tx, kv[0], kv[1]); err != nil {
			return fail("save ledger", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fail("save ledger: commit", err)
	}
	return nil
}

// usageInfo is what the quota is measured on.
type usageInfo struct {
	pages, free, pageSize, wal int64
}

// used is the database pages in use plus the WAL file.
func (u usageInfo) used() int64 { return (u.pages-u.free)*u.pageSize + u.wal }

func (o *Outbox) usage(ctx context.Context) (usageInfo, error) {
	u := usageInfo{pageSize: o.pageSize}
	if err := o.db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&u.pages); err != nil {
		return u, err
	}
	if err := o.db.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&u.free); err != nil {
		return u, err
	}
	if fi, err := os.Stat(o.path + "-wal"); err == nil {
		u.wal = fi.Size()
	}
	return u, nil
}

// admit makes room for a record of kind k when the outbox is at its quota or the disk is
// short of MinFreeBytes, and refuses telemetry when no room can be made. A regulated record
// is refused only when the disk is down to a quarter of MinFreeBytes: that last reserve
// keeps room for the acks, deletions and checkpoints that let the outbox drain again.
func (o *Outbox) admit(ctx context.Context, k Kind) error {
	if o.readOnly {
		return nil
	}
	dir := filepath.Dir(o.path)
	if free := o.relieve(ctx); free >= 0 && free < o.opts.MinFreeBytes {
		u, err := o.usage(ctx)
		if err != nil {
			return fail("append: measure", err)
		}
		if _, err := o.makeRoom(ctx, max(0, u.used()-(o.opts.MinFreeBytes-free))); err != nil {
			return err
		}
		free = freeBytes(dir)
		switch {
		case k.Regulated() && free >= 0 && free < o.opts.MinFreeBytes/4:
			return fmt.Errorf("buffer: append %s: %d bytes free, the last %d are kept for acks and checkpoints: %w",
				k, free, o.opts.MinFreeBytes/4, ErrDiskFull)
		case !k.Regulated() && free >= 0 && free < o.opts.MinFreeBytes:
			if err := o.bumpMeta(ctx, metaRefused, 1); err != nil {
				return err
			}
			return fmt.Errorf("buffer: append %s: %d bytes free, less than the %d kept free: %w",
				k, free, o.opts.MinFreeBytes, ErrQuotaFull)
		}
	}
	q := o.opts.QuotaBytes
	if q <= 0 {
		return nil
	}
	u, err := o.usage(ctx)
	if err != nil {
		return fail("append: measure", err)
	}
	if u.used() < q {
		return nil
	}
	if _, err := o.makeRoom(ctx, lowWater(q)); err != nil {
		return err
	}
	if k.Regulated() {
		return nil // regulated records go into the reserve beyond the quota
	}
	if u, err = o.usage(ctx); err != nil {
		return fail("append: measure", err)
	}
	if u.used() < q {
		return nil
	}
	if err := o.bumpMeta(ctx, metaRefused, 1); err != nil {
		return err
	}
	return fmt.Errorf("buffer: append %s: %d bytes used of a %d-byte quota and only un-acked regulated records left: %w",
		k, u.used(), q, ErrQuotaFull)
}

// relieve checkpoints and truncates the WAL when the filesystem is short of MinFreeBytes, so
// the space the WAL took is free again for the write that follows (acks and state changes
// must go on when the disk is nearly full: they are what lets the outbox drain). It returns
// the free space afterwards (-1 if unknown).
func (o *Outbox) relieve(ctx context.Context) int64 {
	dir := filepath.Dir(o.path)
	free := freeBytes(dir)
	if free < 0 || free >= o.opts.MinFreeBytes || o.readOnly {
		return free
	}
	if fi, err := os.Stat(o.path + "-wal"); err == nil && fi.Size() > 0 {
		_ = o.checkpoint(ctx) // best effort: a failed checkpoint leaves everything as it was
		free = freeBytes(dir)
	}
	return free
}

// lowWater is where eviction stops once it has started: 80 % of the quota, so it does not
// run again on the very next append.
func lowWater(q int64) int64 { return q / 10 * 8 }

// highWater is where Maintain starts evicting: 90 % of the quota.
func highWater(q int64) int64 { return q / 10 * 9 }

// roomReport counts what makeRoom deleted.
type roomReport struct {
	acked, telemetry int64
	checkpointed     bool
}

// makeRoom deletes records until the outbox uses at most target bytes or nothing more may
// be deleted: acked records first (lowest seq first), then telemetry (lowest seq first,
// whatever its state). Then it vacuums and checkpoints so the space returns to the
// filesystem.
func (o *Outbox) makeRoom(ctx context.Context, target int64) (roomReport, error) {
	var r roomReport
	limit := o.opts.walLimit()
	for {
		// On a nearly full disk every delete must fit in what is left: the WAL is emptied
		// first and each batch kept small.
		free := o.relieve(ctx)
		capBytes := int64(-1)
		if free >= 0 && free < 2*o.opts.MinFreeBytes {
			capBytes = max(16<<10, free/4)
		}
		u, err := o.usage(ctx)
		if err != nil {
			return r, fail("make room: measure", err)
		}
		if u.wal > limit {
			if err := o.checkpoint(ctx); err != nil {
				return r, err
			}
			r.checkpointed = true
			if u, err = o.usage(ctx); err != nil {
				return r, fail("make room: measure", err)
			}
		}
		excess := u.used() - target
		if excess <= 0 {
			break
		}
		if capBytes > 0 {
			excess = min(excess, capBytes)
		}
		n, err := o.evictBatch(ctx, `state = 'acked'`, excess, false)
		if err != nil {
			return r, err
		}
		r.acked += n
		if n == 0 {
			if n, err = o.evictBatch(ctx, `kind = 'telemetry'`, excess, true); err != nil {
				return r, err
			}
			r.telemetry += n
		}
		if n == 0 {
			break // only un-acked regulated (and rejected regulated) records are left
		}
	}
	if r.acked+r.telemetry > 0 {
		if err := o.incrementalVacuum(ctx); err != nil {
			return r, err
		}
		if err := o.checkpoint(ctx); err != nil {
			return r, err
		}
		r.checkpointed = true
	}
	return r, nil
}

// evictBatch deletes, in one transaction, the lowest-seq records matching where whose
// payloads add up to at least excess bytes (at most 512 records). With telemetry set it
// counts the un-acked ones it deleted as evicted, for Eviction.
func (o *Outbox) evictBatch(ctx context.Context, where string, excess int64, telemetry bool) (int64, error) {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fail("evict: begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	rows, err := tx.QueryContext(ctx, `SELECT seq, coalesce(size, length(payload)), state FROM records WHERE `+where+` ORDER BY seq LIMIT 512`)
	if err != nil {
		return 0, fail("evict", err)
	}
	var seqs []int64
	var unacked []int64
	var sum int64
	for rows.Next() && sum < excess {
		var seq, n int64
		var st string
		if err := rows.Scan(&seq, &n, &st); err != nil {
			rows.Close()
			return 0, fail("evict", err)
		}
		seqs = append(seqs, seq)
		if State(st) == Pending || State(st) == Sent {
			unacked = append(unacked, seq)
		}
		sum += n + 64 // the row's own overhead
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, fail("evict", err)
	}
	rows.Close()
	if len(seqs) == 0 {
		return 0, nil
	}
	stmt, err := tx.PrepareContext(ctx, `DELETE FROM records WHERE seq = ?`)
	if err != nil {
		return 0, fail("evict", err)
	}
	defer stmt.Close()
	for _, s := range seqs {
		if _, err := stmt.ExecContext(ctx, s); err != nil {
			return 0, fail(fmt.Sprintf("evict seq %d", s), err)
		}
	}
	if telemetry && len(unacked) > 0 {
		ev, _, err := readEviction(ctx, tx)
		if err != nil {
			return 0, fail("evict", err)
		}
		if ev.Count == 0 {
			ev.From = unacked[0]
		}
		ev.From = min(ev.From, unacked[0])
		ev.To = max(ev.To, unacked[len(unacked)-1])
		ev.Count += int64(len(unacked))
		if err := setMeta(ctx, tx, metaEviction, ev.String()); err != nil {
			return 0, fail("evict", err)
		}
		total := metaInt(ctx, tx, metaEvicted) + int64(len(unacked))
		if err := setMeta(ctx, tx, metaEvicted, strconv.FormatInt(total, 10)); err != nil {
			return 0, fail("evict", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fail("evict: commit", err)
	}
	return int64(len(seqs)), nil
}

// incrementalVacuum gives the database's free pages back to the filesystem: it moves
// pages down and the file shrinks at the checkpoint that follows. On a nearly full disk the
// page moves (written to the WAL first) go in chunks that fit in the free space, each
// followed by a checkpoint. A file made without auto_vacuum keeps its free pages for reuse.
func (o *Outbox) incrementalVacuum(ctx context.Context) error {
	dir := filepath.Dir(o.path)
	for range 64 {
		var n int64
		if err := o.db.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&n); err != nil {
			return fail("incremental_vacuum", err)
		}
		if n == 0 {
			return nil
		}
		chunk := n
		if free := freeBytes(dir); free >= 0 && free < 2*o.opts.MinFreeBytes {
			chunk = min(n, max(8, free/4/o.pageSize))
		}
		// The pragma frees one page per step: step its statement to the end (Exec would
		// step it once). chunk is our own integer.
		rows, err := o.db.QueryContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, chunk))
		if err != nil {
			if isDiskFull(err) {
				return nil // nothing freed; the pages stay reusable inside the file
			}
			return fail("incremental_vacuum", err)
		}
		for rows.Next() {
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			if isDiskFull(err) {
				return nil
			}
			return fail("incremental_vacuum", err)
		}
		if err := o.checkpoint(ctx); err != nil {
			return err
		}
		if chunk == n {
			return nil
		}
	}
	return nil
}

// checkpoint copies the WAL into the database and truncates it. A reader holding an old
// snapshot (say `imagent status`) can keep it from finishing; that is not an error, the
// next one finishes it. Neither is a full disk (the checkpoint may need to grow the
// database file): the WAL keeps every committed page, and Maintain reports LowDisk.
func (o *Outbox) checkpoint(ctx context.Context) error {
	var busy, logPages, done int
	err := o.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logPages, &done)
	if err != nil && !isDiskFull(err) {
		return fail("checkpoint", err)
	}
	return nil
}

// Eviction is a run of un-acked telemetry records deleted to make room: Count records with
// seqs between From and To (other kinds in that range were kept). The agent reports it in
// an event record, so the platform can tell these gaps in seq from missing records.
type Eviction struct{ From, To, Count int64 }

func (e Eviction) String() string { return fmt.Sprintf("%d-%d:%d", e.From, e.To, e.Count) }

func readEviction(ctx context.Context, q querier) (Eviction, bool, error) {
	v, ok, err := getMeta(ctx, q, metaEviction)
	if err != nil || !ok || v == "" {
		return Eviction{}, false, err
	}
	var e Eviction
	if _, err := fmt.Sscanf(v, "%d-%d:%d", &e.From, &e.To, &e.Count); err != nil {
		return Eviction{}, false, fmt.Errorf("meta %s holds %q: %w", metaEviction, v, err)
	}
	return e, e.Count > 0, nil
}

// PendingEviction returns the evictions not yet reported (see ClearEviction).
func (o *Outbox) PendingEviction(ctx context.Context) (Eviction, bool, error) {
	e, ok, err := readEviction(ctx, o.db)
	if err != nil {
		return Eviction{}, false, fail("pending eviction", err)
	}
	return e, ok, nil
}

// ClearEviction marks e (as returned by PendingEviction) reported, after the caller has
// durably recorded it; evictions made since stay pending.
func (o *Outbox) ClearEviction(ctx context.Context, e Eviction) error {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return fail("clear eviction: begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	cur, ok, err := readEviction(ctx, tx)
	if err != nil {
		return fail("clear eviction", err)
	}
	rest := ""
	if ok && cur.Count > e.Count {
		rest = Eviction{From: e.To + 1, To: cur.To, Count: cur.Count - e.Count}.String()
	}
	if err := setMeta(ctx, tx, metaEviction, rest); err != nil {
		return fail("clear eviction", err)
	}
	if err := tx.Commit(); err != nil {
		return fail("clear eviction: commit", err)
	}
	return nil
}

// Maintenance is what one Maintain call found and did.
type Maintenance struct {
	Expired          int64 // acked records deleted after their retention
	EvictedAcked     int64 // acked records deleted early to make room
	EvictedTelemetry int64 // telemetry records deleted to make room (any state)
	Checkpointed     bool  // the WAL was checkpointed and truncated
	UsedBytes        int64 // database pages in use + WAL, afterwards
	FreeBytes        int64 // free space on the filesystem, afterwards (-1 if unknown)
	OverQuota        bool  // still at or over the quota: only un-acked regulated records are left
	LowDisk          bool  // the filesystem has less than MinFreeBytes free even so
}

// Maintain saves the uptime ledger, deletes acked records past their retention, evicts
// under quota or disk pressure and checkpoints a WAL that has grown past its limit. The
// agent calls it periodically (say every 30 s); each step is bounded, so it never holds the
// outbox for long.
func (o *Outbox) Maintain(ctx context.Context) (Maintenance, error) {
	var m Maintenance
	if o.readOnly {
		return m, errors.New("buffer: maintain: read-only outbox")
	}
	if err := o.saveLedger(ctx); err != nil {
		return m, err
	}
	// Rows from before the size column get theirs, a batch at a time.
	if _, err := o.exec(ctx, `UPDATE records SET size = length(payload) WHERE seq IN (
		SELECT seq FROM records WHERE size IS NULL LIMIT 1000)`); err != nil {
		return m, fail("maintain: sizes", err)
	}
	if o.opts.Retention > 0 && o.schema >= 2 {
		cutoff := o.uptimeMS() - o.opts.Retention.Milliseconds()
		for {
			n, err := o.exec(ctx, `DELETE FROM records WHERE seq IN (
				SELECT seq FROM records WHERE state = 'acked' AND acked_up_ms <= ? LIMIT 1000)`, cutoff)
			if err != nil {
				return m, fail("expire acked", err)
			}
			m.Expired += n
			if n < 1000 {
				break
			}
		}
	}
	u, err := o.usage(ctx)
	if err != nil {
		return m, fail("maintain: measure", err)
	}
	target := int64(-1)
	if q := o.opts.QuotaBytes; q > 0 && u.used() > highWater(q) {
		target = lowWater(q)
	}
	free := freeBytes(filepath.Dir(o.path))
	if free >= 0 && free < o.opts.MinFreeBytes {
		// Give back what is missing (and a margin) so checkpoints keep room to run.
		t := max(0, u.used()-(o.opts.MinFreeBytes-free)-o.opts.MinFreeBytes/4)
		if target < 0 || t < target {
			target = t
		}
	}
	if target >= 0 {
		r, err := o.makeRoom(ctx, target)
		if err != nil {
			return m, err
		}
		m.EvictedAcked, m.EvictedTelemetry, m.Checkpointed = r.acked, r.telemetry, r.checkpointed
	}
	if m.Expired > 0 && m.EvictedAcked+m.EvictedTelemetry == 0 {
		if err := o.incrementalVacuum(ctx); err != nil {
			return m, err
		}
	}
	if u, err = o.usage(ctx); err != nil {
		return m, fail("maintain: measure", err)
	}
	if u.wal > o.opts.walLimit() || (m.Expired > 0 && !m.Checkpointed) {
		if err := o.checkpoint(ctx); err != nil {
			return m, err
		}
		m.Checkpointed = true
		if u, err = o.usage(ctx); err != nil {
			return m, fail("maintain: measure", err)
		}
	}
	m.UsedBytes = u.used()
	m.FreeBytes = freeBytes(filepath.Dir(o.path))
	m.OverQuota = o.opts.QuotaBytes > 0 && m.UsedBytes >= o.opts.QuotaBytes
	m.LowDisk = m.FreeBytes >= 0 && m.FreeBytes < o.opts.MinFreeBytes
	return m, nil
}

// freeBytes is the space available to us on the filesystem holding dir, -1 if unknown.
func freeBytes(dir string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize) //nolint:unconvert // field types differ by arch
}

// metaInt reads an integer meta value; missing or unreadable reads as 0.
func metaInt(ctx context.Context, q querier, key string) int64 {
	v, ok, err := getMeta(ctx, q, key)
	if err != nil || !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// bumpMeta adds d to an integer meta value.
func (o *Outbox) bumpMeta(ctx context.Context, key string, d int64) error {
	_, err := o.db.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + ? AS TEXT)`, key, strconv.FormatInt(d, 10), d)
	if err != nil {
		return fail("update "+key, err)
	}
	return nil
}
