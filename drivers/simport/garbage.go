package simport

import "math/rand/v2"

// Garbage returns n random bytes for a simulator's garbage fault mode. The first byte is
// drawn from first, which each protocol fills with bytes no valid reply of its own starts
// with, so the driver has to see the garbage as garbage rather than as a bad frame.
func Garbage(rng *rand.Rand, n int, first []byte) []byte {
	g := make([]byte, n)
	for i := range g {
		g[i] = byte(rng.UintN(256))
	}
	if n > 0 && len(first) > 0 {
		g[0] = first[rng.IntN(len(first))]
	}
	return g
}
