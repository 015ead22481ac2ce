package bme280_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/bmxx80"

	"imagent/drivers"
	"imagent/drivers/drivertest"
	"imagent/drivers/weather/bme280"
)

var update = flag.Bool("update", false, "rewrite testdata/sense.i2c.trace from the fake bus")

// Calibration bytes of a real BME280, from periph devices/v3 bmxx80 bmx280_test.go
// (TestI2CSenseBME280_success): 0x88..0xA1 and 0xE1..0xE7.
var (
	calib1 = []byte{0x10, 0x6e, 0x6c, 0x66, 0x32, 0x0, 0x5d, 0x95, 0xb8, 0xd5, 0xd0, 0xb, 0x77, 0x1e, 0x9d, 0xff, 0xf9, 0xff, 0xac, 0x26, 0xa, 0xd8, 0xbd, 0x10, 0x0, 0x4b}
	calib2 = []byte{0x6e, 0x1, 0x0, 0x13, 0x5, 0x0, 0x1e}
)

// Two sets of data registers (0xF7..0xFE) and what they mean with that calibration,
// computed with the datasheet's integer formulas by a one-off script independent of
// periph (the first matches the values periph's own test expects).
var samples = []struct {
	data        []byte
	temp, p, rh float64
}{
	{[]byte{0x4a, 0x52, 0xc0, 0x80, 0x96, 0xc0, 0x7a, 0x76}, 23.72, 100.942695313, 65.305664},
	{[]byte{0x4b, 0x80, 0x00, 0x78, 0x00, 0x00, 0x88, 0x00}, 12.72, 98.314941406, 82.557617},
}

// fakeBus is a BME280 as an I²C register map: chip id at 0xD0, calibration at 0x88 and
// 0xE1, data at 0xF7; writes are register/value pairs. It can fail on demand.
type fakeBus struct {
	mu       sync.Mutex
	addr     uint16
	regs     [256]byte
	txs      int
	failFrom int  // Tx number (1-based) from which every Tx fails; 0: never
	busy     bool // status register always says "measuring"
}

func newFakeBus(data []byte) *fakeBus {
	b := &fakeBus{addr: 0x76}
	b.regs[bme280.RegChipID] = bme280.ChipBME280
	copy(b.regs[bme280.RegCalib1:], calib1)
	copy(b.regs[bme280.RegCalib2:], calib2)
	copy(b.regs[bme280.RegData:], data)
	return b
}

func (b *fakeBus) String() string                    { return "fake" }
func (b *fakeBus) SetSpeed(f physic.Frequency) error { return nil }

func (b *fakeBus) Tx(addr uint16, w, r []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.txs++
	if b.failFrom > 0 && b.txs >= b.failFrom {
		return errors.New("fake: i2c: remote I/O error")
	}
	if addr != b.addr {
		return fmt.Errorf("fake: no ACK from %#x", addr)
	}
	if len(w) == 0 {
		return errors.New("fake: no register")
	}
	if len(r) > 0 {
		if len(w) != 1 {
			return errors.New("fake: read after a multi-byte write")
		}
		for i := range r {
			r[i] = b.regs[(int(w[0])+i)&0xff]
		}
		if w[0] == bme280.RegStatus && b.busy {
			r[0] |= 8
		}
		return nil
	}
	if len(w)%2 != 0 {
		return errors.New("fake: odd register/value write")
	}
	for i := 0; i < len(w); i += 2 {
		b.regs[w[i]] = w[i+1]
	}
	return nil
}

func (b *fakeBus) set(f func(b *fakeBus)) {
	b.mu.Lock()
	f(b)
	b.mu.Unlock()
}

func (b *fakeBus) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.txs
}

func opts() bme280.Opts {
	return bme280.Opts{Timeout: 300 * time.Millisecond}
}

