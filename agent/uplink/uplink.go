// Package uplink delivers the outbox's records to the platform over MQTT and applies the
// platform's acks back to the outbox (architecture.md "Uplink", docs/platform-contract.md).
//
// The outbox is the single source of truth; the MQTT client is only a transport. A record
// moves pending → sent when its QoS 1 PUBACK arrives on the connection it was published on,
// and → acked (or rejected) only when the platform's ack message names its id. Anything not
// acked is published again: after a reconnect (everything sent under an older connection
// epoch), and when the platform has not acked it within AckTimeout. Resends carry the same
// id, so the platform stores each record exactly once.
//
// paho.mqtt.golang v1 is used with AutoReconnect, ConnectRetry and ResumeSubs off and
// CleanSession on (see internal/mqttutil): after an automatic reconnect paho completes the
// old publish tokens before the broker has acked the resent messages (toolchain.md §4), so
// the uplink runs its own reconnect loop and trusts a token only on the connection that
// issued it. Every successful connect starts a new connection epoch, persisted in the
// outbox's meta table so epochs never repeat across restarts.
//
// # Drain order and pacing
//
// At each connect the uplink notes the outbox's last seq, the watermark. Records appended
// after it are fresh: they are sent as soon as the window has room, ahead of everything
// else. Records up to the watermark are the backlog: sent oldest first, paced by
// RateRecords and RateBytes (wire bytes per second, after gzip). Fresh records and resends
// spend from the same budget, so the total stays within it on average; only the backlog
// waits. "Fresh" is defined by seq alone: no wall clock is involved.
//
// # Failures
//
// A connection that fails is retried with exponential backoff and full jitter. A failure
// retrying soon cannot fix — the broker refusing our credentials or authorisation, or TLS
// refusing a certificate on either side — is retried only after AuthBackoff, logged as an
// error and reported in State (and persisted for `imagent status`). A connection that is up,
// has records waiting and has seen no platform ack for StallAfter is considered stalled: the
// uplink drops it and connects again (a new epoch), without restarting the agent.
package uplink

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"imagent/agent/contract"
	"imagent/agent/internal/mqttutil"
	"imagent/buffer"
)

// Options configures an Uplink. Zero durations and Window take the defaults below.
type Options struct {
	Broker             string // tcp://host:port or ssl://host:port
	ClientID           string // default "imagent-<station>-<lane>"
	Username, Password string
	TLS                *tls.Config
	Topics             contract.Topics

	KeepAlive      time.Duration // default 30 s; a silent link is noticed after KeepAlive + PingTimeout (KeepAlive/2, at most 10 s)
	ConnectTimeout time.Duration // default 10 s; also the write timeout of a publish
	AckTimeout     time.Duration // default 60 s: resend a record the platform has not acked by then; also the PUBACK deadline
	Window         int           // default 32: publishes awaiting PUBACK; at most 4×Window records await the platform's ack
	BackoffMin     time.Duration // default 1 s
	BackoffMax     time.Duration // default 2 min
	AuthBackoff    time.Duration // default 10 min: retry delay after an auth or TLS certificate refusal
	StallAfter     time.Duration // default 10 min: connected, records waiting, no ack for this long → reconnect; < 0: never

	// RateRecords and RateBytes pace the backlog drain: records per second and wire bytes
	// per second (0: unlimited). Fresh records are never held back by them.
	RateRecords float64
	RateBytes   int64

	// OnStall, if set, is called (from the uplink's goroutine) when the watchdog drops a
	// stalled connection: how long no ack came, and how many records were waiting.
	OnStall func(noAck time.Duration, waiting int)

	// StatusFunc builds the retained online status (its V and State are set by the uplink).
	// Nil publishes the version, boot id, backlog and last ack time the uplink knows.
	StatusFunc func() contract.Status
	Version    string
	BootID     string
	Logger     *slog.Logger
}

// Defaults.
const (
	DefaultKeepAlive      = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultAckTimeout     = 60 * time.Second
	DefaultWindow         = 32
	DefaultBackoffMin     = time.Second
	DefaultBackoffMax     = 2 * time.Minute
	DefaultAuthBackoff    = 10 * time.Minute
	DefaultStallAfter     = 10 * time.Minute
)

