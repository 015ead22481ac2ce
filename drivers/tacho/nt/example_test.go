package nt_test

import (
	"fmt"

	"imagent/drivers/tacho/nt"
)

// Building the VMT-2000 rpm request of the lane software and decoding a reply.
func ExampleDecode() {
	req := nt.Encode(nt.Frame{Addr: [2]byte{'0', 0xff}, Kind: nt.KindRequest, Cmd: nt.CmdVMTRPM})
	fmt.Printf("% x\n", req)
	f, err := nt.Decode([]byte{0x4e, 0x54, 0x30, 0xff, 0x41, 0x07, 0x01, 0x80, 0x09, 0xb0, 0x00, 0x00, 0xbe})
	if err != nil {
		fmt.Println(err)
		return
	}
	rpm, err := nt.DecodeVMTRPM(f)
	fmt.Println(rpm, "r/min", err)
	// Output:
	// 4e 54 30 ff 53 03 01 80 7b
	// 2480 r/min <nil>
}
