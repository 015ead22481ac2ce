package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"imagent/agent/console"
	"imagent/buffer"
	"imagent/config"
)

const recordsUsage = `usage:
  imagent records list   [--config FILE | --data DIR] [--plate P] [--vin V] [--inspection ID] [--date YYYY-MM-DD] [--kind K] [--before SEQ] [--limit N]
  imagent records show   [--config FILE | --data DIR] [--raw] ID|SEQ
  imagent records export [--config FILE | --data DIR] [--format json|csv] [--out FILE] [filters as for list] [ID]`

// cmdRecords lists, shows and exports stored records. It opens the outbox read-only, so it
// is safe beside a running agent.
func cmdRecords(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(recordsUsage)
	}
	sub, args := args[0], args[1:]
	fs := newFlags("records "+sub, stderr)
	where := dataFlags(fs)
	var q recordFilter
	switch sub {
	case "list", "export":
		q.flags(fs)
	case "show":
	default:
		return fmt.Errorf("records: unknown subcommand %q\n%s", sub, recordsUsage)
	}
	raw := fs.Bool("raw", false, "show: print the envelope exactly as stored")
	format := fs.String("format", "json", "export: json (the stored envelopes) or csv")
	out := fs.String("out", "", "export: write to this file instead of standard output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := where.dataDir()
	if err != nil {
		return err
	}
	ob, err := buffer.OpenReadOnly(ctx, filepath.Join(dir, "outbox.db"))
	if err != nil {
		return err
	}
	defer ob.Close()
	switch sub {
	case "list":
		bq, err := q.query()
		if err != nil {
			return err
		}
		return listRecords(ctx, stdout, ob, bq)
	case "show":
		if fs.NArg() != 1 {
			return errors.New("usage: imagent records show [--raw] ID|SEQ")
		}
		return showRecord(ctx, stdout, ob, fs.Arg(0), *raw)
	}
	// export
	w := stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("records export: %w", err)
		}
		defer f.Close()
		w = f
	}
	if fs.NArg() == 1 {
		m, err := findRecord(ctx, ob, fs.Arg(0))
		if err != nil {
			return err
		}
		switch *format {
		case "json":
			_, err = w.Write(append(m.Payload, '\n'))
		case "csv":
			err = console.WriteRecordCSV(w, m)
		default:
			err = fmt.Errorf("records export: format %q (json or csv)", *format)
		}
		return err
	}
	bq, err := q.query()
	if err != nil {
		return err
	}
	return console.ExportRecords(ctx, w, ob, bq, *format, 1_000_000)
}

// dataLocation is where a command finds the agent's data directory.
type dataLocation struct{ config, data *string }

func dataFlags(fs *flag.FlagSet) dataLocation {
	return dataLocation{
		config: fs.String("config", "/etc/imagent/imagent.toml", "configuration file (for agent.data_dir)"),
		data:   fs.String("data", "", "data directory (instead of reading the configuration)"),
	}
}

func (d dataLocation) dataDir() (string, error) {
	if *d.data != "" {
		return *d.data, nil
	}
	c, err := config.Load(*d.config, config.LoadOpts{Protocols: protocolNames()})
	if err != nil {
		return "", fmt.Errorf("%w\n(give --data DIR to read the records without the configuration)", err)
	}
	return c.Agent.DataDir, nil
}

type recordFilter struct {
	plate, vin, insp, date, kind *string
	before                       *int64
	limit                        *int
}

func (r *recordFilter) flags(fs *flag.FlagSet) {
	r.plate = fs.String("plate", "", "plate contains this (case-insensitive)")
	r.vin = fs.String("vin", "", "VIN contains this")
	r.insp = fs.String("inspection", "", "inspection serial number contains this")
	r.date = fs.String("date", "", "stored on this day (YYYY-MM-DD, local time)")
	r.kind = fs.String("kind", "", "test, check, repair, event or telemetry")
	r.before = fs.Int64("before", 0, "only records with a lower seq (paging)")
	r.limit = fs.Int("limit", 50, "at most this many records")
}

