// Package platform is the reference receiver of contract v1 (docs/platform-contract.md): it
// subscribes to every lane's records, validates and stores each record once (de-duplicated
// by id) in its own SQLite file, and publishes acks on the lane's acks topic after the
// commit. Tests, the demo and the `imagent platform` command use it; a real regional platform
// has to behave the same way on the wire.
//
// It also checks each lane's hash chain (VerifyChain): seq gaps and prev_hash links that do
// not match the sha256 of the previous record's exact bytes.
package platform

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	_ "github.com/mattn/go-sqlite3" // database/sql driver "sqlite3"

	"imagent/agent/contract"
	"imagent/agent/internal/mqttutil"
)

// Options configures a Platform.
type Options struct {
	Broker   string // tcp://host:port or ssl://host:port
	ClientID string // default "imagent-platform-<random>"
	TLS      *tls.Config
	DBPath   string // SQLite file; created if missing
	Logger   *slog.Logger
	NoAck    bool // receive and store, but never publish acks (fault tests); see SetAcking
}

const (
	keepAlive      = 30 * time.Second
	connectTimeout = 10 * time.Second
	ackWait        = 10 * time.Second
	backoffMin     = 200 * time.Millisecond
	backoffMax     = 10 * time.Second
	maxBatch       = 256 // records stored in one transaction and acked together
)

// Counts are the platform's message counters since Open.
type Counts struct {
	Received   int64 // messages on a records topic
	Stored     int64 // records stored for the first time
	Duplicates int64 // records whose id was already stored with the same bytes
	Rejected   int64 // invalid records with a recoverable id (acked "rejected")
	Malformed  int64 // messages without even an id: logged, not acked
	AcksSent   int64 // acks published (one per record)
	// ChainBreaks counts records whose arrival showed a broken link with a neighbour already
	// stored (prev_hash does not match, or the seq is used by another id): an edited or
	// substituted record. Each is logged as "chain broken"; VerifyChain gives the whole picture.
	ChainBreaks int64
}

// Stored is one record as the platform holds it.
type Stored struct {
	ID         string
	Seq        int64
	Station    string
	Lane       string
	Kind       string
	Payload    []byte // the exact raw JSON bytes (after gunzip) the hash chain covers
	Envelope   contract.Envelope
	ReceivedAt time.Time // first receipt
	Copies     int       // how many times the record arrived
}

// Platform is the reference receiver. Create it with Open, then call Run.
type Platform struct {
	o         Options
	log       *slog.Logger
	db        *sql.DB
	acking    atomic.Bool
	connected atomic.Bool

	mu       sync.Mutex
	counts   Counts
	statuses map[contract.Topics]contract.Status
}

// Open opens (or creates) the platform's database. It does not connect; Run does.
func Open(ctx context.Context, o Options) (*Platform, error) {
	if o.DBPath == "" {
		return nil, errors.New("platform: no database path")
	}
	if o.ClientID == "" {
		o.ClientID = mqttutil.ClientID("imagent-platform-")
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	db, err := sql.Open("sqlite3", "file:"+o.DBPath+"?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("platform: open %s: %w", o.DBPath, err)
	}
	p := &Platform{o: o, log: lg.With("component", "platform"), db: db, statuses: map[contract.Topics]contract.Status{}}
	p.acking.Store(!o.NoAck)
	if err := p.init(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return p, nil
}

func (p *Platform) init(ctx context.Context) error {
	var mode string
	if err := p.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return fmt.Errorf("platform: open %s: %w", p.o.DBPath, err)
	}
	if mode != "wal" {
		return fmt.Errorf("platform: open %s: journal_mode is %q, want wal", p.o.DBPath, mode)
	}
	_, err := p.db.ExecContext(ctx, `
		CREATE TABLE IF NOT EXISTS records (
			id          TEXT PRIMARY KEY,
			station     TEXT NOT NULL,
			lane        TEXT NOT NULL,
			seq         INTEGER NOT NULL,
			kind        TEXT NOT NULL,
			prev_hash   TEXT NOT NULL,
			sha256      TEXT NOT NULL,
			payload     BLOB NOT NULL,
			received_ns INTEGER NOT NULL,
			copies      INTEGER NOT NULL DEFAULT 1
		);
		CREATE INDEX IF NOT EXISTS records_lane_seq ON records(station, lane, seq);`)
	if err != nil {
		return fmt.Errorf("platform: create schema: %w", err)
	}
	return nil
}

// Close closes the database. Call it after Run has returned.
func (p *Platform) Close() error {
	if err := p.db.Close(); err != nil {
		return fmt.Errorf("platform: close: %w", err)
	}
	return nil
}

// Connected reports whether the platform is connected and subscribed.
func (p *Platform) Connected() bool { return p.connected.Load() }

// SetAcking turns acks on or off while running (Options.NoAck sets the initial value).
func (p *Platform) SetAcking(on bool) { p.acking.Store(on) }

// Counts returns the counters.
func (p *Platform) Counts() Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts
}

