package main

// Technician commands on the store-and-forward side: `imagent status`, `imagent outbox
// salvage` and `imagent platform --verify`.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"imagent/agent/platform"
	"imagent/agent/record"
	"imagent/agent/uplink"
	"imagent/buffer"
	"imagent/config"
)

const defaultConfigPath = "/etc/imagent/imagent.toml"

// metaClockState is the outbox meta key where the runtime keeps its view of the clock.
const metaClockState = "clock.state"

// clockState is what the runtime persists about the wall clock for `imagent status`.
type clockState struct {
	Quality   string    `json:"quality"`
	Steps     int64     `json:"steps,omitempty"`
	LastStep  string    `json:"last_step,omitempty"` // e.g. "-3h0m0s"
	LastAt    time.Time `json:"last_step_at,omitzero"`
	SyncedAt  time.Time `json:"synced_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// outboxPath finds the outbox from --data, or --config's data_dir, or the default config.
func outboxPath(dataDir, cfgFile string) (string, *config.Config, error) {
	var cfg *config.Config
	if cfgFile == "" && dataDir == "" {
		if _, err := os.Stat(defaultConfigPath); err == nil {
			cfgFile = defaultConfigPath
		} else {
			dataDir = config.DefaultDataDir
		}
	}
	if cfgFile != "" {
		c, err := config.Load(cfgFile, config.LoadOpts{Protocols: protocolNames()})
		if err != nil {
			return "", nil, err
		}
		cfg = c
		if dataDir == "" {
			dataDir = c.Agent.DataDir
		}
	}
	return filepath.Join(dataDir, "outbox.db"), cfg, nil
}

// statusReport is `imagent status --json`.
type statusReport struct {
	Outbox        string                     `json:"outbox"`
	Records       map[buffer.State]int64     `json:"records"`
	Backlog       map[buffer.Kind]kindReport `json:"backlog"`
	OldestUnacked int64                      `json:"oldest_unacked_seq,omitempty"`
	OldestAgeS    *int64                     `json:"oldest_unacked_age_s,omitempty"` // uptime
	LastAck       time.Time                  `json:"last_ack,omitzero"`
	LastAckAgeS   *int64                     `json:"last_ack_age_s,omitempty"` // uptime
	LastSeq       int64                      `json:"last_seq"`
	UsedBytes     int64                      `json:"used_bytes"`
	FileBytes     int64                      `json:"file_bytes"`
	WALBytes      int64                      `json:"wal_bytes"`
	QuotaBytes    int64                      `json:"quota_bytes,omitempty"`
	Evicted       int64                      `json:"evicted_telemetry"`
	Refused       int64                      `json:"refused_telemetry"`
	UptimeS       int64                      `json:"uptime_ledger_s"`
	Uplink        *uplink.PersistedState     `json:"uplink,omitempty"`
	KernelClock   string                     `json:"kernel_clock"`
	AgentClock    *clockState                `json:"agent_clock,omitempty"`
	Quarantined   []string                   `json:"quarantined,omitempty"`
	StatusAt      time.Time                  `json:"status_at"`
}

type kindReport struct {
	Pending int64 `json:"pending"`
	Sent    int64 `json:"sent"`
	Bytes   int64 `json:"bytes"`
}

// cmdStatus reports the outbox of a station, read-only: safe beside the running agent.
func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", stderr)
	data := fs.String("data", "", "data directory (default: the configuration's data_dir)")
	cfgFile := fs.String("config", "", "configuration file (default "+defaultConfigPath+" if present)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	path, cfg, err := outboxPath(*data, *cfgFile)
	if err != nil {
		return err
	}
	st, err := buffer.Inspect(ctx, path)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	meta, err := buffer.InspectMeta(ctx, path, "")
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	r := statusReport{Outbox: path, Records: st.ByState, Backlog: map[buffer.Kind]kindReport{},
		OldestUnacked: st.OldestUnackedSeq, LastAck: st.LastAck, LastSeq: st.LastSeq, UsedBytes: st.UsedBytes,
		FileBytes: st.FileBytes, WALBytes: st.WALBytes, Evicted: st.Evicted, Refused: st.Refused,
		UptimeS: int64(st.Uptime / time.Second), KernelClock: record.ClockQuality(), StatusAt: time.Now()}
	if cfg != nil {
		r.QuotaBytes = int64(cfg.Buffer.QuotaMB) << 20
	}
	for k, ks := range st.ByKind {
		if ks.Pending+ks.Sent > 0 {
			r.Backlog[k] = kindReport{Pending: ks.Pending, Sent: ks.Sent, Bytes: ks.UnackedBytes}
		}
	}
	if st.OldestUnackedAge >= 0 {
		v := int64(st.OldestUnackedAge / time.Second)
		r.OldestAgeS = &v
	}
	if st.LastAckAge >= 0 {
		v := int64(st.LastAckAge / time.Second)
		r.LastAckAgeS = &v
	}
	if v, ok := meta[uplink.MetaStateKey]; ok {
		var ps uplink.PersistedState
		if json.Unmarshal([]byte(v), &ps) == nil {
			r.Uplink = &ps
		}
	}
	if v, ok := meta[metaClockState]; ok {
		var cs clockState
		if json.Unmarshal([]byte(v), &cs) == nil {
			r.AgentClock = &cs
		}
	}
	r.Quarantined, _ = filepath.Glob(path + ".corrupt-*")
	r.Quarantined = slices.DeleteFunc(r.Quarantined, func(s string) bool {
		return strings.HasSuffix(s, "-wal") || strings.HasSuffix(s, "-shm")
	})
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printStatus(stdout, &r)
	return nil
}

func mb(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}

func ago(s *int64) string {
	if s == nil {
		return "unknown"
	}
	return (time.Duration(*s) * time.Second).String() + " ago (uptime)"
}

func printStatus(w io.Writer, r *statusReport) {
	quota := "no quota"
	if r.QuotaBytes > 0 {
		quota = "quota " + mb(r.QuotaBytes)
	}
	fmt.Fprintf(w, "outbox      %s\n", r.Outbox)
	fmt.Fprintf(w, "size        %s used (%s), files %s, WAL %s\n", mb(r.UsedBytes), quota, mb(r.FileBytes), mb(r.WALBytes))
	unacked := r.Records[buffer.Pending] + r.Records[buffer.Sent]
	fmt.Fprintf(w, "backlog     %d un-acked (%d pending, %d sent), %d rejected, %d acked kept; last seq %d\n",
		unacked, r.Records[buffer.Pending], r.Records[buffer.Sent], r.Records[buffer.Rejected], r.Records[buffer.Acked], r.LastSeq)
	kinds := make([]string, 0, len(r.Backlog))
	for k := range r.Backlog {
		kinds = append(kinds, string(k))
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		kr := r.Backlog[buffer.Kind(k)]
		fmt.Fprintf(w, "  %-10s %6d pending %6d sent %12s\n", k, kr.Pending, kr.Sent, mb(kr.Bytes))
	}
	if r.OldestUnacked > 0 {
		fmt.Fprintf(w, "oldest      un-acked seq %d, made %s\n", r.OldestUnacked, ago(r.OldestAgeS))
	}
	if r.LastAck.IsZero() {
		fmt.Fprintf(w, "last ack    never\n")
	} else {
		fmt.Fprintf(w, "last ack    %s, %s\n", r.LastAck.Format(time.RFC3339), ago(r.LastAckAgeS))
	}
	if r.Evicted+r.Refused > 0 {
		fmt.Fprintf(w, "telemetry   %d evicted un-acked to make room, %d refused at the quota\n", r.Evicted, r.Refused)
	}
	switch u := r.Uplink; {
	case u == nil:
		fmt.Fprintf(w, "uplink      no state recorded yet\n")
	case u.Connected:
		fmt.Fprintf(w, "uplink      connected to %s since %s (epoch %d)\n", u.Broker, u.Since.Local().Format(time.RFC3339), u.Epoch)
	default:
		class := u.ErrorClass
		if class == "auth" || class == "refused" {
			class = strings.ToUpper(class) + " ERROR (credentials or certificate; retried slowly)"
		}
		fmt.Fprintf(w, "uplink      DISCONNECTED from %s since %s: %s: %s; next try %ds after that\n",
			u.Broker, u.Since.Local().Format(time.RFC3339), class, u.LastError, u.RetryInS)
	}
	if r.Uplink != nil && r.Uplink.Stalls > 0 {
		fmt.Fprintf(w, "watchdog    %d stalled connections restarted, last at %s\n", r.Uplink.Stalls, r.Uplink.LastStallAt.Local().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "clock       kernel %s", r.KernelClock)
	if c := r.AgentClock; c != nil {
		fmt.Fprintf(w, "; agent saw %s, %d steps", c.Quality, c.Steps)
		if c.Steps > 0 {
			fmt.Fprintf(w, " (last %s at %s)", c.LastStep, c.LastAt.Format(time.RFC3339))
		}
		if !c.SyncedAt.IsZero() {
			fmt.Fprintf(w, ", synchronised at %s", c.SyncedAt.Format(time.RFC3339))
		}
	}
	fmt.Fprintln(w)
	for _, q := range r.Quarantined {
		fmt.Fprintf(w, "QUARANTINED %s (salvage: imagent outbox salvage %s)\n", q, q)
	}
}

// cmdOutbox is `imagent outbox salvage FILE`.
func cmdOutbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "salvage" {
		return errors.New("usage: imagent outbox salvage [--data DIR | --config FILE] QUARANTINED_FILE")
	}
	fs := newFlags("outbox salvage", stderr)
	data := fs.String("data", "", "data directory (default: the configuration's data_dir)")
	cfgFile := fs.String("config", "", "configuration file (default "+defaultConfigPath+" if present)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) > 1 { // flags after the file name
		if err := fs.Parse(rest[1:]); err != nil {
			return err
		}
		rest = append(rest[:1], fs.Args()...)
	}
	if len(rest) != 1 {
		return errors.New("usage: imagent outbox salvage [--data DIR | --config FILE] QUARANTINED_FILE")
	}
	path, cfg, err := outboxPath(*data, *cfgFile)
	if err != nil {
		return err
	}
	opts := buffer.Opts{Secondary: true}
	if cfg != nil {
		opts = outboxOpts(cfg, record.KernelClock{})
		opts.Secondary = true
	}
	ob, err := buffer.Open(ctx, path, opts)
	if err != nil {
		return err
	}
	defer ob.Close()
	r, err := ob.Salvage(ctx, rest[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "salvaged %s into %s: %v\n", rest[0], path, r)
	if r.Pending > 0 {
		fmt.Fprintf(stdout, "%d records will be sent by the agent (the platform keeps one copy of each id)\n", r.Pending)
	}
	fmt.Fprintf(stdout, "the quarantined file is unchanged; keep it until the platform has acked everything\n")
	return nil
}

// platformVerify prints the hash-chain check of every lane in a platform database and
// fails when any lane has unexplained problems.
func platformVerify(ctx context.Context, dbPath string, stdout io.Writer) error {
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("platform verify: %w", err)
	}
	p, err := platform.Open(ctx, platform.Options{DBPath: dbPath})
	if err != nil {
		return err
	}
	defer p.Close()
	lanes, err := p.Lanes(ctx)
	if err != nil {
		return err
	}
	bad := 0
	for _, l := range lanes {
		probs, err := p.VerifyChain(ctx, l.Station, l.Lane)
		if err != nil {
			return err
		}
		recs, err := p.Records(ctx, l.Station, l.Lane)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s/%s: %d records, %d chain findings\n", l.Station, l.Lane, len(recs), len(probs))
		for _, pr := range probs {
			tag := "TAMPER?"
			if pr.Explained() {
				tag = "explained"
			} else {
				bad++
			}
			fmt.Fprintf(stdout, "  %-9s %v\n", tag, pr)
		}
	}
	if bad > 0 {
		return fmt.Errorf("platform verify: %d unexplained chain problems", bad)
	}
	return nil
}
