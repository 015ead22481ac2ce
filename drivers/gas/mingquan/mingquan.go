package mingquan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"imagent/drivers"
)

// Model is an analyzer model.
type Model string

// The models.
const (
	MQW50A Model = "MQW-50A"
	MQW50B Model = "MQW-50B" // adds CmdDataB (with PEF)
)

// ParseModel accepts "MQW-50A", "mqw50b" and the like.
func ParseModel(s string) (Model, error) {
	switch strings.ReplaceAll(strings.ToUpper(strings.TrimSpace(s)), "-", "") {
	case "MQW50A":
		return MQW50A, nil
	case "MQW50B":
		return MQW50B, nil
	}
	return "", fmt.Errorf("mingquan: unknown model %q (want MQW-50A or MQW-50B)", s)
}

// Fuel is the fuel the analyzer computes λ for (data byte of CmdFuel).
type Fuel byte

// Fuels (sinq123/OBD MingQuanMQW50A.cpp).
const (
	Gasoline   Fuel = 0
	LPG        Fuel = 1
	NaturalGas Fuel = 2
)

// Opts configures a Dev. Zero values take the DefaultOpts value.
type Opts struct {
	Model   Model         // default MQW-50A
	Timeout time.Duration // answer timeout per transaction, default 1 s
	Quiet   time.Duration // stale input is drained until the line is quiet this long, default 20 ms
	// PollInterval is the pause between two status polls of a running zero, leak check,
	// HC-residual check or calibration (default 500 ms); OpTimeout bounds each (default
	// 120 s: a Mingquan zero or calibration runs tens of seconds [I]).
	PollInterval time.Duration
	OpTimeout    time.Duration
	// CalHCNOScale multiplies C3H8 and NO (ppm) in the calibration frame. The only source
	// (luckyzjian/VMAS) sends them ×100, which cannot carry more than 655 ppm; set 1 if the
	// analyzer refuses or misreads the gas. Default 100.
	CalHCNOScale float64
	Clock        func() time.Time // stamps readings; default time.Now
}

// DefaultOpts are the values used for zero fields of Opts.
var DefaultOpts = Opts{
	Model:        MQW50A,
	Timeout:      time.Second,
	Quiet:        20 * time.Millisecond,
	PollInterval: 500 * time.Millisecond,
	OpTimeout:    120 * time.Second,
	CalHCNOScale: 100,
}

// Dev is one analyzer on a serial link (9600 8N1). Its methods may be called from
// several goroutines; transactions are serialized, and a long operation lets other calls
// in between its polls.
type Dev struct {
	rw io.ReadWriter
	o  Opts

	mu  sync.Mutex
	gas *drivers.CalGas // calibration gas written by WriteCalGas, under mu
}

var (
	_ drivers.Device        = (*Dev)(nil)
	_ drivers.Zeroer        = (*Dev)(nil)
	_ drivers.LeakChecker   = (*Dev)(nil)
	_ drivers.Pump          = (*Dev)(nil)
	_ drivers.StatusQuerier = (*Dev)(nil)
	_ drivers.Ambient       = (*Dev)(nil)
	_ drivers.CalGasWriter  = (*Dev)(nil)
	_ drivers.Spanner       = (*Dev)(nil)
)

