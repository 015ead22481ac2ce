package drivers

import (
	"fmt"
	"time"
)

// DurationOpt is a duration field of a driver's options and its default, for
// DefaultDurations.
type DurationOpt struct {
	Value   *time.Duration
	Default time.Duration
}

// Dur pairs the option at v with its default.
func Dur(v *time.Duration, def time.Duration) DurationOpt { return DurationOpt{Value: v, Default: def} }

// DefaultDurations sets each zero option to its default, in order; the first negative one
// is an error (and the options after it are left as they are).
func DefaultDurations(opts ...DurationOpt) error {
	for _, o := range opts {
		if *o.Value < 0 {
			return fmt.Errorf("negative duration %v in options", *o.Value)
		}
		if *o.Value == 0 {
			*o.Value = o.Default
		}
	}
	return nil
}
