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

// near fails t when got differs from want by more than tol.
func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) {
		t.Errorf("%s = %.9g, want %.9g (±%g)", what, got, want, tol)
	}
}

// DF vectors. Source of the formula: [C-code] luckyzjian/VMAS ASM/ASMtest/ASM.cs caculateDf
// (domain.md §2.7). Expected values computed independently in Python 3 (float64), and the
// first by hand:
//
//	CO 0.5, CO2 14.5, a 4.644: X = 14.5/15 = 0.9666667; a + 1.88X = 6.4613333;
//	CO2x = 0.9666667/6.4613333 × 100 = 14.960793; DF = 14.960793/14.5 = 1.0317788
func TestDilutionFactorVectors(t *testing.T) {
	for _, c := range []struct {
		name              string
		a, co, co2, dfMax float64
		want              float64
	}{
		{"gasoline, tight probe", 4.644, 0.5, 14.5, 3, 1.031778787},
		{"gasoline, diluted", 4.644, 0.2, 10, 3, 1.511286286},
		{"capped at 3", 4.644, 0.1, 3, 3, 3},
		{"LPG a = 5.39", 5.39, 0.3, 11, 3, 1.225685465},
		{"no CO2", 4.644, 0, 0, 3, 1},
	} {
		near(t, c.name, DilutionFactor(c.a, c.co, c.co2, c.dfMax), c.want, 1e-8)
	}
}

// kH vectors. Source: [C-code] luckyzjian/VMAS ASM/ASMtest/ASM.cs caculateKh and its Pd table
// (domain.md §2.8): temperature truncated to a whole degree and clamped to 0–30 °C. Expected
// values computed independently in Python 3; the first by hand:
//
//	20 °C → Pd = 2.3388; H = 43.478 × 50 × 2.3388 / (101.3 − 2.3388 × 0.5)
//	  = 5084.3173 / 100.1306 = 50.776859; kH = 1/(1 − 0.0047 × (50.776859 − 75))
//	  = 1/1.1138488 = 0.8977880
func TestHumidityCorrectionVectors(t *testing.T) {
	for _, c := range []struct {
		name     string
		t, rh, p float64
		want     float64
	}{
		{"20 °C 50 % 101.3 kPa", 20, 50, 101.3, 0.897787951},
		{"25.7 °C reads the 25 °C entry", 25.7, 80, 99, 1.226309418},
		{"below 0 °C clamps to 0", -3, 30, 101, 0.760266044},
		{"above 30 °C clamps to 30", 35, 10, 95, 0.793166938},
		{"no pressure", 20, 50, 0, 1},
	} {
		near(t, c.name, HumidityCorrection(c.t, c.rh, c.p), c.want, 1e-8)
	}
	// The table itself, at its ends and one inner point.
	near(t, "Pd(0)", SaturationPressureKPa(0), 0.61129, 0)
	near(t, "Pd(17.9)", SaturationPressureKPa(17.9), 1.9380, 0)
	near(t, "Pd(30)", SaturationPressureKPa(30), 4.2455, 0)
	near(t, "Pd(NaN)", SaturationPressureKPa(math.NaN()), 0.61129, 0)
}

// ASM load vectors. Source: [C-code] luckyzjian/VMAS ASM/ASMtest/ASM.cs (P5025 = RM/148,
// P2540 = RM/185, PLHP = a·v² + b·v + c with the code defaults a = 0.0006, b = 0.0003,
// c = 0), domain.md §2.2. By hand: 1400/148 = 9.4594595 kW; 1400/185 = 7.5675676 kW;
// PLHP(25) = 0.0006 × 625 + 0.0003 × 25 = 0.375 + 0.0075 = 0.3825 kW; indicated 5025 =
// 9.4594595 − 0.3825 = 9.0769595 kW.
func TestASMLoadVectors(t *testing.T) {
	near(t, "P5025(1400 kg)", ASMPowerKW(1400, 148), 9.459459459, 1e-8)
	near(t, "P2540(1400 kg)", ASMPowerKW(1400, 185), 7.567567568, 1e-8)
	near(t, "PLHP(25)", ParasiticKW(0.0006, 0.0003, 0, 25), 0.3825, 1e-12)
	near(t, "indicated 5025", IndicatedKW(ASMPowerKW(1400, 148), 0.0006, 0.0003, 0, 25), 9.076959459, 1e-8)
	near(t, "no divisor", ASMPowerKW(1400, 0), 0, 0)
	near(t, "indicated never negative", IndicatedKW(0.1, 0.0006, 0.0003, 0, 40), 0, 0)
}

