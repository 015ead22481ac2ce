package procedure

import (
	"context"
	"time"
)

// Clock is the procedure's time base. Regulated runs use the wall clock at scale 1; a demo
// may run faster, and every record made that way is flagged simulated.
type Clock interface {
	Now() time.Time
	// Scale is how many procedure seconds pass per real second (1 for real runs).
	Scale() float64
	// Sleep waits d of procedure time, or until ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
	// Ticker ticks once per procedure second.
	Ticker() *time.Ticker
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Scale is 1.
func (RealClock) Scale() float64 { return 1 }

// Sleep waits d.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error { return sleep(ctx, d) }

// Ticker ticks every second.
func (RealClock) Ticker() *time.Ticker { return time.NewTicker(time.Second) }

// ScaledClock runs Factor times faster than real time, starting at Start.
type ScaledClock struct {
	Factor float64
	start  time.Time
	origin time.Time
}

// NewScaledClock returns a clock that runs factor times faster than the wall clock.
func NewScaledClock(factor float64) *ScaledClock {
	now := time.Now()
	if factor <= 0 {
		factor = 1
	}
	return &ScaledClock{Factor: factor, start: now, origin: now}
}

// Now is the scaled time.
func (c *ScaledClock) Now() time.Time {
	return c.origin.Add(time.Duration(float64(time.Since(c.start)) * c.Factor))
}

// Scale returns Factor.
func (c *ScaledClock) Scale() float64 { return c.Factor }

// Sleep waits d/Factor of real time.
func (c *ScaledClock) Sleep(ctx context.Context, d time.Duration) error {
	return sleep(ctx, time.Duration(float64(d)/c.Factor))
}

// Ticker ticks every 1/Factor real seconds.
func (c *ScaledClock) Ticker() *time.Ticker {
	return time.NewTicker(time.Duration(float64(time.Second) / c.Factor))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
