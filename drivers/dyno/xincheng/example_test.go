package xincheng_test

import (
	"fmt"

	"imagent/drivers/dyno/xincheng"
)

// Decoding the vendor document's example frame and building a command.
func ExampleDecodeReply() {
	frame := []byte{0x41, 0x42, 0x53, 0xcd, 0xcc, 0xcc, 0x41, 0xcd, 0xac, 0x54, 0x44,
		0x00, 0x00, 0xa0, 0x41, 0x00, 0x43}
	r, err := xincheng.DecodeReply(frame, xincheng.V81)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%v: %.1f km/h, %.1f N, duty %.0f %%, controlling %v\n", r.Func, r.V[0], r.V[1], r.V[2], r.Func.Controlling())

	cmd := xincheng.EncodeCommand(xincheng.SetSpeed, 40)
	fmt.Printf("% x\n", cmd)

	frame[16] = 'D' // a torn tail
	_, err = xincheng.DecodeReply(frame, xincheng.V81)
	fmt.Println(err)
	// Output:
	// BS: 25.6 km/h, 850.7 N, duty 20 %, controlling true
	// 58 53 53 00 00 20 42 60 43
	// xincheng: reply: framing 0x41…0x44, want 'A'…'C': malformed frame
}
