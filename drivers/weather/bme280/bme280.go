package bme280

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/bmxx80"
	"periph.io/x/host/v3"

	"imagent/drivers"
)

// ErrAbsent says there is no sensor to talk to: no I²C bus on this machine, nothing
// answering at the address, or a chip that is not a BMx280. The agent reports it as
// "sensor absent" and retries later; it is not a crash.
var ErrAbsent = errors.New("bme280: sensor absent")

// Register addresses the driver relies on (Bosch BME280 datasheet, as bmxx80 reads them).
const (
	RegChipID   = 0xD0 // chip id: 0x60 BME280, 0x58 BMP280
	RegCalib1   = 0x88 // calibration t1..p9, h1 (26 bytes, 0x88..0xA1)
	RegCalib2   = 0xE1 // calibration h2..h6 (7 bytes, 0xE1..0xE7)
	RegStatus   = 0xF3 // bit 3: measuring
	RegData     = 0xF7 // press_msb..hum_lsb: 8 bytes (6 on a BMP280)
	ChipBME280  = 0x60
	DataLen     = 8
	DefaultAddr = 0x76 // SDO to GND; 0x77 with SDO to VDDIO
)

// Opts configures a Dev. Zero fields take the DefaultOpts value.
type Opts struct {
	Bus  string // i2creg bus name or number ("" = the first bus); used by Open
	Addr uint16 // 0x76 (default) or 0x77

	// Sensor sets oversampling and filter; the zero value means bmxx80.DefaultOpts
	// (4× for temperature, pressure and humidity; one forced measurement per Read).
	Sensor bmxx80.Opts
	// Timeout bounds one Read, including a sensor that never leaves "measuring"
	// (default 1 s).
	Timeout time.Duration
	// Limits are the plausible ranges; I²C has no checksum, so values outside them are an
	// error. Zero means DefaultLimits.
	Limits Limits

	// OpenBus opens the bus for Open; default DefaultOpenBus. Tests inject their own.
	OpenBus func(name string) (i2c.BusCloser, error)
	// Clock stamps readings; default time.Now.
	Clock func() time.Time
}

// DefaultOpts are the values used for zero fields of Opts.
var DefaultOpts = Opts{
	Addr:    DefaultAddr,
	Sensor:  bmxx80.DefaultOpts,
	Timeout: time.Second,
	Limits:  DefaultLimits,
	OpenBus: DefaultOpenBus,
}

// DefaultOpenBus initialises periph's host drivers and opens the named I²C bus. On a
// machine without I²C it fails with i2creg's "no bus found".
func DefaultOpenBus(name string) (i2c.BusCloser, error) {
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("periph host init: %w", err)
	}
	return i2creg.Open(name)
}

// Limits are the plausible ranges of the values.
type Limits struct {
	TempMin, TempMax float64 // °C
	RHMin, RHMax     float64 // %
	PMin, PMax       float64 // kPa
}

// DefaultLimits cover a lane's working conditions from sea level to about 5,500 m.
var DefaultLimits = Limits{TempMin: -40, TempMax: 60, RHMin: 0, RHMax: 100, PMin: 50, PMax: 110}

func (l Limits) valid() bool {
	for _, r := range [][2]float64{{l.TempMin, l.TempMax}, {l.RHMin, l.RHMax}, {l.PMin, l.PMax}} {
		if math.IsNaN(r[0]) || math.IsNaN(r[1]) || math.IsInf(r[0], 0) || math.IsInf(r[1], 0) || r[0] >= r[1] {
			return false
		}
	}
	return true
}

// Dev is one BME280 (or BMP280: no humidity) on an I²C bus. Its methods may be called
// from several goroutines; they are serialized.
type Dev struct {
	o     Opts
	bus   ctxBus
	owned i2c.BusCloser // closed by Close when Open opened the bus

	mu     sync.Mutex
	sensor *bmxx80.Dev // nil until the first Read, and again after a bus failure
	isBME  bool
}

