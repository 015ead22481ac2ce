package nha506_test

import (
	"fmt"

	"imagent/drivers/gas/nha506"
)

// Decoding an NHA-506 data answer (the bytes of testdata/data.trace).
func ExampleDecodeData() {
	x, err := nha506.DecodeData([]byte{0x06, 0x00, 0x7b, 0x00, 0x34, 0x05, 0xb4, 0x00, 0x2d, 0x03, 0x52,
		0x09, 0xb0, 0x03, 0x61, 0x00, 0x65, 0x72}, false)
	fmt.Printf("HC %.0f ppm, CO %.2f %%, λ %.2f, %v\n", x.HC, x.CO, x.Lambda, err)
	st, err := nha506.StatusFromByte('H')
	fmt.Println(st.Names(), err)
	// Output:
	// HC 123 ppm, CO 0.52 %, λ 1.01, <nil>
	// [warmup] <nil>
}
