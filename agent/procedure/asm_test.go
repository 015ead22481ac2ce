package procedure_test

import (
	"context"
	"math"
	"testing"
	"time"

	"imagent/agent/contract"
	"imagent/agent/procedure"
	"imagent/agent/simlane"
)

func gasDynoLane(t *testing.T, roles ...string) *simlane.Lane {
	if len(roles) == 0 {
		roles = []string{simlane.Analyzer, simlane.Dyno, simlane.Weather}
	}
	return newLane(t, simlane.Options{Roles: roles})
}

func runASM(t *testing.T, e procedure.Env) *contract.TestBody {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b, err := procedure.RunASM(ctx, e, procedure.TestRequest{InspectionID: "A1", Vehicle: gasCar})
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, b)
	return b
}

// checkASMRows recomputes DF, kH and the corrected values of every timed row from the raw
// values of that row, and each judged mode's means from the rows of its window.
func checkASMRows(t *testing.T, b *contract.TestBody) {
	t.Helper()
	c := func(n string) int { return col(t, b, n) }
	for i, r := range b.Process.Rows {
		if r[c("mode_t_s")] < 0 {
			continue
		}
		df := procedure.DilutionFactor(4.644, r[c("co_pct")], r[c("co2_pct")], 3)
		kh := procedure.HumidityCorrection(r[c("temp_c")], r[c("rh_pct")], r[c("pressure_kpa")])
		if math.Abs(df-r[c("df")]) > 2e-3 || math.Abs(kh-r[c("kh")]) > 2e-4 {
			t.Fatalf("row %d: df %v kh %v, recomputed %v %v", i, r[c("df")], r[c("kh")], df, kh)
		}
		if d := r[c("no_ppm")]*df*kh - r[c("no_corr_ppm")]; math.Abs(d) > 0.01*math.Max(1, r[c("no_corr_ppm")]) {
			t.Fatalf("row %d: NO corrected %v, recomputed %v", i, r[c("no_corr_ppm")], r[c("no_ppm")]*df*kh)
		}
	}
	for _, ph := range b.Phases {
		from, to := ph.Means["window_start_s"], ph.Means["window_end_s"]
		// The rows of the window: the last timing run of the phase.
		var idx []int
		for i := len(b.Process.Rows) - 1; i >= 0; i-- {
			if b.Process.Phase[i] != ph.Name {
				continue
			}
			mt := b.Process.Rows[i][c("mode_t_s")]
			if mt > to {
				continue
			}
			if mt < from {
				break
			}
			idx = append(idx, i)
		}
		if len(idx) != int(to-from+1) {
			t.Fatalf("%s: %d rows in window %v–%v", ph.Name, len(idx), from, to)
		}
		got := map[string]float64{}
		for _, q := range [][2]string{{"hc_ppm", "hc_corr_ppm"}, {"co_pct", "co_corr_pct"}, {"no_ppm", "no_corr_ppm"}} {
			var sum float64
			for _, i := range idx {
				sum += b.Process.Rows[i][c(q[1])]
			}
			got[q[0]] = sum / float64(len(idx))
		}
		rejudge(t, ph, got, 0.01)
	}
}

func TestASMPassFailRecompute(t *testing.T) {
	for _, dirty := range []bool{false, true} {
		t.Run(map[bool]string{false: "clean", true: "dirty"}[dirty], func(t *testing.T) {
			t.Parallel()
			l := gasDynoLane(t)
			l.Vehicle.SetDirty(dirty)
			b := runASM(t, env(l))
			if dirty {
				// A 5025 failure ends the test: 2540 is not run.
				if b.Verdict != contract.VerdictFail || len(b.Phases) != 1 || b.Phases[0].Name != "5025" {
					t.Fatalf("verdict %s (%s %s), phases %+v", b.Verdict, b.AbortReason, b.AbortDetail, b.Phases)
				}
				if b.Phases[0].Means["window_end_s"] != 89 {
					t.Errorf("a failing mode runs to 90 s, judged on %v–%v", b.Phases[0].Means["window_start_s"], b.Phases[0].Means["window_end_s"])
				}
			} else {
				if b.Verdict != contract.VerdictPass || len(b.Phases) != 2 {
					t.Fatalf("verdict %s (%s %s), %d phases", b.Verdict, b.AbortReason, b.AbortDetail, len(b.Phases))
				}
				for _, ph := range b.Phases {
					if ph.Means["fast_check"] != 1 || ph.Means["window_start_s"] != 15 || ph.Means["window_end_s"] != 24 {
						t.Errorf("%s: a clean car passes the fast check on seconds 15–24: %v", ph.Name, ph.Means)
					}
					if v := ph.Means["speed_kmh"]; math.Abs(v-map[string]float64{"5025": 25, "2540": 40}[ph.Name]) > 1.5 {
						t.Errorf("%s at %v km/h", ph.Name, v)
					}
				}
			}
			checkASMRows(t, b)
		})
	}
}

