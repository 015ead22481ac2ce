package platform

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
	ProblemEdited    = "edited"     // the stored bytes no longer hash to the digest taken when they arrived
	ProblemEvicted   = "evicted"    // seqs missing, covered by the agent's outbox_evicted event: not tampering
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

// Explained reports whether a problem is one the agent has accounted for (evicted
// telemetry, a new chain after a quarantined outbox) rather than a sign of loss or tampering.
func (c ChainProblem) Explained() bool { return c.Kind == ProblemEvicted || c.Kind == ProblemRestart }

// VerifyChain walks a lane's records in seq order and reports every gap in seq (including
// missing records before the first one received), every prev_hash that is not the sha256 of
// the previous record's exact bytes, every stored record whose bytes no longer match the
// digest taken when it arrived (an edit of the platform's own copy), and every place where a
// new chain starts (an empty prev_hash after seq 1, which an agent writes after quarantining
// a corrupt outbox). A gap covered by the agent's own outbox_evicted event (no more seqs
// missing in its range than it says were evicted) is reported as ProblemEvicted. A record
// after a gap cannot be checked against its predecessor; the gap is reported instead. No
// problems means every record from seq 1 to the last is present and unaltered.
func (p *Platform) VerifyChain(ctx context.Context, station, lane string) ([]ChainProblem, error) {
	evictions, err := p.evictions(ctx, station, lane)
	if err != nil {
		return nil, err
	}
	rows, err := p.db.QueryContext(ctx, `SELECT id, seq, prev_hash, sha256, payload FROM records
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
		var payload []byte
		if err := rows.Scan(&l.id, &l.seq, &l.prev, &l.sum, &payload); err != nil {
			return nil, fmt.Errorf("platform: verify chain: %w", err)
		}
		prob := func(kind, detail string, args ...any) {
			out = append(out, ChainProblem{Seq: l.seq, ID: l.id, Kind: kind, Detail: fmt.Sprintf(detail, args...)})
		}
		if now := contract.Hash(payload); now != l.sum {
			prob(ProblemEdited, "the stored bytes hash to %s, but %s when they arrived", now, l.sum)
			l.sum = now // the next link is checked against what is stored now
		}
		gap := func(from, to int64) {
			if evictions.covers(from, to) {
				prob(ProblemEvicted, "seq %d..%d missing: evicted by the agent (outbox_evicted)", from, to)
				return
			}
			prob(ProblemGap, "seq %d..%d missing", from, to)
		}
		switch {
		case last == nil && l.seq > 1:
			gap(1, l.seq-1)
		case last == nil && l.prev != "":
			prob(ProblemPrevHash, "the first record has prev_hash %s, want empty", l.prev)
		case last == nil:
		case l.seq == last.seq:
			prob(ProblemSeqReused, "seq also used by %s", last.id)
		case l.seq > last.seq+1:
			gap(last.seq+1, l.seq-1)
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

// evictionSet is what a lane's outbox_evicted events say was evicted.
type evictionSet []evictionRange

type evictionRange struct {
	from, to, count int64
	missing         int64 // missing seqs seen inside so far
}

// covers reports whether the gap from..to lies inside one eviction range whose count still
// allows it (more seqs missing than evicted means something else is missing too).
func (s evictionSet) covers(from, to int64) bool {
	for i := range s {
		r := &s[i]
		if from >= r.from && to <= r.to && r.missing+(to-from+1) <= r.count {
			r.missing += to - from + 1
			return true
		}
	}
	return false
}

// evictions reads a lane's outbox_evicted events.
func (p *Platform) evictions(ctx context.Context, station, lane string) (evictionSet, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT payload FROM records WHERE station = ? AND lane = ? AND kind = ?`,
		station, lane, contract.KindEvent)
	if err != nil {
		return nil, fmt.Errorf("platform: verify chain: %w", err)
	}
	defer rows.Close()
	var out evictionSet
	for rows.Next() {
		var payload []byte
		if err := rows.Scan(&payload); err != nil {
			return nil, fmt.Errorf("platform: verify chain: %w", err)
		}
		var e contract.Envelope
		if json.Unmarshal(payload, &e) != nil {
			continue
		}
		var b contract.EventBody
		if json.Unmarshal(e.Body, &b) != nil || b.Event != contract.EventOutboxEvicted {
			continue
		}
		from, err1 := strconv.ParseInt(b.Attrs["from_seq"], 10, 64)
		to, err2 := strconv.ParseInt(b.Attrs["to_seq"], 10, 64)
		n, err3 := strconv.ParseInt(b.Attrs["count"], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || to < from || n <= 0 {
			continue
		}
		out = append(out, evictionRange{from: from, to: to, count: n})
	}
	return out, rows.Err()
}

// Lanes lists the station/lane pairs the platform holds records of.
func (p *Platform) Lanes(ctx context.Context) ([]contract.Topics, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT DISTINCT station, lane FROM records ORDER BY station, lane`)
	if err != nil {
		return nil, fmt.Errorf("platform: lanes: %w", err)
	}
	defer rows.Close()
	var out []contract.Topics
	for rows.Next() {
		var t contract.Topics
		if err := rows.Scan(&t.Station, &t.Lane); err != nil {
			return nil, fmt.Errorf("platform: lanes: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
