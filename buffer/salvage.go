package buffer

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SalvageReport says what Salvage did with the rows of a quarantined file.
type SalvageReport struct {
	Read       int64 // rows read whose payload still matches its stored sha256
	Copied     int64 // of those, copied into this outbox
	Present    int64 // already here with the same seq and id (an earlier salvage)
	Damaged    int64 // rows read whose payload no longer matches its hash: not copied
	Conflicts  int64 // seq or id already used here by another record: not copied
	Unreadable int64 // seq numbers that could not be read at all (damaged pages)
	// Missing counts the seq numbers between FirstSeq and the file's last seq that have no
	// row: deleted earlier (retention, evicted telemetry) or lost with a damaged page.
	Missing  int64
	FirstSeq int64   // lowest seq read (0 if none)
	LastSeq  int64   // highest seq read
	Pending  int64   // copied rows that will be sent (they were pending or sent)
	Skipped  []int64 // seqs of damaged and conflicting rows (at most 20)
}

// Salvage copies the readable rows of a quarantined outbox file (see Quarantined) into this
// outbox. The file is opened read-only and never changed, so Salvage can be run again, and
// the file stays as evidence.
//
// A row is copied as it was stored: the same id, seq, kind and exact payload bytes (so its
// prev_hash still links it into the chain it was made in, and the platform de-duplicates a
// record it already has by id and bytes). Un-acked rows become pending and are sent again;
// acked and rejected rows keep their state (for local lookup; retention applies from now).
// A row is not copied, and is counted, when its payload no longer matches its sha256
// (damaged), or when its seq or id is already used here by another record (the new outbox
// reused a seq the damaged file could not tell it about). If the file holds seqs beyond this
// outbox's counter, the counter moves past them, so they are never reused.
//
// Salvage is safe beside a running agent: the rows go in through the outbox's own
// transactions and the uplink sends them on its next scan of the backlog.
func (o *Outbox) Salvage(ctx context.Context, path string) (SalvageReport, error) {
	var r SalvageReport
	if o.readOnly {
		return r, errors.New("buffer: salvage: read-only outbox")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return r, fmt.Errorf("buffer: salvage %s: %w", path, err)
	}
	if abs == o.path {
		return r, errors.New("buffer: salvage: that is this outbox's own file")
	}
	if _, err := os.Stat(abs); err != nil {
		return r, fmt.Errorf("buffer: salvage: %w", err)
	}
	had := sidecars(abs)
	defer dropCreatedSidecars(abs, had)
	src, err := sql.Open("sqlite3", dsn(abs, "mode=ro"))
	if err != nil {
		return r, fmt.Errorf("buffer: salvage %s: %w", abs, err)
	}
	defer src.Close()
	src.SetMaxOpenConns(1)

	hi := salvageSeq(ctx, abs)
	cols := `seq, id, kind, payload, hash, state, coalesce(created_unix_ms, 0), coalesce(reason, ''), created_up_ms`
	if probe, err := src.QueryContext(ctx, `SELECT `+cols+` FROM records WHERE 0`); err != nil {
		cols = `seq, id, kind, payload, hash, state, coalesce(created_unix_ms, 0), coalesce(reason, ''), NULL`
	} else {
		probe.Close()
	}
	var batch []salvRow
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := o.salvageBatch(ctx, batch, &r)
		batch = batch[:0]
		return err
	}
	take := func(row salvRow) error {
		r.Read++
		if r.FirstSeq == 0 || row.seq < r.FirstSeq {
			r.FirstSeq = row.seq
		}
		r.LastSeq = max(r.LastSeq, row.seq)
		if sum := sha256.Sum256(row.payload); string(sum[:]) != string(row.hash) {
			r.Read--
			r.Damaged++
			r.skip(row.seq)
			return nil
		}
		batch = append(batch, row)
		if len(batch) >= 256 {
			return flush()
		}
		return nil
	}

	after := int64(0)
	for {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		// Stream from after; a damaged page ends the stream with an error.
		last, err := streamRows(ctx, src, cols, after, take)
		if last > after {
			after = last
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		if errors.Is(err, errTake) {
			return r, err
		}
		// Probe one seq at a time past the damage until a row reads again.
		hi = max(hi, after)
		found := false
		for s := after + 1; s <= hi; s++ {
			row, err := pointRow(ctx, src, cols, s)
			after = s
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				r.Unreadable++
				continue
			}
			if err := take(row); err != nil {
				return r, err
			}
			found = true
			break
		}
		if !found {
			break
		}
	}
	if err := flush(); err != nil {
		return r, err
	}
	if r.FirstSeq > 0 {
		seen := r.Read + r.Damaged + r.Unreadable
		r.Missing = max(0, max(hi, r.LastSeq)-r.FirstSeq+1-seen)
	}
	return r, nil
}

