package mqw510x

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

// Model is an instrument of the family.
type Model string

// The models.
const (
	MQW5101 Model = "MQW-5101" // opacimeter + NO cell + ambient sensors
	MQW5102 Model = "MQW-5102" // NOx + CO2 analyser with an attached opacimeter
)

// ParseModel accepts a model name in any case, with or without the hyphen.
func ParseModel(s string) (Model, error) {
	switch strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), "-", "")) {
	case "MQW5101":
		return MQW5101, nil
	case "MQW5102":
		return MQW5102, nil
	}
	return "", fmt.Errorf("mqw510x: unknown model %q (want MQW-5101 or MQW-5102)", s)
}

// ErrUnsupported is returned by a capability the configured model does not have (the
// MQW-5101 has no max-hold, the MQW-5102 no pump, leak test or status command in any
// source found).
var ErrUnsupported = errors.New("mqw510x: not supported by this model")

// Opts configures a Dev. Zero durations take the DefaultOpts value.
type Opts struct {
	Model   Model         // required
	Timeout time.Duration // reply timeout per transaction, default 1 s
	Quiet   time.Duration // stale input is drained until the line is quiet this long, default 20 ms
	// PollInterval is the pause between status polls of a running leak test (default
	// 500 ms); OpTimeout bounds the whole test (default 90 s).
	PollInterval time.Duration
	OpTimeout    time.Duration
	// NoOpacimeter tells an MQW-5102 no opacimeter is attached (the second data byte of
	// its real-time request, MQW5102.c).
	NoOpacimeter bool
	Clock        func() time.Time // stamps readings; default time.Now
}

// DefaultOpts are the values used for zero fields of Opts.
var DefaultOpts = Opts{
	Model:        MQW5101,
	Timeout:      time.Second,
	Quiet:        20 * time.Millisecond,
	PollInterval: 500 * time.Millisecond,
	OpTimeout:    90 * time.Second,
}

// Dev is one instrument on a serial link. Its methods may be called from several
// goroutines; transactions are serialized.
type Dev struct {
	rw io.ReadWriter
	o  Opts
	mu sync.Mutex
}

var (
	_ drivers.Device        = (*Dev)(nil)
	_ drivers.Zeroer        = (*Dev)(nil)
	_ drivers.StatusQuerier = (*Dev)(nil)
	_ drivers.Pump          = (*Dev)(nil)
	_ drivers.LeakChecker   = (*Dev)(nil)
	_ drivers.PeakReader    = (*Dev)(nil)
)

