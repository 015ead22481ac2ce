// Package buffer is the SQLite outbox: the single source of truth for every record the agent
// produces, from the moment it is built until the platform has acknowledged storing it.
//
// A record is committed (WAL, synchronous=FULL, one immediate transaction) before Append
// returns. Its state then moves pending → sent (with the connection epoch of the send) →
// acked, or → rejected. At Open every sent record becomes pending again, so delivery is
// at-least-once by construction and the record id makes it exactly-once at the platform.
//
// Each record gets this agent's own sequence number from a persisted counter (never reused,
// even when rows are deleted later) and carries sha256 of the previous record's payload, the
// link of a hash chain the platform can check for gaps and edits. Ordering is by seq only;
// wall time is stored for information and never used to order, expire or evict.
//
// The package starts no goroutines and never logs. An Outbox is safe for concurrent use; its
// calls are serialised on one SQLite connection.
package buffer

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mattn/go-sqlite3"
)

// State is where a record is in its delivery.
type State string

// Record states.
const (
	Pending  State = "pending"  // stored, waiting to be published
	Sent     State = "sent"     // published on connection epoch Msg.Epoch, no platform ack yet
	Acked    State = "acked"    // the platform has stored it
	Rejected State = "rejected" // the platform refused it (Msg.Reason); kept forever, never resent
)

// Kind is the class of a record. Test, check, repair and event records are regulated and
// durable; telemetry is expendable.
type Kind string

// Record kinds.
const (
	KindTest      Kind = "test"
	KindCheck     Kind = "check"
	KindRepair    Kind = "repair"
	KindEvent     Kind = "event"
	KindTelemetry Kind = "telemetry"
)

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindTest, KindCheck, KindRepair, KindEvent, KindTelemetry:
		return true
	}
	return false
}

// Regulated reports whether records of kind k are regulated (never evicted while un-acked).
func (k Kind) Regulated() bool {
	return k.Valid() && k != KindTelemetry
}

// Msg is one stored record.
type Msg struct {
	Seq      int64  // this agent's own number, assigned by Append from a persisted counter
	ID       string // globally unique, stable across resends (chosen by the builder)
	Kind     Kind
	Payload  []byte // the exact envelope bytes that are published
	Hash     []byte // sha256(Payload): the chain link passed to the next record's builder
	State    State
	Epoch    int64     // connection epoch of the last send (0 if never sent)
	Attempts int       // how many times it was marked sent
	Created  time.Time // wall time at append; informational only
	Reason   string    // reject reason from the platform, if any
}

// Opts configures an Outbox. The zero value gives the defaults: no byte quota, acked records
// kept for 30 days of uptime, at least 1 MiB kept free on the filesystem.
type Opts struct {
	// QuotaBytes bounds the outbox: the database pages in use plus the WAL file. Over it,
	// Append and Maintain evict acked records (oldest first), then telemetry (oldest first,
	// acked or not); un-acked regulated records (test, check, repair, event) are never
	// evicted. When only those are left, Append refuses new telemetry with ErrQuotaFull and
	// still accepts regulated records (the rest of the disk is their reserve). 0: no quota.
	QuotaBytes int64
	// Retention is how long acked records are kept for local lookup, measured on the uptime
	// ledger (see capacity.go), never on the wall clock. 0: DefaultRetention; < 0: forever
	// (quota permitting).
	Retention time.Duration
	// MinFreeBytes is the free space Maintain keeps on the filesystem by evicting and
	// checkpointing, so a checkpoint always has room to run. 0: DefaultMinFree.
	MinFreeBytes int64
	// Uptime returns the kernel's boot id and milliseconds since boot (CLOCK_BOOTTIME). Nil:
	// read from the kernel. Tests replace it.
	Uptime func() (bootID string, ms int64)
	// Secondary opens the outbox beside the agent that owns it (a technician's command):
	// records the agent has sent are not requeued.
	Secondary bool
	// SyncedWall returns the wall clock and whether it is synchronised. When it is, both when
	// the ledger was last saved and now, the time between (the box switched off) is added to
	// the ledger at Open. Nil: powered-off time never counts.
	SyncedWall func() (time.Time, bool)
}

