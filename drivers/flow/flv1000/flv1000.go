package flv1000

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"imagent/drivers"
)

// Opts configures a Dev. Zero durations take the DefaultOpts value.
type Opts struct {
	Timeout time.Duration // reply timeout per transaction, default 1 s
	Quiet   time.Duration // stale input is drained until the line is quiet this long, default 20 ms
	// LiteralRequests sends the request frames printed in the manual (81, 86, 88, AC)
	// byte for byte, although some do not satisfy the manual's checksum formula, instead
	// of frames with the computed checksum (the default). See firmware-notes/flow/flv1000.md.
	LiteralRequests bool
	// StdFlowAt0C says the flowmeter's "standard conditions" are 0 °C; by default they are
	// taken to be 20 °C, the canonical reference of drivers.FlowStdLps [I]. The driver
	// converts to 20 °C either way.
	StdFlowAt0C bool
	Clock       func() time.Time // stamps readings; default time.Now
}

// DefaultOpts are the values used for zero fields of Opts.
var DefaultOpts = Opts{Timeout: time.Second, Quiet: 20 * time.Millisecond}

// Dev is one FLV-1000 on a serial link. Its methods may be called from several
// goroutines; transactions are serialized.
type Dev struct {
	rw io.ReadWriter
	o  Opts
	mu sync.Mutex
}

var (
	_ drivers.Device        = (*Dev)(nil)
	_ drivers.StatusQuerier = (*Dev)(nil)
)