var (
	_ drivers.Device  = (*Dev)(nil)
	_ drivers.Ambient = (*Dev)(nil)
)

// Open opens the I²C bus through o.OpenBus and returns a Dev on it. A bus that cannot be
// opened (no I²C on this machine) gives an error wrapping ErrAbsent. Close releases the
// bus. Like New, Open does not talk to the sensor.
func Open(ctx context.Context, o Opts) (*Dev, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bme280: %w", err)
	}
	if o.OpenBus == nil {
		o.OpenBus = DefaultOpts.OpenBus
	}
	b, err := o.OpenBus(o.Bus)
	if err != nil {
		return nil, fmt.Errorf("%w: i2c bus %q: %w", ErrAbsent, o.Bus, err)
	}
	d, err := New(b, o)
	if err != nil {
		b.Close()
		return nil, err
	}
	d.owned = b
	return d, nil
}

// New returns a driver for the sensor at o.Addr on bus. It does no I/O: the first Read
// identifies the chip and reads its calibration.
func New(bus i2c.Bus, o Opts) (*Dev, error) {
	if bus == nil {
		return nil, errors.New("bme280: nil bus")
	}
	if o.Addr == 0 {
		o.Addr = DefaultOpts.Addr
	}
	if o.Addr != 0x76 && o.Addr != 0x77 {
		return nil, fmt.Errorf("bme280: address %#x, want 0x76 or 0x77", o.Addr)
	}
	if o.Sensor == (bmxx80.Opts{}) {
		o.Sensor = DefaultOpts.Sensor
	}
	if o.Sensor.Temperature == bmxx80.Off {
		return nil, errors.New("bme280: temperature oversampling must be on (pressure and humidity need it)")
	}
	if o.Sensor.Standby != 0 {
		return nil, errors.New("bme280: Sensor.Standby selects normal mode; the driver uses forced mode")
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultOpts.Timeout
	}
	if o.Timeout < 0 {
		return nil, errors.New("bme280: negative timeout")
	}
	if o.Limits == (Limits{}) {
		o.Limits = DefaultLimits
	}
	if !o.Limits.valid() {
		return nil, fmt.Errorf("bme280: bad limits %+v", o.Limits)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Dev{o: o, bus: ctxBus{bus: bus}}, nil
}

// Close releases the bus if Open opened it.
func (d *Dev) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sensor = nil
	if d.owned == nil {
		return nil
	}
	err := d.owned.Close()
	d.owned = nil
	if err != nil {
		return fmt.Errorf("bme280: close: %w", err)
	}
	return nil
}

// Read takes one forced measurement and returns temperature (°C), relative humidity (%,
// BME280 only) and pressure (kPa), with Raw = the data registers 0xF7.. as read. The first
// Read (and the first after a bus failure) identifies the chip and reads its calibration;
// no chip gives ErrAbsent. ctx is checked before every bus transaction, and the whole Read
// is bounded by Opts.Timeout (drivers.ErrTimeout).
func (d *Dev) Read(ctx context.Context) (drivers.Reading, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return drivers.Reading{}, fmt.Errorf("bme280: %w", err)
	}
	tctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	d.bus.start(tctx)
	defer d.bus.stop()

	if d.sensor == nil {
		s, err := bmxx80.NewI2C(&d.bus, d.o.Addr, &d.o.Sensor)
		if err != nil {
			if cerr := d.ctxErr(ctx); cerr != nil {
				return drivers.Reading{}, cerr
			}
			if d.bus.err != nil {
				return drivers.Reading{}, fmt.Errorf("%w at %#x: %v: %w", ErrAbsent, d.o.Addr, err, d.bus.err)
			}
			return drivers.Reading{}, fmt.Errorf("%w at %#x: %v", ErrAbsent, d.o.Addr, err)
		}
		d.sensor, d.isBME = s, strings.HasPrefix(s.String(), "BME280")
	}
	var e physic.Env
	if err := d.sensor.Sense(&e); err != nil {
		d.sensor = nil // initialise again next time: the chip may have been reset
		if cerr := d.ctxErr(ctx); cerr != nil {
			return drivers.Reading{}, cerr
		}
		if d.bus.err != nil {
			return drivers.Reading{}, fmt.Errorf("bme280: sense: %w", d.bus.err)
		}
		return drivers.Reading{}, fmt.Errorf("bme280: sense: %v: %w", err, drivers.ErrFailed)
	}
	if len(d.bus.raw) == 0 {
		return drivers.Reading{}, fmt.Errorf("bme280: sense did not read the data registers: %w", drivers.ErrFrame)
	}
	v := map[drivers.Quantity]float64{
		drivers.TempC:       float64(e.Temperature-physic.ZeroCelsius) / float64(physic.Celsius),
		drivers.PressureKPa: float64(e.Pressure) / float64(physic.KiloPascal),
	}
	if d.isBME {
		v[drivers.RHpct] = float64(e.Humidity) / float64(physic.PercentRH)
	}
	if err := d.check(v); err != nil {
		return drivers.Reading{}, err
	}
	return drivers.Reading{Time: d.o.Clock(), Values: v, Raw: append([]byte(nil), d.bus.raw...)}, nil
}

