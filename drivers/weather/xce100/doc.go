// Package xce100 drives the XCE-100 and XCE-101 weather stations (环境参数仪): ambient
// temperature, relative humidity and barometric pressure for the lane's corrections.
//
// Both models send the same ASCII frame, `T<temp>H<RH>P<pressure>E` (e.g.
// "T25.3H56.0P101.3E"), so one package covers both; Opts.Model selects the behaviour:
//
//   - XCE-100 is polled: the host sends "W" and a line feed, the station answers one frame.
//   - XCE-101 streams frames continuously; Read collects the stream and returns the newest
//     complete valid frame, resynchronising on anything else. It is calibrated by sending
//     "K" until it answers "BDZB", then "B" + value×10 in 4 characters + 'T', 'H' or 'P';
//     it answers "BDCG" (accepted) or "BDSB" (refused). See Dev.Calibrate.
//
// The frame has no checksum. The codec (frame.go) therefore checks the structure strictly
// (tags in order, nothing around the frame, a narrow number syntax) and the Dev rejects
// values outside Opts.Limits: a corrupted digit can only be caught that way. Both kinds of
// rejection are drivers.ErrFrame.
//
// The link is 9600 8N1 in the lane software's example settings; the sources give no
// model-specific baud rate. New does no I/O.
//
// Where each fact comes from, with its confidence, and how every trace in testdata was
// made: firmware-notes/weather/xce100.md.
package xce100
