package drivers_test

import (
	"testing"
	"time"

	"imagent/drivers"
)

func TestDefaultDurations(t *testing.T) {
	a, b := time.Duration(0), 3*time.Second
	if err := drivers.DefaultDurations(drivers.Dur(&a, time.Second), drivers.Dur(&b, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if a != time.Second || b != 3*time.Second {
		t.Fatalf("got %v, %v; want the default for the zero one and the set one kept", a, b)
	}
	c, d := -time.Millisecond, time.Duration(0)
	err := drivers.DefaultDurations(drivers.Dur(&c, time.Second), drivers.Dur(&d, time.Second))
	if err == nil || err.Error() != "negative duration -1ms in options" {
		t.Fatalf("negative: err %v", err)
	}
	if c != -time.Millisecond {
		t.Fatalf("a negative option was changed to %v", c)
	}
}
