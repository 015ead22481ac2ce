// Package dwsp drives Modbus RTU weather stations (环境参数仪) that report temperature,
// relative humidity and barometric pressure in input registers: the DWSP-T5 layout
// (pressure /100 kPa, temperature /10 °C, RH /10 % in registers 0..2) and the RZ-1 layout
// as lane software reads it. The slave address, the function (04 or 03) and the register
// map are options, so another station with a similar map needs a Layout, not a driver.
//
// Each Read sends one read-registers request (function 04 by default) and checks the reply
// with the shared codec in drivers/internal/modbus: CRC16, slave address, function, byte
// count; an exception reply is drivers.ErrNAK (exception 06 also drivers.ErrBusy). Values
// outside Opts.Limits are rejected as drivers.ErrFrame: the CRC protects the line, not a
// wrong layout or a failed sensor.
//
// New does no I/O. Where each fact comes from, with its confidence, and how every trace in
// testdata was made: firmware-notes/weather/dwsp.md.
package dwsp
