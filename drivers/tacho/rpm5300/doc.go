// Package rpm5300 reads the Nanhua (南华) RPM5300 tachometer.
//
// The meter only talks: at 9600 8N1 it streams the engine speed as four ASCII characters
// and a carriage return ("2480\r"), about ten times a second. Read returns the newest
// complete value: it takes what has arrived (waiting up to Opts.Timeout if nothing has),
// keeps reading while more comes, and resynchronises on the next CR after garbage. Each
// CR ends a candidate whose last four characters must be digits (leading spaces allowed).
//
// New does no I/O and the driver never writes. The simulator is package rpm5300sim.
// Where each fact comes from, with its confidence, and how every trace in testdata was
// made: firmware-notes/tacho/rpm5300.md.
package rpm5300
