package procedure_test

import (
	"context"
	"math"
	"testing"
	"time"

	"imagent/agent/contract"
	"imagent/agent/procedure"
	"imagent/agent/simlane"
	"imagent/config"
)

// testSpeed is how many procedure seconds pass per real second in these tests.
const testSpeed = 25

// newLane starts a simulated lane for one test and stops it at the end.
func newLane(t *testing.T, o simlane.Options) *simlane.Lane {
	t.Helper()
	if o.Speed == 0 {
		o.Speed = testSpeed
	}
	if o.Analyzer.ZeroTime == 0 {
		o.Analyzer.ZeroTime = 2 * time.Second
	}
	l, err := simlane.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return l
}

func env(l *simlane.Lane) procedure.Env {
	return l.Env(config.DefaultParams(), "a")
}

// checkRows asserts exactly one process row per second: t_s counts 0, 1, 2… with no gap
// or repeat, every row has a phase, and the frames hash covers every instrument's frame
// of every second.
func checkRows(t *testing.T, b *contract.TestBody) {
	t.Helper()
	p := b.Process
	if len(p.Rows) != len(p.Phase) {
		t.Fatalf("%d rows but %d phase labels", len(p.Rows), len(p.Phase))
	}
	for i, r := range p.Rows {
		if len(r) != len(p.Columns) || r[0] != float64(i) {
			t.Fatalf("row %d: t_s %v, %d values for %d columns", i, r[0], len(r), len(p.Columns))
		}
		if p.Phase[i] == "" {
			t.Fatalf("row %d has no phase", i)
		}
	}
	if b.Frames != len(p.Rows)*len(b.Devices) || len(b.FramesSHA256) != 64 {
		t.Errorf("frames %d hash %q for %d rows of %d devices", b.Frames, b.FramesSHA256, len(p.Rows), len(b.Devices))
	}
	if b.Verdict == contract.VerdictAbort && b.AbortReason == "" {
		t.Error("an aborted test without a reason")
	}
}

// col returns the index of a process column.
func col(t *testing.T, b *contract.TestBody, name string) int {
	t.Helper()
	for i, c := range b.Process.Columns {
		if c == name {
			return i
		}
	}
	t.Fatalf("no column %q in %v", name, b.Process.Columns)
	return -1
}

// recompute derives each phase's means from the stored process rows alone.
func recompute(b *contract.TestBody, phase string) map[string]float64 {
	sums := map[string]float64{}
	n := 0
	for i, row := range b.Process.Rows {
		if b.Process.Phase[i] != phase {
			continue
		}
		n++
		for j, c := range b.Process.Columns {
			sums[c] += row[j]
		}
	}
	for c := range sums {
		sums[c] /= float64(n)
	}
	sums["n"] = float64(n)
	return sums
}

// rejudge compares a phase's judged values with values recomputed from the rows and checks
// the stored pass flags against the recomputed ones.
func rejudge(t *testing.T, ph contract.PhaseResult, got map[string]float64, tol float64) {
	t.Helper()
	pass := true
	for _, j := range ph.Judged {
		q := j.Quantity
		if q == "lambda_min" || q == "lambda_max" {
			q = "lambda"
		}
		v, ok := got[q]
		if !ok {
			t.Errorf("%s: nothing recomputed for %s", ph.Name, q)
			continue
		}
		if d := math.Abs(v - j.Value); d > tol*math.Max(1, math.Abs(v)) {
			t.Errorf("%s %s: stored %v, recomputed from rows %v", ph.Name, j.Quantity, j.Value, v)
		}
		ok = v <= j.Limit
		if j.Bound == "min" {
			ok = v >= j.Limit
		}
		pass = pass && ok
		if j.Standard == "" || j.Clause == "" {
			t.Errorf("%s %s: limit without standard/clause", ph.Name, j.Quantity)
		}
	}
	if pass != ph.Pass {
		t.Errorf("%s: stored pass=%v, recomputed %v", ph.Name, ph.Pass, pass)
	}
}

// lastPhase is the phase of the last process row ("" without rows).
func lastPhase(b *contract.TestBody) string {
	if n := len(b.Process.Phase); n > 0 {
		return b.Process.Phase[n-1]
	}
	return ""
}

var gasCar = contract.Vehicle{Plate: "TEST01", VIN: "LTEST000000000001", Fuel: "gasoline", GVWkg: 1600, RMkg: 1400, Catalyst: true}
