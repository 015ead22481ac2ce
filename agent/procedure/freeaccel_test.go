package procedure_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"imagent/agent/contract"
	"imagent/agent/procedure"
	"imagent/agent/simlane"
	"imagent/agent/simvehicle"
)

var dieselTruck = contract.Vehicle{Plate: "苏D00002", VIN: "LDIESEL0000000002", Fuel: "diesel", GVWkg: 12000,
	RatedPowerKW: 120, RatedRPM: 2500, Aspiration: "turbo"}

func dieselLane(t *testing.T, roles ...string) *simlane.Lane {
	return newLane(t, simlane.Options{Roles: roles, Vehicle: simvehicle.Options{Kind: simvehicle.Diesel}})
}

func TestFreeAccelZeroFails(t *testing.T) {
	t.Parallel()
	// An FLB-100 whose zero takes longer than 3 s never answers it.
	l := newLane(t, simlane.Options{Roles: []string{simlane.Opacimeter, simlane.Weather}, Vehicle: simvehicle.Options{Kind: simvehicle.Diesel},
		OpacimeterZeroTime: time.Minute})
	b := runFreeAccel(t, env(l))
	if b.Verdict != contract.VerdictAbort || b.AbortReason != procedure.AbortZeroFailed || len(b.Process.Rows) != 0 {
		t.Fatalf("verdict %s %q (%s), %d rows", b.Verdict, b.AbortReason, b.AbortDetail, len(b.Process.Rows))
	}
}

func runFreeAccel(t *testing.T, e procedure.Env) *contract.TestBody {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b, err := procedure.RunFreeAccel(ctx, e, procedure.TestRequest{InspectionID: "F1", Vehicle: dieselTruck})
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, b)
	return b
}

func TestFreeAccelPassFailRecompute(t *testing.T) {
	for _, dirty := range []bool{false, true} {
		t.Run(map[bool]string{false: "clean", true: "dirty"}[dirty], func(t *testing.T) {
			t.Parallel()
			l := dieselLane(t, simlane.Opacimeter, simlane.Weather)
			l.Vehicle.SetDirty(dirty)
			b := runFreeAccel(t, env(l))
			want := contract.VerdictPass
			if dirty {
				want = contract.VerdictFail
			}
			if b.Verdict != want {
				t.Fatalf("verdict %s (%s %s), want %s", b.Verdict, b.AbortReason, b.AbortDetail, want)
			}
			// The result is the mean of the peaks recorded in the rows, one per measured blow.
			pk, bl := col(t, b, "peak_k_m1"), col(t, b, "blow")
			var peaks []float64
			purges := map[float64]bool{}
			for i, r := range b.Process.Rows {
				if r[pk] > 0 {
					peaks = append(peaks, r[pk])
					if !strings.HasSuffix(b.Process.Phase[i], "_peak") {
						t.Errorf("peak on row %d of phase %s", i, b.Process.Phase[i])
					}
				}
				if r[bl] < 0 {
					purges[r[bl]] = true
				}
			}
			if len(peaks) != 3 || len(purges) != 3 {
				t.Fatalf("%d peaks and %d purge blows in the rows, want 3 and 3", len(peaks), len(purges))
			}
			var sum float64
			for _, p := range peaks {
				sum += p
			}
			got := math.Round(sum/3*100) / 100
			ph := b.Phases[0]
			if ph.Means["k_m1"] != got {
				t.Errorf("stored k %v, rows give %v", ph.Means["k_m1"], got)
			}
			rejudge(t, ph, map[string]float64{"k_m1": got}, 1e-9)
		})
	}
}

func TestFreeAccelAborts(t *testing.T) {
	for _, c := range []struct {
		name    string
		driver  func(l *simlane.Lane) func(p procedure.Prompt) bool
		reason  string
		atPhase string
	}{
		{"opacimeter holds no peak", func(l *simlane.Lane) func(p procedure.Prompt) bool {
			l.Vehicle.OnBlip(nil) // the instrument misses every acceleration
			return nil
		}, procedure.AbortNoPeak, "blow_1_wait"},
		{"pedal pressed too slowly", func(l *simlane.Lane) func(p procedure.Prompt) bool {
			return func(p procedure.Prompt) bool {
				if p.Phase == "blow_2" && p.Pedal == procedure.PedalFull {
					l.Vehicle.SetPedal(0.4, l.Clock.Now()) // never reaches the cut-off
					return true
				}
				return false
			}
		}, procedure.AbortPedalRise, "blow_2"},
		{"pedal released early", func(l *simlane.Lane) func(p procedure.Prompt) bool {
			return func(p procedure.Prompt) bool {
				if p.Phase == "blow_1" && p.Pedal == procedure.PedalFull && p.Text == "hold the accelerator fully down" {
					l.Vehicle.SetPedal(0, l.Clock.Now())
					return true
				}
				return false
			}
		}, procedure.AbortPedalHold, "blow_1"},
		{"no weather station, and the opacimeter has no ambient sensors", func(l *simlane.Lane) func(p procedure.Prompt) bool {
			return nil
		}, procedure.AbortAmbientMissing, ""},
		{"oil too cold", func(l *simlane.Lane) func(p procedure.Prompt) bool {
			l.Vehicle.SetOilTemp(60)
			return nil
		}, procedure.AbortOilTemp, "idle"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			roles := []string{simlane.Opacimeter, simlane.Weather}
			if c.reason == procedure.AbortAmbientMissing {
				roles = roles[:1]
			}
			l := dieselLane(t, roles...)
			if h := c.driver(l); h != nil {
				l.Driver.Misbehave(h)
			}
			b := runFreeAccel(t, env(l))
			if b.Verdict != contract.VerdictAbort || b.AbortReason != c.reason || lastPhase(b) != c.atPhase {
				t.Fatalf("verdict %s %q (%s) in phase %q, want abort %q in %q", b.Verdict, b.AbortReason, b.AbortDetail, lastPhase(b), c.reason, c.atPhase)
			}
		})
	}
}