// Status returns the last status message received from a lane (the retained one first).
func (p *Platform) Status(station, lane string) (contract.Status, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.statuses[contract.Topics{Station: station, Lane: lane}]
	return s, ok
}

// Run connects to the broker, subscribes to every lane's records and status, and stores
// and acks records until ctx is done; it reconnects with backoff when the connection is
// lost. It returns nil once ctx is done, or an error at once if the options are unusable.
func (p *Platform) Run(ctx context.Context) error {
	if p.o.Broker == "" {
		return errors.New("platform: no broker address")
	}
	bo := mqttutil.Backoff{Min: backoffMin, Max: backoffMax}
	for {
		up, err := p.connection(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if up > time.Minute {
			bo.Reset()
		}
		d := bo.Next()
		p.log.Warn("platform: disconnected", "broker", p.o.Broker, "err", err, "retry_in", d)
		if mqttutil.Sleep(ctx, d) != nil {
			return nil
		}
	}
}

// inMsg is one received message, handed from paho's handler goroutine to the store loop.
type inMsg struct {
	topic   string
	payload []byte
}

func (p *Platform) connection(ctx context.Context) (time.Duration, error) {
	lost := make(chan error, 1)
	stop := make(chan struct{})
	in := make(chan inMsg, maxBatch)
	opts := mqttutil.ClientOptions(mqttutil.Conn{
		Broker: p.o.Broker, ClientID: p.o.ClientID, TLS: p.o.TLS,
		KeepAlive: keepAlive, PingTimeout: 10 * time.Second,
		ConnectTimeout: connectTimeout, WriteTimeout: connectTimeout,
	})
	opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		select {
		case lost <- err:
		default:
		}
	})
	c := mqtt.NewClient(opts)
	if err := mqttutil.Wait(ctx, c.Connect(), connectTimeout+time.Second); err != nil {
		c.Disconnect(0)
		return 0, fmt.Errorf("platform: connect %s: %w", p.o.Broker, err)
	}
	start := time.Now()
	defer func() {
		p.connected.Store(false)
		close(stop)
		c.Disconnect(250)
	}()
	// Handlers run on goroutines of their own (OrderMatters false): one waiting for the store
	// loop cannot stall paho's reader, which the loop needs for the acks' PUBACKs. Arrival
	// order does not matter; records are ordered by seq and de-duplicated by id.
	handler := func(_ mqtt.Client, m mqtt.Message) {
		select {
		case in <- inMsg{topic: m.Topic(), payload: m.Payload()}:
		case <-stop:
		}
	}
	// Subscribe after every connect (CleanSession: the broker forgets subscriptions).
	tok := c.SubscribeMultiple(map[string]byte{contract.RecordsFilter: 1, contract.StatusFilter: 1}, handler)
	if err := mqttutil.Wait(ctx, tok, connectTimeout); err != nil {
		return time.Since(start), fmt.Errorf("platform: subscribe: %w", err)
	}
	p.connected.Store(true)
	p.log.Info("platform: connected", "broker", p.o.Broker, "client_id", p.o.ClientID)
	batch := make([]inMsg, 0, maxBatch)
	for {
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case err := <-lost:
			return time.Since(start), fmt.Errorf("platform: connection lost: %w", err)
		case m := <-in:
			batch = append(batch[:0], m)
		drain:
			for len(batch) < maxBatch {
				select {
				case m := <-in:
					batch = append(batch, m)
				default:
					break drain
				}
			}
			if err := p.handle(ctx, c, batch); err != nil {
				p.log.Error("platform: batch not stored; the agents will resend", "messages", len(batch), "err", err)
			}
		}
	}
}

