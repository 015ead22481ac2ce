// Package mingquan drives the Mingquan (鸣泉) MQW-50A and MQW-50B five-gas analyzers.
//
// The link is 9600 8N1. Every request is a frame `02 CMD LEN [data] CS` and every answer
// `06 CMD LEN [data] CS`, where LEN counts the bytes before CS and CS is the two's
// complement of the 8-bit sum of the bytes before it (all bytes of a frame sum to 0).
// Simple commands are answered with `06 CMD 03 CS`; a refused frame with the single byte
// 0x15. Data words are big-endian, except in the calibration frame (0x69), whose
// concentrations are little-endian.
//
// The data reply (0x60) carries the gases, λ, rpm, oil temperature and the ambient
// temperature, humidity and pressure but no state; Status asks 0x61, whose five flag
// bytes say what the analyzer is doing (warm-up, zeroing, leak check, low flow...) and
// what failed. Zero, leak check, HC residual and span start with one command and are then
// followed by polling 0x61 until the "system busy" flag clears.
//
// New does no I/O. Where each fact comes from, with its confidence, and how the traces
// were made: firmware-notes/gas/mingquan.md.
package mingquan