// New returns a driver for the instrument on rw (a go.bug.st/serial port at 9600 8N1). It
// does no I/O.
func New(rw io.ReadWriter, o Opts) (*Dev, error) {
	if rw == nil {
		return nil, errors.New("mqw510x: nil port")
	}
	switch o.Model {
	case MQW5101, MQW5102:
	case "":
		return nil, errors.New("mqw510x: no model given")
	default:
		return nil, fmt.Errorf("mqw510x: unknown model %q", string(o.Model))
	}
	if err := drivers.DefaultDurations(
		drivers.Dur(&o.Timeout, DefaultOpts.Timeout),
		drivers.Dur(&o.Quiet, DefaultOpts.Quiet),
		drivers.Dur(&o.PollInterval, DefaultOpts.PollInterval),
		drivers.Dur(&o.OpTimeout, DefaultOpts.OpTimeout),
	); err != nil {
		return nil, fmt.Errorf("mqw510x: %w", err)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Dev{rw: rw, o: o}, nil
}

// Model returns the configured model.
func (d *Dev) Model() Model { return d.o.Model }

func (d *Dev) only(m Model, what string) error {
	if d.o.Model != m {
		return fmt.Errorf("%w: %s on the %s", ErrUnsupported, what, d.o.Model)
	}
	return nil
}

// Read polls the real-time data. MQW-5101 (command 32, data and status): NOx, k, N,
// rpm, oil temperature and the ambient T, RH and P, with warm-up, zeroing, leak test,
// busy and low flow as Status. MQW-5102 (command 30 02 01): NOx, CO2, k, N, rpm and oil
// temperature; its frame has no status. N is the instrument's Ns (standard path).
func (d *Dev) Read(ctx context.Context) (drivers.Reading, error) {
	if d.o.Model == MQW5102 {
		b, err := d.transact(ctx, Realtime5102Request(!d.o.NoOpacimeter))
		if err != nil {
			return drivers.Reading{}, err
		}
		x, err := DecodeRealtime5102(b)
		if err != nil {
			return drivers.Reading{}, err
		}
		return drivers.Reading{Time: d.o.Clock(), Raw: b, Values: map[drivers.Quantity]float64{
			drivers.NOxppm: x.NOx, drivers.CO2pct: x.CO2, drivers.KM1: x.K, drivers.OpacityPct: x.Ns,
			drivers.RPM: x.RPM, drivers.OilTempC: x.OilTempC,
		}}, nil
	}
	b, err := d.transact(ctx, Request(CmdDataStatus))
	if err != nil {
		return drivers.Reading{}, err
	}
	x, st, err := DecodeDataStatus5101(b)
	if err != nil {
		return drivers.Reading{}, err
	}
	return drivers.Reading{Time: d.o.Clock(), Raw: b, Status: st.Status(), Values: map[drivers.Quantity]float64{
		drivers.NOxppm: x.NOx, drivers.KM1: x.K, drivers.OpacityPct: x.Ns, drivers.RPM: x.RPM,
		drivers.OilTempC: x.OilTempC, drivers.TempC: x.TempC, drivers.RHpct: x.RHpct, drivers.PressureKPa: x.PressureKPa,
	}}, nil
}

// Realtime5101 reads the MQW-5101's real-time data alone (command 30), with the fields
// Read leaves out (N at the instrument path, pipe pressure, gas temperatures).
func (d *Dev) Realtime5101(ctx context.Context) (Data5101, error) {
	if err := d.only(MQW5101, "command 30 without data"); err != nil {
		return Data5101{}, err
	}
	b, err := d.transact(ctx, Request(CmdRealtime))
	if err != nil {
		return Data5101{}, err
	}
	return DecodeRealtime5101(b)
}

// Status5101 reads the MQW-5101's eight status bytes (command 31).
func (d *Dev) Status5101(ctx context.Context) (Status5101, error) {
	if err := d.only(MQW5101, "status"); err != nil {
		return Status5101{}, err
	}
	b, err := d.transact(ctx, Request(CmdStatus))
	if err != nil {
		return Status5101{}, err
	}
	return DecodeStatus5101(b)
}

// Status reads the status (MQW-5101, command 31). The MQW-5102 has no status command in
// any source: ErrUnsupported.
func (d *Dev) Status(ctx context.Context) (drivers.Status, error) {
	s, err := d.Status5101(ctx)
	if err != nil {
		return 0, err
	}
	return s.Status(), nil
}

// Zero zeroes the instrument: MQW-5101 command 21; MQW-5102 the opacimeter (2A), then
// NOx (29).
func (d *Dev) Zero(ctx context.Context) error {
	if d.o.Model == MQW5101 {
		return d.Command(ctx, CmdZero)
	}
	if err := d.Command(ctx, CmdOpacityZero); err != nil {
		return err
	}
	return d.Command(ctx, CmdNOxZero)
}

// ZeroNOx zeroes the NOx channel: 29 on the MQW-5102, the zero (21) on the MQW-5101.
func (d *Dev) ZeroNOx(ctx context.Context) error {
	if d.o.Model == MQW5101 {
		return d.Command(ctx, CmdZero)
	}
	return d.Command(ctx, CmdNOxZero)
}

// SetPump switches the MQW-5101's sample pump on (10, sample from the probe) or off (16,
// stop).
func (d *Dev) SetPump(ctx context.Context, on bool) error {
	if err := d.only(MQW5101, "pump"); err != nil {
		return err
	}
	if on {
		return d.Command(ctx, CmdPumpSample)
	}
	return d.Command(ctx, CmdStop)
}

// LeakCheck runs the MQW-5101's leak test (1A) and polls the status (31) every
// PollInterval until the leak-test bit clears; tight is the "leak test passed" bit.
func (d *Dev) LeakCheck(ctx context.Context) (tight bool, err error) {
	if err := d.only(MQW5101, "leak test"); err != nil {
		return false, err
	}
	if err := d.Command(ctx, CmdLeakTest); err != nil {
		return false, err
	}
	opCtx, cancel := context.WithTimeout(ctx, d.o.OpTimeout)
	defer cancel()
	for {
		s, err := d.Status5101(opCtx)
		if err != nil {
			if ctx.Err() == nil && opCtx.Err() != nil {
				return false, fmt.Errorf("mqw510x: leak test not finished within %v: %w", d.o.OpTimeout, drivers.ErrTimeout)
			}
			return false, err
		}
		if s[2]&S2LeakTest == 0 {
			return s[4]&S4LeakOK != 0, nil
		}
		t := time.NewTimer(d.o.PollInterval)
		select {
		case <-opCtx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return false, fmt.Errorf("mqw510x: leak test: %w", ctx.Err())
			}
			return false, fmt.Errorf("mqw510x: leak test not finished within %v: %w", d.o.OpTimeout, drivers.ErrTimeout)
		case <-t.C:
		}
	}
}