func TestASMTimerRestart(t *testing.T) {
	t.Parallel()
	l := gasDynoLane(t)
	slow := 0 // seconds the driver has been slow
	l.Driver.Misbehave(func(p procedure.Prompt) bool {
		switch {
		case p.Phase != "5025":
			return false
		case p.Remaining == 80 && slow == 0: // t = 10 s: slow down for five seconds
			l.Vehicle.Drive(20, 0)
			slow = 1
			return true
		case slow > 0 && slow < 5:
			slow++
			return true
		}
		return false
	})
	b := runASM(t, env(l))
	if b.Verdict != contract.VerdictPass {
		t.Fatalf("verdict %s (%s %s)", b.Verdict, b.AbortReason, b.AbortDetail)
	}
	zeros := 0
	mt := col(t, b, "mode_t_s")
	for i, r := range b.Process.Rows {
		if b.Process.Phase[i] == "5025" && r[mt] == 0 {
			zeros++
		}
	}
	if zeros < 2 {
		t.Errorf("the 5025 timer started %d times, want a visible restart", zeros)
	}
	checkASMRows(t, b)
}

func TestASMAborts(t *testing.T) {
	for _, c := range []struct {
		name    string
		setup   func(l *simlane.Lane)
		reason  string
		atPhase string
	}{
		{"driver cannot hold the speed", func(l *simlane.Lane) {
			l.Driver.Misbehave(func(p procedure.Prompt) bool {
				if p.Phase == "5025" {
					l.Vehicle.Drive(21, 0)
					return true
				}
				return false
			})
		}, procedure.AbortSpeedWindow, "5025"},
		{"speed never reached", func(l *simlane.Lane) {
			l.Driver.Misbehave(func(p procedure.Prompt) bool { return p.TargetKmh > 0 })
		}, procedure.AbortSpeedNotReached, "5025_ramp"},
		{"probe pulled out in 2540", func(l *simlane.Lane) {
			l.Driver.Misbehave(func(p procedure.Prompt) bool {
				if p.Phase == "2540" && p.Remaining < 85 {
					l.Vehicle.SetProbe(false)
					return true // and the rest of the prompt (probe in) is ignored
				}
				return false
			})
		}, procedure.AbortDilution, "2540"},
		{"analyzer low flow in 5025", func(l *simlane.Lane) {
			l.Driver.Misbehave(func(p procedure.Prompt) bool {
				if p.Phase == "5025" && p.Remaining < 80 {
					l.AnalyzerSim.SetLowFlow(true)
				}
				return false
			})
		}, procedure.AbortLowFlow, "5025"},
		{"rollers turning before the test", func(l *simlane.Lane) {
			l.Roller.SetMotor(true)
			deadline := time.Now().Add(5 * time.Second)
			for l.Roller.State().SpeedKmh < 5 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		}, procedure.AbortDynoMoving, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := gasDynoLane(t)
			c.setup(l)
			b := runASM(t, env(l))
			if b.Verdict != contract.VerdictAbort || b.AbortReason != c.reason || lastPhase(b) != c.atPhase {
				t.Fatalf("verdict %s %q (%s) in %q, want abort %q in %q", b.Verdict, b.AbortReason, b.AbortDetail, lastPhase(b), c.reason, c.atPhase)
			}
		})
	}
}
