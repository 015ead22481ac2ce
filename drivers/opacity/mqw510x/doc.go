// Package mqw510x drives the Mingquan (鸣泉) MQW-5101 and MQW-5102: opacimeters with a
// NOx channel, used for the lug-down test (加载减速法).
//
// The link is 9600 8N1. A request is 05 CMD LEN [data] CS, a good reply 06 CMD LEN [data]
// CS, LEN counting the bytes before CS and CS the two's complement of their sum; a
// refusal starts with 0x15. Words are signed big-endian.
//
// MQW-5101: Read uses command 32 (data and status): NOx, k, N, rpm, oil temperature and
// its ambient T, RH and P, with warm-up, zeroing, leak test, busy and low flow in Status.
// It has a pump (10/16), a leak test (1A), a zero (21) and calibrations.
// MQW-5102: Read uses 30 with data 02 01: NOx, CO2, k, N, rpm, oil temperature. Zero runs
// the opacimeter zero (2A) and the NOx zero (29); StartPeaks/Peaks use its max-hold
// (63/64, reply layout inferred).
//
// Capabilities the configured model lacks return ErrUnsupported. Sources, confidence and
// traces: firmware-notes/opacity/mqw510x.md.
package mqw510x