func checkSample(t *testing.T, r drivers.Reading, i int) {
	t.Helper()
	s := samples[i]
	if len(r.Values) != 3 {
		t.Errorf("values %v, want temp, rh and pressure", r.Values)
	}
	for q, want := range map[drivers.Quantity]struct{ v, tol float64 }{
		drivers.TempC:       {s.temp, 1e-9},      // 0.01 °C steps, exact
		drivers.PressureKPa: {s.p, 1e-9},         // 1/256 Pa steps, exact
		drivers.RHpct:       {s.rh, 1e-4 + 1e-9}, // periph truncates to 0.0001 %
	} {
		if got, ok := r.Values[q]; !ok || math.Abs(got-want.v) > want.tol {
			t.Errorf("sample %d: %s = %v (present %v), want %v ± %v", i, q, got, ok, want.v, want.tol)
		}
	}
	if !bytes.Equal(r.Raw, s.data) {
		t.Errorf("Raw = % x, want the data registers % x", r.Raw, s.data)
	}
	if r.Time.IsZero() || r.Status != 0 {
		t.Errorf("time %v, status %v", r.Time, r.Status.Names())
	}
}

const fixture = "testdata/sense.i2c.trace"

// record runs two Reads over the fake bus through i2ctest.Record.
func record(t *testing.T) []i2ctest.IO {
	fb := newFakeBus(samples[0].data)
	rec := &i2ctest.Record{Bus: fb}
	d, err := bme280.New(rec, opts())
	if err != nil {
		t.Fatal(err)
	}
	for i := range samples {
		fb.set(func(b *fakeBus) { copy(b.regs[bme280.RegData:], samples[i].data) })
		r, err := d.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		checkSample(t, r, i)
	}
	return rec.Ops
}

var comments = map[byte]string{
	bme280.RegChipID: "chip id", bme280.RegCalib1: "calibration t1..p9, h1", bme280.RegCalib2: "calibration h2..h6",
	bme280.RegStatus: "status: bit 3 measuring", bme280.RegData: "data: press, temp, hum",
}

// toTrace writes I²C transactions in the project's trace format: '>' is the 7-bit
// address then the bytes written, '<' the bytes read in the same transaction.
func toTrace(ops []i2ctest.IO) *drivertest.Trace {
	tr := &drivertest.Trace{Header: []string{
		"weather/bme280 chip=BME280 addr=0x76 opts=bmxx80.DefaultOpts: two forced measurements (periph bmxx80 v3.7.4 on top)",
		"source: recorded with i2ctest.Record over fakeBus in bme280_test.go, a register map holding chip id 0x60 at 0xD0, the calibration bytes of periph's bmx280_test.go TestI2CSenseBME280_success at 0x88/0xE1 and two chosen data sets at 0xF7; not captured from hardware",
		"made: go test ./drivers/weather/bme280 -run TestFixture -update",
		"format: one I2C transaction per '>' line (first byte the 7-bit address, then the bytes written); a '<' line is what the same transaction read",
	}}
	for _, io := range ops {
		c := "write registers (register, value pairs)"
		if len(io.R) > 0 {
			c = comments[io.W[0]]
		} else if len(io.W) == 2 && io.W[0] == 0xF4 && io.W[1]&3 == 1 {
			c = "ctrl_meas: forced measurement"
		}
		tr.Ops = append(tr.Ops, drivertest.Op{Dir: drivertest.Host, Data: append([]byte{byte(io.Addr)}, io.W...), Comment: c})
		if len(io.R) > 0 {
			tr.Ops = append(tr.Ops, drivertest.Op{Dir: drivertest.Device, Data: io.R})
		}
	}
	return tr
}

func fromTrace(t *testing.T, tr *drivertest.Trace) []i2ctest.IO {
	var ops []i2ctest.IO
	for _, op := range tr.Ops {
		switch op.Dir {
		case drivertest.Host:
			ops = append(ops, i2ctest.IO{Addr: uint16(op.Data[0]), W: op.Data[1:]})
		case drivertest.Device:
			if len(ops) == 0 || ops[len(ops)-1].R != nil {
				t.Fatalf("trace line %d: '<' without its '>'", op.Line)
			}
			ops[len(ops)-1].R = op.Data
		}
	}
	return ops
}

