package procedure

import "fmt"

// Fuel constants for Brettschneider's λ (domain.md §2.6). Hcv is the fuel's H/C atomic
// ratio and Ocv its O/C ratio. Gasoline: [C-code] luckyzjian/VMAS Exhaust/Fla502.cs;
// LPG and NG: [M], to be verified.
type Fuel struct {
	Name     string
	Hcv, Ocv float64
}

// Fuels known to the λ formula.
var (
	Gasoline = Fuel{Name: "gasoline", Hcv: 1.7261, Ocv: 0.0176}
	LPG      = Fuel{Name: "lpg", Hcv: 2.525, Ocv: 0}
	NG       = Fuel{Name: "ng", Hcv: 4.0, Ocv: 0}
)

// FuelByName returns the constants of a fuel named in a vehicle description.
func FuelByName(name string) (Fuel, error) {
	switch name {
	case "", "gasoline":
		return Gasoline, nil
	case "lpg":
		return LPG, nil
	case "ng", "cng":
		return NG, nil
	}
	return Fuel{}, fmt.Errorf("procedure: unknown fuel %q", name)
}

// Lambda is the excess-air coefficient by Brettschneider (domain.md §2.6):
//
//	λ = ([CO2] + [CO]/2 + [O2] + (Hcv/4 · 3.5/(3.5 + [CO]/[CO2]) − Ocv/2)·([CO2] + [CO]))
//	    / ((1 + Hcv/4 − Ocv/2) · ([CO2] + [CO] + K1·[HC]))
//
// with CO, CO2, O2 in % vol, HC in ppm n-hexane equivalent, K1 = 6e-4 and the water-gas
// equilibrium constant 3.5. As in lane code, it returns 0 when CO+CO2 is 0 or the result
// falls outside 0..100, so an impossible mixture can never pass a λ window.
func Lambda(f Fuel, coPct, co2Pct, o2Pct, hcPPM float64) float64 {
	const k1 = 6e-4
	if coPct+co2Pct <= 0 {
		return 0
	}
	ratio := 0.0
	if co2Pct > 0 {
		ratio = coPct / co2Pct
	}
	num := co2Pct + coPct/2 + o2Pct + (f.Hcv/4*3.5/(3.5+ratio)-f.Ocv/2)*(co2Pct+coPct)
	den := (1 + f.Hcv/4 - f.Ocv/2) * (co2Pct + coPct + k1*hcPPM)
	if den == 0 {
		return 0
	}
	l := num / den
	if l < 0 || l > 100 {
		return 0
	}
	return l
}
