package mingquan_test

import (
	"fmt"

	"imagent/drivers/gas/mingquan"
)

// Building a request and decoding a status answer of an MQW-50A.
func ExampleDecodeStatus() {
	fmt.Printf("% x\n", mingquan.EncodeFrame(mingquan.STX, mingquan.CmdPumpProbe, nil))
	st, err := mingquan.DecodeStatus([]byte{0x06, 0x61, 0x0a, 0x40, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x8f})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.Busy(), st.Drivers().Names())
	// Output:
	// 02 7b 03 80
	// true [zeroing]
}
