package procedure_test

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"imagent/agent/contract"
	"imagent/agent/procedure"
	"imagent/agent/simlane"
	"imagent/config"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/gas/nanhua/nanhuasim"
)

func runTSI(t *testing.T, e procedure.Env, v contract.Vehicle) *contract.TestBody {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	body, err := procedure.RunTSI(ctx, e, procedure.TSIRequest{InspectionID: "T1", Vehicle: v})
	if err != nil {
		t.Fatalf("RunTSI: %v", err)
	}
	checkRows(t, body)
	return body
}

func TestTSIPassAndFailRecomputeFromRows(t *testing.T) {
	for _, c := range []struct {
		name  string
		dirty bool
		veh   contract.Vehicle
		roles []string
	}{
		{"clean", false, gasCar, nil},
		{"dirty", true, gasCar, nil},
		{"heavy with weather station", false, contract.Vehicle{Plate: "H1", VIN: "LHEAVY00000000001", Fuel: "gasoline", GVWkg: 4500}, []string{simlane.Analyzer, simlane.Weather}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := newLane(t, simlane.Options{Roles: c.roles})
			l.Vehicle.SetDirty(c.dirty)
			b := runTSI(t, env(l), c.veh)
			want := contract.VerdictPass
			if c.dirty {
				want = contract.VerdictFail
			}
			if b.Verdict != want || b.AbortReason != "" {
				t.Fatalf("verdict %s (%s %s), want %s", b.Verdict, b.AbortReason, b.AbortDetail, want)
			}
			if len(b.Phases) != 2 {
				t.Fatalf("%d phases", len(b.Phases))
			}
			params := config.DefaultParams()
			for _, ph := range b.Phases {
				m := recompute(b, ph.Name)
				measureS, _ := params.Value("tsi", ph.Name+"_measure_s")
				if m["n"] != measureS {
					t.Errorf("%s: %v measured rows, want %v", ph.Name, m["n"], measureS)
				}
				for _, q := range []string{"hc_ppm", "co_pct", "co2_pct", "o2_pct", "lambda", "rpm"} {
					if d := math.Abs(m[q] - ph.Means[q]); d > 0.01*math.Max(1, math.Abs(m[q])) {
						t.Errorf("%s %s: stored mean %v, recomputed from rows %v", ph.Name, q, ph.Means[q], m[q])
					}
				}
				rejudge(t, ph, m, 0.01)
			}
			// λ is judged at high idle only for closed-loop TWC vehicles.
			hasLambda := slices.ContainsFunc(b.Phases[0].Judged, func(j contract.Judged) bool { return j.Quantity == "lambda_min" })
			if hasLambda != c.veh.Catalyst {
				t.Errorf("λ judged %v for a vehicle with closed_loop_twc %v", hasLambda, c.veh.Catalyst)
			}
			// Heavy vehicles run high idle at 1800 r/min, light ones at 2500.
			wantHigh := 2500.0
			if c.veh.GVWkg > 3500 {
				wantHigh = 1800
			}
			if rpm := b.Phases[0].Means["rpm"]; math.Abs(rpm-wantHigh) > 100 {
				t.Errorf("high idle at %v r/min, want about %v", rpm, wantHigh)
			}
			if b.ClockScale != testSpeed {
				t.Errorf("clock scale %v, want %v (a sped-up run must say so)", b.ClockScale, testSpeed)
			}
			if b.Ambient == nil || b.Ambient.PressureKPa == 0 {
				t.Errorf("no ambient conditions recorded: %+v", b.Ambient)
			}
			names := map[string]bool{}
			for _, p := range b.Prechecks {
				names[p.Quantity] = true
				if !p.Pass || p.Standard == "" {
					t.Errorf("pre-check %+v", p)
				}
			}
			for _, q := range []string{"temp_c", "rh_pct", "pressure_kpa", "oil_temp_c", "hc_residual_ppm", "background_co_pct", "background_hc_ppm", "background_no_ppm"} {
				if !names[q] {
					t.Errorf("no pre-check of %s", q)
				}
			}
			if len(b.Formulas) == 0 || b.Formulas[0].Name != "lambda" || b.Formulas[0].Verified {
				t.Errorf("formulas %+v: λ must be named and marked unverified", b.Formulas)
			}
		})
	}
}

