package main

// The runtime's store-and-forward housekeeping: outbox maintenance (retention, quota,
// checkpoints) and its alarms, the clock watcher (steps, sync, correction of unsynced
// records), the agent's own event records, and the health part of the status message.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"imagent/agent/contract"
	"imagent/agent/record"
	"imagent/agent/uplink"
	"imagent/buffer"
	"imagent/config"
)

// defaultMaintainEvery is how often the outbox is maintained.
const defaultMaintainEvery = 30 * time.Second

// outboxOpts are the outbox options a configuration asks for.
func outboxOpts(cfg *config.Config, wall record.Clock) buffer.Opts {
	return buffer.Opts{
		QuotaBytes:   int64(cfg.Buffer.QuotaMB) << 20,
		Retention:    cfg.Buffer.Retention.Duration,
		MinFreeBytes: int64(cfg.Buffer.MinFreeMB) << 20,
		SyncedWall: func() (time.Time, bool) {
			return wall.Now(), wall.Quality() != contract.ClockUnsynced
		},
	}
}

// uplinkOpts adds the configuration's pacing and failure handling to o.
func uplinkOpts(cfg *config.Config, o uplink.Options) uplink.Options {
	o.AuthBackoff = cfg.MQTT.AuthBackoff.Duration
	o.StallAfter = cfg.MQTT.StallAfter.Duration
	o.RateRecords = cfg.MQTT.RateRecords
	o.RateBytes = int64(cfg.MQTT.RateBytes)
	return o
}

// health is the state behind the status message's alarms.
type health struct {
	wall          record.Clock
	watcher       *record.Watcher
	maintainEvery time.Duration
	quotaBytes    int64

	mu         sync.Mutex
	quotaFull  bool      // telemetry is being refused at the quota
	lowDisk    bool      // the filesystem is short of MinFreeBytes even after eviction
	stalledAt  time.Time // the watchdog's last restart of the uplink
	quarantine []string
}

// event commits one of the agent's own event records. It is regulated: never refused at the
// quota (only a full disk stops it, and that is logged).
func (rt *runtime) event(ctx context.Context, name, detail string, attrs map[string]string) {
	m, err := rt.maker.Commit(ctx, contract.KindEvent, contract.EventBody{Event: name, Detail: detail, Attrs: attrs}, false)
	if err != nil {
		if ctx.Err() == nil {
			rt.log.Error("cannot store an event record", "event", name, "err", err)
		}
		return
	}
	rt.log.Info("event recorded", "event", name, "seq", m.Seq)
}

