package nhc03_test

import (
	"fmt"

	"imagent/drivers/dyno/nhc03"
)

// The real-time request of the lane software and a reply at an ASM 5025 load.
func ExampleDecodeRealtime() {
	req := nhc03.EncodeRequest(nhc03.Request{Cmd: nhc03.CmdRealtime})
	fmt.Printf("% x\n", req)
	x, err := nhc03.DecodeRealtime([]byte{0x06, 0x03, 0xe8, 0x05, 0xa0, 0x00, 0x09, 0xc4, 0x63})
	fmt.Println(x.PowerKW, "kW", x.ForceN, "N", x.SpeedKmh, "km/h", err)
	_, err = nhc03.DecodeRealtime([]byte{0x15})
	fmt.Println(err)
	// Output:
	// 08 43 07 00 00 00 52
	// 10 kW 1440 N 25 km/h <nil>
	// nhc03: real-time data: device answered NAK
}
