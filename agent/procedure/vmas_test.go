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

func vmasLane(t *testing.T) *simlane.Lane {
	return newLane(t, simlane.Options{Roles: []string{simlane.Analyzer, simlane.Dyno, simlane.Flowmeter, simlane.Weather}})
}

func TestVMASFlowmeterWarmingUp(t *testing.T) {
	t.Parallel()
	l := newLane(t, simlane.Options{Roles: []string{simlane.Analyzer, simlane.Dyno, simlane.Flowmeter, simlane.Weather}, FlowmeterWarmup: time.Hour})
	b := runVMAS(t, env(l))
	if b.Verdict != contract.VerdictAbort || b.AbortReason != procedure.AbortDeviceNotReady || len(b.Process.Rows) != 0 {
		t.Fatalf("verdict %s %q (%s), %d rows", b.Verdict, b.AbortReason, b.AbortDetail, len(b.Process.Rows))
	}
}

func runVMAS(t *testing.T, e procedure.Env) *contract.TestBody {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b, err := procedure.RunVMAS(ctx, e, procedure.TestRequest{InspectionID: "V1", Vehicle: gasCar})
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, b)
	return b
}

func TestVMASCycle(t *testing.T) {
	c, err := procedure.CycleFromParams(config.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	// The ECE-15 urban cycle: 195 s, about 1.013 km.
	var km float64
	for s := 0; s < c.Length(); s++ {
		km += (c.Speed(float64(s)) + c.Speed(float64(s+1))) / 2 / 3600
	}
	if c.Length() != 195 || math.Abs(km-1.013) > 0.01 {
		t.Errorf("cycle of %d s and %.3f km, want 195 s and 1.013 km", c.Length(), km)
	}
	for _, x := range []struct{ t, kmh float64 }{{0, 0}, {13, 7.5}, {20, 15}, {70, 32}, {150, 50}, {170, 35}, {194, 0}} {
		if got := c.Speed(x.t); math.Abs(got-x.kmh) > 1e-9 {
			t.Errorf("speed at %v s: %v, want %v", x.t, got, x.kmh)
		}
	}
}

func TestVMASPassFailRecompute(t *testing.T) {
	for _, dirty := range []bool{false, true} {
		t.Run(map[bool]string{false: "clean", true: "dirty"}[dirty], func(t *testing.T) {
			t.Parallel()
			l := vmasLane(t)
			l.Vehicle.SetDirty(dirty)
			b := runVMAS(t, env(l))
			want := contract.VerdictPass
			if dirty {
				want = contract.VerdictFail
			}
			if b.Verdict != want {
				t.Fatalf("verdict %s (%s %s), want %s", b.Verdict, b.AbortReason, b.AbortDetail, want)
			}
			c := func(n string) int { return col(t, b, n) }
			var hc, co, no, dist float64
			n := 0
			for i, r := range b.Process.Rows {
				if b.Process.Phase[i] != "cycle" {
					continue
				}
				if r[c("cycle_t_s")] != float64(n) {
					t.Fatalf("row %d: cycle second %v, want %d", i, r[c("cycle_t_s")], n)
				}
				n++
				// Each second's CO mass from that second's own values (rounding allows 0.5 %).
				co1 := r[c("exhaust_l")] * r[c("co_pct")] / 100 * 1249.8917892669492 * r[c("df")]
				if math.Abs(co1-r[c("co_mg")]) > 0.005*math.Max(1, co1) {
					t.Fatalf("row %d: CO %v mg, recomputed %v", i, r[c("co_mg")], co1)
				}
				hc += r[c("hc_mg")]
				co += r[c("co_mg")]
				no += r[c("no_mg")]
				dist = r[c("distance_m")]
			}
			if n != 195 {
				t.Fatalf("%d cycle rows, want 195", n)
			}
			km := dist / 1000
			ph := b.Phases[0]
			if math.Abs(km-1.013) > 0.05 {
				t.Errorf("distance %.3f km", km)
			}
			rejudge(t, ph, map[string]float64{"co_gkm": co / 1000 / km, "hcnox_gkm": (hc + no) / 1000 / km}, 0.002)
			unverified := false
			for _, f := range b.Formulas {
				unverified = unverified || (f.Name == "vmas_mass" && !f.Verified)
			}
			if !unverified {
				t.Errorf("the VMAS mass formula must be named unverified in the record: %+v", b.Formulas)
			}
		})
	}
}

func TestVMASAborts(t *testing.T) {
	for _, c := range []struct {
		name    string
		setup   func(l *simlane.Lane)
		reason  string
		atPhase string
	}{
		{"hose off the tailpipe", func(l *simlane.Lane) { l.SetHoseOff(true) }, procedure.AbortFlowmeterNoExh, "cycle"},
		{"flowmeter blower weak", func(l *simlane.Lane) { l.Dilution.SetFlow(60) }, procedure.AbortFlowmeterLowFlow, "cycle"},
		{"flowmeter's O2 cell off in air", func(l *simlane.Lane) { l.SetFlowmeterGas(18.5) }, procedure.AbortFlowmeterO2, "o2_ambient"},
		{"driver falls behind the trace", func(l *simlane.Lane) {
			l.Driver.Misbehave(func(p procedure.Prompt) bool {
				if p.Phase == "cycle" && p.Remaining < 140 && p.TargetKmh > 20 {
					l.Vehicle.Drive(15, 0)
					return true
				}
				return false
			})
		}, procedure.AbortSpeedWindow, "cycle"},
		{"probe out while driving", func(l *simlane.Lane) {
			l.Driver.Misbehave(func(p procedure.Prompt) bool {
				if p.Phase == "cycle" && p.Remaining < 120 {
					l.Vehicle.SetProbe(false)
					l.Vehicle.Drive(p.TargetKmh, 0)
					return true
				}
				return false
			})
		}, procedure.AbortDilution, "cycle"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := vmasLane(t)
			c.setup(l)
			b := runVMAS(t, env(l))
			if b.Verdict != contract.VerdictAbort || b.AbortReason != c.reason || lastPhase(b) != c.atPhase {
				t.Fatalf("verdict %s %q (%s) in %q, want abort %q in %q", b.Verdict, b.AbortReason, b.AbortDetail, lastPhase(b), c.reason, c.atPhase)
			}
		})
	}
}
