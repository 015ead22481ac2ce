package buffer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Query selects records for Search. A zero field does not filter.
//
// Plate, VIN and InspectionID are matched as case-insensitive substrings of the fields the
// agent's envelopes carry in their body (body.vehicle.plate, body.vehicle.vin and
// body.inspection_id; see agent/contract). Since and Until bound the wall time at which
// the record was stored: on a box whose clock was not synchronised that time can be wrong,
// which is why it is only ever used to find records, never to order or expire them.
type Query struct {
	Kind         Kind
	Plate        string
	VIN          string
	InspectionID string
	Since, Until time.Time // stored at or after Since, and before Until
	BeforeSeq    int64     // only records with seq < BeforeSeq: pass the previous page's next
	Limit        int       // page size; default 50, at most MaxSearchLimit
}

// MaxSearchLimit bounds one page of Search.
const MaxSearchLimit = 1000

// Summary is what a list of records shows: the outbox columns and a few fields read from
// the envelope, without the payload itself.
type Summary struct {
	Seq      int64
	ID       string
	Kind     Kind
	State    State
	Epoch    int64
	Attempts int
	Created  time.Time // wall time at append; informational only
	Acked    time.Time // when the platform's ack was stored; zero if not acked
	Reason   string    // reject reason
	Bytes    int       // payload size

	Simulated    bool
	Plate        string
	VIN          string
	InspectionID string
	Method       string // test records
	Verdict      string // test records: pass, fail or abort
	Check        string // check records: which check
	Device       string // check records: the device checked
	Pass         *bool  // check records: the outcome, if the body states one
}

// Paths into the envelope JSON. They mirror agent/contract, which this package does not
// import: the outbox stores opaque bytes and only reads these for search.
const (
	pathPlate     = "$.body.vehicle.plate"
	pathVIN       = "$.body.vehicle.vin"
	pathInspectID = "$.body.inspection_id"
	pathMethod    = "$.body.method"
	pathVerdict   = "$.body.verdict"
	pathCheck     = "$.body.check"
	pathDevice    = "$.body.device.name"
	pathResult    = "$.body.result" // check records: pass | fail | abort
	pathSimulated = "$.simulated"
)

// jsonText is the payload as text when it is a JSON object, NULL otherwise (so a payload
// stored in another encoding is skipped rather than failing the whole query). The cast
// keeps SQLite from reading a text payload as its binary JSONB format.
const jsonText = `(CASE WHEN substr(payload, 1, 1) = X'7B' THEN CAST(payload AS TEXT) END)`

const summaryColumns = `seq, id, kind, state, coalesce(epoch, 0), coalesce(attempts, 0),
	coalesce(created_unix_ms, 0), coalesce(acked_unix_ms, 0), coalesce(reason, ''), length(payload),
	json_extract(` + jsonText + `, '` + pathSimulated + `'),
	json_extract(` + jsonText + `, '` + pathPlate + `'),
	json_extract(` + jsonText + `, '` + pathVIN + `'),
	json_extract(` + jsonText + `, '` + pathInspectID + `'),
	json_extract(` + jsonText + `, '` + pathMethod + `'),
	json_extract(` + jsonText + `, '` + pathVerdict + `'),
	json_extract(` + jsonText + `, '` + pathCheck + `'),
	json_extract(` + jsonText + `, '` + pathDevice + `'),
	json_extract(` + jsonText + `, '` + pathResult + `')`