// StartPeaks clears the MQW-5102's max-hold (63) before an acceleration.
func (d *Dev) StartPeaks(ctx context.Context) error {
	if err := d.only(MQW5102, "max-hold"); err != nil {
		return err
	}
	return d.Command(ctx, CmdClearMax)
}

// Peaks reads the MQW-5102's max-hold (64) and returns the one maximum k held since
// StartPeaks (empty while it reads 0.00); re-arm before every acceleration.
func (d *Dev) Peaks(ctx context.Context) ([]float64, error) {
	if err := d.only(MQW5102, "max-hold"); err != nil {
		return nil, err
	}
	b, err := d.transact(ctx, Request(CmdGetMax))
	if err != nil {
		return nil, err
	}
	m, err := DecodeMax5102(b)
	if err != nil {
		return nil, err
	}
	if m.K == 0 {
		return []float64{}, nil
	}
	return []float64{m.K}, nil
}

// Command sends a command without data whose reply is a plain acknowledgement (06 CMD
// 03 CS), e.g. CmdSkipWarmup, CmdBackflush, CmdPumpAir.
func (d *Dev) Command(ctx context.Context, cmd byte) error {
	b, err := d.transact(ctx, Request(cmd))
	if err != nil {
		return err
	}
	return DecodeAck(b, cmd)
}

// Calibrate sends a calibration command with its word (05 CMD 05 hi lo CS), e.g.
// CmdCalNO with the gas's ppm or CmdCalTemp with 0.1 °C units.
func (d *Dev) Calibrate(ctx context.Context, cmd byte, word uint16) error {
	b, err := d.transact(ctx, Request(cmd, byte(word>>8), byte(word)))
	if err != nil {
		return err
	}
	return DecodeAck(b, cmd)
}

// transact drains stale input, writes req and reads one reply: the first byte (NAK is
// drivers.ErrNAK at once; anything but ACK drivers.ErrFrame), then CMD and LEN, then
// the rest of the LEN+1 bytes. It returns the whole frame, not yet checked.
func (d *Dev) transact(ctx context.Context, req []byte) ([]byte, error) {
	cmd := req[1]
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := drivers.Send(ctx, d.rw, req, d.o.Quiet); err != nil {
		return nil, fmt.Errorf("mqw510x: cmd %#02x: %w", cmd, err)
	}
	deadline := time.Now().Add(d.o.Timeout)
	var head [3]byte
	if _, err := drivers.ReadFull(ctx, d.rw, head[:1], d.o.Timeout); err != nil {
		return nil, fmt.Errorf("mqw510x: cmd %#02x: %w", cmd, err)
	}
	switch head[0] {
	case NAK:
		return nil, fmt.Errorf("mqw510x: cmd %#02x: %w", cmd, drivers.ErrNAK)
	case ACK:
	default:
		return nil, fmt.Errorf("mqw510x: cmd %#02x: first byte %#02x, want %#02x: %w", cmd, head[0], ACK, drivers.ErrFrame)
	}
	if _, err := drivers.ReadFull(ctx, d.rw, head[1:], time.Until(deadline)); err != nil {
		return nil, fmt.Errorf("mqw510x: cmd %#02x: %w", cmd, err)
	}
	n := int(head[2]) + 1
	if n < MinLen {
		return nil, fmt.Errorf("mqw510x: cmd %#02x: reply LEN %d: %w", cmd, head[2], drivers.ErrFrame)
	}
	b := make([]byte, n)
	copy(b, head[:])
	if _, err := drivers.ReadFull(ctx, d.rw, b[3:], time.Until(deadline)); err != nil {
		return nil, fmt.Errorf("mqw510x: cmd %#02x: %w", cmd, err)
	}
	return b, nil
}