// Option defaults.
const (
	DefaultRetention = 30 * 24 * time.Hour
	DefaultMinFree   = 1 << 20
)

func (o Opts) withDefaults() Opts {
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.MinFreeBytes <= 0 {
		o.MinFreeBytes = DefaultMinFree
	}
	if o.Uptime == nil {
		o.Uptime = KernelUptime
	}
	return o
}

// walLimit is the WAL size above which Maintain checkpoints with TRUNCATE, and the
// journal_size_limit: an eighth of the quota, between 256 KiB and 4 MiB (4 MiB without a
// quota). SQLite's own checkpoints run at half of it (wal_autocheckpoint).
func (o Opts) walLimit() int64 {
	if o.QuotaBytes <= 0 {
		return 4 << 20
	}
	return min(max(o.QuotaBytes/8, 256<<10), 4<<20)
}

// Stats describes the outbox contents.
type Stats struct {
	ByState          map[State]int64    // every state is present, zero if no records
	ByKind           map[Kind]KindStats // only kinds that have records
	OldestUnacked    time.Time          // Created of the lowest-seq pending or sent record; zero if none
	OldestUnackedSeq int64              // its seq; 0 if none
	// OldestUnackedAge is how long ago, on the uptime ledger, the oldest un-acked record was
	// made: unaffected by wall-clock steps; time the box was off does not count. -1 if there
	// is none or it predates the ledger.
	OldestUnackedAge time.Duration
	LastSeq          int64         // the last seq assigned (the persisted counter)
	LastAck          time.Time     // wall time of the last platform ack; zero if none
	LastAckAge       time.Duration // ledger time since the last ack; -1 if none
	Uptime           time.Duration // the uptime ledger now
	FileBytes        int64         // database + -wal + -shm files on disk
	UsedBytes        int64         // database pages in use + WAL file: what the quota limits
	WALBytes         int64         // the -wal file
	Evicted          int64         // telemetry records evicted un-acked to make room, ever
	Refused          int64         // telemetry records refused at quota, ever
}

// KindStats counts the records of one kind by state; Bytes is the total payload size of all of
// them, whatever their state, UnackedBytes that of the pending and sent ones.
type KindStats struct{ Pending, Sent, Acked, Rejected, Bytes, UnackedBytes int64 }

var (
	// ErrNotFound is returned (wrapped) by Get and BySeq when no record matches.
	ErrNotFound = errors.New("buffer: not found")
	// ErrDiskFull is wrapped into errors caused by a full disk (SQLITE_FULL, ENOSPC). Nothing
	// committed before is lost; the failed operation stored nothing.
	ErrDiskFull = errors.New("buffer: disk full")
	// ErrDuplicateID is wrapped into the error of an Append whose builder returned an id that
	// is already stored.
	ErrDuplicateID = errors.New("buffer: duplicate record id")
	// ErrSchemaTooNew is wrapped into the error of Open on a file written by a newer version of
	// the agent. The file is left as it is.
	ErrSchemaTooNew = errors.New("buffer: database schema is newer than this program")
	// ErrQuotaFull is wrapped into the error of an Append of telemetry refused because the
	// outbox is at its quota and nothing more can be evicted. Nothing was stored.
	ErrQuotaFull = errors.New("buffer: outbox quota reached")
)

// Meta keys used by the outbox itself. SetMeta refuses keys with this prefix.
const (
	reservedPrefix = "buffer."
	metaSeq        = reservedPrefix + "seq"       // last assigned seq, decimal
	metaLastHash   = reservedPrefix + "last_hash" // hash of the last appended record, hex; "" before the first
)

// Outbox is the durable store of records. Create it with Open.
type Outbox struct {
	db          *sql.DB
	path        string
	quarantined []string
	opts        Opts
	schema      int   // the file's schema version (Inspect reads older files too)
	pageSize    int64 // bytes
	readOnly    bool  // opened by Inspect

	openedSeq int64 // the last seq assigned before this Open

	mu  sync.Mutex // guards led
	led ledger
}

