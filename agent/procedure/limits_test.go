package procedure

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"imagent/config"
)

func TestLimitInForce(t *testing.T) {
	p := config.DefaultParams()
	region, err := config.LoadParams(filepath.Join("..", "..", "config", "testdata", "region-example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	early := p.Override(region) // limit b of tsi/high_idle/hc_ppm from 2019-07-01
	day := func(s string) time.Time {
		d, err := time.ParseInLocation(time.DateOnly, s, time.FixedZone("CST", 8*3600))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, c := range []struct {
		name   string
		p      *config.Params
		stage  string
		date   string
		want   float64 // 0: no limit in force
		column string
	}{
		{"lane on a, after b took effect", p, "a", "2024-01-01", 50, "a"},
		{"lane on b, after b took effect", p, "b", "2024-01-01", 30, "b"},
		{"lane on b, before b took effect: a applies", p, "b", "2020-01-01", 50, "a"},
		{"lane on b, the day b takes effect", p, "b", "2023-07-01", 30, "b"},
		{"region adopted b early", early, "b", "2020-01-01", 30, "b"},
		{"region adopted b early, before its date", early, "b", "2019-06-30", 50, "a"},
		{"clock unset (1970)", p, "b", "1970-01-01", 0, ""},
	} {
		l, err := limitInForce(c.p, "tsi", "high_idle", "hc_ppm", c.stage, day(c.date))
		if c.want == 0 {
			var ab *abortError
			if !errors.As(err, &ab) || ab.reason != AbortNoLimit {
				t.Errorf("%s: %v, want abort %s", c.name, err, AbortNoLimit)
			}
			continue
		}
		if err != nil || l.Value != c.want || l.Stage != c.column {
			t.Errorf("%s: %+v %v, want %v from column %s", c.name, l, err, c.want, c.column)
		}
	}
	if _, err := limitInForce(p, "tsi", "high_idle", "nox_ppm", "a", day("2024-01-01")); err == nil {
		t.Error("a limit that does not exist must be an error")
	}
	if _, err := limitInForce(p, "tsi", "high_idle", "hc_ppm", "c", day("2024-01-01")); err == nil {
		t.Error("an unknown stage must be an error")
	}
}
