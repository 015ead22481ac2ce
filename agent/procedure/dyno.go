package procedure

import (
	"context"
	"fmt"
	"math"
	"time"

	"imagent/drivers"
)

// prepareDyno waits for the dynamometer, checks that its rollers are at rest, lowers the
// lift (so the vehicle's wheels turn the rollers) and leaves it without load.
func (r *run) prepareDyno(ctx context.Context) error {
	d := r.env.Dyno
	if d == nil {
		return abort(AbortDeviceMissing, "this method needs a chassis dynamometer")
	}
	if err := r.ready(ctx, d, AbortDeviceNotReady); err != nil {
		return err
	}
	still := r.q.of("common", "dyno_still_max_kmh")
	if r.q.err != nil {
		return r.q.err
	}
	if v := d.Snapshot().Reading.Values[drivers.SpeedKmh]; v > still {
		return abort(AbortDynoMoving, "rollers at %.1f km/h before the test (max %.1f)", v, still)
	}
	return r.do(ctx, d, AbortDyno, "lift down, no load", func(ctx context.Context, dev drivers.Device) error {
		if l, ok := dev.(drivers.Lifter); ok {
			if err := l.SetLift(ctx, false); err != nil {
				return fmt.Errorf("lift down: %w", err)
			}
		}
		return setControl(ctx, dev, drivers.ControlOff, 0)
	})
}

func setControl(ctx context.Context, dev drivers.Device, mode drivers.ControlMode, target float64) error {
	dc, ok := dev.(drivers.DynoController)
	if !ok {
		return fmt.Errorf("the dynamometer cannot be controlled (%T)", dev)
	}
	return dc.SetControl(ctx, mode, target)
}

// dynoControl sets the dyno's control mode and target unless it is set already (within a
// small band, so a drifting computed load does not flood the controller with commands).
type dynoControl struct {
	r      *run
	mode   drivers.ControlMode
	target float64
	set    bool
}

func (c *dynoControl) apply(ctx context.Context, mode drivers.ControlMode, target float64) error {
	if c.set && mode == c.mode && math.Abs(target-c.target) < 0.05*max(1, math.Abs(c.target)) {
		return nil
	}
	err := c.r.do(ctx, c.r.env.Dyno, AbortDyno, "set control", func(ctx context.Context, dev drivers.Device) error {
		return setControl(ctx, dev, mode, target)
	})
	if err != nil {
		return err
	}
	c.mode, c.target, c.set = mode, target, true
	return nil
}

// dynoOff leaves the dyno without load after a test; a failure is only logged.
func (r *run) dynoOff() {
	if r.env.Dyno == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.env.Dyno.Do(ctx, func(ctx context.Context, dev drivers.Device) error {
		return setControl(ctx, dev, drivers.ControlOff, 0)
	})
	if err != nil {
		r.env.log().Warn("dyno control off", "err", err)
	}
}

// parasitic returns the dyno's configured parasitic loss curve (asm.parasitic_a/b/c, the
// dynamometer's own coefficients, shared by every dyno method).
func (r *run) parasitic() (a, b, c float64) {
	return r.q.of("asm", "parasitic_a"), r.q.of("asm", "parasitic_b"), r.q.of("asm", "parasitic_c")
}
