package buffer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrNotResealable is wrapped into the error of Reseal when a record it would have to
// rewrite may already have left the box (it is not pending, or was sent before), or when
// there are more of them than allowed. Nothing was changed.
var ErrNotResealable = errors.New("buffer: records cannot be resealed")

// Reseal rewrites, in one transaction, the payloads of every record with seq > after, in seq
// order, and re-links the hash chain behind them. fix gets each record and newPrev: the new
// hash of the previous record when that one's payload was rewritten, nil when it was not
// (then the record's own prev_hash is still right). fix returns the payload to store (the
// same bytes for no change); when newPrev is not nil it must seal newPrev as prev_hash.
//
// It is for records that have never left the box (the agent corrects their wall time when
// the clock synchronises): every record after `after` must be pending with no send attempt
// recorded, and the caller must make sure none of them is being published meanwhile (the
// uplink holds its publish lock). At most max records may be rewritten. Otherwise Reseal
// returns an error wrapping ErrNotResealable and changes nothing. It returns how many
// payloads changed.
func (o *Outbox) Reseal(ctx context.Context, after int64, max int, fix func(m Msg, newPrev []byte) ([]byte, error)) (int, error) {
	if o.readOnly {
		return 0, errors.New("buffer: reseal: read-only outbox")
	}
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fail("reseal: begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	var n, bad int
	if err := tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(state <> 'pending' OR coalesce(attempts, 0) > 0), 0)
		FROM records WHERE seq > ?`, after).Scan(&n, &bad); err != nil {
		return 0, fail("reseal", err)
	}
	if bad > 0 {
		return 0, fmt.Errorf("buffer: reseal after seq %d: %d records were sent already: %w", after, bad, ErrNotResealable)
	}
	if n > max {
		return 0, fmt.Errorf("buffer: reseal after seq %d: %d records, more than %d: %w", after, n, max, ErrNotResealable)
	}
	if n == 0 {
		return 0, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+msgColumns+` FROM records WHERE seq > ? ORDER BY seq`, after)
	if err != nil {
		return 0, fail("reseal", err)
	}
	var msgs []Msg
	for rows.Next() {
		m, err := scanMsg(rows)
		if err != nil {
			rows.Close()
			return 0, fail("reseal", err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, fail("reseal", err)
	}
	rows.Close()
	stmt, err := tx.PrepareContext(ctx, `UPDATE records SET payload = ?, hash = ?, size = ? WHERE seq = ?`)
	if err != nil {
		return 0, fail("reseal", err)
	}
	defer stmt.Close()
	var newPrev []byte
	changed := 0
	prevSeq := after
	for _, m := range msgs {
		if m.Seq != prevSeq+1 {
			// The predecessor is gone (evicted telemetry): this record still links to its
			// unchanged bytes.
			newPrev = nil
		}
		prevSeq = m.Seq
		p, err := fix(m, newPrev)
		if err != nil {
			return 0, fmt.Errorf("buffer: reseal seq %d: %w", m.Seq, err)
		}
		if len(p) == 0 {
			return 0, fmt.Errorf("buffer: reseal seq %d: empty payload", m.Seq)
		}
		if string(p) == string(m.Payload) {
			if newPrev != nil {
				return 0, fmt.Errorf("buffer: reseal seq %d: its predecessor changed but it was not re-sealed", m.Seq)
			}
			continue
		}
		sum := sha256.Sum256(p)
		if _, err := stmt.ExecContext(ctx, p, sum[:], len(p), m.Seq); err != nil {
			return 0, fail(fmt.Sprintf("reseal seq %d", m.Seq), err)
		}
		newPrev = sum[:]
		changed++
	}
	// The next Append chains onto the last appended record; if that one was rewritten, onto
	// its new hash. (If it was evicted, its bytes did not change and neither does the link.)
	last, _, err := readChain(ctx, tx)
	if err != nil {
		return 0, fail("reseal", err)
	}
	if newPrev != nil && msgs[len(msgs)-1].Seq == last {
		if err := setMeta(ctx, tx, metaLastHash, hex.EncodeToString(newPrev)); err != nil {
			return 0, fail("reseal", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fail("reseal: commit", err)
	}
	return changed, nil
}