// New returns a driver for the flowmeter on rw (a go.bug.st/serial port at 9600 8N1). It
// does no I/O.
func New(rw io.ReadWriter, o Opts) (*Dev, error) {
	if rw == nil {
		return nil, errors.New("flv1000: nil port")
	}
	if err := drivers.DefaultDurations(
		drivers.Dur(&o.Timeout, DefaultOpts.Timeout),
		drivers.Dur(&o.Quiet, DefaultOpts.Quiet),
	); err != nil {
		return nil, fmt.Errorf("flv1000: %w", err)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Dev{rw: rw, o: o}, nil
}

// Read asks for the raw data (86: O2, P, T, actual flow), the standard data (87: the
// standard flow) and the status (88), and returns diluted O2, gas pressure and
// temperature, and the flow at actual and at standard (20 °C, 101.325 kPa) conditions.
// Raw is the three replies one after the other.
func (d *Dev) Read(ctx context.Context) (drivers.Reading, error) {
	raw, err := d.transact(ctx, CmdRawAll, nil)
	if err != nil {
		return drivers.Reading{}, err
	}
	a, err := DecodeAll(raw, CmdRawAll)
	if err != nil {
		return drivers.Reading{}, err
	}
	std, err := d.transact(ctx, CmdStdAll, nil)
	if err != nil {
		return drivers.Reading{}, err
	}
	s, err := DecodeAll(std, CmdStdAll)
	if err != nil {
		return drivers.Reading{}, err
	}
	stb, err := d.transact(ctx, CmdStatus, nil)
	if err != nil {
		return drivers.Reading{}, err
	}
	st, err := DecodeState(stb)
	if err != nil {
		return drivers.Reading{}, err
	}
	q := s.FlowLps
	if d.o.StdFlowAt0C {
		q = Rebase(q, 0, 20)
	}
	return drivers.Reading{
		Time: d.o.Clock(),
		Values: map[drivers.Quantity]float64{
			drivers.O2DilPct:   a.O2Pct,
			drivers.FlowKPa:    a.PressureKPa,
			drivers.FlowTempC:  a.TempC,
			drivers.FlowLps:    a.FlowLps,
			drivers.FlowStdLps: q,
		},
		Status: st.Status(),
		Raw:    append(append(raw, std...), stb...),
	}, nil
}

// State reads the status bytes (88).
func (d *Dev) State(ctx context.Context) (State, error) {
	b, err := d.transact(ctx, CmdStatus, nil)
	if err != nil {
		return State{}, err
	}
	return DecodeState(b)
}

// Status reads the status (88) and maps it with State.Status.
func (d *Dev) Status(ctx context.Context) (drivers.Status, error) {
	s, err := d.State(ctx)
	if err != nil {
		return 0, err
	}
	return s.Status(), nil
}

// Value reads one value with a single-value command (CmdO2 … CmdFlowStd) in the manual's
// units.
func (d *Dev) Value(ctx context.Context, cmd byte) (float64, error) {
	if _, ok := scale(cmd); !ok {
		return 0, fmt.Errorf("flv1000: %#02x is not a single-value command", cmd)
	}
	b, err := d.transact(ctx, cmd, nil)
	if err != nil {
		return 0, err
	}
	return DecodeValue(b, cmd)
}

// CalibrateO2 calibrates the diluted-O2 reading to pct (A0), e.g. 20.9 on ambient air.
func (d *Dev) CalibrateO2(ctx context.Context, pct float64) error {
	return d.calibrate(ctx, CmdCalO2, pct, 100, 0, 25)
}

// CalibrateO2Low and CalibrateO2High set the two O2 calibration points (A1: 3–6 %,
// A2: 18–21 %) with the gas concentration pct.
func (d *Dev) CalibrateO2Low(ctx context.Context, pct float64) error {
	return d.calibrate(ctx, CmdCalO2Low, pct, 100, 3, 6)
}

// CalibrateO2High: see CalibrateO2Low.
func (d *Dev) CalibrateO2High(ctx context.Context, pct float64) error {
	return d.calibrate(ctx, CmdCalO2High, pct, 100, 18, 21)
}

// CalibratePressure calibrates the gas pressure to kPa (A3, 0.1 kPa).
func (d *Dev) CalibratePressure(ctx context.Context, kPa float64) error {
	return d.calibrate(ctx, CmdCalPressure, kPa, 10, 50, 130)
}

// CalibrateTemp calibrates the gas temperature to °C (A4, 0.1 °C).
func (d *Dev) CalibrateTemp(ctx context.Context, c float64) error {
	return d.calibrate(ctx, CmdCalTemp, c, 10, -20, 180)
}

// calibrate sends CMD 04 hi lo CS with v·scale after a range check.
func (d *Dev) calibrate(ctx context.Context, cmd byte, v, scale, lo, hi float64) error {
	if !(v >= lo && v <= hi) {
		return fmt.Errorf("flv1000: calibration value %v outside %v..%v", v, lo, hi)
	}
	w := uint16(int16(math.Round(v * scale)))
	b, err := d.transact(ctx, cmd, []byte{byte(w >> 8), byte(w)})
	if err != nil {
		return err
	}
	return DecodeAck(b, cmd)
}

// transact drains stale input, writes the request for cmd and reads the reply: the
// first byte (NAK, the whole reply to a refusal, is drivers.ErrNAK; anything but ACK
// drivers.ErrFrame), then the rest of the reply's known length.
func (d *Dev) transact(ctx context.Context, cmd byte, data []byte) ([]byte, error) {
	req := Request(cmd, data...)
	if d.o.LiteralRequests && len(data) == 0 {
		if lit, ok := LiteralRequest(cmd); ok {
			req = lit
		}
	}
	n := ReplyLen(cmd)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := drivers.Send(ctx, d.rw, req, d.o.Quiet); err != nil {
		return nil, fmt.Errorf("flv1000: cmd %#02x: %w", cmd, err)
	}
	deadline := time.Now().Add(d.o.Timeout)
	b := make([]byte, n)
	if _, err := drivers.ReadFull(ctx, d.rw, b[:1], d.o.Timeout); err != nil {
		return nil, fmt.Errorf("flv1000: cmd %#02x: %w", cmd, err)
	}
	switch b[0] {
	case NAK:
		return nil, fmt.Errorf("flv1000: cmd %#02x: %w", cmd, drivers.ErrNAK)
	case ACK:
	default:
		return nil, fmt.Errorf("flv1000: cmd %#02x: first byte %#02x, want %#02x: %w", cmd, b[0], ACK, drivers.ErrFrame)
	}
	if _, err := drivers.ReadFull(ctx, d.rw, b[1:], time.Until(deadline)); err != nil {
		return nil, fmt.Errorf("flv1000: cmd %#02x: %w", cmd, err)
	}
	return b, nil
}
