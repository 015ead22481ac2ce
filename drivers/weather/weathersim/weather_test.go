package weathersim

import (
	"math"
	"testing"
	"time"
)

func TestWeatherDrifts(t *testing.T) {
	w := NewWeather(DefaultConditions, 1)
	t0 := time.Unix(1700000000, 0)
	first := w.At(t0)
	moved := false
	for i := range 2000 {
		c := w.At(t0.Add(time.Duration(i) * time.Second))
		if c != first {
			moved = true
		}
		if math.Abs(c.TempC-DefaultConditions.TempC) > 0.8 || math.Abs(c.RHpct-DefaultConditions.RHpct) > 2.5 ||
			math.Abs(c.PressureKPa-DefaultConditions.PressureKPa) > 0.12 {
			t.Fatalf("at %d s the weather is %+v, too far from %+v", i, c, DefaultConditions)
		}
	}
	if !moved {
		t.Error("the weather never moved")
	}
	f := Fixed(Conditions{1, 2, 3})
	if c := f.At(t0.Add(time.Hour)); c != (Conditions{1, 2, 3}) {
		t.Errorf("Fixed moved: %+v", c)
	}
	f.Set(Conditions{4, 5, 6})
	if c := f.At(t0); c != (Conditions{4, 5, 6}) {
		t.Errorf("Set: %+v", c)
	}
}
