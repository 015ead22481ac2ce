package xce100_test

import (
	"fmt"

	"imagent/drivers/weather/xce100"
)

// Decoding a frame and finding the newest frame in a stretch of the XCE-101 stream.
func ExampleScan() {
	f, err := xce100.DecodeFrame([]byte("T25.3H56.0P101.3E"))
	fmt.Printf("%+v %v\n", f, err)

	stream := []byte("3H55.1P100.9E\r\nT22.4H55.0P100.9E\r\nT22.5H55.1P100.8E\r\nT22.6H5")
	newest, keep, garbage := xce100.Scan(stream, nil)
	fmt.Printf("newest %q, keep %q, %d bytes of garbage\n", newest, stream[keep:], garbage)

	_, err = xce100.DecodeFrame([]byte("T25.3H5.6.0P101.3E")) // no checksum: structure is all we have
	fmt.Println(err)
	// Output:
	// {TempC:25.3 RH:56 P:101.3} <nil>
	// newest "T22.5H55.1P100.8E", keep "T22.6H5", 19 bytes of garbage
	// xce100: field 2 ('H'): unexpected '.': malformed frame
}
