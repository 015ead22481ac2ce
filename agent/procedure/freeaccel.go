package procedure

import (
	"context"
	"errors"
	"fmt"
	"time"

	"imagent/agent/contract"
	"imagent/drivers"
)

// TestRequest starts a test of any method.
type TestRequest struct {
	InspectionID string
	Vehicle      contract.Vehicle
}

// TSIRequest starts a two-speed idle test.
type TSIRequest = TestRequest

var freeAccelColumns = []string{"t_s", "blow", "rpm", "k_m1", "opacity_pct", "peak_k_m1", "oil_temp_c",
	"temp_c", "rh_pct", "pressure_kpa"}

// RunFreeAccel runs a free-acceleration opacity test (GB 3847-2018; domain.md §2.4): the
// opacimeter ready and zeroed, the ambient and oil pre-checks, the idle speed, the purge
// blows (which also find the engine's cut-off speed), then the measured blows, each with
// the pedal-rise and hold guards. The opacimeter holds each blow's smoke peak
// (drivers.PeakReader); the result is the mean of the measured peaks. The process column
// "blow" is −n during purge blow n, +n during measured blow n (and the idle after it), 0
// otherwise; "peak_k_m1" carries each measured peak on the second it was read.
func RunFreeAccel(ctx context.Context, env Env, req TestRequest) (*contract.TestBody, error) {
	if req.Vehicle.Fuel != "diesel" {
		return nil, fmt.Errorf("procedure: free acceleration is a diesel method, the vehicle's fuel is %q", req.Vehicle.Fuel)
	}
	body := &contract.TestBody{InspectionID: req.InspectionID, Vehicle: req.Vehicle}
	r := newRun(env, contract.MethodFreeAccel, body)
	q := r.q
	f := &freeAccel{run: r,
		purges: q.secs("purge_blows"), blows: q.secs("measured_blows"),
		riseMax: q.secs("rise_max_s"), holdMin: q.secs("hold_min_s"), idleS: q.secs("idle_between_s"),
		idleMeasure: q.secs("idle_measure_s"), cutoffFrac: q.v("cutoff_fraction"), riseStart: q.v("rise_start_rpm"),
		peakTimeout: q.secs("peak_timeout_s"),
	}
	r.oilMin = q.v("oil_temp_min_c")
	if q.err != nil {
		return nil, q.err
	}
	if f.purges < 1 || f.blows < 1 {
		return nil, errors.New("procedure: free acceleration needs at least one purge and one measured blow")
	}
	body.Formulas = []contract.Formula{formulaRef("opacity_n_k")}
	var srcs []source
	for _, s := range []source{{"tach", env.Tach}, {"opacimeter", env.Opacimeter}, {"weather", env.Weather}} {
		if s.inst != nil {
			srcs = append(srcs, s)
		}
	}
	r.rec = newRecorder(env, freeAccelColumns, srcs)
	defer r.rec.stop()
	err := f.test(ctx)
	return finish(body, r.rec, env.Clock, err)
}

type freeAccel struct {
	*run
	purges, blows, riseMax, holdMin, idleS, idleMeasure, peakTimeout int
	cutoffFrac, riseStart                                            float64
	idle, cutoff                                                     float64
	blow                                                             int // value of the "blow" column
}

