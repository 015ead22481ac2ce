package procedure

import (
	"fmt"
	"math"

	"imagent/agent/contract"
)

// This file holds the formulas of the regulated methods. Every formula cites where it comes
// from with the confidence tags of the project's domain research (domain.md §0): [C-code]
// seen in working lane software, [C-doc] in a manual, [M] recalled from a standard, [I]
// inferred. The numbers a standard sets (fuel constants of DF, limits, speeds) are
// parameters in config/params_default.toml and are passed in; what stays here is algebra
// and physical constants. Formulas whose source has not been checked against the official
// text are listed in Formulas with Verified false, and every record that used one names it.

// FormulaInfo names a formula, where it comes from and whether that has been checked
// against the official text.
type FormulaInfo struct {
	Name     string
	Source   string
	Verified bool
}

// Formulas lists the formulas of this package with their provenance (a new map on each
// call). None has been checked against GB 18285-2018 or GB 3847-2018 yet.
func Formulas() map[string]FormulaInfo {
	return map[string]FormulaInfo{
		"lambda":              {"lambda", "[C-code] luckyzjian/VMAS Exhaust/Fla502.cs (Brettschneider), domain.md §2.6", false},
		"dilution_factor":     {"dilution_factor", "[C-code] luckyzjian/VMAS ASM/ASMtest/ASM.cs caculateDf, domain.md §2.7", false},
		"humidity_kh":         {"humidity_kh", "[C-code] luckyzjian/VMAS ASM/ASMtest/ASM.cs caculateKh (US EPA/BAR NOx correction [I]), domain.md §2.8", false},
		"asm_load":            {"asm_load", "[C-code] luckyzjian/VMAS ASM/ASMtest/ASM.cs (RM/148, RM/185); indicated = total − parasitic [I], domain.md §2.2", false},
		"power_correction":    {"power_correction", "[C-code] luckyzjian/VMAS lugdown/lugdowm/Jzjs.cs init_xzxs (fa, αd = fa^fm), domain.md §2.5", false},
		"opacity_n_k":         {"opacity_n_k", "[C-doc] FLB-100 manual (Beer–Lambert), domain.md §2.9", false},
		"vmas_dilution":       {"vmas_dilution", "[C-code] luckyzjian/VMAS sds VMAS form (O2 tracer: (O2amb − O2dil)/(O2amb − O2raw)); [I] general VMAS practice, domain.md §2.3", false},
		"vmas_mass":           {"vmas_mass", "[C-code] luckyzjian/VMAS (ideal-gas densities at 0 °C, 101.325 kPa; mass = exhaust flow × concentration × density × DF, NO also × kH); [I] not confirmed in GB 18285-2018, domain.md §2.3", false},
		"vmas_per_km":         {"vmas_per_km", "[I] sum of per-second masses over the cycle divided by the distance the rollers turned, domain.md §2.3", false},
		"lugdown_wheel_power": {"lugdown_wheel_power", "[I] wheel power = the absorber's power (force × speed) plus the dyno's parasitic loss plus the power the rollers' inertia gives up while slowing (I·a·v), corrected with αd", false},
	}
}

func formulaRefs(names ...string) []contract.Formula {
	out := make([]contract.Formula, 0, len(names))
	for _, n := range names {
		out = append(out, formulaRef(n))
	}
	return out
}

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

// DilutionFactor is DF, the correction for air diluting the sample (domain.md §2.7):
//
//	X    = [CO2] / ([CO2] + [CO])           (1 when both are 0)
//	CO2x = X / (a + 1.88·X) · 100           (the undiluted CO2 of a stoichiometric burn, %)
//	DF   = CO2x / [CO2]                     (1 when CO2 is 0; at most dfMax)
//
// a is the fuel's constant (params asm.fuel_a_*: 4.644 gasoline).
func DilutionFactor(a, coPct, co2Pct, dfMax float64) float64 {
	x := 1.0
	if coPct+co2Pct != 0 {
		x = co2Pct / (co2Pct + coPct)
	}
	if co2Pct <= 0 {
		return 1
	}
	df := x / (a + 1.88*x) * 100 / co2Pct
	if dfMax > 0 && df > dfMax {
		return dfMax
	}
	return df
}

// saturationKPa is the saturation vapour pressure of water in kPa at 0, 1, … 30 °C, the table
// of the lane code (domain.md §2.8, [C-code] luckyzjian/VMAS ASM/ASMtest/ASM.cs Pd[]).
var saturationKPa = [31]float64{
	0.61129, 0.65716, 0.70605, 0.75813, 0.81359, 0.87260, 0.93537, 1.0021, 1.0730, 1.1482,
	1.2281, 1.3129, 1.4027, 1.4979, 1.5988, 1.7056, 1.8185, 1.9380, 2.0644, 2.1978,
	2.3388, 2.4877, 2.6447, 2.8104, 2.9850, 3.1690, 3.3629, 3.5670, 3.7818, 4.0078, 4.2455,
}

// SaturationPressureKPa looks up the saturation vapour pressure at tempC as the lane code
// does: the whole degree below (truncated toward zero), clamped to 0…30 °C.
func SaturationPressureKPa(tempC float64) float64 {
	if math.IsNaN(tempC) {
		return saturationKPa[0]
	}
	w := int(max(0, min(30, tempC)))
	return saturationKPa[w]
}