// handle stores a batch of records in one transaction, then publishes their acks.
func (p *Platform) handle(ctx context.Context, c mqtt.Client, batch []inMsg) error {
	var d Counts
	acks := map[contract.Topics][]contract.Ack{}
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("platform: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	now := time.Now().UnixNano()
	for _, m := range batch {
		lane, rest, err := contract.ParseLaneTopic(m.topic)
		if err == nil && rest == "status" {
			p.status(lane, m.payload)
			continue
		}
		d.Received++
		if err != nil || rest != "records" {
			d.Malformed++
			p.log.Warn("platform: message on an unexpected topic", "topic", m.topic)
			continue
		}
		ack, err := p.store(ctx, tx, lane, m.payload, now, &d)
		if err != nil {
			return err
		}
		switch ack.Status {
		case "":
			d.Malformed++
			continue
		case contract.AckStored:
			d.Stored++
		case contract.AckDuplicate:
			d.Duplicates++
		case contract.AckRejected:
			d.Rejected++
		}
		acks[lane] = append(acks[lane], ack)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("platform: commit: %w", err)
	}
	p.add(d)
	// Only now, with the records durable, may the agents forget them.
	if !p.acking.Load() {
		return nil
	}
	var toks []mqtt.Token
	for lane, list := range acks {
		b, err := contract.EncodeAcks(&contract.Acks{V: contract.Version, Acks: list})
		if err != nil {
			return err
		}
		p.add(Counts{AcksSent: int64(len(list))}) // counted first: the agent may see it at once
		toks = append(toks, c.Publish(lane.Acks(), 1, false, b))
	}
	for _, t := range toks {
		if err := mqttutil.Wait(ctx, t, ackWait); err != nil {
			p.log.Warn("platform: ack publish failed; the agent will resend and be acked again", "err", err)
		}
	}
	return nil
}

func (p *Platform) add(d Counts) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts.Received += d.Received
	p.counts.Stored += d.Stored
	p.counts.Duplicates += d.Duplicates
	p.counts.Rejected += d.Rejected
	p.counts.Malformed += d.Malformed
	p.counts.AcksSent += d.AcksSent
	p.counts.ChainBreaks += d.ChainBreaks
}

// store validates one record and stores it in tx. It returns the ack to send: stored,
// duplicate or rejected; an ack with an empty Status means malformed (no ack at all). The
// error is only for database failures, which abort the whole batch.
func (p *Platform) store(ctx context.Context, tx *sql.Tx, lane contract.Topics, wire []byte, now int64, d *Counts) (contract.Ack, error) {
	raw, e, err := contract.Decode(wire)
	if err == nil && (e.Station != lane.Station || e.Lane != lane.Lane) {
		err = fmt.Errorf("envelope is for %s/%s but came on the topic of %s/%s", e.Station, e.Lane, lane.Station, lane.Lane)
	}
	if err != nil {
		id, seq := recoverID(wire)
		if id == "" {
			p.log.Warn("platform: malformed record without an id; not acked", "station", lane.Station, "lane", lane.Lane, "err", err, "bytes", len(wire))
			return contract.Ack{}, nil
		}
		p.log.Warn("platform: rejected record", "station", lane.Station, "lane", lane.Lane, "id", id, "seq", seq, "err", err)
		return contract.Ack{ID: id, Seq: seq, Status: contract.AckRejected, Reason: err.Error()}, nil
	}
	sum := contract.Hash(raw)
	var copies int
	err = tx.QueryRowContext(ctx, `
		INSERT INTO records (id, station, lane, seq, kind, prev_hash, sha256, payload, received_ns, copies)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT (id) DO UPDATE SET copies = copies + 1 WHERE sha256 = excluded.sha256
		RETURNING copies`,
		e.ID, e.Station, e.Lane, e.Seq, e.Kind, e.PrevHash, sum, raw, now).Scan(&copies)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// The id is stored with other bytes: never overwrite a stored record.
		p.log.Error("platform: record id reused with different content; rejected", "id", e.ID, "seq", e.Seq, "station", e.Station, "lane", e.Lane)
		return contract.Ack{ID: e.ID, Seq: e.Seq, Status: contract.AckRejected,
			Reason: "id already stored with different content"}, nil
	case err != nil:
		return contract.Ack{}, fmt.Errorf("platform: store %s: %w", e.ID, err)
	case copies > 1:
		return contract.Ack{ID: e.ID, Seq: e.Seq, Status: contract.AckDuplicate}, nil
	}
	if err := p.checkLinks(ctx, tx, e, sum, d); err != nil {
		return contract.Ack{}, err
	}
	return contract.Ack{ID: e.ID, Seq: e.Seq, Status: contract.AckStored}, nil
}

