// Package xincheng drives the chassis-dynamometer controller of Chengdu Xincheng
// (成都新成, "BNTD" in lane software), protocol 8.0/8.1.
//
// The link is RS-232 at 38400 8N1. The host sends 9-byte commands: 'X', a function and
// a sub-command letter, a little-endian IEEE-754 float32 argument, the 8-bit sum of the
// first seven bytes and 'C'. The controller streams 17-byte frames every 10–30 ms:
// 'A', two letters, three float32 values (speed km/h, force N, duty %), a key/photocell
// byte and 'C' (16 bytes without the key byte in protocol 8.0). Replies carry no
// checksum, so the codec checks everything else and the Scanner resynchronises on the
// next valid frame after garbage, torn frames or debug text ('D' … 'C').
//
// Read returns the newest complete stream frame: it collects what the line has
// delivered (waiting up to Opts.Timeout if nothing has arrived) and keeps reading while
// more comes, so a caller that reads slowly gets fresh values, never a replayed backlog.
// SetControl writes the target and the start command, as the lane software does, and
// waits until the stream shows the new mode. The controller reports neither the lift nor
// the motor, so LiftUp and MotorOn in Reading.Status are what the driver last commanded.
//
// New does no I/O. The simulator is package xinchengsim. Where each fact comes from, with
// its confidence, and how every trace in testdata was made: firmware-notes/dyno/xincheng.md.
package xincheng
