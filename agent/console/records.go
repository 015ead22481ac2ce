package console

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"imagent/agent/contract"
	"imagent/buffer"
)

// maxInlineEnvelope is the largest stored envelope the record page shows inline; larger
// ones are offered as a download.
const maxInlineEnvelope = 64 << 10

// maxExport bounds one export of a search.
const maxExport = 10_000

func (s *Server) pageRecord(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if s.o.Records == nil {
		s.apiError(w, r, http.StatusNotFound, "records.badid")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	sum, err := s.o.Records.Summarize(ctx, id)
	if errors.Is(err, buffer.ErrNotFound) {
		s.apiError(w, r, http.StatusNotFound, "records.badid")
		return
	}
	if err != nil {
		s.apiError(w, r, http.StatusInternalServerError, "error.internal", err.Error())
		return
	}
	m, err := s.o.Records.Get(ctx, id)
	if err != nil {
		s.apiError(w, r, http.StatusInternalServerError, "error.internal", err.Error())
		return
	}
	l := langOf(nil, r)
	v := recordView{S: sum}
	var env contract.Envelope
	if err := json.Unmarshal(m.Payload, &env); err != nil {
		v.DecodeError = err.Error()
	} else {
		switch env.Kind {
		case contract.KindTest:
			var b contract.TestBody
			if err := json.Unmarshal(env.Body, &b); err == nil {
				v.Test = &b
				v.Charts = processCharts(l, b.Process)
			}
		case contract.KindCheck:
			var b contract.CheckBody
			if err := json.Unmarshal(env.Body, &b); err == nil {
				v.Check = &b
			}
		case contract.KindEvent:
			var b contract.EventBody
			if err := json.Unmarshal(env.Body, &b); err == nil {
				v.Event = &b
			}
		}
	}
	if len(m.Payload) <= maxInlineEnvelope {
		v.Raw = string(m.Payload)
	}
	s.render(w, r, http.StatusOK, "record", l.F("record.title", strconv.FormatInt(sum.Seq, 10)), func(h *hw) { viewRecord(h, v) })
}

// exportRecord downloads one record: format=json is the envelope exactly as stored and
// uploaded; format=csv is the process data of a test (one row a second), or the summary of
// any other record.
func (s *Server) exportRecord(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if s.o.Records == nil {
		s.apiError(w, r, http.StatusNotFound, "records.badid")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	m, err := s.o.Records.Get(ctx, id)
	if errors.Is(err, buffer.ErrNotFound) {
		s.apiError(w, r, http.StatusNotFound, "records.badid")
		return
	}
	if err != nil {
		s.apiError(w, r, http.StatusInternalServerError, "error.internal", err.Error())
		return
	}
	name := fileName(id)
	switch r.URL.Query().Get("format") {
	case "", "json":
		attachment(w, name+".json", "application/json")
		_, _ = w.Write(m.Payload)
	case "csv":
		var buf bytes.Buffer
		if err := WriteRecordCSV(&buf, m); err != nil {
			s.apiError(w, r, http.StatusInternalServerError, "error.internal", err.Error())
			return
		}
		attachment(w, name+".csv", "text/csv; charset=utf-8")
		_, _ = w.Write(buf.Bytes())
	default:
		s.apiError(w, r, http.StatusBadRequest, "error.badinput", "format")
	}
}

// exportRecords downloads the records matching the search form (all pages, up to
// maxExport): format=csv is one summary line per record, format=json a JSON array of the
// stored envelopes.
func (s *Server) exportRecords(w http.ResponseWriter, r *http.Request) {
	q, _, err := queryOf(r)
	if err != nil {
		s.apiError(w, r, http.StatusBadRequest, "error.badinput", err.Error())
		return
	}
	if s.o.Records == nil {
		s.apiError(w, r, http.StatusNotFound, "records.badid")
		return
	}
	format := r.URL.Query().Get("format")
	if format != "csv" && format != "json" {
		s.apiError(w, r, http.StatusBadRequest, "error.badinput", "format")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	var buf bytes.Buffer
	if err := ExportRecords(ctx, &buf, s.o.Records, q, format, maxExport); err != nil {
		s.apiError(w, r, http.StatusInternalServerError, "error.internal", err.Error())
		return
	}
	ct := "application/json"
	if format == "csv" {
		ct = "text/csv; charset=utf-8"
	}
	attachment(w, "records-"+s.now().Format("20060102-150405")+"."+format, ct)
	_, _ = w.Write(buf.Bytes())
}

func attachment(w http.ResponseWriter, name, ct string) {
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
}

// fileName keeps the characters of a record id that are safe in a file name.
func fileName(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, id)
}

// ExportRecords writes every record matching q (newest first, at most max) as CSV summary
// lines or as a JSON array of the stored envelopes. The CLI uses it too.
func ExportRecords(ctx context.Context, w io.Writer, ob *buffer.Outbox, q buffer.Query, format string, max int) error {
	var cw *csv.Writer
	switch format {
	case "csv":
		cw = csv.NewWriter(w)
		if err := cw.Write(SummaryCSVHeader); err != nil {
			return err
		}
	case "json":
		if _, err := io.WriteString(w, "["); err != nil {
			return err
		}
	default:
		return fmt.Errorf("console: export format %q (csv or json)", format)
	}
	n := 0
	q.Limit = 200
	for n < max {
		page, next, err := ob.Search(ctx, q)
		if err != nil {
			return err
		}
		for _, s := range page {
			if n >= max {
				break
			}
			if cw != nil {
				if err := cw.Write(SummaryCSV(s)); err != nil {
					return err
				}
			} else {
				m, err := ob.Get(ctx, s.ID)
				if err != nil {
					return err
				}
				sep := ",\n"
				if n == 0 {
					sep = "\n"
				}
				if _, err := io.WriteString(w, sep); err != nil {
					return err
				}
				if _, err := w.Write(m.Payload); err != nil {
					return err
				}
			}
			n++
		}
		if next == 0 {
			break
		}
		q.BeforeSeq = next
	}
	if cw != nil {
		cw.Flush()
		return cw.Error()
	}
	_, err := io.WriteString(w, "\n]\n")
	return err
}

// SummaryCSVHeader names the columns of SummaryCSV.
var SummaryCSVHeader = []string{"seq", "id", "kind", "stored", "sync_state", "acked", "plate", "vin",
	"inspection_id", "method", "verdict", "check", "device", "pass", "simulated"}

// SummaryCSV is one CSV line of a record summary. Text that a spreadsheet would take for
// a formula is prefixed with an apostrophe.
func SummaryCSV(s buffer.Summary) []string {
	pass := ""
	if s.Pass != nil {
		pass = strconv.FormatBool(*s.Pass)
	}
	acked := ""
	if !s.Acked.IsZero() {
		acked = s.Acked.UTC().Format(time.RFC3339)
	}
	return []string{strconv.FormatInt(s.Seq, 10), cell(s.ID), string(s.Kind), s.Created.UTC().Format(time.RFC3339),
		string(s.State), acked, cell(s.Plate), cell(s.VIN), cell(s.InspectionID), cell(s.Method), cell(s.Verdict),
		cell(s.Check), cell(s.Device), pass, strconv.FormatBool(s.Simulated)}
}

func cell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// WriteRecordCSV writes a test record's process data (a "phase" column, then the
// method's columns, one row a second); other records are written as their summary.
func WriteRecordCSV(w io.Writer, m buffer.Msg) error {
	cw := csv.NewWriter(w)
	var env contract.Envelope
	var b contract.TestBody
	if json.Unmarshal(m.Payload, &env) == nil && env.Kind == contract.KindTest && json.Unmarshal(env.Body, &b) == nil {
		if err := cw.Write(append([]string{"phase"}, b.Process.Columns...)); err != nil {
			return err
		}
		for i, row := range b.Process.Rows {
			line := make([]string, 0, len(row)+1)
			ph := ""
			if i < len(b.Process.Phase) {
				ph = b.Process.Phase[i]
			}
			line = append(line, cell(ph))
			for _, v := range row {
				line = append(line, strconv.FormatFloat(v, 'f', -1, 64))
			}
			if err := cw.Write(line); err != nil {
				return err
			}
		}
	} else {
		var s buffer.Summary
		s.Seq, s.ID, s.Kind, s.State, s.Created = m.Seq, m.ID, m.Kind, m.State, m.Created
		if err := cw.Write(SummaryCSVHeader); err != nil {
			return err
		}
		if err := cw.Write(SummaryCSV(s)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// processCharts draws each process-data column against time as a small inline SVG, with
// the phases marked, so a record's page needs no script to show its curves.
func processCharts(l lang, p contract.Process) []string {
	ti := -1
	for i, c := range p.Columns {
		if c == "t_s" {
			ti = i
		}
	}
	var out []string
	for ci, col := range p.Columns {
		if ci == ti || len(p.Rows) == 0 {
			continue
		}
		xs := make([]float64, 0, len(p.Rows))
		ys := make([]float64, 0, len(p.Rows))
		for i, row := range p.Rows {
			if ci >= len(row) {
				continue
			}
			x := float64(i)
			if ti >= 0 && ti < len(row) {
				x = row[ti]
			}
			xs, ys = append(xs, x), append(ys, row[ci])
		}
		out = append(out, svgChart(l.Or("q."+col, col), xs, ys, phaseMarks(l, p, ti)))
	}
	return out
}

type mark struct {
	x     float64
	label string
}

// phaseMarks returns where each phase starts.
func phaseMarks(l lang, p contract.Process, ti int) []mark {
	var out []mark
	prev := ""
	for i, ph := range p.Phase {
		if ph == prev || i >= len(p.Rows) {
			continue
		}
		prev = ph
		x := float64(i)
		if ti >= 0 && ti < len(p.Rows[i]) {
			x = p.Rows[i][ti]
		}
		out = append(out, mark{x: x, label: l.Or("ph."+ph, ph)})
	}
	return out
}

// svgChart draws one series. All text is escaped; numbers are formatted by us.
func svgChart(title string, xs, ys []float64, marks []mark) string {
	const w, h, left, right, top, bottom = 640.0, 150.0, 52.0, 8.0, 22.0, 20.0
	if len(xs) == 0 {
		return ""
	}
	x0, x1 := xs[0], xs[len(xs)-1]
	y0, y1 := ys[0], ys[0]
	for _, y := range ys {
		y0, y1 = min(y0, y), max(y1, y)
	}
	if x1 == x0 {
		x1 = x0 + 1
	}
	if y1 == y0 {
		y0, y1 = y0-1, y1+1
	}
	pad := (y1 - y0) * 0.08
	y0, y1 = y0-pad, y1+pad
	px := func(x float64) float64 { return left + (x-x0)/(x1-x0)*(w-left-right) }
	py := func(y float64) float64 { return top + (y1-y)/(y1-y0)*(h-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`, w, h, html.EscapeString(title))
	fmt.Fprintf(&b, `<text class="ct" x="%.0f" y="14">%s</text>`, left, html.EscapeString(title))
	fmt.Fprintf(&b, `<rect class="cf" x="%.0f" y="%.0f" width="%.0f" height="%.0f"/>`, left, top, w-left-right, h-top-bottom)
	for i, m := range marks {
		x := px(m.x)
		fmt.Fprintf(&b, `<line class="cm" x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f"/>`, x, top, x, h-bottom)
		if i%2 == 0 || len(marks) < 8 {
			fmt.Fprintf(&b, `<text class="cl" x="%.1f" y="%.0f">%s</text>`, x+2, top+10, html.EscapeString(m.label))
		}
	}
	// Enough decimals that the two labels differ when the values do.
	dec := 0
	for r := (y1 - y0) / 1.16; r > 0 && r < 10 && dec < 4; r *= 10 {
		dec++
	}
	fmt.Fprintf(&b, `<text class="ca" x="%.0f" y="%.0f" text-anchor="end">%.*f</text>`, left-4, top+8, dec, y1-pad)
	fmt.Fprintf(&b, `<text class="ca" x="%.0f" y="%.0f" text-anchor="end">%.*f</text>`, left-4, h-bottom, dec, y0+pad)
	fmt.Fprintf(&b, `<text class="ca" x="%.0f" y="%.0f">%s s</text>`, left, h-4, fmtValue(x0))
	fmt.Fprintf(&b, `<text class="ca" x="%.0f" y="%.0f" text-anchor="end">%s s</text>`, w-right, h-4, fmtValue(x1))
	b.WriteString(`<polyline class="cp" points="`)
	for i := range xs {
		fmt.Fprintf(&b, "%.1f,%.1f ", px(xs[i]), py(ys[i]))
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}
