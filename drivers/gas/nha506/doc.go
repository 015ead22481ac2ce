// Package nha506 drives the Nanhua NHA-506 five-gas analyzer, a relative of the
// single-byte family of package nanhua with its own command bytes: 0x01 pump on, 0x02
// stop, 0x03 data (18 bytes: 06, HC, CO, CO2, O2, NO, rpm, oil temperature, λ, checksum)
// and 0x14 status, answered with one ASCII letter: 'H' warming up, 'Z' zeroing, 'W' ready.
//
// The link is taken as 9600 8N1 like the rest of the family (the lane software reads the
// settings from its configuration). New does no I/O. The NHA-506 has no zero, leak-check,
// ambient or calibration command in the sources; the integrated-VMAS variant (NHA-506I,
// with a little-endian flowmeter protocol) is not covered.
//
// Where each fact comes from, with its confidence, and how the traces were made:
// firmware-notes/gas/nha506.md.
package nha506