const (
	metaEpoch      = "uplink.epoch" // last connection epoch, decimal
	metaState      = "uplink.state" // JSON PersistedState, for `imagent status`
	pollEvery      = time.Second    // fallback poll for pending records and the ack-timeout scan
	statusEvery    = 30 * time.Second
	stableAfter    = 30 * time.Second // a connection that lasted this long resets the backoff
	shutdownWait   = 2 * time.Second  // for the offline status at shutdown
	flightsPerSlot = 4                // records awaiting a platform ack, per Window slot
)

// State is a snapshot of the uplink for the status message and the console.
type State struct {
	Connected   bool
	Epoch       int64     // connection epoch of the current (or last) connection
	ConnectedAt time.Time // when the current (or last) connection was made
	LastAck     time.Time // when the platform last acked a record
	LastError   string    // why the last connection attempt or connection failed
	InFlight    int       // records published on this connection and not yet acked by the platform
	Unpubacked  int       // publishes still awaiting the broker's PUBACK
	Acked       int64     // records acked by the platform since Run started
	Rejected    int64     // records rejected by the platform since Run started
	Resent      int64     // records published again after AckTimeout since Run started
	ErrorClass  string    // of LastError: network, auth or refused (mqttutil.Class*)
	RetryAt     time.Time // when the next connection attempt is due, while disconnected
	Stalls      int64     // connections dropped by the stall watchdog since Run started
	Fresh       int64     // records sent ahead of the backlog since Run started
	Backlog     int64     // backlog records sent (paced) since Run started
	WireBytes   int64     // record payload bytes published (after gzip) since Run started
}

