// Package nhf1 drives the Nanhua (南华) NHF-1 VMAS dilution flowmeter over Modbus ASCII.
//
// The link is 9600 8N1. Frames are ':' + hex of (address, function, register, count or
// value) + LRC + CR LF, built by imagent/drivers/internal/modbus. Five holding registers
// from 0x1258 hold diluted O2 (0.01 %), gas pressure (0.01 kPa), gas temperature
// (0.1 °C) and the flow at actual and standard conditions in cubic feet per minute; the
// register at 0x125D holds the status; writes to 0x125E–0x126C switch the blower, zero
// the O2 sensor and calibrate. A write's reply carries the device's result (1 = done).
//
// The two sources disagree on the order of pressure and temperature and on the status
// bits; Opts.Order and Opts.VMASStatus select. The standard flow (0 °C per the vendor's
// library) is reported at 20 °C. Sources, confidence and traces:
// firmware-notes/flow/nhf1.md.
package nhf1