var errTake = errors.New("buffer: salvage: storing rows failed")

type salvRow struct {
	seq         int64
	id, kind    string
	payload     []byte
	hash        []byte
	state       string
	createdUnix int64
	reason      string
	createdUp   sql.NullInt64
}

func (r *SalvageReport) skip(seq int64) {
	if len(r.Skipped) < 20 {
		r.Skipped = append(r.Skipped, seq)
	}
}

func scanRow(s scanner) (salvRow, error) {
	var row salvRow
	err := s.Scan(&row.seq, &row.id, &row.kind, &row.payload, &row.hash, &row.state, &row.createdUnix, &row.reason, &row.createdUp)
	return row, err
}

// streamRows reads rows with seq > after in order and hands them to take. It returns the
// last seq it read and the error that stopped it (nil at the end of the table).
func streamRows(ctx context.Context, db *sql.DB, cols string, after int64, take func(salvRow) error) (int64, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+cols+` FROM records WHERE seq > ? ORDER BY seq`, after)
	if err != nil {
		return after, err
	}
	defer rows.Close()
	last := after
	for rows.Next() {
		row, err := scanRow(rows)
		if err != nil {
			return last, err
		}
		last = row.seq
		if err := take(row); err != nil {
			return last, fmt.Errorf("%w: %w", errTake, err)
		}
	}
	return last, rows.Err()
}

func pointRow(ctx context.Context, db *sql.DB, cols string, seq int64) (salvRow, error) {
	return scanRow(db.QueryRowContext(ctx, `SELECT `+cols+` FROM records WHERE seq = ?`, seq))
}

// salvageBatch stores rows in one transaction.
func (o *Outbox) salvageBatch(ctx context.Context, rows []salvRow, r *SalvageReport) error {
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return fail("salvage: begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	last, _, err := readChain(ctx, tx)
	if err != nil {
		return fail("salvage", err)
	}
	up := o.uptimeMS()
	var copied, pending, present, conflicts int64
	var skipped []int64
	for _, row := range rows {
		var haveID string
		err := tx.QueryRowContext(ctx, `SELECT id FROM records WHERE seq = ?`, row.seq).Scan(&haveID)
		switch {
		case err == nil && haveID == row.id:
			present++
			continue
		case err == nil:
			conflicts++
			skipped = append(skipped, row.seq)
			continue
		case !errors.Is(err, sql.ErrNoRows):
			return fail("salvage", err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM records WHERE id = ?`, row.id).Scan(&n); err != nil {
			return fail("salvage", err)
		}
		if n > 0 {
			conflicts++
			skipped = append(skipped, row.seq)
			continue
		}
		state, ackedUp, ackedUnix := Pending, sql.NullInt64{}, sql.NullInt64{}
		switch State(row.state) {
		case Acked:
			state = Acked
			ackedUp = sql.NullInt64{Int64: up, Valid: true}
			ackedUnix = sql.NullInt64{Int64: row.createdUnix, Valid: true}
		case Rejected:
			state = Rejected
		default:
			pending++
		}
		kind := Kind(row.kind)
		if !kind.Valid() {
			kind = KindEvent // a damaged kind: keep the record, as regulated
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO records(seq, id, kind, payload, hash, state, epoch, attempts,
			created_unix_ms, acked_unix_ms, reason, created_up_ms, acked_up_ms, size) VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, ?)`,
			row.seq, row.id, string(kind), row.payload, row.hash, string(state), row.createdUnix, ackedUnix,
			row.reason, row.createdUp, ackedUp, len(row.payload)); err != nil {
			return fail(fmt.Sprintf("salvage seq %d", row.seq), err)
		}
		copied++
		last = max(last, row.seq)
	}
	if err := setMeta(ctx, tx, metaSeq, strconv.FormatInt(last, 10)); err != nil {
		return fail("salvage", err)
	}
	if err := tx.Commit(); err != nil {
		return fail("salvage: commit", err)
	}
	r.Copied += copied
	r.Pending += pending
	r.Present += present
	r.Conflicts += conflicts
	for _, s := range skipped {
		r.skip(s)
	}
	return nil
}

// String is the report in one line for logs and the salvage command.
func (r SalvageReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "read %d rows (seq %d-%d): copied %d (%d to send), already present %d", r.Read, r.FirstSeq, r.LastSeq,
		r.Copied, r.Pending, r.Present)
	if r.Damaged+r.Conflicts+r.Unreadable > 0 {
		fmt.Fprintf(&b, "; not copied: %d damaged, %d conflicting, %d unreadable", r.Damaged, r.Conflicts, r.Unreadable)
	}
	if r.Missing > 0 {
		fmt.Fprintf(&b, "; %d seqs in that range have no row (deleted earlier, or on a damaged page)", r.Missing)
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(&b, " (seqs %v)", r.Skipped)
	}
	return b.String()
}