// Lug-down power correction vectors. Source: [C-code] luckyzjian/VMAS lugdown/lugdowm/Jzjs.cs
// init_xzxs (domain.md §2.5), with T in kelvin = °C + 273.15. Expected values computed
// independently in Python 3. By hand for the reference point: ps = 99 kPa and T = 298 K give
// fa = 1 for both engine kinds, so αd = 1.
func TestPowerCorrectionVectors(t *testing.T) {
	near(t, "NA 100 kPa 25 °C fm 1.2", PowerCorrection(false, 100, 25, 1.2), 0.98842976538, 1e-9)
	near(t, "turbo 95 kPa 30 °C fm 1.2", PowerCorrection(true, 95, 30, 1.2), 1.0676774993, 1e-9)
	near(t, "reference point", PowerCorrection(true, 99, 24.85, 1.2), 1, 1e-12)
	near(t, "no pressure", PowerCorrection(false, 0, 25, 1.2), 1, 0)
	// Dry pressure: 101.3 − 0.5 × Pd(20 °C) = 101.3 − 1.1694 = 100.1306.
	near(t, "dry pressure", DryPressureKPa(101.3, 50, 20), 100.1306, 1e-9)
}

// Opacity N↔k vectors. Source: [C-doc] FLB-100 manual, Beer–Lambert (domain.md §2.9), at the
// standard path 0.430 m [M]. Expected values computed independently in Python 3; by hand:
// N = 50 % → k = −ln 0.5 / 0.43 = 0.6931472 / 0.43 = 1.6119702 m⁻¹.
func TestOpacityVectors(t *testing.T) {
	near(t, "k(50 %)", OpacityK(50, 0.43), 1.6119701873, 1e-9)
	near(t, "k(30 %)", OpacityK(30, 0.43), 0.8294766138, 1e-9)
	near(t, "N(1.2)", OpacityN(1.2, 0.43), 40.309660733, 1e-8)
	near(t, "N(0.7)", OpacityN(0.7, 0.43), 25.992222725, 1e-8)
	if !math.IsInf(OpacityK(100, 0.43), 1) || OpacityK(0, 0.43) != 0 || OpacityN(0, 0.43) != 0 {
		t.Error("edge values of N↔k")
	}
	for _, k := range []float64{0.01, 0.5, 1.2, 3, 9.99} {
		near(t, "round trip", OpacityK(OpacityN(k, 0.43), 0.43), k, 1e-9)
	}
}

// VMAS vectors. Sources: the O2 dilution ratio and the densities at 0 °C and 101.325 kPa with
// R = 8.31 are [C-code] luckyzjian/VMAS; the mass formula is unverified (domain.md §2.3).
// Expected values computed independently in Python 3; by hand: (20.9 − 17.5)/(20.9 − 0.5)
// = 3.4/20.4 = 0.1666667; ρCO = 101325 × 28 / (8.31 × 273.15) = 1249.8918 mg/L.
func TestVMASVectors(t *testing.T) {
	near(t, "dilution ratio", VMASDilutionRatio(20.9, 17.5, 0.5), 0.1666666667, 1e-9)
	near(t, "no exhaust", VMASDilutionRatio(20.9, 20.9, 0.5), 0, 0)
	near(t, "ρ CO", GasDensityMgPerL(28, 101.325, 273.15, 8.31), 1249.891789267, 1e-8)
	near(t, "ρ HC (C6H14)", GasDensityMgPerL(86, 101.325, 273.15, 8.31), 3838.953352748, 1e-8)
	near(t, "ρ NO", GasDensityMgPerL(30, 101.325, 273.15, 8.31), 1339.169774215, 1e-8)
	// 20 L of exhaust with 0.5 % CO, DF 1.1: 20 × 0.005 × 1249.8918 × 1.1 = 137.488 mg.
	near(t, "CO mass", VMASMassMg(20, 0.005, 1249.891789267, 1.1), 137.48809682, 1e-6)
	if f := Formulas(); len(f) == 0 || f["vmas_mass"].Verified {
		t.Error("the VMAS mass formula must be listed and marked unverified")
	}
}
