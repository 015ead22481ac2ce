package procedure

import (
	"math"
	"testing"
)

// Brettschneider λ vectors. The expected values were computed by hand from the formula of
// domain.md §2.6 (source: [C-code] luckyzjian/VMAS Exhaust/Fla502.cs, CDF5000 branch),
// independently of this code, with a calculator:
//
//	CO 0.5, CO2 14.5, O2 0.5, HC 100, gasoline (Hcv 1.7261, Ocv 0.0176):
//	  CO/CO2 = 0.034483; 3.5/(3.5+0.034483) = 0.990244
//	  Hcv/4 × that − Ocv/2 = 0.431525 × 0.990244 − 0.0088 = 0.418515
//	  num = 14.5 + 0.25 + 0.5 + 0.418515 × 15 = 21.527725
//	  den = (1 + 0.431525 − 0.0088) × (15 + 0.06) = 1.422725 × 15.06 = 21.426239
//	  λ = 1.004737
func TestLambdaVectors(t *testing.T) {
	cases := []struct {
		name            string
		fuel            Fuel
		co, co2, o2, hc float64
		want            float64
	}{
		{"gasoline near stoichiometric", Gasoline, 0.5, 14.5, 0.5, 100, 1.004737},
		// CO 0 → the water-gas term is Hcv/4 exactly: num = 14 + 2 + (0.431525 − 0.0088)×14
		// = 16 + 5.91815 = 21.91815, den = 1.422725 × (14 + 0.03) = 19.960832, λ = 1.098058.
		{"gasoline lean, no CO", Gasoline, 0, 14, 2, 50, 1.098058},
		// Rich: CO 3, CO2 12, O2 0.2, HC 400. CO/CO2 = 0.25, 3.5/3.75 = 0.933333,
		// 0.431525×0.933333 − 0.0088 = 0.393957; num = 12 + 1.5 + 0.2 + 0.393957×15 = 19.609355;
		// den = 1.422725 × 15.24 = 21.682329; λ = 0.904394.
		{"gasoline rich", Gasoline, 3, 12, 0.2, 400, 0.904394},
		{"no combustion gases", Gasoline, 0, 0, 20.9, 0, 0},
	}
	for _, c := range cases {
		got := Lambda(c.fuel, c.co, c.co2, c.o2, c.hc)
		if math.Abs(got-c.want) > 5e-6 {
			t.Errorf("%s: λ = %.6f, want %.6f", c.name, got, c.want)
		}
	}
}

func TestFuelByName(t *testing.T) {
	for _, n := range []string{"", "gasoline", "lpg", "ng", "cng"} {
		if _, err := FuelByName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	if _, err := FuelByName("diesel"); err == nil {
		t.Error("diesel has no λ constants here and must be refused")
	}
}
