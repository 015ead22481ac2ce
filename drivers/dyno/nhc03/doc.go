// Package nhc03 drives the Nanhua (南华) NHC-03 chassis-dynamometer controller.
//
// The link is 9600 8N1 and strictly polled. Every request is 7 bytes, 08 CMD 07 V HI LO
// CS, where CS is the plain 8-bit sum of the first six. 'C' asks for the real-time data
// (9-byte reply: power word /100 kW, force word N plus a tenths byte, speed word /100
// km/h, sum), 'D' for the 16 status bits, 'E'/'F' read and write a RAM variable, and any
// other byte is a control word (lift, motor, control modes), answered by one byte. NAK
// is 0x15; the lane software accepts any other first byte.
//
// Read polls 'C' and then 'D' (unless Opts.NoStatusPoll), so Reading.Status shows the lift
// (LiftUp, or Busy while it travels). Control mode and motor are not among the known
// status bits, so Controlling and MotorOn are what this driver last commanded.
//
// New does no I/O. The simulator is package nhc03sim. Where each fact comes from, with
// its confidence, and how every trace in testdata was made: firmware-notes/dyno/nhc03.md.
package nhc03
