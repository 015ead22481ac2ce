// Package nht drives the Nanhua (南华) NHT-6, NHT-1 and NHT-1L opacimeters.
//
// The link is 9600 8N1. A request is CMD [data] CS, CS the two's complement of the sum of
// the preceding bytes; a good reply echoes CMD, carries fixed-length big-endian words and
// ends with the same kind of checksum; a refusal is 0x15 followed by an error code.
//
// Read polls the real-time data (A5): N (%), k (m⁻¹), rpm and the oil temperature, which
// the instruments send in kelvin (0xFFFF: no probe). Zero is the calibration (A4). The
// models differ in the status command (A1, or AD on the NHT-1L) and in what they hold of
// a free acceleration: the NHT-6 reports its last test's three peaks (B1); the others a
// maximum (A6, cleared by A7). StartPeaks/Peaks use what the model has. The differences
// live in one table (model.go).
//
// Sources, confidence and traces: firmware-notes/opacity/nht.md.
package nht
