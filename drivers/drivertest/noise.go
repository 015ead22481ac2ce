package drivertest

import (
	"context"
	"errors"
	"testing"

	"imagent/drivers"
)

// NoiseCase is one fault mode of a simulator and the error a driver's Read must return
// while it is on: Want, or Or when the mode can show up either way (nil: only Want).
type NoiseCase[M any] struct {
	Mode M
	Want error
	Or   error
}

// Noise is a line-noise test of a driver against its simulator: for each case, the
// simulator is switched to the fault mode and Reads Reads (0: 2) must all fail with the
// case's error and return no values; then, back in Normal, the same Device must read
// correctly again, and Check (if set) looks at that reading.
type Noise[M any] struct {
	Device  drivers.Device
	SetMode func(M)
	Normal  M
	Reads   int
	Cases   []NoiseCase[M]
	Check   func(t *testing.T, after M, r drivers.Reading)
}

// Run runs the cases in order within ctx.
func (n Noise[M]) Run(t *testing.T, ctx context.Context) {
	t.Helper()
	reads := n.Reads
	if reads <= 0 {
		reads = 2
	}
	for _, c := range n.Cases {
		n.SetMode(c.Mode)
		for range reads {
			r, err := n.Device.Read(ctx)
			if !errors.Is(err, c.Want) && (c.Or == nil || !errors.Is(err, c.Or)) {
				if c.Or != nil {
					t.Errorf("mode %v: Read err = %v, want %v or %v", c.Mode, err, c.Want, c.Or)
				} else {
					t.Errorf("mode %v: Read err = %v, want %v", c.Mode, err, c.Want)
				}
			}
			if r.Values != nil {
				t.Errorf("mode %v: Read returned values with an error", c.Mode)
			}
		}
		n.SetMode(n.Normal)
		r, err := n.Device.Read(ctx)
		if err != nil {
			t.Fatalf("after mode %v, Normal: %v", c.Mode, err)
		}
		if n.Check != nil {
			n.Check(t, c.Mode, r)
		}
	}
}