// OpenedSeq is the last seq that had been assigned when Open returned: records up to it
// were made by an earlier run of the agent, which may have published them.
func (o *Outbox) OpenedSeq() int64 { return o.openedSeq }

// LastSeq returns the last seq assigned (the persisted counter).
func (o *Outbox) LastSeq(ctx context.Context) (int64, error) {
	seq, _, err := readChain(ctx, o.db)
	if err != nil {
		return 0, fail("last seq", err)
	}
	return seq, nil
}

// Quarantined lists the files that Open found corrupt and moved aside (PATH.corrupt-<unix-nanos>,
// with its -wal and -shm if they existed). Nothing is ever deleted; the agent should raise an
// alarm when this is not empty.
func (o *Outbox) Quarantined() []string {
	return append([]string(nil), o.quarantined...)
}

// Path is the database file the outbox uses.
func (o *Outbox) Path() string { return o.path }

// Close closes the database. Records not yet acked stay in the file.
func (o *Outbox) Close() error {
	if !o.readOnly {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = o.saveLedger(ctx) // best effort: a crash loses as much, and the ledger copes
		cancel()
	}
	if err := o.db.Close(); err != nil {
		return fmt.Errorf("buffer: close: %w", err)
	}
	return nil
}

// Append assigns the next seq and calls build with it and the previous record's Hash (nil for
// the very first record); build returns the record id and the exact payload bytes. Inside one
// immediate transaction the row is stored and committed with synchronous=FULL before Append
// returns. If build returns an error, or the row cannot be stored, nothing is stored and the seq
// is not consumed. build runs while the outbox is locked: it must be quick and must not call the
// Outbox.
func (o *Outbox) Append(ctx context.Context, kind Kind, build func(seq int64, prevHash []byte) (id string, payload []byte, err error)) (Msg, error) {
	if !kind.Valid() {
		return Msg{}, fmt.Errorf("buffer: append: unknown kind %q", kind)
	}
	if build == nil {
		return Msg{}, errors.New("buffer: append: nil build func")
	}
	if err := o.admit(ctx, kind); err != nil {
		return Msg{}, err
	}
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return Msg{}, fail("append: begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit

	last, prev, err := readChain(ctx, tx)
	if err != nil {
		return Msg{}, fail("append", err)
	}
	seq := last + 1
	id, payload, err := build(seq, prev)
	if err != nil {
		return Msg{}, fmt.Errorf("buffer: append seq %d: build: %w", seq, err)
	}
	if id == "" {
		return Msg{}, fmt.Errorf("buffer: append seq %d: build returned an empty id", seq)
	}
	if len(payload) == 0 {
		return Msg{}, fmt.Errorf("buffer: append seq %d (%s): build returned an empty payload", seq, id)
	}
	sum := sha256.Sum256(payload)
	m := Msg{Seq: seq, ID: id, Kind: kind, Payload: payload, Hash: sum[:], State: Pending,
		Created: time.UnixMilli(time.Now().UnixMilli())}

	_, err = tx.ExecContext(ctx, `INSERT INTO records(seq, id, kind, payload, hash, state, epoch, attempts, created_unix_ms, reason, created_up_ms, size)
		VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, '', ?, ?)`, seq, id, string(kind), payload, m.Hash, string(Pending), m.Created.UnixMilli(), o.uptimeMS(), len(payload))
	if err != nil {
		if isUniqueViolation(err) {
			return Msg{}, fmt.Errorf("buffer: append seq %d: id %q: %w", seq, id, ErrDuplicateID)
		}
		return Msg{}, fail(fmt.Sprintf("append seq %d", seq), err)
	}
	if err := setMeta(ctx, tx, metaSeq, strconv.FormatInt(seq, 10)); err != nil {
		return Msg{}, fail(fmt.Sprintf("append seq %d", seq), err)
	}
	if err := setMeta(ctx, tx, metaLastHash, hex.EncodeToString(m.Hash)); err != nil {
		return Msg{}, fail(fmt.Sprintf("append seq %d", seq), err)
	}
	if err := tx.Commit(); err != nil {
		return Msg{}, fail(fmt.Sprintf("append seq %d: commit", seq), err)
	}
	return m, nil
}

// Pending returns up to max pending records with seq > after, in seq order. Pass the last seq
// of one page as after to get the next.
func (o *Outbox) Pending(ctx context.Context, after int64, max int) ([]Msg, error) {
	if max <= 0 {
		return nil, fmt.Errorf("buffer: pending: max must be positive, got %d", max)
	}
	rows, err := o.db.QueryContext(ctx, `SELECT `+msgColumns+` FROM records
		WHERE state = ? AND seq > ? ORDER BY seq LIMIT ?`, string(Pending), after, max)
	if err != nil {
		return nil, fail("pending", err)
	}
	defer rows.Close()
	var out []Msg
	for rows.Next() {
		m, err := scanMsg(rows)
		if err != nil {
			return nil, fail("pending", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("pending", err)
	}
	return out, nil
}

// MarkSent moves the given records from pending to sent on connection epoch epoch and counts
// the attempt. Records that are not pending (already sent, acked, rejected or unknown) are left
// as they are.
func (o *Outbox) MarkSent(ctx context.Context, epoch int64, seqs ...int64) error {
	if len(seqs) == 0 {
		return nil
	}
	o.relieve(ctx)
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return fail("mark sent: begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	stmt, err := tx.PrepareContext(ctx, `UPDATE records SET state = ?, epoch = ?, attempts = coalesce(attempts, 0) + 1
		WHERE seq = ? AND state = ?`)
	if err != nil {
		return fail("mark sent", err)
	}
	defer stmt.Close()
	for _, s := range seqs {
		if _, err := stmt.ExecContext(ctx, string(Sent), epoch, s, string(Pending)); err != nil {
			return fail(fmt.Sprintf("mark sent seq %d", s), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fail("mark sent: commit", err)
	}
	return nil
}

// Requeue moves every sent record back to pending (on reconnect) and returns how many moved.
func (o *Outbox) Requeue(ctx context.Context) (int64, error) {
	n, err := o.exec(ctx, `UPDATE records SET state = ? WHERE state = ?`, string(Pending), string(Sent))
	if err != nil {
		return 0, fail("requeue", err)
	}
	return n, nil
}

// RequeueOlder moves sent records whose epoch is lower than epoch back to pending and returns
// how many moved.
func (o *Outbox) RequeueOlder(ctx context.Context, epoch int64) (int64, error) {
	n, err := o.exec(ctx, `UPDATE records SET state = ? WHERE state = ? AND coalesce(epoch, 0) < ?`,
		string(Pending), string(Sent), epoch)
	if err != nil {
		return 0, fail("requeue older", err)
	}
	return n, nil
}

// Ack marks the records with the given ids as acked by the platform and returns how many rows
// changed. It is idempotent: unknown ids and records already acked are ignored, and so are
// rejected records (the platform's first verdict is final).
func (o *Outbox) Ack(ctx context.Context, ids ...string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	o.relieve(ctx)
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fail("ack: begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	stmt, err := tx.PrepareContext(ctx, `UPDATE records SET state = ?, acked_unix_ms = ?, acked_up_ms = ?
		WHERE id = ? AND state IN (?, ?)`)
	if err != nil {
		return 0, fail("ack", err)
	}
	defer stmt.Close()
	now, up := time.Now().UnixMilli(), o.uptimeMS()
	var total int64
	for _, id := range ids {
		res, err := stmt.ExecContext(ctx, string(Acked), now, up, id, string(Pending), string(Sent))
		if err != nil {
			return 0, fail(fmt.Sprintf("ack %q", id), err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fail(fmt.Sprintf("ack %q", id), err)
		}
		total += n
	}
	if total > 0 {
		// In the same transaction: the last ack time costs no extra sync.
		if err := setMeta(ctx, tx, metaLastAckUnix, strconv.FormatInt(now, 10)); err != nil {
			return 0, fail("ack", err)
		}
		if err := setMeta(ctx, tx, metaLastAckUp, strconv.FormatInt(up, 10)); err != nil {
			return 0, fail("ack", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fail("ack: commit", err)
	}
	return total, nil
}

// Reject marks the record as rejected by the platform with its reason. A rejected record is
// kept and reported, never resent. An unknown id gives ErrNotFound. A record that is already
// acked stays acked (the platform's first verdict is final; a later reject is usually the
// platform refusing a duplicate) and Reject returns nil; rejecting a rejected record updates
// the reason.
func (o *Outbox) Reject(ctx context.Context, id, reason string) error {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return fail("reject: begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	var st string
	err = tx.QueryRowContext(ctx, `SELECT state FROM records WHERE id = ?`, id).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("buffer: reject %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return fail(fmt.Sprintf("reject %q", id), err)
	}
	if State(st) == Acked {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE records SET state = ?, reason = ? WHERE id = ?`,
		string(Rejected), reason, id); err != nil {
		return fail(fmt.Sprintf("reject %q", id), err)
	}
	if err := tx.Commit(); err != nil {
		return fail(fmt.Sprintf("reject %q: commit", id), err)
	}
	return nil
}

// Get returns the record with the given id, or an error wrapping ErrNotFound.
func (o *Outbox) Get(ctx context.Context, id string) (Msg, error) {
	m, err := scanMsg(o.db.QueryRowContext(ctx, `SELECT `+msgColumns+` FROM records WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Msg{}, fmt.Errorf("buffer: get %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Msg{}, fail(fmt.Sprintf("get %q", id), err)
	}
	return m, nil
}

// BySeq returns the record with the given seq, or an error wrapping ErrNotFound.
func (o *Outbox) BySeq(ctx context.Context, seq int64) (Msg, error) {
	m, err := scanMsg(o.db.QueryRowContext(ctx, `SELECT `+msgColumns+` FROM records WHERE seq = ?`, seq))
	if errors.Is(err, sql.ErrNoRows) {
		return Msg{}, fmt.Errorf("buffer: seq %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return Msg{}, fail(fmt.Sprintf("seq %d", seq), err)
	}
	return m, nil
}

// Stats counts the records by state and kind and measures the files on disk.
func (o *Outbox) Stats(ctx context.Context) (Stats, error) {
	st := Stats{
		ByState: map[State]int64{Pending: 0, Sent: 0, Acked: 0, Rejected: 0},
		ByKind:  map[Kind]KindStats{},
	}
	st.OldestUnackedAge, st.LastAckAge = -1, -1
	// Never length(payload) here when it can be helped: the GROUP BY sorter would carry
	// every payload (hundreds of MB for a large backlog). Sizes of rows from before the
	// size column are filled in by Maintain; until then they count as 0.
	sizeExpr := `length(payload)` // schema 1 (Inspect of an old file)
	if o.schema >= 2 {
		sizeExpr = `size`
	}
	rows, err := o.db.QueryContext(ctx, `SELECT kind, state, count(*), coalesce(sum(`+sizeExpr+`), 0)
		FROM records GROUP BY kind, state`)
	if err != nil {
		return Stats{}, fail("stats", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, state string
		var n, bytes int64
		if err := rows.Scan(&kind, &state, &n, &bytes); err != nil {
			return Stats{}, fail("stats", err)
		}
		st.ByState[State(state)] += n
		ks := st.ByKind[Kind(kind)]
		switch State(state) {
		case Pending:
			ks.Pending += n
			ks.UnackedBytes += bytes
		case Sent:
			ks.Sent += n
			ks.UnackedBytes += bytes
		case Acked:
			ks.Acked += n
		case Rejected:
			ks.Rejected += n
		}
		ks.Bytes += bytes
		st.ByKind[Kind(kind)] = ks
	}
	if err := rows.Err(); err != nil {
		return Stats{}, fail("stats", err)
	}
	rows.Close()

	// min(seq) per state uses the (state, seq) index; wall time plays no part in "oldest".
	var oldest sql.NullInt64
	if err := o.db.QueryRowContext(ctx, `SELECT min(s) FROM (
		SELECT min(seq) AS s FROM records WHERE state = ?
		UNION ALL SELECT min(seq) FROM records WHERE state = ?)`, string(Pending), string(Sent)).Scan(&oldest); err != nil {
		return Stats{}, fail("stats", err)
	}
	now := o.uptimeMS()
	st.Uptime = time.Duration(now) * time.Millisecond
	if oldest.Valid {
		var ms int64
		var up sql.NullInt64
		q := `SELECT coalesce(created_unix_ms, 0), NULL FROM records WHERE seq = ?`
		if o.schema >= 2 {
			q = `SELECT coalesce(created_unix_ms, 0), created_up_ms FROM records WHERE seq = ?`
		}
		if err := o.db.QueryRowContext(ctx, q, oldest.Int64).Scan(&ms, &up); err != nil {
			return Stats{}, fail("stats", err)
		}
		st.OldestUnackedSeq = oldest.Int64
		st.OldestUnacked = time.UnixMilli(ms)
		if up.Valid && now >= 0 {
			st.OldestUnackedAge = time.Duration(max(0, now-up.Int64)) * time.Millisecond
		}
	}
	last, _, err := readChain(ctx, o.db)
	if err != nil {
		return Stats{}, fail("stats", err)
	}
	st.LastSeq = last
	if v, ok, err := getMeta(ctx, o.db, metaLastAckUnix); err == nil && ok {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			st.LastAck = time.UnixMilli(ms)
		}
	}
	if v, ok, err := getMeta(ctx, o.db, metaLastAckUp); err == nil && ok {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil && now >= 0 {
			st.LastAckAge = time.Duration(max(0, now-ms)) * time.Millisecond
		}
	}
	st.Evicted = metaInt(ctx, o.db, metaEvicted)
	st.Refused = metaInt(ctx, o.db, metaRefused)
	st.FileBytes, err = fileBytes(o.path)
	if err != nil {
		return Stats{}, fmt.Errorf("buffer: stats: %w", err)
	}
	u, err := o.usage(ctx)
	if err != nil {
		return Stats{}, fail("stats", err)
	}
	st.UsedBytes, st.WALBytes = u.used(), u.wal
	return st, nil
}

// GetMeta reads a value from the persisted key/value store.
func (o *Outbox) GetMeta(ctx context.Context, key string) (string, bool, error) {
	v, ok, err := getMeta(ctx, o.db, key)
	if err != nil {
		return "", false, fail(fmt.Sprintf("get meta %q", key), err)
	}
	return v, ok, nil
}

// SetMeta stores a value in the persisted key/value store, committed durably before it returns.
// Keys starting with "buffer." are reserved for the outbox itself.
func (o *Outbox) SetMeta(ctx context.Context, key, value string) error {
	if key == "" {
		return errors.New("buffer: set meta: empty key")
	}
	if strings.HasPrefix(key, reservedPrefix) {
		return fmt.Errorf("buffer: set meta %q: keys starting with %q are reserved", key, reservedPrefix)
	}
	if err := setMeta(ctx, o.db, key, value); err != nil {
		return fail(fmt.Sprintf("set meta %q", key), err)
	}
	return nil
}

// exec runs one statement and returns the number of rows it changed.
func (o *Outbox) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := o.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

const msgColumns = `seq, id, kind, payload, hash, state, coalesce(epoch, 0), coalesce(attempts, 0),
	coalesce(created_unix_ms, 0), coalesce(reason, '')`

type scanner interface{ Scan(dest ...any) error }

func scanMsg(s scanner) (Msg, error) {
	var m Msg
	var kind, state string
	var created int64
	if err := s.Scan(&m.Seq, &m.ID, &kind, &m.Payload, &m.Hash, &state, &m.Epoch, &m.Attempts, &created, &m.Reason); err != nil {
		return Msg{}, err
	}
	m.Kind, m.State, m.Created = Kind(kind), State(state), time.UnixMilli(created)
	return m, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func getMeta(ctx context.Context, q querier, key string) (string, bool, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return v, true, nil
}

func setMeta(ctx context.Context, q querier, key, value string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// readChain returns the last assigned seq and the hash of the last appended record (nil if none).
func readChain(ctx context.Context, q querier) (int64, []byte, error) {
	var seq int64
	v, ok, err := getMeta(ctx, q, metaSeq)
	if err != nil {
		return 0, nil, err
	}
	if ok {
		if seq, err = strconv.ParseInt(v, 10, 64); err != nil || seq < 0 {
			return 0, nil, fmt.Errorf("meta %s holds %q, not a seq", metaSeq, v)
		}
	}
	v, ok, err = getMeta(ctx, q, metaLastHash)
	if err != nil || !ok || v == "" {
		return seq, nil, err
	}
	h, err := hex.DecodeString(v)
	if err != nil || len(h) != sha256.Size {
		return 0, nil, fmt.Errorf("meta %s holds %q, not a sha256", metaLastHash, v)
	}
	return seq, h, nil
}

// fileBytes adds up the sizes of the database file and its -wal and -shm companions.
func fileBytes(path string) (int64, error) {
	var total int64
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		total += fi.Size()
	}
	return total, nil
}

// fail wraps err with the package prefix and op, adding ErrDiskFull when the disk is full.
func fail(op string, err error) error {
	if isDiskFull(err) {
		return fmt.Errorf("buffer: %s: %w: %w", op, ErrDiskFull, err)
	}
	return fmt.Errorf("buffer: %s: %w", op, err)
}

func isDiskFull(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrFull || se.SystemErrno == syscall.ENOSPC
	}
	return errors.Is(err, syscall.ENOSPC)
}

func isUniqueViolation(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintUnique ||
		se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}

// Inspect returns the stats of an outbox file without changing it: it opens the file
// read-only, runs no migration and requeues nothing, so it is safe while an agent has the
// outbox open (for `imagent status` and tests).
func Inspect(ctx context.Context, path string) (Stats, error) {
	if _, err := os.Stat(path); err != nil {
		return Stats{}, fmt.Errorf("buffer: inspect: %w", err)
	}
	o, err := openReadOnly(ctx, path)
	if err != nil {
		return Stats{}, fmt.Errorf("buffer: inspect: %w", err)
	}
	defer o.db.Close()
	return o.Stats(ctx)
}

// InspectMeta returns the non-reserved meta keys of an outbox file that start with prefix,
// read-only like Inspect (for `imagent status`, which reads what the uplink and the clock
// watcher of a running agent persisted there).
func InspectMeta(ctx context.Context, path, prefix string) (map[string]string, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("buffer: inspect: %w", err)
	}
	o, err := openReadOnly(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("buffer: inspect: %w", err)
	}
	defer o.db.Close()
	rows, err := o.db.QueryContext(ctx, `SELECT key, value FROM meta WHERE substr(key, 1, ?) = ? AND substr(key, 1, ?) <> ?`,
		len(prefix), prefix, len(reservedPrefix), reservedPrefix)
	if err != nil {
		return nil, fail("inspect meta", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fail("inspect meta", err)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fail("inspect meta", err)
	}
	return out, nil
}

// openReadOnly opens path for reading only: no migration, no requeue, no ledger write. Its
// ledger is the one last saved, advanced by the kernel's uptime when the boot is the same.
func openReadOnly(ctx context.Context, path string) (*Outbox, error) {
	db, err := sql.Open("sqlite3", dsn(path, "mode=ro&_busy_timeout=5000"))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	o := &Outbox{db: db, path: path, opts: Opts{}.withDefaults(), readOnly: true}
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&o.schema); err != nil {
		db.Close()
		return nil, classify("read user_version", err)
	}
	if err := db.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&o.pageSize); err != nil {
		db.Close()
		return nil, classify("read page_size", err)
	}
	if o.schema > SchemaVersion() || o.schema == 0 {
		return o, nil // the caller refuses it; nothing here would read it right
	}
	if err := o.initLedger(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return o, nil
}
