package platform

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"imagent/agent/contract"
)

// ErrNotFound is returned (wrapped) by Record for an unknown id.
var ErrNotFound = errors.New("platform: record not found")

const storedColumns = `id, seq, station, lane, kind, payload, received_ns, copies`

func scanStored(sc interface{ Scan(...any) error }) (Stored, error) {
	var s Stored
	var ns int64
	if err := sc.Scan(&s.ID, &s.Seq, &s.Station, &s.Lane, &s.Kind, &s.Payload, &ns, &s.Copies); err != nil {
		return Stored{}, err
	}
	s.ReceivedAt = time.Unix(0, ns)
	_, e, err := contract.Decode(s.Payload)
	if err != nil {
		return Stored{}, fmt.Errorf("platform: stored record %s no longer decodes: %w", s.ID, err)
	}
	s.Envelope = *e
	return s, nil
}

// Records returns a lane's records ordered by seq (then by first receipt).
func (p *Platform) Records(ctx context.Context, station, lane string) ([]Stored, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT `+storedColumns+` FROM records
		WHERE station = ? AND lane = ? ORDER BY seq, received_ns, rowid`, station, lane)
	if err != nil {
		return nil, fmt.Errorf("platform: records: %w", err)
	}
	defer rows.Close()
	var out []Stored
	for rows.Next() {
		s, err := scanStored(rows)
		if err != nil {
			return nil, fmt.Errorf("platform: records: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("platform: records: %w", err)
	}
	return out, nil
}

// Record returns the record with the given id, or an error wrapping ErrNotFound.
func (p *Platform) Record(ctx context.Context, id string) (Stored, error) {
	s, err := scanStored(p.db.QueryRowContext(ctx, `SELECT `+storedColumns+` FROM records WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Stored{}, fmt.Errorf("platform: record %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Stored{}, fmt.Errorf("platform: record %q: %w", id, err)
	}
	return s, nil
}

// Chain problem kinds.
const (
	ProblemGap       = "gap"        // seqs missing before this record
	ProblemPrevHash  = "prev_hash"  // prev_hash is not the sha256 of the previous record's bytes
	ProblemSeqReused = "seq_reused" // another record with the same seq (and another id)
	ProblemRestart   = "restart"    // empty prev_hash after seq 1: the agent started a new chain (e.g. its outbox was quarantined)
)

// ChainProblem is one break in a lane's hash chain, found at record Seq/ID.
type ChainProblem struct {
	Seq    int64
	ID     string
	Kind   string // ProblemGap | ProblemPrevHash | ProblemSeqReused | ProblemRestart
	Detail string
}

func (c ChainProblem) String() string {
	return fmt.Sprintf("seq %d (%s): %s: %s", c.Seq, c.ID, c.Kind, c.Detail)
}

// VerifyChain walks a lane's records in seq order and reports every gap in seq (including
// missing records before the first one received), every prev_hash that is not the sha256 of
// the previous record's exact bytes, and every place where a new chain starts (an empty
// prev_hash after seq 1, which an agent writes after quarantining a corrupt outbox). A
// record after a gap cannot be checked against its predecessor; the gap is reported
// instead. No problems means every record from seq 1 to the last is present and unaltered.
func (p *Platform) VerifyChain(ctx context.Context, station, lane string) ([]ChainProblem, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT id, seq, prev_hash, sha256 FROM records
		WHERE station = ? AND lane = ? ORDER BY seq, received_ns, rowid`, station, lane)
	if err != nil {
		return nil, fmt.Errorf("platform: verify chain: %w", err)
	}
	defer rows.Close()
	type link struct {
		id        string
		seq       int64
		prev, sum string
	}
	var out []ChainProblem
	var last *link
	for rows.Next() {
		var l link
		if err := rows.Scan(&l.id, &l.seq, &l.prev, &l.sum); err != nil {
			return nil, fmt.Errorf("platform: verify chain: %w", err)
		}
		prob := func(kind, detail string, args ...any) {
			out = append(out, ChainProblem{Seq: l.seq, ID: l.id, Kind: kind, Detail: fmt.Sprintf(detail, args...)})
		}
		switch {
		case last == nil && l.seq > 1:
			prob(ProblemGap, "seq 1..%d missing", l.seq-1)
		case last == nil && l.prev != "":
			prob(ProblemPrevHash, "the first record has prev_hash %s, want empty", l.prev)
		case last == nil:
		case l.seq == last.seq:
			prob(ProblemSeqReused, "seq also used by %s", last.id)
		case l.seq > last.seq+1:
			prob(ProblemGap, "seq %d..%d missing", last.seq+1, l.seq-1)
			if l.prev == "" {
				prob(ProblemRestart, "a new chain starts here (empty prev_hash)")
			}
		case l.prev == "":
			prob(ProblemRestart, "a new chain starts here (empty prev_hash); seq %d (%s) hashes to %s", last.seq, last.id, last.sum)
		case l.prev != last.sum:
			prob(ProblemPrevHash, "prev_hash %s, but seq %d (%s) hashes to %s", l.prev, last.seq, last.id, last.sum)
		}
		last = &l
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("platform: verify chain: %w", err)
	}
	return out, nil
}