func (f *freeAccel) test(ctx context.Context) error {
	op := f.env.Opacimeter
	if op == nil {
		return abort(AbortDeviceMissing, "free acceleration needs an opacimeter")
	}
	if err := checkLimits(f.env, f.day, contract.MethodFreeAccel, [][2]string{{"", "k_m1"}}); err != nil {
		return err
	}
	f.env.prompt(Prompt{Phase: "prepare", Text: "opacimeter: waiting for ready, then zero"})
	if err := f.ready(ctx, op, AbortDeviceNotReady); err != nil {
		return err
	}
	err := f.do(ctx, op, AbortZeroFailed, "zero", func(ctx context.Context, d drivers.Device) error {
		if z, ok := d.(drivers.Zeroer); ok {
			return z.Zero(ctx)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := f.fresh(ctx, op, time.Now()); err != nil {
		return err
	}
	if err := f.checkAmbient(ctx); err != nil {
		return err
	}
	// Idle: the engine warm, the probe in, the speed it idles at.
	f.env.prompt(Prompt{Phase: "idle", Text: "insert the opacimeter probe; engine at idle", Action: ActionInsertProbe, Probe: true, Pedal: PedalRelease})
	var sum float64
	for i := range f.idleMeasure {
		f.env.prompt(Prompt{Phase: "idle", Text: "engine at idle", Probe: true, Pedal: PedalRelease, Remaining: f.idleMeasure - i})
		rd, err := f.second(ctx, "idle", nil)
		if err != nil {
			return err
		}
		sum += rd.v(drivers.RPM)
	}
	f.idle = sum / float64(max(f.idleMeasure, 1))
	// Purge blows: blow the exhaust clean; the highest speed they reach is the cut-off.
	for i := 1; i <= f.purges; i++ {
		f.blow = -i
		top, err := f.accelerate(ctx, fmt.Sprintf("purge_%d", i), false)
		if err != nil {
			return err
		}
		f.cutoff = max(f.cutoff, top)
	}
	if f.cutoff < f.idle+f.riseStart {
		return abort(AbortRPMNotReached, "the purge blows reached %.0f r/min at most (idle %.0f)", f.cutoff, f.idle)
	}
	// Measured blows: the opacimeter holds each peak.
	err = f.do(ctx, op, AbortOpacimeter, "start peak measurement", func(ctx context.Context, d drivers.Device) error {
		pr, ok := d.(drivers.PeakReader)
		if !ok {
			return errors.New("the opacimeter cannot hold free-acceleration peaks")
		}
		return pr.StartPeaks(ctx)
	})
	if err != nil {
		return err
	}
	var peaks []float64
	for i := 1; i <= f.blows; i++ {
		f.blow = i
		if _, err := f.accelerate(ctx, fmt.Sprintf("blow_%d", i), true); err != nil {
			return err
		}
		p, err := f.peak(ctx, i, len(peaks))
		if err != nil {
			return err
		}
		peaks = append(peaks, p)
	}
	f.blow = 0
	means := map[string]float64{"k_m1": round(mean(peaks), 2), "rpm_idle": round(f.idle, 0), "rpm_cutoff": round(f.cutoff, 0)}
	for i, p := range peaks {
		means[fmt.Sprintf("k%d_m1", i+1)] = p
	}
	j, err := judgeLimit(f.env, f.day, contract.MethodFreeAccel, "", "k_m1", means["k_m1"], "max")
	if err != nil {
		return err
	}
	f.body.Phases = []contract.PhaseResult{{Name: "result", Means: means, Judged: []contract.Judged{j}, Pass: j.Pass}}
	f.env.prompt(Prompt{Phase: "done", Text: "test complete: remove the probe", Action: ActionRemoveProbe, Pedal: PedalRelease})
	return nil
}

// second records one second; extra adds values to the row.
func (f *freeAccel) second(ctx context.Context, phase string, extra map[string]float64) (reading, error) {
	rd, err := f.rec.tick(ctx)
	if err != nil {
		return rd, err
	}
	t, rh, p := f.ambientOf(rd)
	row := map[string]float64{"blow": float64(f.blow), "rpm": rd.v(drivers.RPM), "k_m1": rd.v(drivers.KM1),
		"opacity_pct": rd.v(drivers.OpacityPct), "oil_temp_c": rd.v(drivers.OilTempC), "temp_c": t, "rh_pct": rh, "pressure_kpa": p}
	for k, v := range extra {
		row[k] = v
	}
	f.rec.row(phase, row)
	return rd, f.checkOil(rd)
}

// accelerate runs one blow: pedal down until the engine has been at its cut-off speed for
// hold_min_s + 1 seconds, then release and idle. guarded applies the rise and hold guards
// (measured blows); it returns the highest speed reached.
func (f *freeAccel) accelerate(ctx context.Context, phase string, guarded bool) (float64, error) {
	threshold := f.cutoffFrac * f.cutoff
	holdS := f.holdMin + 1
	top, atCutoff, started := 0.0, 0, false
	for s := 0; ; s++ {
		text := "press the accelerator fully and hold it"
		if atCutoff > 0 {
			text = "hold the accelerator fully down"
		}
		f.env.prompt(Prompt{Phase: phase, Text: text, Pedal: PedalFull, Probe: true, Remaining: holdS - atCutoff})
		rd, err := f.second(ctx, phase, nil)
		if err != nil {
			return 0, err
		}
		rpm := rd.v(drivers.RPM)
		top = max(top, rpm)
		started = started || rpm > f.idle+f.riseStart
		if !guarded {
			// Purge blows know no cut-off yet: hold until the speed stops rising.
			if started && rpm < top*1.01 {
				atCutoff++
			}
			if atCutoff >= holdS || s > 4*f.riseMax+holdS {
				break
			}
			continue
		}
		switch {
		case rpm >= threshold:
			atCutoff++
		case atCutoff > 0:
			return top, abort(AbortPedalHold, "%s: speed fell to %.0f r/min after %d s at cut-off (want %d s)", phase, rpm, atCutoff, f.holdMin)
		case s+1 > f.riseMax:
			return top, abort(AbortPedalRise, "%s: %.0f r/min %d s after the prompt, cut-off %.0f not reached", phase, rpm, s+1, threshold)
		}
		if atCutoff >= holdS {
			break
		}
	}
	for i := range f.idleS {
		f.env.prompt(Prompt{Phase: phase + "_idle", Text: "release the accelerator: idle", Pedal: PedalRelease, Probe: true, Remaining: f.idleS - i})
		if _, err := f.second(ctx, phase+"_idle", nil); err != nil {
			return 0, err
		}
	}
	return top, nil
}

// peak reads the opacimeter's held peaks until the one of blow n is there (have peaks were
// read before), recording the seconds it waits.
func (f *freeAccel) peak(ctx context.Context, n, have int) (float64, error) {
	for i := 0; i <= f.peakTimeout; i++ {
		var got []float64
		err := f.env.Opacimeter.Do(ctx, func(ctx context.Context, d drivers.Device) error {
			var err error
			got, err = d.(drivers.PeakReader).Peaks(ctx)
			return err
		})
		switch {
		case err == nil && len(got) > have:
			p := got[len(got)-1]
			// Record the peak on a second of its own, where it was read.
			if _, err := f.second(ctx, fmt.Sprintf("blow_%d_peak", n), map[string]float64{"peak_k_m1": p}); err != nil {
				return 0, err
			}
			return p, nil
		case err != nil && !errors.Is(err, drivers.ErrBusy):
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, abort(AbortOpacimeter, "read peaks: %v", err)
		}
		if _, err := f.second(ctx, fmt.Sprintf("blow_%d_wait", n), nil); err != nil {
			return 0, err
		}
	}
	return 0, abort(AbortNoPeak, "blow %d: no peak held after %d s", n, f.peakTimeout)
}