// HumidityCorrection is kH, the NO humidity correction (domain.md §2.8):
//
//	H  = 43.478 · Ra · Pd / (PB − Pd · Ra/100)     (grains of water per pound of dry air [I])
//	kH = 1 / (1 − 0.0047 · (H − 75))
//
// Ra is relative humidity in %, PB barometric pressure in kPa, Pd the saturation pressure at
// tempC (SaturationPressureKPa). It returns 1 for inputs the formula cannot take (no
// pressure, or a humidity that drives the denominator to zero).
func HumidityCorrection(tempC, rhPct, pKPa float64) float64 {
	pd := SaturationPressureKPa(tempC)
	den := pKPa - pd*rhPct/100
	if pKPa <= 0 || den <= 0 {
		return 1
	}
	h := 43.478 * rhPct * pd / den
	k := 1 - 0.0047*(h-75)
	if k <= 0 {
		return 1
	}
	return 1 / k
}

// ASMPowerKW is the total power a vehicle of reference mass rmKg must deliver in an ASM mode:
// RM / divisor kW, divisor 148 for 5025 and 185 for 2540 (params asm.load_divisor_*).
func ASMPowerKW(rmKg, divisor float64) float64 {
	if divisor <= 0 {
		return 0
	}
	return rmKg / divisor
}

// ParasiticKW is the dynamometer's own loss at vKmh: a·v² + b·v + c kW (never negative).
func ParasiticKW(a, b, c, vKmh float64) float64 {
	return max(0, a*vKmh*vKmh+b*vKmh+c)
}

// IndicatedKW is the power the dyno's absorber must be set to so that absorber plus parasitic
// losses make totalKW at vKmh [I].
func IndicatedKW(totalKW, a, b, c, vKmh float64) float64 {
	return max(0, totalKW-ParasiticKW(a, b, c, vKmh))
}

// PowerCorrection is the lug-down power correction factor αd = fa^fm (domain.md §2.5), with
// the atmospheric factor
//
//	naturally aspirated, mechanically supercharged:  fa = (99/ps) · (T/298)^0.7
//	turbocharged:                                     fa = (99/ps)^0.7 · (T/298)^1.5
//
// ps the dry barometric pressure in kPa, T the intake air temperature in K (tempC + 273.15
// [I]; the lane code adds 273), fm the engine factor (params lugdown.power_correction_fm).
// It returns 1 when ps is not positive.
func PowerCorrection(turbo bool, psKPa, tempC, fm float64) float64 {
	if psKPa <= 0 {
		return 1
	}
	t := tempC + 273.15
	var fa float64
	if turbo {
		fa = math.Pow(99/psKPa, 0.7) * math.Pow(t/298, 1.5)
	} else {
		fa = 99 / psKPa * math.Pow(t/298, 0.7)
	}
	return math.Pow(fa, fm)
}

// DryPressureKPa is the barometric pressure less the partial pressure of the water vapour
// (ISO 1585 style [I]): p − RH/100 · Pd(T).
func DryPressureKPa(pKPa, rhPct, tempC float64) float64 {
	return pKPa - rhPct/100*SaturationPressureKPa(tempC)
}

// OpacityK is the light absorption coefficient k (m⁻¹) of an opacity N (%) over the optical
// path lengthM: k = −ln(1 − N/100) / L (domain.md §2.9). N at or above 100 % gives +Inf.
func OpacityK(nPct, lengthM float64) float64 {
	if lengthM <= 0 || nPct <= 0 {
		return 0
	}
	if nPct >= 100 {
		return math.Inf(1)
	}
	return -math.Log(1-nPct/100) / lengthM
}

// OpacityN is the opacity N (%) of an absorption coefficient k over the optical path
// lengthM: N = 100 · (1 − e^(−k·L)).
func OpacityN(k, lengthM float64) float64 {
	if k <= 0 || lengthM <= 0 {
		return 0
	}
	return 100 * (1 - math.Exp(-k*lengthM))
}

// VMASDilutionRatio is the share of raw exhaust in the flowmeter's diluted flow, from the O2
// tracer: (O2amb − O2dil) / (O2amb − O2raw) (domain.md §2.3, [C-code]; unverified). It is 0
// when the ambient O2 is not above both readings (no exhaust, or a sensor fault).
func VMASDilutionRatio(o2AmbPct, o2DilPct, o2RawPct float64) float64 {
	if o2AmbPct <= o2DilPct || o2AmbPct <= o2RawPct {
		return 0
	}
	return (o2AmbPct - o2DilPct) / (o2AmbPct - o2RawPct)
}

// GasDensityMgPerL is the density in mg/L of a gas of molar mass molarG (g/mol) at
// pressureKPa and tempK by the ideal-gas law with gas constant r (J/(mol·K)): p·M/(R·T).
// The lane code uses 101.325 kPa, 273.15 K and R = 8.31 (params vmas.*).
func GasDensityMgPerL(molarG, pressureKPa, tempK, r float64) float64 {
	if tempK <= 0 || r <= 0 {
		return 0
	}
	return pressureKPa * 1000 * molarG / (r * tempK) // g/m³ = mg/L
}

// VMASMassMg is the mass in mg of one pollutant in one second of exhaust: exhaust flow (L
// over that second) × concentration as a volume fraction × density (mg/L) × correction
// (DF, or DF·kH for NO) (domain.md §2.3; unverified).
func VMASMassMg(exhaustL, fraction, densityMgPerL, correction float64) float64 {
	return max(0, exhaustL*fraction*densityMgPerL*correction)
}

func formulaRef(name string) contract.Formula {
	f := Formulas()[name]
	return contract.Formula{Name: f.Name, Source: f.Source, Verified: f.Verified}
}