// New returns a driver for the analyzer on rw. It does no I/O.
func New(rw io.ReadWriter, o Opts) (*Dev, error) {
	if rw == nil {
		return nil, errors.New("mingquan: nil port")
	}
	if o.Model == "" {
		o.Model = DefaultOpts.Model
	}
	if o.Model != MQW50A && o.Model != MQW50B {
		return nil, fmt.Errorf("mingquan: unknown model %q", string(o.Model))
	}
	if err := drivers.DefaultDurations(
		drivers.Dur(&o.Timeout, DefaultOpts.Timeout),
		drivers.Dur(&o.Quiet, DefaultOpts.Quiet),
		drivers.Dur(&o.PollInterval, DefaultOpts.PollInterval),
		drivers.Dur(&o.OpTimeout, DefaultOpts.OpTimeout),
	); err != nil {
		return nil, fmt.Errorf("mingquan: %w", err)
	}
	switch {
	case o.CalHCNOScale == 0:
		o.CalHCNOScale = DefaultOpts.CalHCNOScale
	case !(o.CalHCNOScale > 0) || o.CalHCNOScale > 1000:
		return nil, fmt.Errorf("mingquan: CalHCNOScale %v out of range (0, 1000]", o.CalHCNOScale)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Dev{rw: rw, o: o}, nil
}

// Read polls the data (0x60): HC, CO, CO2, O2, NO, λ, rpm, oil temperature and the
// ambient temperature, humidity and pressure. The data has no state; Status asks for it.
func (d *Dev) Read(ctx context.Context) (drivers.Reading, error) {
	x, raw, err := d.data(ctx)
	if err != nil {
		return drivers.Reading{}, err
	}
	return drivers.Reading{
		Time: d.o.Clock(),
		Values: map[drivers.Quantity]float64{
			drivers.HCppm:       x.HC,
			drivers.COpct:       x.CO,
			drivers.CO2pct:      x.CO2,
			drivers.O2pct:       x.O2,
			drivers.NOppm:       x.NO,
			drivers.Lambda:      x.Lambda,
			drivers.RPM:         x.RPM,
			drivers.OilTempC:    x.OilTemp,
			drivers.TempC:       x.AmbientTemp,
			drivers.RHpct:       x.RH,
			drivers.PressureKPa: x.PressureKPa,
		},
		Raw: raw,
	}, nil
}

// ReadAmbient returns the ambient temperature, humidity and pressure of the data answer.
func (d *Dev) ReadAmbient(ctx context.Context) (drivers.Reading, error) {
	x, raw, err := d.data(ctx)
	if err != nil {
		return drivers.Reading{}, err
	}
	return drivers.Reading{
		Time:   d.o.Clock(),
		Values: map[drivers.Quantity]float64{drivers.TempC: x.AmbientTemp, drivers.RHpct: x.RH, drivers.PressureKPa: x.PressureKPa},
		Raw:    raw,
	}, nil
}

func (d *Dev) data(ctx context.Context) (Data, []byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	raw, err := d.transact(ctx, "data", CmdData, nil)
	if err != nil {
		return Data{}, nil, err
	}
	x, err := DecodeData(raw)
	return x, raw, err
}

// PEF reads the propane equivalence factor from the MQW-50B data answer (0xA3). The
// MQW-50A has no PEF command: errors.ErrUnsupported.
func (d *Dev) PEF(ctx context.Context) (float64, error) {
	if d.o.Model != MQW50B {
		return 0, fmt.Errorf("mingquan: PEF on the %s: %w", d.o.Model, errors.ErrUnsupported)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	raw, err := d.transact(ctx, "data B", CmdDataB, nil)
	if err != nil {
		return 0, err
	}
	x, err := DecodeDataB(raw)
	return x.PEF, err
}

// Status asks the analyzer for its state (0x61).
func (d *Dev) Status(ctx context.Context) (drivers.Status, error) {
	s, err := d.StatusDetail(ctx)
	return s.Drivers(), err
}

// StatusDetail returns the five status bytes of 0x61.
func (d *Dev) StatusDetail(ctx context.Context) (Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	raw, err := d.transact(ctx, "status", CmdStatus, nil)
	if err != nil {
		return Status{}, err
	}
	return DecodeStatus(raw)
}

// SetPump pumps from the probe (0x7B) or stops the current action (0x78).
func (d *Dev) SetPump(ctx context.Context, on bool) error {
	if on {
		return d.simple(ctx, "pump probe", CmdPumpProbe, nil)
	}
	return d.simple(ctx, "stop", CmdStopAction, nil)
}

// PumpAir pumps ambient air (0x7C).
func (d *Dev) PumpAir(ctx context.Context) error { return d.simple(ctx, "pump air", CmdPumpAir, nil) }

// Backflush blows the sample line back (0x80) until SetPump(ctx, false).
func (d *Dev) Backflush(ctx context.Context) error {
	return d.simple(ctx, "back-flush", CmdBackflush, nil)
}

// SetFuel sets the fuel the analyzer computes λ for (0x6C).
func (d *Dev) SetFuel(ctx context.Context, f Fuel) error {
	if f > NaturalGas {
		return fmt.Errorf("mingquan: unknown fuel %d", f)
	}
	return d.simple(ctx, "fuel", CmdFuel, []byte{byte(f)})
}

// Zero runs a zero (0x67) and waits for its end by polling the status; a zero the
// analyzer flags as failed is drivers.ErrFailed.
func (d *Dev) Zero(ctx context.Context) error {
	st, err := d.operate(ctx, "zero", EncodeFrame(STX, CmdZero, nil), CmdZero)
	if err != nil {
		return err
	}
	if st.Errors&ErrZero != 0 {
		return fmt.Errorf("mingquan: zero: %w", drivers.ErrFailed)
	}
	return nil
}

// LeakCheck runs the automatic leak test (0x66) and reports whether the sample path is
// tight (the "leak over the limit" flag is clear).
func (d *Dev) LeakCheck(ctx context.Context) (bool, error) {
	st, err := d.operate(ctx, "leak check", EncodeFrame(STX, CmdLeakCheck, nil), CmdLeakCheck)
	if err != nil {
		return false, err
	}
	return st.Errors&ErrLeak == 0, nil
}

// HCResidualCheck runs the analyzer's own HC-residual measurement (0x64) and reports
// whether the residual is within the analyzer's limit. (The residual value itself, 0x71,
// has an unknown layout and is not read.)
func (d *Dev) HCResidualCheck(ctx context.Context) (ok bool, err error) {
	st, err := d.operate(ctx, "HC residual", EncodeFrame(STX, CmdHCResidual, nil), CmdHCResidual)
	if err != nil {
		return false, err
	}
	return st.Errors&ErrHCResidual == 0, nil
}

// WriteCalGas remembers the calibration gas for Span: the Mingquan writes the
// concentrations and calibrates in one command (0x69). The values are checked against
// the frame now. There is no check-gas write: check=true gives errors.ErrUnsupported.
func (d *Dev) WriteCalGas(ctx context.Context, g drivers.CalGas, check bool) error {
	if check {
		return fmt.Errorf("mingquan: check-gas concentrations: %w", errors.ErrUnsupported)
	}
	if _, err := EncodeCalibrate(g, d.o.CalHCNOScale); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mingquan: calibration gas: %w", err)
	}
	d.mu.Lock()
	d.gas = &g
	d.mu.Unlock()
	return nil
}

// Span calibrates with the gas given to WriteCalGas, as the lane software does: open the
// span-gas valve (0x7E), send the concentrations (0x69), poll the status until the
// analyzer is no longer busy, read the data, and stop (0x78). A channel the analyzer flags
// as failed is drivers.ErrFailed. The Reading is the data read at the end.
func (d *Dev) Span(ctx context.Context) (drivers.Reading, error) {
	d.mu.Lock()
	gas := d.gas
	d.mu.Unlock()
	if gas == nil {
		return drivers.Reading{}, errors.New("mingquan: span: no calibration gas written")
	}
	req, err := EncodeCalibrate(*gas, d.o.CalHCNOScale)
	if err != nil {
		return drivers.Reading{}, err
	}
	if err := d.simple(ctx, "span-gas valve", CmdSpanGasValve, nil); err != nil {
		return drivers.Reading{}, err
	}
	st, err := d.operate(ctx, "calibration", req, CmdCalibrate)
	var r drivers.Reading
	if err == nil {
		if failed := st.CalFailed & req[3]; failed != 0 {
			err = fmt.Errorf("mingquan: calibration of %s: %w", strings.Join(ChannelNames(failed), ", "), drivers.ErrFailed)
		} else {
			r, err = d.Read(ctx)
		}
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*d.o.Timeout+d.o.Quiet)
	defer cancel()
	if stopErr := d.simple(stopCtx, "stop", CmdStopAction, nil); err == nil {
		err = stopErr
	}
	if err != nil {
		return drivers.Reading{}, err
	}
	return r, nil
}

// operate sends req (acknowledged as command cmd), then polls the status every
// PollInterval until the busy flag clears, and returns that status.
func (d *Dev) operate(ctx context.Context, what string, req []byte, cmd byte) (Status, error) {
	opCtx, cancel := context.WithTimeout(ctx, d.o.OpTimeout)
	defer cancel()
	timedOut := func(err error) error {
		if ctx.Err() == nil && opCtx.Err() != nil {
			return fmt.Errorf("mingquan: %s not finished within %v: %w", what, d.o.OpTimeout, drivers.ErrTimeout)
		}
		return err
	}
	d.mu.Lock()
	raw, err := d.exchange(opCtx, what, req, cmd)
	d.mu.Unlock()
	if err != nil {
		return Status{}, timedOut(err)
	}
	if _, err := decodeAnswer(raw, cmd, AckLen, what); err != nil {
		return Status{}, err
	}
	for {
		t := time.NewTimer(d.o.PollInterval)
		select {
		case <-opCtx.Done():
			t.Stop()
			return Status{}, timedOut(fmt.Errorf("mingquan: %s: %w", what, ctx.Err()))
		case <-t.C:
		}
		st, err := d.StatusDetail(opCtx)
		if err != nil {
			return Status{}, timedOut(err)
		}
		if !st.Busy() {
			return st, nil
		}
	}
}

// simple sends a command whose answer is the acknowledgement 06 CMD 03 CS.
func (d *Dev) simple(ctx context.Context, what string, cmd byte, data []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	raw, err := d.transact(ctx, what, cmd, data)
	if err != nil {
		return err
	}
	_, err = decodeAnswer(raw, cmd, AckLen, what)
	return err
}

// transact sends the request frame for cmd and data and returns the answer frame.
// Callers hold d.mu.
func (d *Dev) transact(ctx context.Context, what string, cmd byte, data []byte) ([]byte, error) {
	return d.exchange(ctx, what, EncodeFrame(STX, cmd, data), cmd)
}

// exchange drains stale input, writes req and reads one answer: a NAK byte is
// drivers.ErrNAK; otherwise 06, the command (which must be cmd) and LEN, then the rest of
// the frame, whose checksum the caller's decoder checks. A bad first byte is reported at
// once; the next exchange's drain discards what follows. Callers hold d.mu.
func (d *Dev) exchange(ctx context.Context, what string, req []byte, cmd byte) ([]byte, error) {
	if err := drivers.Send(ctx, d.rw, req, d.o.Quiet); err != nil {
		return nil, fmt.Errorf("mingquan: %s: %w", what, err)
	}
	deadline := time.Now().Add(d.o.Timeout)
	head := make([]byte, 3, 32)
	if _, err := drivers.ReadFull(ctx, d.rw, head[:1], d.o.Timeout); err != nil {
		return nil, fmt.Errorf("mingquan: %s: %w", what, err)
	}
	switch head[0] {
	case NAK:
		return nil, fmt.Errorf("mingquan: %s: %w", what, drivers.ErrNAK)
	case ACK:
	default:
		return nil, fmt.Errorf("mingquan: %s: first byte %#02x, want %#02x: %w", what, head[0], ACK, drivers.ErrFrame)
	}
	if _, err := drivers.ReadFull(ctx, d.rw, head[1:3], time.Until(deadline)); err != nil {
		return nil, fmt.Errorf("mingquan: %s: %w", what, err)
	}
	if head[1] != cmd {
		return nil, fmt.Errorf("mingquan: %s: answer to command %#02x, want %#02x: %w", what, head[1], cmd, drivers.ErrFrame)
	}
	if head[2] < 3 {
		return nil, fmt.Errorf("mingquan: %s: length byte %d: %w", what, head[2], drivers.ErrFrame)
	}
	b := append(head, make([]byte, int(head[2])-2)...)
	if _, err := drivers.ReadFull(ctx, d.rw, b[3:], time.Until(deadline)); err != nil {
		return nil, fmt.Errorf("mingquan: %s: %w", what, err)
	}
	return b, nil
}
