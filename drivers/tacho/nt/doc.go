// Package nt drives the Fuli (福立) "NT" family of engine-parameter meters: the VMT-2000
// and VUT-3000 tachometers, the FMP-1 combined meter (rpm by vibration, oil temperature,
// ambient temperature, humidity and pressure) and the FTH-2 weather station.
//
// The link is 19200 8N1 and polled. Every frame is 'N' 'T' a1 a2 kind LEN CMDhi CMDlo
// [data] CS: kind 'S' from the host, 'A' for a good reply, 'E' for an error reply with a
// 2-byte code; LEN counts from itself to the byte before CS; CS is the one's complement
// of the 8-bit sum of those bytes. Replies echo the address.
//
// One Dev serves one model (Opts.Model); Read polls that model's data command. Where the
// sources disagree (the VMT-2000 mode command's checksum) an Opts field chooses.
//
// New does no I/O. The simulator is package ntsim. Where each fact comes from, with its
// confidence, and how every trace in testdata was made: firmware-notes/tacho/nt.md.
package nt
