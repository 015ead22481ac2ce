// Package record turns a body (a test, a check, an event) into a contract envelope and
// commits it to the outbox before anyone is told it exists. It assigns nothing itself that
// the outbox must agree on: seq and the previous hash come from the outbox's transaction.
package record

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"imagent/agent/contract"
	"imagent/buffer"
)

// Maker commits records of one lane.
type Maker struct {
	Outbox  *buffer.Outbox
	Station string
	Lane    string
	Version string
	BootID  string
	// Now is the wall clock (tests may replace it).
	Now func() time.Time
	// Clock reports the quality of the wall clock (default: ask the kernel).
	Clock func() string
	// OnCommit, if set, is called after each commit (the uplink's Kick).
	OnCommit func(buffer.Msg)
	// OnRefused, if set, is called when the outbox refuses a record (telemetry at the
	// quota: the error wraps buffer.ErrQuotaFull), so the agent can raise its alarm.
	OnRefused func(kind string, err error)
}

// Commit builds the envelope around body and stores it durably; the returned message is
// what the uplink will publish.
func (m *Maker) Commit(ctx context.Context, kind string, body any, simulated bool) (buffer.Msg, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return buffer.Msg{}, fmt.Errorf("record: encode body: %w", err)
	}
	now, clock := time.Now, ClockQuality
	if m.Now != nil {
		now = m.Now
	}
	if m.Clock != nil {
		clock = m.Clock
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return buffer.Msg{}, fmt.Errorf("record: random id: %w", err)
	}
	msg, err := m.Outbox.Append(ctx, buffer.Kind(kind), func(seq int64, prev []byte) (string, []byte, error) {
		e := contract.Envelope{
			V: contract.Version,
			// The random suffix keeps ids unique even if a quarantined outbox restarts seq.
			ID:        fmt.Sprintf("%s-%s-%010d-%s", m.Station, m.Lane, seq, hex.EncodeToString(suffix)),
			Seq:       seq,
			Kind:      kind,
			Station:   m.Station,
			Lane:      m.Lane,
			Agent:     contract.AgentInfo{Version: m.Version, BootID: m.BootID},
			Time:      contract.Time{Wall: now().UTC(), MonoMS: MonoMS(), Clock: clock()},
			PrevHash:  hex.EncodeToString(prev),
			Simulated: simulated,
			Body:      b,
		}
		raw, err := json.Marshal(&e)
		if err != nil {
			return "", nil, fmt.Errorf("record: encode envelope: %w", err)
		}
		return e.ID, raw, nil
	})
	if err != nil {
		if m.OnRefused != nil && errors.Is(err, buffer.ErrQuotaFull) {
			m.OnRefused(kind, err)
		}
		return buffer.Msg{}, fmt.Errorf("record: commit %s: %w", kind, err)
	}
	if m.OnCommit != nil {
		m.OnCommit(msg)
	}
	return msg, nil
}

// BootID is the kernel's id of this boot ("" if unknown).
func BootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// MonoMS is milliseconds since boot, including time suspended (CLOCK_BOOTTIME). Unlike the
// wall clock it never steps, so records of one boot can always be ordered and re-timed.
func MonoMS() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return int64(ts.Sec)*1000 + int64(ts.Nsec)/1e6 // 32-bit fields on armv7
}

// ClockQuality asks the kernel whether the wall clock is synchronised (adjtimex).
func ClockQuality() string {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil || state == unix.TIME_ERROR || tx.Status&unix.STA_UNSYNC != 0 {
		return contract.ClockUnsynced
	}
	return contract.ClockNTP
}