// Search returns the newest records matching q, newest first, and the BeforeSeq of the next
// (older) page, or 0 when there is none.
//
// A search reads payloads and may take a while on a large outbox; it holds the outbox's
// connection meanwhile. Interactive searches beside a running agent should use an outbox
// opened with OpenReadOnly, so that they never delay a record's commit.
func (o *Outbox) Search(ctx context.Context, q Query) ([]Summary, int64, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, MaxSearchLimit)
	var where []string
	var args []any
	if q.BeforeSeq > 0 {
		where, args = append(where, "seq < ?"), append(args, q.BeforeSeq)
	}
	if q.Kind != "" {
		if !q.Kind.Valid() {
			return nil, 0, fmt.Errorf("buffer: search: unknown kind %q", q.Kind)
		}
		where, args = append(where, "kind = ?"), append(args, string(q.Kind))
	}
	if !q.Since.IsZero() {
		where, args = append(where, "created_unix_ms >= ?"), append(args, q.Since.UnixMilli())
	}
	if !q.Until.IsZero() {
		where, args = append(where, "created_unix_ms < ?"), append(args, q.Until.UnixMilli())
	}
	for _, f := range []struct{ path, needle string }{
		{pathPlate, q.Plate}, {pathVIN, q.VIN}, {pathInspectID, q.InspectionID},
	} {
		n := strings.ToUpper(strings.TrimSpace(f.needle))
		if n == "" {
			continue
		}
		if len(n) > 128 {
			return nil, 0, errors.New("buffer: search: search text longer than 128 bytes")
		}
		// A byte search in the raw payload first: it is cheap and skips most rows before
		// their JSON is parsed. Plates, VINs and serial numbers are written in upper case;
		// the second test also finds the needle as typed.
		where = append(where, `(instr(payload, CAST(? AS BLOB)) > 0 OR instr(payload, CAST(? AS BLOB)) > 0)`,
			`instr(upper(json_extract(`+jsonText+`, '`+f.path+`')), ?) > 0`)
		args = append(args, n, strings.TrimSpace(f.needle), n)
	}
	query := `SELECT ` + summaryColumns + ` FROM records`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, limit+1)

	rows, err := o.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, 0, fail("search", err)
	}
	defer rows.Close()
	var out []Summary
	for rows.Next() {
		s, err := scanSummary(rows)
		if err != nil {
			return nil, 0, fail("search", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fail("search", err)
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].Seq
	}
	return out, next, nil
}

// Summarize returns the summary of the record with the given id, or an error wrapping
// ErrNotFound.
func (o *Outbox) Summarize(ctx context.Context, id string) (Summary, error) {
	s, err := scanSummary(o.db.QueryRowContext(ctx, `SELECT `+summaryColumns+` FROM records WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Summary{}, fmt.Errorf("buffer: summary %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Summary{}, fail(fmt.Sprintf("summary %q", id), err)
	}
	return s, nil
}

func scanSummary(s scanner) (Summary, error) {
	var m Summary
	var kind, state string
	var created, acked int64
	var sim sql.NullInt64
	var plate, vin, insp, method, verdict, check, device, result sql.NullString
	if err := s.Scan(&m.Seq, &m.ID, &kind, &state, &m.Epoch, &m.Attempts, &created, &acked, &m.Reason, &m.Bytes,
		&sim, &plate, &vin, &insp, &method, &verdict, &check, &device, &result); err != nil {
		return Summary{}, err
	}
	m.Kind, m.State, m.Created = Kind(kind), State(state), time.UnixMilli(created)
	if acked > 0 {
		m.Acked = time.UnixMilli(acked)
	}
	m.Simulated = sim.Valid && sim.Int64 != 0
	m.Plate, m.VIN, m.InspectionID = plate.String, vin.String, insp.String
	m.Method, m.Verdict, m.Check, m.Device = method.String, verdict.String, check.String, device.String
	if result.Valid {
		p := result.String == "pass"
		m.Pass = &p
	}
	return m, nil
}

// OpenReadOnly opens an existing outbox file for reading only: no migration, no requeue,
// no quick_check. It is safe beside a running agent (SQLite's WAL lets readers and the
// writer proceed together) and is what searches, exports and `imagent records` use.
// Append and the state changes fail on it.
func OpenReadOnly(ctx context.Context, path string) (*Outbox, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("buffer: open read-only: %w", err)
	}
	o, err := openReadOnly(ctx, path) // capacity notes: the ledger as last saved, nothing written
	if err != nil {
		return nil, fmt.Errorf("buffer: open read-only %s: %w", path, err)
	}
	o.db.SetMaxOpenConns(2)
	v := o.schema
	if v > SchemaVersion() {
		o.db.Close()
		return nil, fmt.Errorf("buffer: open read-only %s: %w (file %d, program %d)", path, ErrSchemaTooNew, v, SchemaVersion())
	}
	if v == 0 {
		o.db.Close()
		return nil, fmt.Errorf("buffer: open read-only %s: not an outbox (no schema)", path)
	}
	return o, nil
}
