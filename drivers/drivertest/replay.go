package drivertest

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imagent/drivers"
)

// replayTimeout bounds one replay, so a driver that waits forever fails instead of hanging.
const replayTimeout = 10 * time.Second

// ReplayDir replays every dir/*.trace against a driver, twice: in subtest
// "<name>/whole" with reads as large as the trace allows and in "<name>/bytewise" one
// byte per read (Playback.OneByte). cases maps each trace's file name ("read.trace") to
// what the driver's test needs for it; run builds the driver on p and exercises it within
// ctx (10 s). After run, every op of the trace must have been used (Playback.Close).
//
// The test fails when dir holds no trace, when a trace has no case or no "source:"
// header line (traces record their provenance), and when a case names a missing trace.
func ReplayDir[C any](t *testing.T, dir string, cases map[string]C, run func(t *testing.T, ctx context.Context, p *Playback, c C)) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.trace"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no traces: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		c, ok := cases[name]
		if !ok {
			t.Errorf("%s has no entry in traceCases", name)
			continue
		}
		tr := LoadTrace(t, file)
		if !strings.Contains(strings.Join(tr.Header, "\n"), "source:") {
			t.Errorf("%s: header has no source: line", name)
		}
		for _, oneByte := range []bool{false, true} {
			sub := strings.TrimSuffix(name, ".trace") + map[bool]string{false: "/whole", true: "/bytewise"}[oneByte]
			t.Run(sub, func(t *testing.T) {
				p := NewPlayback(tr)
				p.OneByte = oneByte
				ctx, cancel := context.WithTimeout(context.Background(), replayTimeout)
				defer cancel()
				run(t, ctx, p, c)
				if err := p.Close(); err != nil {
					t.Error(err)
				}
			})
		}
	}
	for name := range cases {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("traceCases names %s, which does not exist", name)
		}
	}
}

// LoadTrace parses the trace file at path, failing the test if it cannot.
func LoadTrace(t testing.TB, path string) *Trace {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := ParseTrace(f)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// Near fails the test (without stopping it) unless got is within tol of want; NaN is
// never near.
func Near(t testing.TB, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) {
		t.Errorf("%s = %v, want %v ± %v", what, got, want, tol)
	}
}

// WantValues checks that r holds exactly the quantities of want, each within 1e-9.
func WantValues(t testing.TB, r drivers.Reading, want map[drivers.Quantity]float64) {
	t.Helper()
	if len(r.Values) != len(want) {
		t.Errorf("got %d values %v, want %d", len(r.Values), r.Values, len(want))
	}
	for q, v := range want {
		got, ok := r.Values[q]
		if !ok {
			t.Errorf("missing %s", q)
			continue
		}
		Near(t, string(q), got, v, 1e-9)
	}
}

// WantErr stops the test unless errors.Is(err, target), and fails it unless the message
// starts with the driver's package name and ": " (pkg is e.g. "nanhua").
func WantErr(t testing.TB, pkg string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
	if !strings.HasPrefix(err.Error(), pkg+": ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
}
