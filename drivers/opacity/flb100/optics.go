package flb100

import "math"

// Optical path lengths, m.
const (
	// PathLength is the FLB-100's effective optical path, 226 mm [C-doc FLB-100 manual].
	PathLength = 0.226
	// StandardPath is the standard effective length N is usually normalised to, 430 mm
	// (domain.md §2.9, [M]).
	StandardPath = 0.430
)

// NFromK is the opacity N (%) that light absorption coefficient k (m⁻¹) gives over an
// effective optical path of l metres: N = 100·(1 − e^(−k·l)) (domain.md §2.9). It is NaN
// for a path that is not positive.
func NFromK(k, l float64) float64 {
	if !(l > 0) {
		return math.NaN()
	}
	return 100 * (1 - math.Exp(-k*l))
}

// KFromN is the light absorption coefficient k (m⁻¹) of an opacity N (%) measured over l
// metres: k = −(1/l)·ln(1 − N/100). N ≥ 100 % (no light at all) gives +Inf; a path that is
// not positive, or a NaN, gives NaN. A slightly negative N (zero drift) gives a slightly
// negative k, as the instruments report it.
func KFromN(n, l float64) float64 {
	switch {
	case !(l > 0), math.IsNaN(n):
		return math.NaN()
	case n >= 100:
		return math.Inf(1)
	}
	return -math.Log1p(-n/100) / l
}

// Rescale converts an opacity measured over path from (m) to the opacity the same smoke
// gives over path to (m), through k, as the FLB-100 manual requires: k is computed from
// the measured transmittance, and N is never scaled directly.
func Rescale(n, from, to float64) float64 { return NFromK(KFromN(n, from), to) }
