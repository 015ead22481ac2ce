package rpm5300_test

import (
	"fmt"

	"imagent/drivers/tacho/rpm5300"
)

// Finding frames in a stream with garbage and a torn frame.
func ExampleScanner() {
	s := rpm5300.NewScanner()
	s.Feed([]byte("\x13\xff 750\r08x0\r24" + "2480\r"))
	for {
		rpm, raw, ok := s.Next()
		if !ok {
			break
		}
		fmt.Printf("%d r/min from %q\n", rpm, raw)
	}
	fmt.Println("bytes dropped:", s.Discarded)
	// Output:
	// 750 r/min from " 750\r"
	// 2480 r/min from "2480\r"
	// bytes dropped: 9
}
