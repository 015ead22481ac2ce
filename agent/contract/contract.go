// Package contract is topic contract v1 between imagent and the regional platform: the
// topics, the record envelope, the acks and the status message. The agent's uplink and the
// reference platform receiver both use it, so they cannot drift apart. The prose version is
// docs/platform-contract.md; example payloads are golden files in testdata/golden.
package contract

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Version is the contract version carried in every message as "v".
const Version = 1

// Topics of one lane.
type Topics struct{ Station, Lane string }

func (t Topics) prefix() string { return "im/v1/" + t.Station + "/" + t.Lane }

// Records is where the agent publishes record envelopes (QoS 1).
func (t Topics) Records() string { return t.prefix() + "/records" }

// Acks is where the platform publishes the ids it has stored (QoS 1).
func (t Topics) Acks() string { return t.prefix() + "/acks" }

// Status is the agent's retained status (QoS 1, retained, last will "offline").
func (t Topics) Status() string { return t.prefix() + "/status" }

// Live carries optional live readings (QoS 0, never buffered).
func (t Topics) Live() string { return t.prefix() + "/live" }

// RecordsFilter is the subscription a platform uses for every lane's records.
const RecordsFilter = "im/v1/+/+/records"

// ParseRecordsTopic returns the station and lane of a records topic.
func ParseRecordsTopic(topic string) (Topics, error) {
	p := strings.Split(topic, "/")
	if len(p) != 5 || p[0] != "im" || p[1] != "v1" || p[4] != "records" || p[2] == "" || p[3] == "" {
		return Topics{}, fmt.Errorf("contract: not a v1 records topic: %q", topic)
	}
	return Topics{Station: p[2], Lane: p[3]}, nil
}

// Record kinds.
const (
	KindTest   = "test"
	KindCheck  = "check"
	KindRepair = "repair"
	KindEvent  = "event"
	// KindTelemetry is expendable: periodic instrument readings kept for context. The agent
	// evicts it (un-acked too) before anything else when its outbox is full.
	KindTelemetry = "telemetry"
)

// Clock quality of a record's wall time.
const (
	ClockUnsynced = "unsynced" // the box's clock was never synchronised this boot
	ClockNTP      = "ntp"      // the kernel reports a synchronised clock
	ClockPlatform = "platform" // set from the platform's time
)

// Envelope is one record as published on the records topic.
type Envelope struct {
	V         int             `json:"v"`
	ID        string          `json:"id"`   // globally unique, stable across resends
	Seq       int64           `json:"seq"`  // the agent's own increasing number; gaps are visible
	Kind      string          `json:"kind"` // test | check | repair | event
	Station   string          `json:"station"`
	Lane      string          `json:"lane"`
	Agent     AgentInfo       `json:"agent"`
	Time      Time            `json:"time"`
	PrevHash  string          `json:"prev_hash"` // hex sha256 of the previous envelope's bytes ("" for the first)
	Simulated bool            `json:"simulated"` // made by simulators or a sped-up clock: not a regulated result
	Body      json.RawMessage `json:"body"`      // kind-specific, see TestBody
}

// AgentInfo names the software that made the record.
type AgentInfo struct {
	Version string `json:"version"`
	BootID  string `json:"boot_id"`
}

// Time is when a record was made, with what the agent knows about its clock.
type Time struct {
	Wall   time.Time `json:"wall"`
	MonoMS int64     `json:"mono_ms"` // milliseconds since boot (CLOCK_BOOTTIME)
	Clock  string    `json:"clock"`   // unsynced | ntp | platform
	// WallCorrected is set on a record made while the clock was unsynced and re-sealed by
	// the agent once the clock synchronised (same boot): the synchronised wall time minus
	// the monotonic time elapsed since the record was made. Wall keeps the original value.
	WallCorrected time.Time `json:"wall_corrected,omitzero"`
	// CorrectedBy is the id of the agent's clock_sync event record that gave the correction.
	CorrectedBy string `json:"corrected_by,omitempty"`
}

