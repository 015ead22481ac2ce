// Package fasm drives the Foshan-Fenxi (佛分) FASM-5000 five-gas analyzer.
//
// Frames are `5A 5A ADDR CMD LENlo LENhi CS` from the host and `A5 A5 ADDR CMD LENlo
// LENhi CS` from the analyzer, where CS is the two's complement of the 8-bit sum of ADDR,
// CMD and the two length bytes. When LEN is not zero, LEN bytes follow: the data and a
// second two's-complement checksum over the data. (LEN counting the data checksum, and
// the length word itself, are inferred from the lane code's literal frames.) Numbers in
// the data are little-endian, unlike the rest of the Chinese analyzers.
//
// A command is acknowledged by an answer with the same CMD; zero (0x15) and leak check
// (0x17) are acknowledged at once and end later with a frame of their own: 0x1A success,
// 0x1B failure, or 0x19 "cannot answer". The driver waits for that frame holding the link.
//
// The serial settings are not given by any source; the driver's tests use 9600 8N1 like
// the other analyzers. New does no I/O. Where each fact comes from, with its confidence,
// and how the traces were made: firmware-notes/gas/fasm.md.
package fasm