// TestFixture replays the recorded transactions with i2ctest.Playback and checks the
// fixture is what the fake bus gives today (regenerate with -update).
func TestFixture(t *testing.T) {
	fresh := record(t)
	var want bytes.Buffer
	if err := toTrace(fresh).Write(&want); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(fixture, want.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(fixture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := drivertest.ParseTrace(f)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	tr.Write(&got)
	if got.String() != want.String() {
		t.Errorf("%s is out of date with the fake bus; run with -update:\n%s", fixture, want.String())
	}
	ops := fromTrace(t, tr)
	if len(ops) < 10 {
		t.Fatalf("fixture has %d transactions", len(ops))
	}
	pb := &i2ctest.Playback{Ops: ops, DontPanic: true}
	d, err := bme280.New(pb, opts())
	if err != nil {
		t.Fatal(err)
	}
	for i := range samples {
		r, err := d.Read(context.Background())
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		checkSample(t, r, i)
	}
	if err := pb.Close(); err != nil {
		t.Error(err)
	}
}

// TestReads is the contract Conformance checks for serial drivers: repeated Reads give
// known quantities in canonical units, finite, with Raw and Time set.
func TestReads(t *testing.T) {
	fb := newFakeBus(samples[0].data)
	d, err := bme280.New(fb, opts())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		r, err := d.Read(ctx)
		if err != nil {
			t.Fatalf("Read #%d: %v", i+1, err)
		}
		for q, v := range r.Values {
			if !drivers.Known(q) || math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("%s = %v", q, v)
			}
		}
		checkSample(t, r, 0)
	}
	a, err := d.ReadAmbient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkSample(t, a, 0)
	// Kelvin would be 296.87, Pa 100942.7, a fraction 0.653: the units are canonical.
	if a.Values[drivers.TempC] > 100 || a.Values[drivers.PressureKPa] > 1000 || a.Values[drivers.RHpct] < 1 {
		t.Errorf("not canonical units: %v", a.Values)
	}
}

func checkZero(t *testing.T, r drivers.Reading) {
	t.Helper()
	if r.Values != nil || r.Raw != nil || !r.Time.IsZero() || r.Status != 0 {
		t.Errorf("a failed Read returned %+v", r)
	}
}

