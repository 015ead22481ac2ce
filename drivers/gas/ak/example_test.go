package ak_test

import (
	"fmt"

	"imagent/drivers"
	"imagent/drivers/gas/ak"
)

// An AKON request and answer, with CO reported in ppm by the bench.
func ExampleConcentrations() {
	req, _ := ak.EncodeRequest("AKON", "0")
	fmt.Printf("%q\n", req)
	r, err := ak.DecodeResponse([]byte("\x02_AKON 0 5200 14.6 123\x03"))
	if err != nil {
		fmt.Println(err)
		return
	}
	v, err := ak.Concentrations(r.Data, []ak.Component{{drivers.COpct, 1e-4}, {drivers.CO2pct, 1}, {drivers.HCppm, 1}})
	fmt.Println(v[drivers.COpct], v[drivers.CO2pct], v[drivers.HCppm], err)
	// Output:
	// "\x02 AKON K0\x03"
	// 0.52 14.6 123 <nil>
}
