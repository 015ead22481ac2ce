package buffer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testEnvelope is shaped like the agent's envelopes (agent/contract) as far as search reads them.
type testEnvelope struct {
	ID        string   `json:"id"`
	Seq       int64    `json:"seq"`
	Simulated bool     `json:"simulated"`
	Body      testBody `json:"body"`
}

type testBody struct {
	Method       string       `json:"method,omitempty"`
	InspectionID string       `json:"inspection_id,omitempty"`
	Vehicle      *testVehicle `json:"vehicle,omitempty"`
	Verdict      string       `json:"verdict,omitempty"`
	Check        string       `json:"check,omitempty"`
	Device       *struct {
		Name string `json:"name"`
	} `json:"device,omitempty"`
	Result string      `json:"result,omitempty"` // check records: pass | fail | abort
	Rows   [][]float64 `json:"rows,omitempty"`
}

type testVehicle struct {
	Plate string `json:"plate"`
	VIN   string `json:"vin"`
}

func appendBody(t testing.TB, o *Outbox, kind Kind, b testBody) Msg {
	t.Helper()
	m, err := o.Append(context.Background(), kind, func(seq int64, _ []byte) (string, []byte, error) {
		id := fmt.Sprintf("S-L1-%010d", seq)
		p, err := json.Marshal(testEnvelope{ID: id, Seq: seq, Simulated: seq%2 == 0, Body: b})
		return id, p, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testRecord(i int, rows int) testBody {
	b := testBody{Method: "tsi", InspectionID: fmt.Sprintf("INSP2025%06d", i),
		Vehicle: &testVehicle{Plate: fmt.Sprintf("苏A%05d", i), VIN: fmt.Sprintf("LSVAU2180N2%06d", i)},
		Verdict: []string{"pass", "fail", "abort"}[i%3]}
	for r := range rows {
		b.Rows = append(b.Rows, []float64{float64(r), 112.5, 0.31, 14.62, 0.42, 35, 1.012, 1.01, 2512, 88.5})
	}
	return b
}

func seqs(ss []Summary) []int64 {
	var out []int64
	for _, s := range ss {
		out = append(out, s.Seq)
	}
	return out
}

func TestSearch(t *testing.T) {
	ctx := context.Background()
	o := openT(t, filepath.Join(t.TempDir(), "outbox.db"))
	defer o.Close()
	for i := 1; i <= 30; i++ {
		appendBody(t, o, KindTest, testRecord(i, 5))
	}
	chk := appendBody(t, o, KindCheck, testBody{Check: "analyzer_leak", Result: "pass",
		Device: &struct {
			Name string `json:"name"`
		}{"analyzer"}})
	// A payload in another encoding (gzip magic) must be skipped, not break the query.
	if _, err := o.Append(ctx, KindEvent, func(seq int64, _ []byte) (string, []byte, error) {
		return "gz", []byte{0x1f, 0x8b, 8, 0, 'A', '0', '0', '0', '0', '7'}, nil
	}); err != nil {
		t.Fatal(err)
	}

	all, next, err := o.Search(ctx, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 32 || next != 0 || all[0].Seq != 32 || all[31].Seq != 1 {
		t.Fatalf("everything: %d records %v, next %d", len(all), seqs(all), next)
	}

	got, _, err := o.Search(ctx, Query{Plate: "a00007"}) // lower case, no province character
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs(got), []int64{7}) || got[0].Plate != "苏A00007" || got[0].VIN != "LSVAU2180N2000007" ||
		got[0].InspectionID != "INSP2025000007" || got[0].Method != "tsi" || got[0].Verdict != "fail" || got[0].Kind != KindTest {
		t.Fatalf("plate a00007: %+v", got)
	}
	got, _, err = o.Search(ctx, Query{Plate: "苏A0001"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs(got), []int64{19, 18, 17, 16, 15, 14, 13, 12, 11, 10}) {
		t.Fatalf("plate prefix 苏A0001: %v", seqs(got))
	}
	got, _, err = o.Search(ctx, Query{VIN: "n2000021"})
	if err != nil || !slices.Equal(seqs(got), []int64{21}) {
		t.Fatalf("vin: %v %v", seqs(got), err)
	}
	got, _, err = o.Search(ctx, Query{InspectionID: "INSP2025000030"})
	if err != nil || !slices.Equal(seqs(got), []int64{30}) {
		t.Fatalf("inspection id: %v %v", seqs(got), err)
	}
	// The VIN's digits appear in the plate's field of no record: a field search never
	// matches another field.
	got, _, err = o.Search(ctx, Query{Plate: "2180N2"})
	if err != nil || len(got) != 0 {
		t.Fatalf("plate search matched another field: %v %v", seqs(got), err)
	}
	got, _, err = o.Search(ctx, Query{Kind: KindCheck})
	if err != nil || !slices.Equal(seqs(got), []int64{chk.Seq}) {
		t.Fatalf("kind check: %v %v", seqs(got), err)
	}
	if got[0].Check != "analyzer_leak" || got[0].Device != "analyzer" || got[0].Pass == nil || !*got[0].Pass {
		t.Fatalf("check summary: %+v", got[0])
	}
	if _, _, err := o.Search(ctx, Query{Kind: "bogus"}); err == nil {
		t.Fatal("unknown kind accepted")
	}
	if _, _, err := o.Search(ctx, Query{Plate: strings.Repeat("x", 200)}); err == nil {
		t.Fatal("absurdly long search text accepted")
	}

	// Paging by seq: every test record exactly once, newest first.
	var paged []int64
	q := Query{Kind: KindTest, Limit: 7}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		page, next, err := o.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, seqs(page)...)
		if next == 0 {
			break
		}
		q.BeforeSeq = next
	}
	want := []int64{}
	for i := int64(30); i >= 1; i-- {
		want = append(want, i)
	}
	if !slices.Equal(paged, want) {
		t.Fatalf("paged: %v", paged)
	}

	// Date: stored times are the append wall time.
	got, _, err = o.Search(ctx, Query{Since: time.Now().Add(-time.Hour), Until: time.Now().Add(time.Hour)})
	if err != nil || len(got) != 32 {
		t.Fatalf("today: %d %v", len(got), err)
	}
	got, _, err = o.Search(ctx, Query{Until: time.Now().Add(-time.Hour)})
	if err != nil || len(got) != 0 {
		t.Fatalf("before an hour ago: %d %v", len(got), err)
	}

	// Sync state shows in the summary.
	if _, err := o.Ack(ctx, all[len(all)-1].ID); err != nil {
		t.Fatal(err)
	}
	s, err := o.Summarize(ctx, all[len(all)-1].ID)
	if err != nil || s.State != Acked || s.Acked.IsZero() {
		t.Fatalf("summary after ack: %+v %v", s, err)
	}
	if _, err := o.Summarize(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("summary of a missing id: %v", err)
	}
}

// TestOpenReadOnly: a reader beside the writer sees each commit, and cannot write.
func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	if _, err := OpenReadOnly(ctx, path); err == nil {
		t.Fatal("read-only open of a missing file succeeded")
	}
	o := openT(t, path)
	defer o.Close()
	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for i := 1; i <= 3; i++ {
		appendBody(t, o, KindTest, testRecord(i, 1))
		got, _, err := ro.Search(ctx, Query{})
		if err != nil || len(got) != i {
			t.Fatalf("reader sees %d records after %d commits (%v)", len(got), i, err)
		}
	}
	if _, err := ro.Append(ctx, KindEvent, builder("x", 0)); err == nil {
		t.Fatal("append through a read-only outbox succeeded")
	}
	got, _, err := o.Search(ctx, Query{})
	if err != nil || len(got) != 3 {
		t.Fatalf("after the refused append: %d %v", len(got), err)
	}
}

// BenchmarkSearch measures a search on an outbox of 5000 two-speed-idle-sized records
// (about 190 rows of process data, ~16 KB each): a recent hit, and a miss that scans
// every record.
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	o := openT(b, filepath.Join(b.TempDir(), "outbox.db"))
	defer o.Close()
	const n = 5000
	for i := 1; i <= n; i++ {
		appendBody(b, o, KindTest, testRecord(i, 190))
	}
	st, _ := o.Stats(ctx)
	b.Logf("%d records, %d MB on disk", n, st.FileBytes>>20)
	for _, c := range []struct {
		name string
		q    Query
	}{
		{"list-newest-50", Query{}},
		{"plate-hit-recent", Query{Plate: fmt.Sprintf("A%05d", n-3)}},
		{"plate-miss-full-scan", Query{Plate: "京B99999"}},
		{"vin-miss-full-scan", Query{VIN: "WDB0000000"}},
		{"today-kind-test", Query{Kind: KindTest, Since: time.Now().Add(-24 * time.Hour)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := o.Search(ctx, c.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
