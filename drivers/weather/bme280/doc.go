// Package bme280 reads a Bosch BME280 (or BMP280: no humidity) on I²C through periph.io,
// as a drivers.Device: temperature (°C), relative humidity (%) and pressure (kPa). It
// wraps periph's bmxx80 driver, which does the chip protocol and the datasheet's
// compensation; this package adds the project's contract: canonical units, Raw = the data
// registers 0xF7.. as read, ctx and a timeout checked on every bus transaction, errors
// with the package prefix, plausibility limits (I²C has no checksum).
//
// Open opens the bus through Opts.OpenBus (default: periph host.Init + i2creg.Open). On a
// machine without I²C that fails with "no bus found", which Open reports as ErrAbsent,
// "sensor absent", for the agent to log and retry rather than crash. New takes any
// i2c.Bus and does no I/O; the first Read identifies the chip and reads its calibration,
// and a Read after a bus failure does so again.
//
// There is no serial simulator: tests run bmxx80 over a fake register-map bus and replay a
// recording of it (testdata/sense.i2c.trace) with i2ctest.Playback. Facts and their
// confidence: firmware-notes/weather/bme280.md.
package bme280
