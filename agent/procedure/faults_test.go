package procedure_test

import (
	"strings"
	"testing"
	"time"

	"imagent/agent/contract"
	"imagent/agent/procedure"
	"imagent/agent/simlane"
	"imagent/agent/simvehicle"
	"imagent/drivers"
	"imagent/drivers/dyno/xincheng/xinchengsim"
	"imagent/drivers/opacity/flb100/flb100sim"
)

// TestInstrumentFaultAborts puts a simulator into a fault at a chosen prompt and checks
// that the method aborts with the reason of that exact branch (the detail names the
// command or the check), in the phase of the last recorded second, with the seconds
// before it recorded one per second.
func TestInstrumentFaultAborts(t *testing.T) {
	for _, c := range []struct {
		name    string
		run     func(t *testing.T) *contract.TestBody
		reason  string
		detail  string // the abort detail contains this
		atPhase string
	}{
		{"ASM: dyno stops answering before the first load command", func(t *testing.T) *contract.TestBody {
			l := gasDynoLane(t)
			// The ramp's first second is recorded, then the load is set: the controller
			// obeys the command but its stream never confirms the mode.
			l.Driver.Misbehave(func(p procedure.Prompt) bool {
				if p.Phase == "5025_ramp" {
					l.DynoSim.SetMode(xinchengsim.Silent)
				}
				return false
			})
			return runASM(t, env(l))
		}, procedure.AbortDyno, "set control", "5025_ramp"},
		{"free acceleration: opacimeter refuses the peak measurement", func(t *testing.T) *contract.TestBody {
			l := dieselLane(t, simlane.Opacimeter, simlane.Weather)
			sim, ok := l.OpacimeterSim.(*flb100sim.Sim)
			if !ok {
				t.Fatalf("opacimeter simulator %T, want the FLB-100's", l.OpacimeterSim)
			}
			// The last second of the last purge blow's idle (purge_blows = 3), just before
			// the peak measurement is started.
			l.Driver.Misbehave(func(p procedure.Prompt) bool {
				if p.Phase == "purge_3_idle" && p.Remaining == 1 {
					sim.SetMode(flb100sim.NAKAll)
				}
				return false
			})
			return runFreeAccel(t, env(l))
		}, procedure.AbortOpacimeter, "start peak measurement", "purge_3_idle"},
		{"free acceleration: opacimeter refuses to give the held peaks", func(t *testing.T) *contract.TestBody {
			l := dieselLane(t, simlane.Opacimeter, simlane.Weather)
			sim, ok := l.OpacimeterSim.(*flb100sim.Sim)
			if !ok {
				t.Fatalf("opacimeter simulator %T, want the FLB-100's", l.OpacimeterSim)
			}
			// The last idle second after the first measured blow, just before its peak is read.
			l.Driver.Misbehave(func(p procedure.Prompt) bool {
				if p.Phase == "blow_1_idle" && p.Remaining == 1 {
					sim.SetMode(flb100sim.NAKAll)
				}
				return false
			})
			return runFreeAccel(t, env(l))
		}, procedure.AbortOpacimeter, "read peaks", "blow_1_idle"},
		{"lug-down: rollers locked during the power scan", func(t *testing.T) *contract.TestBody {
			l := lugLane(t, simvehicle.Options{})
			// The lift comes up as the scan starts and locks the rollers: the wheels deliver
			// no power at any step of the scan, whatever the pedal does. The driver is slow
			// to react to the first scan prompt, until the dyno reports the rollers still,
			// so that the scan's first second is recorded with them locked too (otherwise
			// it carries the parasitic power of the top-speed second before the lift).
			lifted := false
			l.Driver.Misbehave(func(p procedure.Prompt) bool {
				if p.Phase != "power_scan" || lifted {
					return false
				}
				lifted = true
				l.Roller.SetLift(true)
				dyno := l.Device(simlane.Dyno)
				deadline := time.Now().Add(5 * time.Second)
				for dyno.Snapshot().Reading.Values[drivers.SpeedKmh] > 0.1 && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				return false
			})
			return runLugDown(t, env(l))
		}, procedure.AbortPowerScan, "no wheel power", "power_scan"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := c.run(t) // checks one process row per second
			if b.Verdict != contract.VerdictAbort || b.AbortReason != c.reason || lastPhase(b) != c.atPhase ||
				!strings.Contains(b.AbortDetail, c.detail) {
				t.Fatalf("verdict %s %q (%s) in %q, want abort %q (%s…) in %q",
					b.Verdict, b.AbortReason, b.AbortDetail, lastPhase(b), c.reason, c.detail, c.atPhase)
			}
			t.Logf("abort %s: %s, after %d rows", b.AbortReason, b.AbortDetail, len(b.Process.Rows))
			if len(b.Process.Rows) == 0 || len(b.Phases) != 0 {
				t.Errorf("%d process rows and %d judged phases: want the seconds up to the fault and no judgement",
					len(b.Process.Rows), len(b.Phases))
			}
		})
	}
}
