package flb100_test

import (
	"fmt"

	"imagent/drivers/opacity/flb100"
)

// Decoding the acceleration reply, and the opacity relations of domain.md §2.9.
func ExampleDecodeAccel() {
	frame := []byte{0x06, 0x0e, 0x04, 0x00, 0x76, 0x00, 0x79, 0x00, 0x75, 0x00, 0x77, 0x00, 0x73, 0x9a}
	a, err := flb100.DecodeAccel(frame)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.State, a.Peaks, a.Avg)
	fmt.Printf("k 1.00 m⁻¹ is N %.1f %% over the FLB-100's %.3f m and %.1f %% over %.2f m\n",
		flb100.NFromK(1, flb100.PathLength), flb100.PathLength, flb100.NFromK(1, flb100.StandardPath), flb100.StandardPath)
	// Output:
	// valid [1.15 1.19 1.17 1.21] 1.18
	// k 1.00 m⁻¹ is N 20.2 % over the FLB-100's 0.226 m and 34.9 % over 0.43 m
}
