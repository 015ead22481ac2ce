package buffer

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

	"github.com/mattn/go-sqlite3"
)

// migrations returns the schema steps. Step i (0-based) brings a file from user_version i to
// i+1; each runs in its own transaction together with the user_version bump. Append new steps,
// never edit old ones.
func migrations() []string {
	return []string{
		// 1: the outbox and its key/value store.
		`CREATE TABLE records(
			seq INTEGER PRIMARY KEY,
			id TEXT UNIQUE NOT NULL,
			kind TEXT NOT NULL,
			payload BLOB NOT NULL,
			hash BLOB NOT NULL,
			state TEXT NOT NULL,
			epoch INTEGER,
			attempts INTEGER,
			created_unix_ms INTEGER,
			acked_unix_ms INTEGER,
			reason TEXT);
		CREATE INDEX records_state_seq ON records(state, seq);
		CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);`,
		// 2: ages measured on the uptime ledger (capacity.go), and indexes for eviction by
		// kind and for retention of acked records.
		// size is length(payload), kept so that sizes are summed without reading payloads
		// (a length() of a large blob walks its overflow pages).
		`ALTER TABLE records ADD COLUMN created_up_ms INTEGER;
		ALTER TABLE records ADD COLUMN acked_up_ms INTEGER;
		ALTER TABLE records ADD COLUMN size INTEGER;
		CREATE INDEX records_kind_seq ON records(kind, seq);
		CREATE INDEX records_size_unknown ON records(seq) WHERE size IS NULL;
		CREATE INDEX records_acked_up ON records(acked_up_ms) WHERE state = 'acked';`,
	}
}

// SchemaVersion is the PRAGMA user_version this program writes.
func SchemaVersion() int { return len(migrations()) }

// Open opens (creating if needed) the outbox at path.
//
// A file that is not a database or fails PRAGMA quick_check is moved aside, with its -wal and
// -shm, to PATH.corrupt-<unix-nanos> (see Quarantined) and a new outbox is started; its seq
// counter continues after the last seq that could still be read from the moved file, and its
// first record starts a new chain (prevHash nil). A file from a newer schema version is refused
// with ErrSchemaTooNew and left in place. Records that were sent but not acked become pending.
func Open(ctx context.Context, path string, o Opts) (*Outbox, error) {
	if path == "" {
		return nil, errors.New("buffer: open: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("buffer: open %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fail("open: create directory", err)
	}
	ob := &Outbox{path: abs, opts: o.withDefaults()}

	had := sidecars(abs)
	db, err := openChecked(ctx, abs)
	var salvagedSeq int64
	if errors.Is(err, errCorrupt) && o.Secondary {
		// Never move a file from under the agent that owns it.
		return nil, fmt.Errorf("buffer: open %s: %w (the agent quarantines it when it next starts)", abs, err)
	}
	if errors.Is(err, errCorrupt) {
		// The file is closed (a failed check closes it) before it is moved. Companion files
		// that only our own check created say nothing about the damage: drop them.
		dropCreatedSidecars(abs, had)
		moved, qerr := quarantine(abs)
		ob.quarantined = moved
		if qerr != nil {
			return nil, fmt.Errorf("buffer: open %s: corrupt (%w), and moving it aside failed: %w", abs, err, qerr)
		}
		hadMoved := sidecars(moved[0])
		salvagedSeq = salvageSeq(ctx, moved[0])
		dropCreatedSidecars(moved[0], hadMoved)
		db, err = openChecked(ctx, abs)
	}
	if err != nil {
		return nil, fmt.Errorf("buffer: open %s: %w", abs, err)
	}
	ob.db = db
	if err := ob.init(ctx, salvagedSeq); err != nil {
		db.Close()
		return nil, fmt.Errorf("buffer: open %s: %w", abs, err)
	}
	return ob, nil
}

// init migrates the schema, carries a salvaged seq counter over and requeues sent records.
func (o *Outbox) init(ctx context.Context, salvagedSeq int64) error {
	if err := migrate(ctx, o.db, SchemaVersion()); err != nil {
		return err
	}
	o.schema = SchemaVersion()
	if err := o.db.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&o.pageSize); err != nil {
		return fail("read page_size", err)
	}
	// After a checkpoint that empties the WAL, SQLite truncates the file to this size, so a
	// burst of writes does not leave a large WAL behind. A per-connection setting: the pool
	// keeps its one connection for the life of the Outbox.
	if _, err := o.db.ExecContext(ctx, fmt.Sprintf(`PRAGMA journal_size_limit = %d`, o.opts.walLimit())); err != nil {
		return fail("set journal_size_limit", err)
	}
	if _, err := o.db.ExecContext(ctx, fmt.Sprintf(`PRAGMA wal_autocheckpoint = %d`, max(16, o.opts.walLimit()/o.pageSize/2))); err != nil {
		return fail("set wal_autocheckpoint", err)
	}
	if err := o.initLedger(ctx); err != nil {
		return err
	}
	if salvagedSeq > 0 {
		last, _, err := readChain(ctx, o.db)
		if err != nil {
			return fail("salvaged seq", err)
		}
		if salvagedSeq > last {
			if err := setMeta(ctx, o.db, metaSeq, strconv.FormatInt(salvagedSeq, 10)); err != nil {
				return fail("salvaged seq", err)
			}
		}
	}
	seq, _, err := readChain(ctx, o.db)
	if err != nil {
		return fail("read seq", err)
	}
	o.openedSeq = seq
	if o.opts.Secondary {
		return nil
	}
	// Nothing is in flight before the first connection.
	if _, err := o.exec(ctx, `UPDATE records SET state = ? WHERE state = ?`, string(Pending), string(Sent)); err != nil {
		return fail("requeue sent", err)
	}
	return nil
}

