package procedure

import (
	"fmt"
	"time"

	"imagent/config"
)

// stageOrder ranks the limit columns: b is stricter and later than a.
func stageOrder(s string) int {
	switch s {
	case "a":
		return 1
	case "b":
		return 2
	}
	return 0
}

// limitInForce returns the limit of (method, phase, quantity) that applies to a test on
// day at the configured stage: among the entries of that stage and the earlier ones, those
// whose effective_from is on or before day's date (in day's location), the latest stage.
//
// So a lane configured for limit b judges by limit a until b's effective date (a region
// that adopted b early overrides that date), and a test dated before every effective date
// (a box whose clock has not been set and reads 1970 or 2000) has no limit at all: the
// caller aborts it rather than judge it by a guess.
func limitInForce(p *config.Params, method, phase, quantity, stage string, day time.Time) (config.Limit, error) {
	want := stageOrder(stage)
	if want == 0 {
		return config.Limit{}, fmt.Errorf("procedure: unknown limit stage %q", stage)
	}
	date := day.Format(time.DateOnly)
	var best config.Limit
	found, defined := false, false
	for _, l := range p.Limits {
		if l.Method != method || l.Phase != phase || l.Quantity != quantity {
			continue
		}
		o := stageOrder(l.Stage)
		if o == 0 || o > want {
			continue
		}
		defined = true
		if l.EffectiveFrom > date { // YYYY-MM-DD compares as text
			continue
		}
		if !found || o > stageOrder(best.Stage) {
			best, found = l, true
		}
	}
	switch {
	case !defined:
		return config.Limit{}, fmt.Errorf("procedure: no limit for %s/%s/%s stage %s", method, phase, quantity, stage)
	case !found:
		return config.Limit{}, abort(AbortNoLimit, "no %s/%s/%s limit is in force on %s (is the clock set?)", method, phase, quantity, date)
	}
	return best, nil
}

// checkLimits makes sure every limit a method will judge is in force on day, before the
// test starts, so a test is never run only to be left unjudged at its end.
func checkLimits(env Env, day time.Time, method string, want [][2]string) error {
	for _, w := range want {
		if _, err := limitInForce(env.Params, method, w[0], w[1], env.Stage, day); err != nil {
			return err
		}
	}
	return nil
}