func TestTSIAborts(t *testing.T) {
	cases := []struct {
		name    string
		sim     nanhuasim.Options
		setup   func(l *simlane.Lane)
		params  func(p *config.Params)
		reason  string
		atPhase string // the last process row belongs to this phase ("" = no rows)
	}{
		{
			name:   "analyzer stays in warm-up",
			sim:    nanhuasim.Options{Warmup: time.Hour},
			reason: procedure.AbortAnalyzerNotReady,
		},
		{
			name: "ambient too hot",
			setup: func(l *simlane.Lane) {
				l.AnalyzerSim.SetAmbient(nanhua.Ambient{TempC: 45, PressureKPa: 101, RHpct: 40})
			},
			reason: procedure.AbortAmbient,
		},
		{
			name:   "oil too cold",
			setup:  func(l *simlane.Lane) { l.Vehicle.SetOilTemp(55) },
			reason: procedure.AbortOilTemp, atPhase: "hc_residual",
		},
		{
			name: "HC hangs in the hose",
			setup: func(l *simlane.Lane) {
				l.Vehicle.SetHoseHC(20000) // still high after the zero and the ready checks
				l.Driver.Misbehave(func(p procedure.Prompt) bool {
					if p.Phase == "hc_residual" {
						l.Vehicle.SetHoseHC(2000) // it never flushes
					}
					return false
				})
			},
			reason: procedure.AbortHCResidual, atPhase: "hc_residual",
		},
		{
			name: "exhaust in the lane's air",
			setup: func(l *simlane.Lane) {
				l.Vehicle.SetLaneAir(nanhuasim.Exhaust{COpct: 0.15, CO2pct: 0.3, O2pct: 20.7, NOppm: 60})
			},
			reason: procedure.AbortBackground, atPhase: "background",
		},
		{
			name: "no limit in force on the clock's date",
			params: func(p *config.Params) {
				for i := range p.Limits {
					p.Limits[i].EffectiveFrom = "2999-01-01"
				}
			},
			reason: procedure.AbortNoLimit,
		},
		{
			name: "driver never raises the speed",
			setup: func(l *simlane.Lane) {
				l.Driver.Misbehave(func(p procedure.Prompt) bool { return p.TargetRPM > 0 })
			},
			reason: procedure.AbortRPMNotReached, atPhase: "precondition_ramp",
		},
		{
			name: "speed drops during preconditioning",
			setup: func(l *simlane.Lane) {
				l.Driver.Misbehave(func(p procedure.Prompt) bool {
					if p.Phase == "precondition" && p.Remaining < 20 {
						l.Vehicle.SetTargetRPM(2800)
						return true
					}
					return false
				})
			},
			reason: procedure.AbortRPMOutOfWindow, atPhase: "precondition",
		},
		{
			name: "probe pulled out while measuring",
			setup: func(l *simlane.Lane) {
				l.Driver.Misbehave(func(p procedure.Prompt) bool {
					if p.Phase == "high_idle" && p.Remaining < 20 {
						l.Vehicle.SetProbe(false)
						return true
					}
					return false
				})
			},
			reason: procedure.AbortDilution, atPhase: "high_idle",
		},
		{
			name: "probe never inserted",
			setup: func(l *simlane.Lane) {
				l.Driver.Misbehave(func(p procedure.Prompt) bool {
					if p.TargetRPM > 0 {
						l.Vehicle.SetTargetRPM(p.TargetRPM)
					}
					return p.Probe || p.Action == procedure.ActionInsertProbe
				})
			},
			reason: procedure.AbortProbe, atPhase: "high_idle_ramp",
		},
		{
			name: "analyzer low flow",
			setup: func(l *simlane.Lane) {
				l.Driver.Misbehave(func(p procedure.Prompt) bool {
					if p.Phase == "low_idle_hold" {
						l.AnalyzerSim.SetLowFlow(true)
					}
					return false
				})
			},
			reason: procedure.AbortLowFlow, atPhase: "low_idle_hold",
		},
		{
			name: "analyzer falls silent",
			setup: func(l *simlane.Lane) {
				l.Driver.Misbehave(func(p procedure.Prompt) bool {
					if p.Phase == "high_idle_hold" && p.Remaining < 10 {
						l.AnalyzerSim.SetMode(nanhuasim.Silent)
					}
					return false
				})
			},
			// Silence is noticed within a second of real time (25 procedure seconds at
			// this test's speed): late in the hold or in the measurement.
			reason: procedure.AbortNoData, atPhase: "high_idle_hold|high_idle",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := simlane.Options{Analyzer: c.sim}
			o.Analyzer.ZeroTime = 2 * time.Second
			l := newLane(t, o)
			if c.setup != nil {
				c.setup(l)
			}
			e := env(l)
			if c.params != nil {
				c.params(e.Params)
			}
			b := runTSI(t, e, gasCar)
			if b.Verdict != contract.VerdictAbort || b.AbortReason != c.reason {
				t.Fatalf("verdict %s reason %q (%s), want abort %q", b.Verdict, b.AbortReason, b.AbortDetail, c.reason)
			}
			if len(b.Phases) != 0 {
				t.Errorf("an aborted test carries %d judged phases", len(b.Phases))
			}
			if !slices.Contains(strings.Split(c.atPhase, "|"), lastPhase(b)) {
				t.Errorf("aborted in phase %q, want %q", lastPhase(b), c.atPhase)
			}
		})
	}
}

func TestTSIOperatorCancel(t *testing.T) {
	t.Parallel()
	l := newLane(t, simlane.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.Driver.Misbehave(func(p procedure.Prompt) bool {
		if p.Phase == "high_idle_hold" {
			cancel()
		}
		return false
	})
	b, err := procedure.RunTSI(ctx, env(l), procedure.TSIRequest{Vehicle: gasCar})
	if err != nil {
		t.Fatal(err)
	}
	if b.Verdict != contract.VerdictAbort || b.AbortReason != procedure.AbortOperator {
		t.Fatalf("verdict %s %q, want abort %q", b.Verdict, b.AbortReason, procedure.AbortOperator)
	}
	checkRows(t, b)
}

func TestTSIMissingParameter(t *testing.T) {
	t.Parallel()
	l := newLane(t, simlane.Options{})
	e := env(l)
	e.Params = &config.Params{}
	if _, err := procedure.RunTSI(context.Background(), e, procedure.TSIRequest{Vehicle: gasCar}); err == nil {
		t.Fatal("a run without method parameters must fail, not guess")
	}
}
