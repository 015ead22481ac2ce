// Package ak drives exhaust-gas benches that speak the German AK protocol
// ("AK-Protokoll" of the VDA working group): Pierburg AMA4000, AVL and Horiba benches,
// California Analytical and Gasera analyzers.
//
// A request is ASCII framed by STX and ETX: `STX ' ' FUNC ' ' 'K' channel [' ' args] ETX`,
// with FUNC four letters ("AKON" read concentrations, "ASTZ" read status, "SMGA" measure
// sample gas...). The answer is `STX x FUNC ' ' status [' ' data] ETX`: x is a byte of no
// meaning, status a digit (0: no error active; otherwise read the error list with ASTF),
// data space-separated tokens. An answer may end with an error token instead of data:
// SE syntax error, DF data format error, BS busy, OF offline (the bench is in manual mode).
// There is no checksum.
//
// The Pierburg AMA4000 runs at 9600 baud, 7 data bits, even parity, 1 stop bit with
// XON/XOFF flow control. go.bug.st/serial has no software flow control (it clears IXON
// and IXOFF), so the driver does it itself: it drops XON and XOFF from what it reads and
// does not write while the bench has sent XOFF without XON. The 8th bit of every byte
// read is cleared (7-bit link).
//
// Which gas each AKON value is depends on the bench's configuration: Opts.Components
// gives the order and the scale to canonical units. New does no I/O. Where each fact
// comes from, with its confidence, and how the traces were made: firmware-notes/gas/ak.md.
package ak