// errCorrupt marks an open failure that means the file is damaged (quarantine it), as opposed
// to one that means we cannot use it now (permissions, I/O errors, a full disk).
var errCorrupt = errors.New("database file is corrupt")

// dsn builds the go-sqlite3 URI for path. The characters that end or escape a URI path are
// percent-encoded.
func dsn(path string, params string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?" + params
}

// rwParams are the outbox's connection settings. auto_vacuum=incremental only takes effect on
// a new file (set before its first table): pages freed by eviction are then given back to
// the filesystem by PRAGMA incremental_vacuum. A file made without it reuses its free pages.
const rwParams = "_auto_vacuum=incremental&_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000&_txlock=immediate"

// openChecked checks an existing file with PRAGMA quick_check on a read-only connection, then
// opens path with the outbox settings and verifies that they took effect. Errors that mean the
// file is damaged wrap errCorrupt.
//
// The check runs read-only first because closing the last read-write connection checkpoints the
// WAL into the database file and deletes the WAL: a damaged file must be moved aside exactly as
// it was found.
func openChecked(ctx context.Context, path string) (*sql.DB, error) {
	checked, err := precheck(ctx, path)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite3", dsn(path, rwParams))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	err = checkSettings(ctx, db)
	if err == nil && !checked {
		err = quickCheck(ctx, db)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// precheck runs quick_check on an existing file through a read-only connection. It reports
// whether the check ran; a failure that does not show damage (say, the -shm cannot be made) is
// left for the read-write open to meet again.
func precheck(ctx context.Context, path string) (bool, error) {
	if _, err := os.Stat(path); err != nil {
		return false, nil // missing: a new file; anything else: the read-write open reports it
	}
	db, err := sql.Open("sqlite3", dsn(path, "mode=ro"))
	if err != nil {
		return false, nil
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	err = quickCheck(ctx, db)
	if errors.Is(err, errCorrupt) {
		return true, err
	}
	return err == nil, nil
}

// checkSettings connects and verifies that the DSN settings took effect.
func checkSettings(ctx context.Context, db *sql.DB) error {
	if err := db.PingContext(ctx); err != nil {
		return classify("connect", err)
	}
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return classify("read journal_mode", err)
	}
	if mode != "wal" {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	var syncMode, busy int
	if err := db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&syncMode); err != nil {
		return classify("read synchronous", err)
	}
	if syncMode != 2 { // FULL
		return fmt.Errorf("synchronous is %d, want 2 (FULL)", syncMode)
	}
	if err := db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy); err != nil {
		return classify("read busy_timeout", err)
	}
	if busy != 5000 {
		return fmt.Errorf("busy_timeout is %d, want 5000", busy)
	}
	return nil
}

// quickCheck runs PRAGMA quick_check; a damaged file gives an error wrapping errCorrupt.
func quickCheck(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `PRAGMA quick_check`)
	if err != nil {
		return classify("quick_check", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return classify("quick_check", err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return classify("quick_check", err)
	}
	if len(problems) > 0 {
		if len(problems) > 3 {
			problems = append(problems[:3], fmt.Sprintf("and %d more", len(problems)-3))
		}
		return fmt.Errorf("%w: quick_check: %s", errCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

// classify wraps err, adding errCorrupt when SQLite says the file is damaged or not a database.
func classify(op string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB) {
		return fmt.Errorf("%w: %s: %w", errCorrupt, op, err)
	}
	if isDiskFull(err) {
		return fmt.Errorf("%s: %w: %w", op, ErrDiskFull, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// sidecars reports which of path's -wal and -shm files exist.
func sidecars(path string) map[string]bool {
	had := map[string]bool{}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Lstat(path + suffix); err == nil {
			had[suffix] = true
		}
	}
	return had
}

// dropCreatedSidecars removes the -shm, and the -wal if it is empty, that did not exist before
// Open checked the file. A -wal with content is never removed.
func dropCreatedSidecars(path string, had map[string]bool) {
	for _, suffix := range []string{"-wal", "-shm"} {
		if had[suffix] {
			continue
		}
		fi, err := os.Lstat(path + suffix)
		if err != nil || (suffix == "-wal" && fi.Size() > 0) {
			continue
		}
		os.Remove(path + suffix)
	}
}

// quarantine moves path and its -wal and -shm to path.corrupt-<unix-nanos>[-wal|-shm] and
// syncs the directory. It returns the new names of the files it moved, the database first.
func quarantine(path string) ([]string, error) {
	dst := fmt.Sprintf("%s.corrupt-%d", path, time.Now().UnixNano())
	for {
		if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
			break
		}
		dst = fmt.Sprintf("%s.corrupt-%d", path, time.Now().UnixNano())
	}
	var moved []string
	for _, suffix := range []string{"", "-wal", "-shm"} {
		err := os.Rename(path+suffix, dst+suffix)
		if suffix != "" && errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return moved, err
		}
		moved = append(moved, dst+suffix)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return moved, err
	}
	return moved, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// salvageSeq reads, best effort and read-only, the last seq from a quarantined file so the new
// outbox does not reuse one the platform may have seen. It returns 0 when nothing can be read
// (garbage, or a truncated file, which SQLite refuses to read at all).
func salvageSeq(ctx context.Context, path string) int64 {
	db, err := sql.Open("sqlite3", dsn(path, "mode=ro"))
	if err != nil {
		return 0
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var best int64
	var v string
	if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, metaSeq).Scan(&v); err == nil {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			best = n
		}
	}
	var maxSeq sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(seq) FROM records`).Scan(&maxSeq); err == nil && maxSeq.Int64 > best {
		best = maxSeq.Int64
	}
	if best < 0 || best > 1<<53 { // garbage read from a damaged page
		return 0
	}
	return best
}

// migrate brings db to schema version target, one transaction per step. A file whose version
// is higher than target is refused with ErrSchemaTooNew.
func migrate(ctx context.Context, db *sql.DB, target int) error {
	steps := migrations()
	if target > len(steps) {
		return fmt.Errorf("migrate: no step to version %d", target)
	}
	for {
		done, err := migrateStep(ctx, db, steps, target)
		if err != nil || done {
			return err
		}
	}
}

func migrateStep(ctx context.Context, db *sql.DB, steps []string, target int) (bool, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fail("migrate: begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	var v int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return false, fail("migrate: read user_version", err)
	}
	if v > len(steps) {
		return false, fmt.Errorf("%w: file has schema version %d, this program knows up to %d", ErrSchemaTooNew, v, len(steps))
	}
	if v < 0 {
		return false, fmt.Errorf("migrate: file has schema version %d", v)
	}
	if v >= target {
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
		return false, fail(fmt.Sprintf("migrate to version %d", v+1), err)
	}
	// PRAGMA takes no bound parameters; v+1 is our own integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v+1)); err != nil {
		return false, fail(fmt.Sprintf("migrate to version %d", v+1), err)
	}
	if err := tx.Commit(); err != nil {
		return false, fail(fmt.Sprintf("migrate to version %d: commit", v+1), err)
	}
	return v+1 >= target, nil
}