// checkLinks compares a newly stored record with its stored neighbours in the lane's chain
// and logs and counts every break: its prev_hash against the previous seq's bytes, the next
// seq's prev_hash against its bytes, and another id with the same seq. Neighbours not yet
// received are checked when they arrive.
func (p *Platform) checkLinks(ctx context.Context, tx *sql.Tx, e *contract.Envelope, sum string, d *Counts) error {
	broken := func(detail string, args ...any) {
		d.ChainBreaks++
		p.log.Error("platform: chain broken: a record was edited, replaced or forged", "station", e.Station, "lane", e.Lane,
			"seq", e.Seq, "id", e.ID, "detail", fmt.Sprintf(detail, args...))
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, seq, prev_hash, sha256 FROM records
		WHERE station = ? AND lane = ? AND seq BETWEEN ? AND ? AND id <> ?`, e.Station, e.Lane, e.Seq-1, e.Seq+1, e.ID)
	if err != nil {
		return fmt.Errorf("platform: check chain: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, prev, nsum string
		var seq int64
		if err := rows.Scan(&id, &seq, &prev, &nsum); err != nil {
			return fmt.Errorf("platform: check chain: %w", err)
		}
		switch {
		case seq == e.Seq:
			broken("seq %d is also used by %s", seq, id)
		case seq == e.Seq-1 && e.PrevHash != "" && e.PrevHash != nsum:
			broken("prev_hash %s, but seq %d (%s) hashes to %s", e.PrevHash, seq, id, nsum)
		case seq == e.Seq+1 && prev != "" && prev != sum:
			broken("seq %d (%s) has prev_hash %s, but this record hashes to %s", seq, id, prev, sum)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("platform: check chain: %w", err)
	}
	return nil
}

// recoverID digs the id (and seq) out of an envelope that failed validation, so the agent
// can be told it was rejected. It returns "" when there is no usable id.
func recoverID(wire []byte) (string, int64) {
	raw := wire
	if len(wire) >= 2 && wire[0] == 0x1f && wire[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err != nil {
			return "", 0
		}
		raw, err = io.ReadAll(io.LimitReader(zr, contract.MaxPayload+1))
		if err != nil || len(raw) > contract.MaxPayload {
			return "", 0
		}
	}
	var v struct {
		ID  string `json:"id"`
		Seq int64  `json:"seq"`
	}
	if json.Unmarshal(raw, &v) != nil || len(v.ID) > 128 {
		// A wrong type elsewhere still fails Unmarshal; try the id alone.
		var w struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &w) != nil || len(w.ID) > 128 {
			return "", 0
		}
		return w.ID, 0
	}
	return v.ID, v.Seq
}

// status records a lane's status message.
func (p *Platform) status(lane contract.Topics, payload []byte) {
	if len(payload) == 0 {
		p.mu.Lock()
		delete(p.statuses, lane) // a retained status was cleared
		p.mu.Unlock()
		return
	}
	s, err := contract.DecodeStatus(payload)
	if err != nil {
		p.log.Warn("platform: malformed status", "station", lane.Station, "lane", lane.Lane, "err", err)
		return
	}
	p.mu.Lock()
	old, had := p.statuses[lane]
	p.statuses[lane] = *s
	p.mu.Unlock()
	if !had || old.State != s.State {
		p.log.Info("platform: lane status", "station", lane.Station, "lane", lane.Lane, "state", s.State, "version", s.Version)
	}
}