// Validate checks the envelope fields every consumer relies on.
func (e *Envelope) Validate() error {
	var errs []error
	if e.V != Version {
		errs = append(errs, fmt.Errorf("v = %d, want %d", e.V, Version))
	}
	if e.ID == "" || len(e.ID) > 128 {
		errs = append(errs, errors.New("id missing or longer than 128"))
	}
	if e.Seq <= 0 {
		errs = append(errs, fmt.Errorf("seq = %d, want > 0", e.Seq))
	}
	switch e.Kind {
	case KindTest, KindCheck, KindRepair, KindEvent, KindTelemetry:
	default:
		errs = append(errs, fmt.Errorf("unknown kind %q", e.Kind))
	}
	if e.Station == "" || e.Lane == "" {
		errs = append(errs, errors.New("station or lane missing"))
	}
	switch e.Time.Clock {
	case ClockUnsynced, ClockNTP, ClockPlatform:
	default:
		errs = append(errs, fmt.Errorf("unknown clock quality %q", e.Time.Clock))
	}
	if (e.Time.CorrectedBy == "") != e.Time.WallCorrected.IsZero() {
		errs = append(errs, errors.New("time.wall_corrected and time.corrected_by come together"))
	}
	if len(e.Body) == 0 || !json.Valid(e.Body) || e.Body[0] != '{' {
		errs = append(errs, errors.New("body missing or not a JSON object"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("contract: invalid envelope: %w", errors.Join(errs...))
	}
	return nil
}

// MaxPayload bounds a decoded envelope, so a hostile or broken sender cannot exhaust memory.
const MaxPayload = 8 << 20

// GzipThreshold is the envelope size above which the agent gzips the payload.
const GzipThreshold = 4 << 10

// GzipLevel is the agent's gzip level: on an 80 kB ASM record level 4 gives 3.3× in about
// 1.3 ms on the development VM, level 9 3.7× in 6 ms — which would make compression the
// bottleneck of a backlog drain on an ARM gateway (bench figures in docs/outbox.md).
const GzipLevel = 4

// Encode marshals e; payloads larger than GzipThreshold are gzipped. Receivers detect gzip
// by its magic bytes (1f 8b); JSON can never start with them.
func Encode(e *Envelope) (raw, wire []byte, err error) {
	raw, err = json.Marshal(e)
	if err != nil {
		return nil, nil, fmt.Errorf("contract: encode: %w", err)
	}
	return raw, Compress(raw), nil
}

// Decode returns the JSON bytes of a wire payload (gunzipping when it starts with the gzip
// magic) and the envelope they hold. The returned raw bytes are what the hash chain covers.
func Decode(wire []byte) (raw []byte, e *Envelope, err error) {
	raw = wire
	if len(wire) >= 2 && wire[0] == 0x1f && wire[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err != nil {
			return nil, nil, fmt.Errorf("contract: gzip: %w", err)
		}
		raw, err = io.ReadAll(io.LimitReader(zr, MaxPayload+1))
		if err != nil {
			return nil, nil, fmt.Errorf("contract: gunzip: %w", err)
		}
	}
	if len(raw) > MaxPayload {
		return nil, nil, fmt.Errorf("contract: payload larger than %d bytes", MaxPayload)
	}
	e = new(Envelope)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(e); err != nil {
		return nil, nil, fmt.Errorf("contract: decode envelope: %w", err)
	}
	if err := e.Validate(); err != nil {
		return nil, nil, err
	}
	return raw, e, nil
}

// Ack statuses.
const (
	AckStored    = "stored"    // stored now
	AckDuplicate = "duplicate" // stored before; the id was seen again
	AckRejected  = "rejected"  // will never be stored (invalid); Reason says why
)

// Acks is the message the platform publishes on the acks topic.
type Acks struct {
	V    int   `json:"v"`
	Acks []Ack `json:"acks"`
}

// Ack is the platform's word on one record id.
type Ack struct {
	ID     string `json:"id"`
	Seq    int64  `json:"seq,omitempty"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// DecodeAcks parses and checks an acks message.
func DecodeAcks(b []byte) (*Acks, error) {
	if len(b) > 1<<20 {
		return nil, errors.New("contract: acks message too large")
	}
	a := new(Acks)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(a); err != nil {
		return nil, fmt.Errorf("contract: decode acks: %w", err)
	}
	if a.V != Version {
		return nil, fmt.Errorf("contract: acks v = %d, want %d", a.V, Version)
	}
	for i, k := range a.Acks {
		if k.ID == "" {
			return nil, fmt.Errorf("contract: ack %d has no id", i)
		}
		switch k.Status {
		case AckStored, AckDuplicate, AckRejected:
		default:
			return nil, fmt.Errorf("contract: ack %d: unknown status %q", i, k.Status)
		}
	}
	return a, nil
}

// Status is the agent's retained status message.
type Status struct {
	V       int       `json:"v"`
	State   string    `json:"state"` // online | offline
	Version string    `json:"version,omitempty"`
	BootID  string    `json:"boot_id,omitempty"`
	Time    time.Time `json:"time,omitzero"`
	Clock   string    `json:"clock,omitempty"`
	Backlog *Backlog  `json:"backlog,omitempty"`
	LastAck time.Time `json:"last_ack,omitzero"`
	Devices []Device  `json:"devices,omitempty"`
	// ClockSteps counts the wall-clock steps the agent saw since it started (each is also
	// an event record).
	ClockSteps int64 `json:"clock_steps,omitempty"`
	// Alarms names conditions that need a technician: outbox_quota (telemetry refused),
	// low_disk, outbox_quarantined, uplink_stalled (restarted by the watchdog).
	Alarms []string `json:"alarms,omitempty"`
}

// Alarms of the status message.
const (
	AlarmOutboxQuota       = "outbox_quota"
	AlarmLowDisk           = "low_disk"
	AlarmOutboxQuarantined = "outbox_quarantined"
	AlarmUplinkStalled     = "uplink_stalled"
)

// Events the agent records about itself (EventBody.Event).
const (
	EventClockStep         = "clock_step"         // wall and monotonic time disagreed: attrs step_ms, wall_before, wall_after
	EventClockSync         = "clock_sync"         // the clock synchronised: attrs boot_id, mono_ms, wall, resealed
	EventOutboxQuota       = "outbox_quota"       // telemetry refused at the quota (once per episode)
	EventOutboxEvicted     = "outbox_evicted"     // un-acked telemetry evicted: attrs from_seq, to_seq, count
	EventOutboxQuarantined = "outbox_quarantined" // the outbox file was corrupt and moved aside: attrs file
	EventUplinkStalled     = "uplink_stalled"     // connected, backlog, no ack: the uplink was restarted
)

// Backlog is what the outbox holds that the platform has not acknowledged.
type Backlog struct {
	Pending          int64 `json:"pending"`
	Sent             int64 `json:"sent"`
	Rejected         int64 `json:"rejected"`
	OldestUnackedSeq int64 `json:"oldest_unacked_seq,omitempty"`
	// OldestUnackedAgeS is measured on the agent's uptime (monotonic), not its wall clock.
	OldestUnackedAgeS int64 `json:"oldest_unacked_age_s,omitempty"`
	Bytes             int64 `json:"bytes,omitempty"` // payload bytes not yet acked
	// ByKind counts the un-acked records and their bytes per kind.
	ByKind     map[string]KindBacklog `json:"by_kind,omitempty"`
	UsedBytes  int64                  `json:"used_bytes,omitempty"`  // outbox pages in use + WAL
	QuotaBytes int64                  `json:"quota_bytes,omitempty"` // 0: no quota
	Evicted    int64                  `json:"evicted,omitempty"`     // un-acked telemetry evicted, ever
	Refused    int64                  `json:"refused,omitempty"`     // telemetry refused at the quota, ever
}

// KindBacklog is the un-acked part of one kind of record.
type KindBacklog struct {
	Pending int64 `json:"pending"`
	Sent    int64 `json:"sent"`
	Bytes   int64 `json:"bytes"`
}

// Device is one instrument's health in the status message.
type Device struct {
	Name          string  `json:"name"`
	State         string  `json:"state"` // ok | warming_up | error | absent
	LastFrameAgeS float64 `json:"last_frame_age_s"`
	Error         string  `json:"error,omitempty"`
}
