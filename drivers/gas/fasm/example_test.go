package fasm_test

import (
	"fmt"

	"imagent/drivers/gas/fasm"
)

// The frames of a FASM-5000 zero: request, acknowledgement, and the result that follows.
func ExampleEncodeFrame() {
	fmt.Printf("% x\n", fasm.EncodeFrame(fasm.ReqHead, fasm.DefaultAddr, fasm.CmdZero, nil))
	fmt.Printf("% x\n", fasm.EncodeFrame(fasm.RepHead, fasm.DefaultAddr, fasm.CmdZero, nil))
	fmt.Printf("% x\n", fasm.EncodeFrame(fasm.RepHead, fasm.DefaultAddr, fasm.RespSuccess, nil))
	// Output:
	// 5a 5a 01 15 00 00 ea
	// a5 a5 01 15 00 00 ea
	// a5 a5 01 1a 00 00 e5
}