// ReadAmbient is Read: the sensor measures nothing else.
func (d *Dev) ReadAmbient(ctx context.Context) (drivers.Reading, error) { return d.Read(ctx) }

// ctxErr turns a transaction refused because of ctx into the Read's error: the caller's
// ctx error, or drivers.ErrTimeout when Opts.Timeout ran out.
func (d *Dev) ctxErr(ctx context.Context) error {
	if !errors.Is(d.bus.err, context.Canceled) && !errors.Is(d.bus.err, context.DeadlineExceeded) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bme280: %w", err)
	}
	return fmt.Errorf("bme280: %w: no measurement within %v", drivers.ErrTimeout, d.o.Timeout)
}

func (d *Dev) check(v map[drivers.Quantity]float64) error {
	l := d.o.Limits
	for _, c := range [...]struct {
		q      drivers.Quantity
		lo, hi float64
	}{{drivers.TempC, l.TempMin, l.TempMax}, {drivers.RHpct, l.RHMin, l.RHMax}, {drivers.PressureKPa, l.PMin, l.PMax}} {
		x, ok := v[c.q]
		if ok && !(x >= c.lo && x <= c.hi) {
			return fmt.Errorf("bme280: implausible %s %g, want %g..%g (raw % x): %w", c.q, x, c.lo, c.hi, d.bus.raw, drivers.ErrFrame)
		}
	}
	return nil
}

// ctxBus is the i2c.Bus bmxx80 talks through. It refuses transactions once the Read's ctx
// is done (so a sensor stuck "measuring" cannot hold Read), keeps the first bus error
// (bmxx80 formats errors with %v, losing the chain), and copies the data registers for
// Reading.Raw.
type ctxBus struct {
	bus i2c.Bus
	ctx context.Context // nil outside Read: every transaction goes through (bmxx80 setup)
	err error
	raw []byte
}

// start begins a Read: transactions are checked against ctx from now on.
func (b *ctxBus) start(ctx context.Context) {
	b.ctx, b.err, b.raw = ctx, nil, b.raw[:0]
}

// stop ends a Read.
func (b *ctxBus) stop() { b.ctx = nil }

func (b *ctxBus) String() string { return b.bus.String() }

func (b *ctxBus) SetSpeed(f physic.Frequency) error { return b.bus.SetSpeed(f) }

func (b *ctxBus) Tx(addr uint16, w, r []byte) error {
	if b.ctx != nil {
		if err := b.ctx.Err(); err != nil {
			if b.err == nil {
				b.err = err
			}
			return err
		}
	}
	if err := b.bus.Tx(addr, w, r); err != nil {
		if b.err == nil {
			b.err = err
		}
		return err
	}
	if len(w) == 1 && w[0] == RegData && len(r) > 0 {
		b.raw = append(b.raw[:0], r...)
	}
	return nil
}