func TestCancel(t *testing.T) {
	fb := newFakeBus(samples[0].data)
	d, err := bme280.New(fb, bme280.Opts{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := d.Read(ctx)
	if !errors.Is(err, context.Canceled) || fb.count() != 0 {
		t.Errorf("Read with a done ctx = %v after %d transactions; want context.Canceled and none", err, fb.count())
	}
	checkZero(t, r)

	// A sensor stuck "measuring": bmxx80 polls the status register for ever; cancelling
	// ctx ends the Read.
	if _, err := d.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	fb.set(func(b *fakeBus) { b.busy = true })
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	r, err = d.Read(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Read cancelled while measuring = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Read took %v, want it to end soon after the cancel at 50 ms", took)
	}
	checkZero(t, r)

	// Without a cancel, Opts.Timeout ends it.
	d2, _ := bme280.New(fb, bme280.Opts{Timeout: 100 * time.Millisecond})
	r, err = d2.Read(context.Background())
	if !errors.Is(err, drivers.ErrTimeout) || !strings.HasPrefix(err.Error(), "bme280: ") {
		t.Errorf("Read of a sensor stuck measuring = %v, want ErrTimeout", err)
	}
	checkZero(t, r)
}

// TestFailingBus: a bus that fails mid-measurement gives an error wrapping the bus error
// (never a panic or a zero reading), and the Dev recovers, re-reading the calibration,
// once the bus works again.
func TestFailingBus(t *testing.T) {
	fb := newFakeBus(samples[0].data)
	d, err := bme280.New(fb, opts())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := d.Read(ctx); err != nil {
		t.Fatal(err)
	}
	for _, after := range []int{0, 1, 2} { // fail the forced-mode write, the status read, the data read
		fb.set(func(b *fakeBus) { b.failFrom = b.txs + 1 + after })
		r, err := d.Read(ctx)
		if err == nil || !strings.Contains(err.Error(), "remote I/O error") || !strings.HasPrefix(err.Error(), "bme280: ") {
			t.Errorf("fail after %d: Read = %v", after, err)
		}
		checkZero(t, r)
		fb.set(func(b *fakeBus) { b.failFrom = 0 })
		before := fb.count()
		r, err = d.Read(ctx)
		if err != nil {
			t.Fatalf("after the bus healed: %v", err)
		}
		checkSample(t, r, 0)
		if n := fb.count() - before; n < 7 {
			t.Errorf("recovery took %d transactions; want a new chip id and calibration read", n)
		}
	}
	// Out-of-range values are an error too (I²C has no checksum).
	d2, _ := bme280.New(fb, bme280.Opts{Limits: bme280.Limits{TempMin: -40, TempMax: 20, RHMax: 100, PMin: 50, PMax: 110}})
	r, err := d2.Read(ctx)
	if !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("23.72 °C with TempMax 20 = %v, want ErrFrame", err)
	}
	checkZero(t, r)
}

func TestAbsent(t *testing.T) {
	ctx := context.Background()
	fb := newFakeBus(samples[0].data)
	d, _ := bme280.New(fb, bme280.Opts{Addr: 0x77}) // nothing answers at 0x77
	r, err := d.Read(ctx)
	if !errors.Is(err, bme280.ErrAbsent) || !strings.Contains(err.Error(), "no ACK") {
		t.Errorf("no chip at 0x77: %v, want ErrAbsent with the bus error", err)
	}
	checkZero(t, r)

	fb.set(func(b *fakeBus) { b.regs[bme280.RegChipID] = 0x42 })
	d, _ = bme280.New(fb, bme280.Opts{})
	if _, err := d.Read(ctx); !errors.Is(err, bme280.ErrAbsent) {
		t.Errorf("chip id 0x42: %v, want ErrAbsent", err)
	}

	noBus := func(string) (i2c.BusCloser, error) {
		return nil, errors.New("i2creg: no bus found; did you forget to call Init()?")
	}
	if d, err := bme280.Open(ctx, bme280.Opts{OpenBus: noBus}); !errors.Is(err, bme280.ErrAbsent) || d != nil {
		t.Errorf("Open without a bus = %v, %v; want ErrAbsent", d, err)
	}

	// The real opener on this machine: CI boxes have no I²C.
	d, err = bme280.Open(ctx, bme280.Opts{})
	if err == nil {
		d.Close()
		t.Skip("this machine has an I²C bus")
	}
	if !errors.Is(err, bme280.ErrAbsent) {
		t.Errorf("Open with DefaultOpenBus = %v, want ErrAbsent", err)
	}
}

type closerBus struct {
	*fakeBus
	closed int
}

func (c *closerBus) Close() error { c.closed++; return nil }

func TestOpenClose(t *testing.T) {
	cb := &closerBus{fakeBus: newFakeBus(samples[1].data)}
	var asked string
	d, err := bme280.Open(context.Background(), bme280.Opts{Bus: "1", OpenBus: func(name string) (i2c.BusCloser, error) {
		asked = name
		return cb, nil
	}})
	if err != nil || asked != "1" {
		t.Fatalf("Open = %v (bus %q)", err, asked)
	}
	if cb.count() != 0 {
		t.Errorf("Open did %d transactions", cb.count())
	}
	r, err := d.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkSample(t, r, 1)
	if err := d.Close(); err != nil || cb.closed != 1 {
		t.Errorf("Close = %v, bus closed %d times", err, cb.closed)
	}
	d.Close()
	if cb.closed != 1 {
		t.Errorf("second Close closed the bus again")
	}
}

func TestBMP280(t *testing.T) {
	fb := newFakeBus(samples[0].data)
	fb.regs[bme280.RegChipID] = 0x58
	d, _ := bme280.New(fb, opts())
	r, err := d.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Values[drivers.RHpct]; ok || len(r.Values) != 2 || len(r.Raw) != 6 {
		t.Errorf("BMP280 reading %v raw % x; want temperature and pressure only", r.Values, r.Raw)
	}
}

func TestNewOptions(t *testing.T) {
	fb := newFakeBus(nil)
	for _, o := range []bme280.Opts{
		{Addr: 0x40},
		{Timeout: -1},
		{Limits: bme280.Limits{TempMin: 1, TempMax: 0}},
		{Sensor: bme280OptsNoTemp()},
		{Sensor: bme280OptsStandby()},
	} {
		if _, err := bme280.New(fb, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := bme280.New(nil, bme280.Opts{}); err == nil {
		t.Error("New(nil bus) accepted")
	}
	if _, err := bme280.New(fb, bme280.Opts{}); err != nil || fb.count() != 0 {
		t.Errorf("New(zero Opts) = %v after %d transactions", err, fb.count())
	}
}
func bme280OptsNoTemp() bmxx80.Opts {
	o := bmxx80.DefaultOpts
	o.Temperature = bmxx80.Off
	return o
}

func bme280OptsStandby() bmxx80.Opts {
	o := bmxx80.DefaultOpts
	o.Filter, o.Standby = bmxx80.F4, time.Second
	return o
}