// PersistedState is what the uplink keeps in the outbox's meta table (key "uplink.state")
// for `imagent status`, written when the connection state changes.
type PersistedState struct {
	Connected   bool      `json:"connected"`
	Epoch       int64     `json:"epoch,omitempty"`
	Since       time.Time `json:"since,omitzero"` // wall time of the last change
	Broker      string    `json:"broker,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	ErrorClass  string    `json:"error_class,omitempty"`
	RetryInS    int64     `json:"retry_in_s,omitempty"`
	Stalls      int64     `json:"stalls,omitempty"`
	LastStallAt time.Time `json:"last_stall_at,omitzero"`
}

// MetaStateKey is the outbox meta key of PersistedState.
const MetaStateKey = metaState

// Uplink sends the outbox's records to the platform. Create it with New, then call Run.
type Uplink struct {
	ob   *buffer.Outbox
	o    Options
	log  *slog.Logger
	kick chan struct{}

	mu sync.Mutex
	st State

	// pubMu is held while records are read from the outbox and published, so Exclusive can
	// rewrite records knowing none is being published meanwhile. pubHWM is the highest seq
	// handed to the client in this process.
	pubMu  sync.Mutex
	pubHWM int64
	stall  time.Time // wall time of the last stall, for PersistedState
}

// Exclusive runs f while no record can be published, passing the highest seq that may have
// left the box (published by this process, or made by an earlier run, which may have
// published it). Records after it have never been published and will not be until f
// returns. f may have to wait for one publish's write timeout before it runs.
func (u *Uplink) Exclusive(f func(publishedUpTo int64) error) error {
	u.pubMu.Lock()
	defer u.pubMu.Unlock()
	return f(max(u.pubHWM, u.ob.OpenedSeq()))
}

// New returns an Uplink for ob. It does not connect; Run does.
func New(ob *buffer.Outbox, o Options) *Uplink {
	if o.KeepAlive <= 0 {
		o.KeepAlive = DefaultKeepAlive
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = DefaultAckTimeout
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = DefaultBackoffMin
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = max(DefaultBackoffMax, o.BackoffMin)
	}
	if o.AuthBackoff <= 0 {
		o.AuthBackoff = max(DefaultAuthBackoff, o.BackoffMax)
	}
	if o.StallAfter == 0 {
		o.StallAfter = DefaultStallAfter
	}
	if o.ClientID == "" {
		o.ClientID = "imagent-" + o.Topics.Station + "-" + o.Topics.Lane
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Uplink{ob: ob, o: o, log: lg.With("component", "uplink"), kick: make(chan struct{}, 1)}
}

// Kick tells the uplink that a record was appended, so it sends soon. It never blocks.
func (u *Uplink) Kick() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// State returns a snapshot of the uplink's state.
func (u *Uplink) State() State {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.st
}

func (u *Uplink) update(f func(*State)) {
	u.mu.Lock()
	f(&u.st)
	u.mu.Unlock()
}

// Run connects, sends and reconnects until ctx is done; then, if connected, it publishes the
// retained offline status and disconnects. It owns every goroutine it starts and returns
// only after they have ended: nil once ctx is done, or an error at once if the options are
// unusable.
func (u *Uplink) Run(ctx context.Context) error {
	if u.o.Broker == "" {
		return errors.New("uplink: no broker address")
	}
	if u.o.Topics.Station == "" || u.o.Topics.Lane == "" {
		return errors.New("uplink: topics need a station and a lane")
	}
	if u.ob == nil {
		return errors.New("uplink: nil outbox")
	}
	bo := mqttutil.Backoff{Min: u.o.BackoffMin, Max: u.o.BackoffMax}
	for {
		up, err := u.connection(ctx)
		if ctx.Err() != nil {
			u.update(func(s *State) { s.Connected, s.LastError, s.ErrorClass = false, "stopped", "" })
			pctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
			u.persistState(pctx, 0)
			cancel()
			return nil
		}
		if up >= stableAfter {
			bo.Reset()
		}
		delay := bo.Next()
		class := mqttutil.Classify(err)
		switch {
		case errors.Is(err, errStalled):
			delay = u.o.BackoffMin
			bo.Reset()
			u.log.Error("uplink: stalled: connected with records waiting and no platform ack; reconnecting", "err", err, "retry_in", delay)
		case class == mqttutil.ClassAuth:
			delay = jitterDown(u.o.AuthBackoff)
			u.log.Error("uplink: the broker or TLS refused our credentials or certificate; not retrying soon",
				"err", err, "retry_in", delay.Round(time.Second))
		case class == mqttutil.ClassRefused:
			delay = jitterDown(u.o.AuthBackoff)
			u.log.Error("uplink: the broker refused the connection; check the client id", "err", err, "retry_in", delay.Round(time.Second))
		case up > 0:
			u.log.Warn("uplink: disconnected", "err", err, "up", up.Round(time.Millisecond), "retry_in", delay)
		default:
			u.log.Warn("uplink: cannot connect", "broker", u.o.Broker, "err", err, "retry_in", delay)
		}
		retryAt := time.Now().Add(delay)
		u.update(func(s *State) {
			s.Connected, s.InFlight, s.Unpubacked, s.LastError, s.ErrorClass, s.RetryAt = false, 0, 0, err.Error(), class, retryAt
		})
		u.persistState(ctx, delay)
		if mqttutil.Sleep(ctx, delay) != nil {
			return nil
		}
	}
}

// errStalled ends a connection the stall watchdog gave up on.
var errStalled = errors.New("uplink: stalled")

// jitterDown returns d less up to a quarter, so a fleet refused together does not retry in
// lockstep.
func jitterDown(d time.Duration) time.Duration {
	b := mqttutil.Backoff{Min: d, Max: d}
	return b.Longest()
}

// persistState writes PersistedState to the outbox (best effort: it is for humans).
func (u *Uplink) persistState(ctx context.Context, retryIn time.Duration) {
	st := u.State()
	u.mu.Lock()
	stall := u.stall
	u.mu.Unlock()
	ps := PersistedState{Connected: st.Connected, Epoch: st.Epoch, Since: time.Now().UTC(), Broker: u.o.Broker,
		LastError: st.LastError, ErrorClass: st.ErrorClass, Stalls: st.Stalls, LastStallAt: stall}
	if !st.Connected {
		ps.RetryInS = int64(retryIn.Round(time.Second) / time.Second)
	}
	b, err := json.Marshal(ps)
	if err == nil {
		err = u.ob.SetMeta(ctx, metaState, string(b))
	}
	if err != nil && ctx.Err() == nil {
		u.log.Warn("uplink: cannot persist the uplink state", "err", err)
	}
}

// nextEpoch reads, increments and durably stores the connection epoch.
func (u *Uplink) nextEpoch(ctx context.Context) (int64, error) {
	v, ok, err := u.ob.GetMeta(ctx, metaEpoch)
	if err != nil {
		return 0, fmt.Errorf("uplink: read epoch: %w", err)
	}
	var last int64
	if ok {
		last, err = strconv.ParseInt(v, 10, 64)
		if err != nil || last < 0 {
			return 0, fmt.Errorf("uplink: meta %s holds %q, not an epoch", metaEpoch, v)
		}
	}
	e := last + 1
	if err := u.ob.SetMeta(ctx, metaEpoch, strconv.FormatInt(e, 10)); err != nil {
		return 0, fmt.Errorf("uplink: store epoch: %w", err)
	}
	return e, nil
}

// connection makes one connection and serves it until it fails or ctx is done. It returns
// how long the connection was up (0 if it never came up) and why it ended.
func (u *Uplink) connection(ctx context.Context) (time.Duration, error) {
	lost := make(chan error, 1)
	stop := make(chan struct{}) // closed when this connection is over: releases blocked handlers
	acks := make(chan []byte, 16)

	opts := mqttutil.ClientOptions(mqttutil.Conn{
		Broker: u.o.Broker, ClientID: u.o.ClientID, Username: u.o.Username, Password: u.o.Password,
		TLS: u.o.TLS, KeepAlive: u.o.KeepAlive, PingTimeout: min(u.o.KeepAlive/2, 10*time.Second),
		ConnectTimeout: u.o.ConnectTimeout, WriteTimeout: u.o.ConnectTimeout,
	})
	opts.SetBinaryWill(u.o.Topics.Status(), contract.OfflineStatus(), 1, true)
	opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		select {
		case lost <- err:
		default:
		}
	})
	c := mqtt.NewClient(opts)
	if err := mqttutil.Wait(ctx, c.Connect(), u.o.ConnectTimeout+time.Second); err != nil {
		c.Disconnect(0) // harmless if it never connected; ends a connect that outlived our wait
		return 0, fmt.Errorf("uplink: connect %s: %w", u.o.Broker, err)
	}
	start := time.Now()
	s := &session{u: u, c: c, lost: lost, stop: stop, acks: acks, reassert: make(chan struct{}, 1),
		flights: map[int64]*flight{}, byID: map[string]int64{}, events: make(chan pubEvent, u.o.Window),
		pace: newPacer(u.o, time.Now())}
	for range max(1, runtime.GOMAXPROCS(0)) {
		s.zs = append(s.zs, new(contract.Compressor))
	}
	err := s.run(ctx)
	if err == nil {
		err = errors.New("uplink: connection ended") // run always says why; this is a safety net
	}
	return time.Since(start), err
}

// flight is a record published on this connection and not yet acked by the platform.
type flight struct {
	seq      int64
	id       string
	gen      int       // which publish of it is current (resends bump it)
	pubacked bool      // the current publish has its PUBACK (the record is marked sent)
	sentAt   time.Time // when the current publish was made (monotonic)
}

// pubEvent reports that the token of one publish completed, failed or timed out.
type pubEvent struct {
	seq int64
	gen int
	err error
}

// session is the state of one connection; only its run goroutine touches it.
type session struct {
	u        *Uplink
	c        mqtt.Client
	lost     <-chan error
	stop     chan struct{}
	acks     chan []byte
	reassert chan struct{} // our retained status reads offline while we are connected
	epoch    int64

	flights    map[int64]*flight
	byID       map[string]int64
	unpubacked int // publishes whose waiter has not reported yet

	watermark   int64 // the outbox's last seq at connect: records after it are fresh
	freshCursor int64 // highest fresh seq handed out
	moreFresh   bool  // there may be pending fresh records beyond freshCursor
	backCursor  int64 // highest backlog seq handed out
	moreBack    bool  // there may be pending backlog records beyond backCursor
	pace        pacer
	paceTimer   *time.Timer            // armed while the backlog waits for its budget
	zs          []*contract.Compressor // one per core, reused for every record
	lastAck     time.Time              // last platform ack on this connection (or the connect time)

	events chan pubEvent
	wg     sync.WaitGroup // token waiters
}

func (s *session) run(ctx context.Context) (err error) {
	u := s.u
	defer func() {
		if ctx.Err() != nil {
			s.goOffline()
		}
		close(s.stop)
		s.wg.Wait()
		s.c.Disconnect(250)
	}()

	// The on-connect flow, in order: a new epoch, the acks subscription (before any record is
	// sent, so no ack can be missed), requeue of what older connections sent, online status.
	// It runs here rather than in paho's OnConnectHandler, which paho starts on a goroutine of
	// its own and so could race the first publishes.
	if s.epoch, err = u.nextEpoch(ctx); err != nil {
		return err
	}
	acksTopic, statusTopic := u.o.Topics.Acks(), u.o.Topics.Status()
	tok := s.c.SubscribeMultiple(map[string]byte{acksTopic: 1, statusTopic: 1}, func(_ mqtt.Client, m mqtt.Message) {
		// paho runs this on a goroutine of its own (OrderMatters false), so waiting here for
		// the session loop never stalls paho's reader. Acks commute, so their order does not
		// matter: each names ids, and the outbox's Ack is idempotent.
		switch m.Topic() {
		case acksTopic:
			select {
			case s.acks <- m.Payload():
			case <-s.stop:
			}
		case statusTopic:
			// Our own status. "offline" while we are connected is a last will the broker
			// published late (an old connection it dropped after we were back): say online again.
			if st, err := contract.DecodeStatus(m.Payload()); err == nil && st.State == contract.StateOffline {
				select {
				case s.reassert <- struct{}{}:
				default:
				}
			}
		}
	})
	if err := mqttutil.Wait(ctx, tok, u.o.ConnectTimeout); err != nil {
		return fmt.Errorf("uplink: subscribe %s and %s: %w", acksTopic, statusTopic, err)
	}
	requeued, err := u.ob.RequeueOlder(ctx, s.epoch)
	if err != nil {
		return fmt.Errorf("uplink: %w", err)
	}
	if s.watermark, err = u.ob.LastSeq(ctx); err != nil {
		return fmt.Errorf("uplink: %w", err)
	}
	s.freshCursor = s.watermark
	now := time.Now()
	s.lastAck = now
	u.update(func(st *State) {
		st.Connected, st.Epoch, st.ConnectedAt, st.LastError, st.ErrorClass, st.InFlight, st.Unpubacked =
			true, s.epoch, now, "", "", 0, 0
	})
	u.persistState(ctx, 0)
	u.log.Info("uplink: connected", "broker", u.o.Broker, "epoch", s.epoch, "requeued", requeued, "backlog_up_to_seq", s.watermark)
	s.publishStatus(ctx)

	poll := time.NewTicker(pollEvery)
	defer poll.Stop()
	status := time.NewTicker(statusEvery)
	defer status.Stop()
	s.paceTimer = time.NewTimer(time.Hour)
	s.paceTimer.Stop()
	defer s.paceTimer.Stop()
	s.moreFresh, s.moreBack = true, true
	for {
		if err := s.fill(ctx); err != nil {
			return err
		}
		u.update(func(st *State) { st.InFlight, st.Unpubacked = len(s.flights), s.unpubacked })
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-s.lost:
			return fmt.Errorf("uplink: connection lost: %w", err)
		case ev := <-s.events:
			if err := s.pubacks(ctx, ev); err != nil {
				return err
			}
		case p := <-s.acks:
			s.platformAcks(ctx, p)
		case <-u.kick:
			s.moreFresh = true
		case <-s.paceTimer.C:
			// the backlog's budget has refilled; fill runs next
		case <-poll.C:
			s.moreFresh = true
			if !s.moreBack {
				// The backlog was sent through; rescan it from the start now and then for
				// records requeued or salvaged behind the cursor.
				s.backCursor, s.moreBack = 0, true
			}
			if err := s.resendUnacked(ctx); err != nil {
				return err
			}
			if err := s.watchdog(ctx); err != nil {
				return err
			}
		case <-status.C:
			s.publishStatus(ctx)
		case <-s.reassert:
			u.log.Info("uplink: the broker shows this lane offline; publishing online again")
			s.publishStatus(ctx)
		}
	}
}

// watchdog ends a connection that is up, has records waiting and has seen no platform ack
// for StallAfter ("healthy but not forwarding").
func (s *session) watchdog(ctx context.Context) error {
	u := s.u
	if u.o.StallAfter < 0 {
		return nil
	}
	quiet := time.Since(s.lastAck)
	if quiet < u.o.StallAfter {
		return nil
	}
	waiting := len(s.flights)
	if waiting == 0 {
		page, err := u.ob.Pending(ctx, 0, 1)
		if err != nil {
			return fmt.Errorf("uplink: %w", err)
		}
		waiting = len(page)
	}
	if waiting == 0 {
		s.lastAck = time.Now() // nothing to deliver: nothing is stalled
		return nil
	}
	now := time.Now()
	u.mu.Lock()
	u.st.Stalls++
	u.stall = now.UTC()
	u.mu.Unlock()
	if u.o.OnStall != nil {
		u.o.OnStall(quiet, waiting)
	}
	return fmt.Errorf("%w: no platform ack for %v with %d records waiting", errStalled, quiet.Round(time.Second), waiting)
}

// free is how many more records the window takes now.
func (s *session) free() int {
	w := s.u.o.Window
	return min(w-s.unpubacked, flightsPerSlot*w-len(s.flights))
}

// fill publishes pending records while the window has room: fresh records first, then the
// backlog as far as its budget allows. It holds the publish lock, so a record read from the
// outbox is published exactly as read (see Exclusive).
func (s *session) fill(ctx context.Context) error {
	u := s.u
	u.pubMu.Lock()
	defer u.pubMu.Unlock()
	for s.moreFresh {
		free := s.free()
		if free <= 0 {
			return nil // the window is full; a PUBACK or platform ack reopens it
		}
		msgs, err := u.ob.Pending(ctx, max(s.freshCursor, s.watermark), free)
		if err != nil {
			return fmt.Errorf("uplink: %w", err)
		}
		if len(msgs) < free {
			s.moreFresh = false
		}
		for _, m := range msgs {
			s.freshCursor = max(s.freshCursor, m.Seq)
		}
		msgs = slices.DeleteFunc(msgs, func(m buffer.Msg) bool { _, ok := s.flights[m.Seq]; return ok })
		for i, wire := range s.compressAll(msgs) {
			s.publish(msgs[i], wire, true)
		}
	}
	for s.moreBack {
		free := s.free()
		if free <= 0 {
			return nil
		}
		if d := s.pace.wait(time.Now()); d > 0 {
			s.paceTimer.Reset(d)
			return nil
		}
		msgs, err := u.ob.Pending(ctx, s.backCursor, free)
		if err != nil {
			return fmt.Errorf("uplink: %w", err)
		}
		if len(msgs) < free {
			s.moreBack = false
		}
		var wires [][]byte
		if s.pace.unlimited() {
			// No budget to check between records: compress the page on every core first.
			wires = s.compressAll(msgs)
		}
		for i, m := range msgs {
			if m.Seq > s.watermark {
				s.moreBack = false // the rest is fresh
				break
			}
			if _, ok := s.flights[m.Seq]; ok {
				s.backCursor = m.Seq
				continue
			}
			if d := s.pace.wait(time.Now()); d > 0 {
				s.moreBack = true // m and what follows wait for the budget
				s.paceTimer.Reset(d)
				return nil
			}
			s.backCursor = m.Seq
			var wire []byte
			if wires != nil {
				wire = wires[i]
			} else {
				wire = s.zs[0].Compress(m.Payload)
			}
			s.publish(m, wire, false)
		}
	}
	return nil
}

// compressAll returns the wire form of each record, compressing them in parallel with the
// session's compressors (gzip of an 80 kB test record takes a millisecond or more: on a
// backlog drain it is most of the agent's work).
func (s *session) compressAll(msgs []buffer.Msg) [][]byte {
	out := make([][]byte, len(msgs))
	workers := min(len(msgs), len(s.zs))
	if workers <= 1 {
		for i, m := range msgs {
			out[i] = s.zs[0].Compress(m.Payload)
		}
		return out
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for w := range workers {
		z := s.zs[w]
		wg.Go(func() {
			for i := range next {
				out[i] = z.Compress(msgs[i].Payload)
			}
		})
	}
	for i := range msgs {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// publish sends one record's wire bytes (gzipped if large) and starts a waiter for its token.
// The caller holds pubMu.
func (s *session) publish(m buffer.Msg, wire []byte, fresh bool) {
	f := s.flights[m.Seq]
	if f == nil {
		f = &flight{seq: m.Seq, id: m.ID}
		s.flights[m.Seq] = f
		s.byID[m.ID] = m.Seq
	}
	f.gen++
	f.pubacked = false
	f.sentAt = time.Now()
	s.pace.spend(len(wire), f.sentAt)
	s.u.pubHWM = max(s.u.pubHWM, m.Seq)
	// Publish blocks at most WriteTimeout on a stuck link; this goroutine may block, paho's may not.
	tok := s.c.Publish(s.u.o.Topics.Records(), 1, false, wire)
	s.unpubacked++
	gen := f.gen
	s.u.update(func(st *State) {
		st.WireBytes += int64(len(wire))
		if fresh {
			st.Fresh++
		} else if gen == 1 {
			st.Backlog++
		}
	})
	ev := pubEvent{seq: m.Seq, gen: gen}
	s.wg.Add(1)
	go s.await(tok, s.u.o.AckTimeout, func(err error) {
		ev.err = err
		select {
		case s.events <- ev:
		case <-s.stop:
		}
	})
}

// await waits for tok (at most d, or until the session stops) and hands the outcome to done.
func (s *session) await(tok mqtt.Token, d time.Duration, done func(error)) {
	defer s.wg.Done()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-tok.Done():
		done(tok.Error())
	case <-t.C:
		done(fmt.Errorf("no PUBACK within %v: %w", d, mqttutil.ErrTimeout))
	case <-s.stop:
	}
}

// pubacks handles ev and any further token outcomes already waiting: successful ones are
// marked sent on this epoch in one transaction; a failed one ends the connection, because
// a QoS 1 publish only fails when the connection is broken or stuck (paho has no
// retransmission timer; MQTT relies on the connection for that).
func (s *session) pubacks(ctx context.Context, ev pubEvent) error {
	var seqs []int64
	var failed error
	for {
		s.unpubacked--
		if ev.err != nil && failed == nil {
			failed = fmt.Errorf("uplink: publish seq %d: %w", ev.seq, ev.err)
		}
		if f := s.flights[ev.seq]; ev.err == nil && f != nil && f.gen == ev.gen {
			f.pubacked = true
			seqs = append(seqs, ev.seq)
		}
		select {
		case ev = <-s.events:
			continue
		default:
		}
		break
	}
	if len(seqs) > 0 {
		if err := s.u.ob.MarkSent(ctx, s.epoch, seqs...); err != nil {
			return fmt.Errorf("uplink: %w", err)
		}
	}
	return failed
}

// platformAcks applies one acks message. A malformed message is logged and ignored: a broken
// or hostile platform must never stop delivery; unacked records are simply resent.
func (s *session) platformAcks(ctx context.Context, payload []byte) {
	u := s.u
	a, err := contract.DecodeAcks(payload)
	if err != nil {
		u.log.Warn("uplink: ignoring malformed ack message", "topic", u.o.Topics.Acks(), "err", err, "bytes", len(payload))
		return
	}
	var ids []string
	var rejected int64
	for _, k := range a.Acks {
		if seq, ok := s.byID[k.ID]; ok {
			delete(s.byID, k.ID)
			delete(s.flights, seq)
		}
		switch k.Status {
		case contract.AckStored, contract.AckDuplicate:
			ids = append(ids, k.ID)
		case contract.AckRejected:
			if err := u.ob.Reject(ctx, k.ID, k.Reason); err != nil {
				u.log.Warn("uplink: cannot record a rejection", "id", k.ID, "err", err)
				continue
			}
			rejected++
			u.log.Error("uplink: the platform rejected a record; it will not be resent", "id", k.ID, "seq", k.Seq, "reason", k.Reason)
		}
	}
	n, err := u.ob.Ack(ctx, ids...)
	if err != nil {
		// The records stay sent; they are resent after a reconnect and acked again.
		u.log.Error("uplink: cannot record acks", "ids", len(ids), "err", err)
		return
	}
	s.moreFresh, s.moreBack = true, true // the window has room again
	now := time.Now()
	if n > 0 || rejected > 0 {
		s.lastAck = now
	}
	u.update(func(st *State) {
		if n > 0 || rejected > 0 {
			st.LastAck = now
		}
		st.Acked += n
		st.Rejected += rejected
	})
	u.log.Debug("uplink: platform acks", "ids", len(a.Acks), "acked", n, "rejected", rejected)
}

// resendUnacked publishes again, with the same id, every record the broker has PUBACKed but
// the platform has not acked within AckTimeout.
func (s *session) resendUnacked(ctx context.Context) error {
	u := s.u
	now := time.Now()
	var due []int64
	for seq, f := range s.flights {
		if f.pubacked && now.Sub(f.sentAt) >= u.o.AckTimeout {
			due = append(due, seq)
		}
	}
	if len(due) == 0 {
		return nil
	}
	slices.Sort(due)
	var resent int64
	u.pubMu.Lock()
	defer u.pubMu.Unlock()
	for _, seq := range due {
		if s.unpubacked >= u.o.Window || s.pace.wait(now) > 0 {
			break // the rest waits for the next poll
		}
		m, err := u.ob.BySeq(ctx, seq)
		if err != nil && !errors.Is(err, buffer.ErrNotFound) {
			return fmt.Errorf("uplink: %w", err)
		}
		if err != nil || m.State != buffer.Sent {
			// Acked, rejected, gone, or requeued by someone else: no longer ours to resend.
			f := s.flights[seq]
			delete(s.byID, f.id)
			delete(s.flights, seq)
			if err == nil && m.State == buffer.Pending {
				if seq <= s.watermark {
					s.backCursor = min(s.backCursor, seq-1)
					s.moreBack = true
				} else {
					s.freshCursor = min(s.freshCursor, seq-1)
					s.moreFresh = true
				}
			}
			continue
		}
		s.publish(m, s.zs[0].Compress(m.Payload), false)
		resent++
	}
	if resent > 0 {
		u.update(func(st *State) { st.Resent += resent })
		u.log.Info("uplink: no platform ack in time; resent", "records", resent, "ack_timeout", u.o.AckTimeout)
	}
	return nil
}

// publishStatus publishes the retained online status. Its token is awaited off the session
// loop; a failure is only logged (the next refresh publishes it again).
func (s *session) publishStatus(ctx context.Context) {
	u := s.u
	var st contract.Status
	if u.o.StatusFunc != nil {
		st = u.o.StatusFunc()
	} else {
		st = s.defaultStatus(ctx)
	}
	st.V, st.State = contract.Version, contract.StateOnline
	if st.Version == "" {
		st.Version = u.o.Version
	}
	if st.BootID == "" {
		st.BootID = u.o.BootID
	}
	b, err := contract.EncodeStatus(&st)
	if err != nil {
		u.log.Error("uplink: cannot encode status", "err", err)
		return
	}
	tok := s.c.Publish(u.o.Topics.Status(), 1, true, b)
	s.wg.Add(1)
	go s.await(tok, u.o.AckTimeout, func(err error) {
		if err != nil {
			u.log.Warn("uplink: status publish failed", "err", err)
		}
	})
}

// defaultStatus is the status when Options.StatusFunc is nil.
func (s *session) defaultStatus(ctx context.Context) contract.Status {
	u := s.u
	st := contract.Status{Time: time.Now(), LastAck: u.State().LastAck}
	stats, err := u.ob.Stats(ctx)
	if err != nil {
		u.log.Warn("uplink: no outbox stats for the status", "err", err)
		return st
	}
	b := &contract.Backlog{
		Pending: stats.ByState[buffer.Pending], Sent: stats.ByState[buffer.Sent],
		Rejected: stats.ByState[buffer.Rejected], OldestUnackedSeq: stats.OldestUnackedSeq,
	}
	if !stats.OldestUnacked.IsZero() {
		b.OldestUnackedAgeS = max(0, int64(time.Since(stats.OldestUnacked)/time.Second))
	}
	st.Backlog = b
	return st
}

// goOffline publishes the retained offline status before a clean disconnect (a clean
// DISCONNECT discards the last will, so the broker would not publish it for us).
func (s *session) goOffline() {
	tok := s.c.Publish(s.u.o.Topics.Status(), 1, true, contract.OfflineStatus())
	if err := mqttutil.Wait(context.Background(), tok, shutdownWait); err != nil {
		s.u.log.Warn("uplink: offline status not confirmed", "err", err)
	}
	s.u.log.Info("uplink: stopped", "epoch", s.epoch, "in_flight", len(s.flights))
}