// onRefused raises the quota alarm once per episode (Maintain ends it).
func (rt *runtime) onRefused(kind string, err error) {
	rt.health.mu.Lock()
	first := !rt.health.quotaFull
	rt.health.quotaFull = true
	rt.health.mu.Unlock()
	if !first {
		return
	}
	rt.log.Error("outbox full: only un-acked regulated records are left; new telemetry is refused until the platform acks",
		"kind", kind, "err", err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, _ := rt.outbox.Stats(ctx)
	rt.event(ctx, contract.EventOutboxQuota, "outbox at its quota; telemetry refused", map[string]string{
		"used_bytes": strconv.FormatInt(st.UsedBytes, 10), "quota_bytes": strconv.FormatInt(rt.health.quotaBytes, 10)})
}

// onStall records the watchdog's restart of the uplink.
func (rt *runtime) onStall(noAck time.Duration, waiting int) {
	rt.health.mu.Lock()
	rt.health.stalledAt = time.Now()
	rt.health.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rt.event(ctx, contract.EventUplinkStalled, "connected with records waiting and no platform ack; the uplink reconnected",
		map[string]string{"no_ack_s": strconv.FormatInt(int64(noAck/time.Second), 10), "backlog": strconv.Itoa(waiting)})
}

// background runs the housekeeping until ctx is done.
func (rt *runtime) background(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, q := range rt.health.quarantine {
		rt.event(ctx, contract.EventOutboxQuarantined, "the outbox failed its integrity check at start and was moved aside; "+
			"salvage it with `imagent outbox salvage`", map[string]string{"file": q})
	}
	wg.Go(func() { _ = rt.health.watcher.Run(ctx) })
	rt.persistClock(ctx, record.Step{}, time.Time{})
	rt.maintainLoop(ctx)
}

// persistClock keeps the runtime's view of the clock in the outbox for `imagent status`.
func (rt *runtime) persistClock(ctx context.Context, step record.Step, synced time.Time) {
	var cs clockState
	if v, ok, err := rt.outbox.GetMeta(ctx, metaClockState); err == nil && ok {
		_ = json.Unmarshal([]byte(v), &cs)
	}
	w := rt.health.watcher.State()
	cs.Quality, cs.Steps, cs.UpdatedAt = rt.health.wall.Quality(), cs.Steps+boolInt(step.Delta != 0), time.Now().UTC()
	if w.Quality != "" {
		cs.Quality = w.Quality
	}
	if step.Delta != 0 {
		cs.LastStep, cs.LastAt = step.Delta.Round(time.Millisecond).String(), step.WallAfter
	}
	if !synced.IsZero() {
		cs.SyncedAt = synced
	}
	b, _ := json.Marshal(cs)
	if err := rt.outbox.SetMeta(ctx, metaClockState, string(b)); err != nil && ctx.Err() == nil {
		rt.log.Warn("cannot persist the clock state", "err", err)
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// maintainLoop maintains the outbox now and then and reports evictions.
func (rt *runtime) maintainLoop(ctx context.Context) {
	every := rt.health.maintainEvery
	if every <= 0 {
		every = defaultMaintainEvery
	}
	t := time.NewTimer(min(every, 2*time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rt.maintain(ctx)
		t.Reset(every)
	}
}

func (rt *runtime) maintain(ctx context.Context) {
	m, err := rt.outbox.Maintain(ctx)
	if err != nil {
		if ctx.Err() == nil {
			rt.log.Error("outbox maintenance failed", "err", err)
		}
		return
	}
	if m.Expired+m.EvictedAcked+m.EvictedTelemetry > 0 {
		rt.log.Info("outbox maintained", "expired", m.Expired, "evicted_acked", m.EvictedAcked,
			"evicted_telemetry", m.EvictedTelemetry, "used_bytes", m.UsedBytes, "free_bytes", m.FreeBytes)
	}
	h := &rt.health
	h.mu.Lock()
	wasLow := h.lowDisk
	h.lowDisk = m.LowDisk
	if !m.OverQuota {
		h.quotaFull = false
	}
	h.mu.Unlock()
	if m.LowDisk && !wasLow {
		rt.log.Error("disk nearly full even after evicting everything allowed", "free_bytes", m.FreeBytes)
	}
	ev, ok, err := rt.outbox.PendingEviction(ctx)
	if err != nil || !ok {
		return
	}
	rt.event(ctx, contract.EventOutboxEvicted, "un-acked telemetry was evicted to make room; these seqs will not arrive",
		map[string]string{"from_seq": strconv.FormatInt(ev.From, 10), "to_seq": strconv.FormatInt(ev.To, 10),
			"count": strconv.FormatInt(ev.Count, 10)})
	if err := rt.outbox.ClearEviction(ctx, ev); err != nil {
		rt.log.Error("cannot clear the reported eviction", "err", err)
	}
}

// newWatcher watches the wall clock: steps become events; when the clock synchronises, a
// clock_sync event is recorded and the never-sent records of this boot made while it was
// unsynced are re-sealed with corrected wall times.
func (rt *runtime) newWatcher(wall record.Clock) *record.Watcher {
	return &record.Watcher{
		Clock: wall,
		OnStep: func(ctx context.Context, s record.Step) {
			rt.log.Warn("wall clock stepped", "by", s.Delta.Round(time.Millisecond), "from", s.WallBefore, "to", s.WallAfter)
			rt.event(ctx, contract.EventClockStep, fmt.Sprintf("the wall clock moved %v more than the monotonic clock", s.Delta.Round(time.Millisecond)),
				map[string]string{"step_ms": strconv.FormatInt(s.Delta.Milliseconds(), 10), "wall_before": s.WallBefore.Format(time.RFC3339Nano),
					"wall_after": s.WallAfter.Format(time.RFC3339Nano), "mono_ms": strconv.FormatInt(s.MonoMS, 10)})
			rt.persistClock(ctx, s, time.Time{})
		},
		OnSync: rt.onSync,
	}
}

func (rt *runtime) onSync(ctx context.Context, s record.Sync) {
	rt.log.Info("wall clock synchronised", "quality", s.Quality, "wall", s.Wall, "was", s.WallBefore)
	rt.persistClock(ctx, record.Step{}, s.Wall)
	ev, err := rt.maker.Commit(ctx, contract.KindEvent, contract.EventBody{Event: contract.EventClockSync,
		Detail: fmt.Sprintf("the clock is synchronised (%s); records of this boot made before are corrected by this event", s.Quality),
		Attrs: map[string]string{"boot_id": rt.bootID, "mono_ms": strconv.FormatInt(s.MonoMS, 10),
			"wall": s.Wall.Format(time.RFC3339Nano), "wall_before": s.WallBefore.Format(time.RFC3339Nano)}}, false)
	if err != nil {
		rt.log.Error("cannot store the clock_sync event; records keep their unsynchronised time", "err", err)
		return
	}
	var n int
	err = rt.uplink.Exclusive(func(sentUpTo int64) error {
		var err error
		n, err = rt.outbox.Reseal(ctx, sentUpTo, record.MaxReseal, record.Correct(rt.bootID, s, ev.ID))
		return err
	})
	switch {
	case errors.Is(err, buffer.ErrNotResealable):
		rt.log.Warn("records made while the clock was unsynced were not re-sealed; the platform corrects them from the clock_sync event",
			"err", err)
	case err != nil:
		rt.log.Error("re-sealing records with corrected wall times failed", "err", err)
	default:
		rt.log.Info("records re-sealed with corrected wall times", "rewritten", n, "corrected_by", ev.ID)
	}
}

// healthStatus fills the status message's backlog, clock and alarms.
func (rt *runtime) healthStatus(ctx context.Context, st *contract.Status, now time.Time) {
	st.Time = rt.health.wall.Now().UTC()
	st.Clock = rt.health.wall.Quality()
	st.ClockSteps = rt.health.watcher.State().Steps
	if s, err := rt.outbox.Stats(ctx); err == nil {
		b := &contract.Backlog{Pending: s.ByState[buffer.Pending], Sent: s.ByState[buffer.Sent],
			Rejected: s.ByState[buffer.Rejected], OldestUnackedSeq: s.OldestUnackedSeq,
			UsedBytes: s.UsedBytes, QuotaBytes: rt.health.quotaBytes, Evicted: s.Evicted, Refused: s.Refused}
		if s.OldestUnackedAge > 0 {
			b.OldestUnackedAgeS = int64(s.OldestUnackedAge / time.Second)
		}
		for k, ks := range s.ByKind {
			if ks.Pending+ks.Sent == 0 {
				continue
			}
			if b.ByKind == nil {
				b.ByKind = map[string]contract.KindBacklog{}
			}
			b.ByKind[string(k)] = contract.KindBacklog{Pending: ks.Pending, Sent: ks.Sent, Bytes: ks.UnackedBytes}
			b.Bytes += ks.UnackedBytes
		}
		st.Backlog = b
	} else {
		rt.log.Warn("no outbox stats for the status", "err", err)
	}
	u := rt.uplink.State()
	if !u.LastAck.IsZero() {
		st.LastAck = u.LastAck.UTC()
	}
	h := &rt.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.quotaFull {
		st.Alarms = append(st.Alarms, contract.AlarmOutboxQuota)
	}
	if h.lowDisk {
		st.Alarms = append(st.Alarms, contract.AlarmLowDisk)
	}
	if len(h.quarantine) > 0 {
		st.Alarms = append(st.Alarms, contract.AlarmOutboxQuarantined)
	}
	if !h.stalledAt.IsZero() && u.LastAck.Before(h.stalledAt) && now.Sub(h.stalledAt) < time.Hour {
		st.Alarms = append(st.Alarms, contract.AlarmUplinkStalled)
	}
}

// logQuarantine reports quarantined files at start.
func logQuarantine(log *slog.Logger, files []string) {
	for _, q := range files {
		log.Error("outbox was corrupt: moved aside, a new one was opened; salvage it with `imagent outbox salvage`", "file", q)
	}
}
