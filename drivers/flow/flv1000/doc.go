// Package flv1000 drives the Fuli (福立) FLV-1000 VMAS dilution flowmeter.
//
// The link is 9600 8N1, point to point, no address. A request is CMD LB [DF] CS with LB
// the length of CMD+LB+DF and CS = not(sum)+1; a good reply is 06 CMD LB [DF] CS, a
// refused command gets the single byte 0x15. The replies to 86 and 87 carry the plain
// sum of their eight data bytes instead.
//
// Read takes three transactions: 86 (diluted O2, gas pressure, gas temperature, flow at
// actual conditions), 87 (flow at standard conditions) and 88 (status: O2 sensor warming,
// flow, pressure or temperature out of range). The standard flow is reported at 20 °C and
// 101.325 kPa (drivers.FlowStdLps). The calibration commands A0–A4 are methods.
//
// Sources, confidence, the manual's inconsistent literal frames and the traces:
// firmware-notes/flow/flv1000.md.
package flv1000