func (r *recordFilter) query() (buffer.Query, error) {
	q := buffer.Query{Plate: *r.plate, VIN: *r.vin, InspectionID: *r.insp, Kind: buffer.Kind(*r.kind),
		BeforeSeq: *r.before, Limit: *r.limit}
	if *r.date != "" {
		day, err := time.ParseInLocation("2006-01-02", *r.date, time.Local)
		if err != nil {
			return q, fmt.Errorf("records: --date %q: want YYYY-MM-DD", *r.date)
		}
		q.Since, q.Until = day, day.AddDate(0, 0, 1)
	}
	return q, nil
}

func listRecords(ctx context.Context, w io.Writer, ob *buffer.Outbox, q buffer.Query) error {
	recs, next, err := ob.Search(ctx, q)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tSTORED\tKIND\tPLATE\tVIN\tINSPECTION\tWHAT\tRESULT\tSYNC\tID")
	for _, s := range recs {
		what, result := s.Method, s.Verdict
		if s.Kind == buffer.KindCheck {
			what = s.Check + " " + s.Device
			if s.Pass != nil {
				result = map[bool]string{true: "pass", false: "fail"}[*s.Pass]
			}
		}
		if s.Simulated {
			result += " (simulated)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Seq, s.Created.Local().Format("2006-01-02 15:04:05"),
			s.Kind, dash(s.Plate), dash(s.VIN), dash(s.InspectionID), dash(strings.TrimSpace(what)), dash(result), s.State, s.ID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(recs) == 0 {
		fmt.Fprintln(w, "no records match")
	}
	if next != 0 {
		fmt.Fprintf(w, "more: --before %d\n", next)
	}
	return nil
}

// findRecord takes a record id, or a seq.
func findRecord(ctx context.Context, ob *buffer.Outbox, key string) (buffer.Msg, error) {
	if n, err := strconv.ParseInt(key, 10, 64); err == nil && n > 0 {
		if m, err := ob.BySeq(ctx, n); err == nil {
			return m, nil
		}
	}
	return ob.Get(ctx, key)
}

func showRecord(ctx context.Context, w io.Writer, ob *buffer.Outbox, key string, raw bool) error {
	m, err := findRecord(ctx, ob, key)
	if err != nil {
		return err
	}
	if raw {
		_, err := w.Write(append(m.Payload, '\n'))
		return err
	}
	s, err := ob.Summarize(ctx, m.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "id         %s\nseq        %d\nkind       %s\nstored     %s\nsync       %s", s.ID, s.Seq, s.Kind,
		s.Created.Local().Format(time.RFC3339), s.State)
	if s.State == buffer.Sent {
		fmt.Fprintf(w, " (epoch %d, %d attempts)", s.Epoch, s.Attempts)
	}
	if !s.Acked.IsZero() {
		fmt.Fprintf(w, " at %s", s.Acked.Local().Format(time.RFC3339))
	}
	if s.Reason != "" {
		fmt.Fprintf(w, " (%s)", s.Reason)
	}
	fmt.Fprintf(w, "\nsimulated  %v\n", s.Simulated)
	var env struct {
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(m.Payload, &env); err != nil {
		return fmt.Errorf("records show: the stored payload is not a JSON envelope: %w", err)
	}
	// The process data (one row a second) is summarised: export it as CSV to read it.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(env.Body, &fields); err != nil {
		return fmt.Errorf("records show: body: %w", err)
	}
	if p, ok := fields["process"]; ok {
		var proc struct {
			Rows []json.RawMessage `json:"rows"`
		}
		_ = json.Unmarshal(p, &proc)
		fields["process"], _ = json.Marshal(fmt.Sprintf("%d rows (imagent records export --format csv %s)", len(proc.Rows), s.ID))
	}
	body, err := json.MarshalIndent(fields, "  ", "  ")
	if err != nil {
		return fmt.Errorf("records show: %w", err)
	}
	fmt.Fprintf(w, "body\n  %s\n", body)
	return nil
}
