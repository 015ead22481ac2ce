package nanhua_test

import (
	"fmt"

	"imagent/drivers/gas/nanhua"
)

// Decoding a main-data reply of an NHA-503 (bytes from testdata/main_nha503.trace).
func ExampleDecodeMain() {
	frame := []byte{0x06, 0x00, 0x7b, 0x00, 0x34, 0x05, 0xb4, 0x00, 0x2d, 0x03, 0x52,
		0x09, 0xb0, 0x03, 0x61, 0x00, 0x00, 0x00, 0x00, 0x65, 0x72}
	m, err := nanhua.DecodeMain(frame, nanhua.NHA503)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("HC %.0f ppm, CO %.2f %%, CO2 %.2f %%, O2 %.2f %%, NO %.0f ppm\n", m.HC, m.CO, m.CO2, m.O2, m.NO)
	fmt.Printf("%.0f r/min, oil %.1f °C, λ %.2f, status %v\n", m.RPM, m.OilTemp, m.Lambda, nanhua.MainStatus(m, nanhua.NHA503).Names())

	// The same bytes from an FLA-502 mean ten times less CO.
	f, _ := nanhua.DecodeMain(frame, nanhua.FLA502)
	fmt.Printf("FLA-502: CO %.3f %%\n", f.CO)

	frame[20]++ // one bit of noise
	_, err = nanhua.DecodeMain(frame, nanhua.NHA503)
	fmt.Println(err)
	// Output:
	// HC 123 ppm, CO 0.52 %, CO2 14.60 %, O2 0.45 %, NO 850 ppm
	// 2480 r/min, oil 86.5 °C, λ 1.01, status []
	// FLA-502: CO 0.052 %
	// nanhua: main data: checksum mismatch: got 0x73, want 0x72
}
