package dwsp_test

import (
	"fmt"

	"imagent/drivers/internal/modbus"
	"imagent/drivers/weather/dwsp"
)

// Decoding a DWSP-T5 reply (bytes from testdata/read_dwspt5.trace).
func ExampleDecodeReply() {
	req := dwsp.DWSPT5.Request(1, modbus.ReadInput)
	frame := []byte{0x01, 0x04, 0x06, 0x27, 0x94, 0x00, 0xea, 0x01, 0xe7, 0x37, 0xb7}
	v, err := dwsp.DecodeReply(frame, req, dwsp.DWSPT5)
	fmt.Printf("%.1f °C, %.1f %%, %.2f kPa, %v\n", v.TempC, v.RHpct, v.PressureKPa, err)

	frame[9]++ // one bit of noise
	_, err = dwsp.DecodeReply(frame, req, dwsp.DWSPT5)
	fmt.Println(err)
	// Output:
	// 23.4 °C, 48.7 %, 101.32 kPa, <nil>
	// dwsp: modbus: checksum mismatch: CRC 0xb738, want 0xb737
}
