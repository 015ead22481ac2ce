package procedure_test

import (
	"context"
	"math"
	"testing"
	"time"

	"imagent/agent/contract"
	"imagent/agent/procedure"
	"imagent/agent/simlane"
	"imagent/agent/simvehicle"
)

func lugLane(t *testing.T, vo simvehicle.Options) *simlane.Lane {
	vo.Kind = simvehicle.Diesel
	return newLane(t, simlane.Options{Roles: []string{simlane.Opacimeter, simlane.Dyno, simlane.Tach, simlane.Weather},
		Opacimeter: "MQW-5101", Vehicle: vo})
}

func runLugDown(t *testing.T, e procedure.Env) *contract.TestBody {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b, err := procedure.RunLugDown(ctx, e, procedure.TestRequest{InspectionID: "L1", Vehicle: dieselTruck})
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, b)
	return b
}

func TestLugDownPassFailRecompute(t *testing.T) {
	for _, c := range []struct {
		name  string
		dirty bool
		vo    simvehicle.Options
		want  string
		weak  bool
	}{
		{"clean", false, simvehicle.Options{}, contract.VerdictPass, false},
		{"dirty", true, simvehicle.Options{}, contract.VerdictFail, false},
		{"engine short of power", false, simvehicle.Options{RatedPowerKW: 45}, contract.VerdictFail, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := lugLane(t, c.vo)
			l.Vehicle.SetDirty(c.dirty)
			b := runLugDown(t, env(l))
			if b.Verdict != c.want || len(b.Phases) != 3 {
				t.Fatalf("verdict %s (%s %s), %d phases, want %s", b.Verdict, b.AbortReason, b.AbortDetail, len(b.Phases), c.want)
			}
			cl := func(n string) int { return col(t, b, n) }
			// The maximum corrected wheel power and its speed, from the scan rows.
			var maxP, vAt float64
			for i, r := range b.Process.Rows {
				if b.Process.Phase[i] == "power_scan" && r[cl("wheel_power_corr_kw")] > maxP {
					maxP, vAt = r[cl("wheel_power_corr_kw")], r[cl("speed_kmh")]
				}
				// αd and the corrected power of every row from the row's own values.
				if r[cl("speed_kmh")] > 1 {
					a := procedure.PowerCorrection(true, procedure.DryPressureKPa(r[cl("pressure_kpa")], r[cl("rh_pct")], r[cl("temp_c")]), r[cl("temp_c")], 1.2)
					wheel := r[cl("power_kw")] + r[cl("power_parasitic_kw")] + r[cl("power_inertia_kw")]
					if math.Abs(wheel-r[cl("wheel_power_kw")]) > 0.001 {
						t.Fatalf("row %d: wheel power %v, parts add up to %v", i, r[cl("wheel_power_kw")], wheel)
					}
					if math.Abs(a-r[cl("alpha_d")]) > 1e-4 || math.Abs(r[cl("wheel_power_kw")]*a-r[cl("wheel_power_corr_kw")]) > 0.01 {
						t.Fatalf("row %d: αd %v corrected %v, recomputed %v", i, r[cl("alpha_d")], r[cl("wheel_power_corr_kw")], a)
					}
				}
			}
			scan := b.Phases[0]
			if math.Abs(scan.Means["velmaxhp_kmh"]-vAt) > 0.06 {
				t.Errorf("VelMaxHP %v, rows say %v", scan.Means["velmaxhp_kmh"], vAt)
			}
			rejudge(t, scan, map[string]float64{"max_wheel_power_kw": maxP}, 0.001)
			if scan.Pass == c.weak {
				t.Errorf("minimum wheel power judged %v for a weak engine %v: %+v", scan.Pass, c.weak, scan.Judged)
			}
			for _, ph := range b.Phases[1:] {
				m := recompute(b, ph.Name)
				if m["n"] != 5 {
					t.Errorf("%s: %v measured rows", ph.Name, m["n"])
				}
				rejudge(t, ph, m, 0.01)
				want := map[string]float64{"100pct": 1, "80pct": 0.8}[ph.Name] * scan.Means["velmaxhp_kmh"]
				if math.Abs(ph.Means["speed_kmh"]-want) > 1.5 {
					t.Errorf("%s held at %v km/h, want %v", ph.Name, ph.Means["speed_kmh"], want)
				}
			}
		})
	}
}

func TestLugDownAborts(t *testing.T) {
	for _, c := range []struct {
		name    string
		roles   []string
		setup   func(l *simlane.Lane)
		reason  string
		atPhase string
	}{
		{"accelerator never pressed", nil, func(l *simlane.Lane) {
			l.Driver.Misbehave(func(p procedure.Prompt) bool {
				if p.Pedal == procedure.PedalFull && p.Phase != "max_rpm" {
					l.Vehicle.SetPedal(0, l.Clock.Now())
					return true
				}
				return false
			})
		}, procedure.AbortSpeedNotReached, "top_speed"},
		{"no NOx instrument", []string{simlane.Opacimeter, simlane.Dyno, simlane.Weather}, nil, procedure.AbortDeviceMissing, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var l *simlane.Lane
			if c.roles != nil {
				l = newLane(t, simlane.Options{Roles: c.roles, Vehicle: simvehicle.Options{Kind: simvehicle.Diesel}})
			} else {
				l = lugLane(t, simvehicle.Options{})
			}
			if c.setup != nil {
				c.setup(l)
			}
			b := runLugDown(t, env(l))
			if b.Verdict != contract.VerdictAbort || b.AbortReason != c.reason || lastPhase(b) != c.atPhase {
				t.Fatalf("verdict %s %q (%s) in %q, want abort %q in %q", b.Verdict, b.AbortReason, b.AbortDetail, lastPhase(b), c.reason, c.atPhase)
			}
		})
	}
}
