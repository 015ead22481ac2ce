// Package nanhua drives the Nanhua/Fuli "single-byte command" family of five-gas exhaust
// analyzers: Nanhua NHA-503 (and the similar NHA-504/508), Fuli FLA-502 and CDF5000.
//
// The link is 9600 8N1. The host sends one command byte (the item number of the vendor's
// common analyzer protocol); the analyzer answers with a fixed-length reply: 0x06 followed
// by big-endian words and an 8-bit sum (not negated), or a single result byte (0x00 ok,
// 0x01 failed, 0x05 in progress). NAK is 0x15.
//
// The models differ in the CO and oil-temperature resolution, in the byte of the status
// and warm-up commands and in the meaning of the status byte. These differences live in
// one table (model.go); the codec (frame.go) is pure and shared with the simulator in
// package nanhuasim, so scaling is written once.
//
// Calibration (items 9 to 13): WriteCalGas writes the calibration or check gas in the
// two-phase style of sinq123/OBD (item, 06, data, 00/01) or the single-frame style of
// luckyzjian/VMAS (one frame, 06 00), chosen by Opts.CalGasStyle (the model's own by
// default); Span (item 10) and GasCheck (item 12) poll until 00, reading the 13 bytes of
// progress data after each 05; PEF reads item 13. HCResidual measures the HC left in the
// sample path the way the lane software does: pump through the probe, wait, read HC.
//
// New does no I/O: the analyzer may be warming up or switched off when the agent starts,
// and the first Read tells whether the link works. Every transaction first drains stale
// input, then writes the command and reads the reply within Opts.Timeout.
//
// Where each fact comes from, with its confidence, and how every trace in testdata was
// made: firmware-notes/gas/nanhua.md.
package nanhua
