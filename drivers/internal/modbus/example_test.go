package modbus_test

import (
	"fmt"

	"imagent/drivers/internal/modbus"
)

// A master's RTU transaction: the request, the length to read, the decoded registers.
func ExampleEncodeRTU() {
	req := modbus.Read(1, modbus.ReadInput, 0, 3)
	frame, _ := modbus.EncodeRTU(req)
	fmt.Printf("% X, reply %d bytes\n", frame, modbus.RTUReplyLen(req))
	reply := []byte{0x01, 0x04, 0x06, 0x27, 0x94, 0x00, 0xfd, 0x02, 0x8a, 0x46, 0xae}
	regs, err := modbus.DecodeRTU(reply, req)
	fmt.Println(regs, err)
	// Output:
	// 01 04 00 00 00 03 B0 0B, reply 11 bytes
	// [10132 253 650] <nil>
}

// The same read as a Modbus ASCII frame.
func ExampleEncodeASCII() {
	frame, _ := modbus.EncodeASCII(modbus.Read(1, modbus.ReadHolding, 0x1258, 5))
	fmt.Printf("%q\n", frame)
	// Output:
	// ":0103125800058D\r\n"
}
