package nt

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

// Models.
const (
	VMT2000 Model = "VMT-2000" // VMT-2000 and VUT-3000 tachometers: rpm
	FMP1    Model = "FMP-1"    // combined meter: rpm, oil temperature, ambient T/RH/P
	FTH2    Model = "FTH-2"    // weather station: T/RH/P
)

// ParseModel accepts the model names as technicians write them.
func ParseModel(s string) (Model, error) {
	switch strings.NewReplacer("-", "", " ", "", "_", "").Replace(strings.ToUpper(strings.TrimSpace(s))) {
	case "VMT2000", "VUT3000":
		return VMT2000, nil
	case "FMP1":
		return FMP1, nil
	case "FTH2":
		return FTH2, nil
	}
	return "", fmt.Errorf("nt: unknown model %q (want VMT-2000, VUT-3000, FMP-1 or FTH-2)", s)
}

// DefaultAddr is the address the lane software and manuals use for each model.
func DefaultAddr(m Model) [2]byte {
	switch m {
	case VMT2000:
		return [2]byte{'0', 0xFF}
	case FTH2:
		return [2]byte{'3', '3'}
	}
	return [2]byte{'0', '1'}
}

// vmtModeAddr is the address luckyzjian/VMAS sends the VMT-2000 mode command to.
var vmtModeAddr = [2]byte{'0', '1'}

// Opts configures a Dev. Zero durations take the DefaultOpts value.
type Opts struct {
	Model Model // required
	// Addr is the two address bytes after "NT"; zero means DefaultAddr(Model) (and, for
	// the VMT-2000 mode command, "01" as the lane software sends it).
	Addr    [2]byte
	Timeout time.Duration // reply timeout, default 1 s (the FMP-1 manual: no reply in 2 s = dead)
	Quiet   time.Duration // stale input is drained until the line is quiet this long, default 20 ms
	// AnyReplyAddr accepts replies whose address differs from the request's (the lane
	// software requires them equal).
	AnyReplyAddr bool
	// VMASModeChecksum computes the VMT-2000 mode command's checksum as
	// luckyzjian/VMAS does, without the mode byte. The sources disagree.
	VMASModeChecksum bool
	// Clock stamps readings; default time.Now.
	Clock func() time.Time
}

// DefaultOpts are the values used for zero fields of Opts.
var DefaultOpts = Opts{
	Model:   VMT2000,
	Timeout: time.Second,
	Quiet:   20 * time.Millisecond,
}

// Dev is one instrument of the "NT" family on a serial link (19200 8N1). Its methods may
// be called from several goroutines; transactions are serialized.
type Dev struct {
	rw io.ReadWriter
	o  Opts

	mu sync.Mutex
}

var (
	_ drivers.Device  = (*Dev)(nil)
	_ drivers.Ambient = (*Dev)(nil)
)

// New returns a driver for the instrument on rw (normally a go.bug.st/serial port at
// 19200 8N1). It does no I/O.
func New(rw io.ReadWriter, o Opts) (*Dev, error) {
	if rw == nil {
		return nil, errors.New("nt: nil port")
	}
	switch o.Model {
	case VMT2000, FMP1, FTH2:
	case "":
		return nil, errors.New("nt: no model given")
	default:
		return nil, fmt.Errorf("nt: unknown model %q", o.Model)
	}
	if err := drivers.DefaultDurations(
		drivers.Dur(&o.Timeout, DefaultOpts.Timeout),
		drivers.Dur(&o.Quiet, DefaultOpts.Quiet),
	); err != nil {
		return nil, fmt.Errorf("nt: %w", err)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Dev{rw: rw, o: o}, nil
}

// Model returns the configured model.
func (d *Dev) Model() Model { return d.o.Model }

func (d *Dev) addr() [2]byte {
	if d.o.Addr == ([2]byte{}) {
		return DefaultAddr(d.o.Model)
	}
	return d.o.Addr
}

// Read polls the model's data command. VMT-2000: rpm. FMP-1: rpm, oil temperature, ambient
// temperature, humidity and pressure, with ST01 as Status (calibrating: Busy; a failed
// calibration: Fault). FTH-2: temperature, humidity, pressure. Raw is the reply.
func (d *Dev) Read(ctx context.Context) (drivers.Reading, error) {
	switch d.o.Model {
	case VMT2000:
		f, raw, err := d.transact(ctx, d.addr(), CmdVMTRPM, nil, nil)
		if err != nil {
			return drivers.Reading{}, err
		}
		rpm, err := DecodeVMTRPM(f)
		if err != nil {
			return drivers.Reading{}, err
		}
		return drivers.Reading{Time: d.o.Clock(), Values: map[drivers.Quantity]float64{drivers.RPM: rpm}, Raw: raw}, nil
	case FMP1:
		f, raw, err := d.transact(ctx, d.addr(), CmdFMP1Read, nil, nil)
		if err != nil {
			return drivers.Reading{}, err
		}
		x, err := DecodeFMP1(f)
		if err != nil {
			return drivers.Reading{}, err
		}
		return drivers.Reading{
			Time: d.o.Clock(),
			Values: map[drivers.Quantity]float64{
				drivers.RPM:         x.RPM,
				drivers.OilTempC:    x.OilTempC,
				drivers.TempC:       x.TempC,
				drivers.RHpct:       x.RHpct,
				drivers.PressureKPa: x.PressureKPa,
			},
			Status: FMP1Status(x.ST01),
			Raw:    raw,
		}, nil
	default: // FTH2
		return d.readFTH2(ctx)
	}
}

func (d *Dev) readFTH2(ctx context.Context) (drivers.Reading, error) {
	f, raw, err := d.transact(ctx, d.addr(), CmdFTH2Read, nil, nil)
	if err != nil {
		return drivers.Reading{}, err
	}
	x, err := DecodeFTH2(f)
	if err != nil {
		return drivers.Reading{}, err
	}
	return drivers.Reading{
		Time: d.o.Clock(),
		Values: map[drivers.Quantity]float64{
			drivers.TempC:       x.TempC,
			drivers.RHpct:       x.RHpct,
			drivers.PressureKPa: x.PressureKPa,
		},
		Raw: raw,
	}, nil
}

// ReadAmbient reads temperature, humidity and pressure (FMP-1, FTH-2). The VMT-2000 has
// no ambient sensors and gives an error.
func (d *Dev) ReadAmbient(ctx context.Context) (drivers.Reading, error) {
	switch d.o.Model {
	case FTH2:
		return d.readFTH2(ctx)
	case FMP1:
		r, err := d.Read(ctx)
		if err != nil {
			return drivers.Reading{}, err
		}
		delete(r.Values, drivers.RPM)
		delete(r.Values, drivers.OilTempC)
		return r, nil
	}
	return drivers.Reading{}, fmt.Errorf("nt: %s has no ambient sensors", d.o.Model)
}

// SetWorkMode sets the VMT-2000/VUT-3000 work mode (the lane software sends 0 for "C",
// 1 otherwise; the meaning of the modes is not documented). A reply whose command low
// byte is FF means refused: drivers.ErrFailed.
func (d *Dev) SetWorkMode(ctx context.Context, mode byte) error {
	if d.o.Model != VMT2000 {
		return fmt.Errorf("nt: %s has no work mode", d.o.Model)
	}
	addr := d.o.Addr
	if addr == ([2]byte{}) {
		addr = vmtModeAddr
	}
	var fix func([]byte)
	if d.o.VMASModeChecksum {
		fix = func(b []byte) { b[len(b)-1] = Checksum(b[5:8]) }
	}
	_, raw, err := d.transact(ctx, addr, CmdVMTMode, []byte{mode}, fix)
	if err != nil {
		if errors.Is(err, errRefused) {
			return fmt.Errorf("nt: work mode %d refused (% x): %w", mode, raw, drivers.ErrFailed)
		}
		return err
	}
	return nil
}

// Calibrate spans the FMP-1's oil-temperature and/or pressure channel to the reference
// values given (mask CalOilTemp, CalPressure). The meter then reports Busy until done,
// and Fault if it failed.
func (d *Dev) Calibrate(ctx context.Context, mask byte, pressureKPa, oilTempC float64) error {
	if d.o.Model != FMP1 {
		return fmt.Errorf("nt: %s cannot be calibrated through this driver", d.o.Model)
	}
	if mask&^(CalOilTemp|CalPressure) != 0 || mask == 0 {
		return fmt.Errorf("nt: calibration mask %#02x", mask)
	}
	_, _, err := d.transact(ctx, d.addr(), CmdFMP1Cal, FMP1CalData(mask, pressureKPa, oilTempC), nil)
	return err
}

// errRefused marks a reply whose command low byte is FF (VMT-2000 mode refused).
var errRefused = errors.New("refused")

// transact drains stale input, writes the request (fix may rewrite its bytes) and reads
// the reply: 6 header bytes, then LEN more. It checks the echo of "NT" and the address,
// the kind, the checksum and the command. An 'E' reply is a DeviceError.
func (d *Dev) transact(ctx context.Context, addr [2]byte, cmd uint16, data []byte, fix func([]byte)) (Frame, []byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	req := Encode(Frame{Addr: addr, Kind: KindRequest, Cmd: cmd, Data: data})
	if fix != nil {
		fix(req)
	}
	if err := drivers.Send(ctx, d.rw, req, d.o.Quiet); err != nil {
		return Frame{}, nil, fmt.Errorf("nt: %04x: %w", cmd, err)
	}
	deadline := time.Now().Add(d.o.Timeout)
	buf := make([]byte, HeaderLen, MaxLen)
	if _, err := drivers.ReadFull(ctx, d.rw, buf, d.o.Timeout); err != nil {
		return Frame{}, nil, fmt.Errorf("nt: %04x: %w", cmd, err)
	}
	if buf[0] != Start0 || buf[1] != Start1 || (!d.o.AnyReplyAddr && (buf[2] != addr[0] || buf[3] != addr[1])) {
		return Frame{}, nil, fmt.Errorf("nt: %04x: reply header % x, want 4e 54 %02x %02x: %w", cmd, buf[:4], addr[0], addr[1], drivers.ErrFrame)
	}
	if n := int(buf[5]); n < 3 {
		return Frame{}, nil, fmt.Errorf("nt: %04x: reply LEN %d: %w", cmd, n, drivers.ErrFrame)
	}
	buf = buf[:HeaderLen+int(buf[5])]
	if _, err := drivers.ReadFull(ctx, d.rw, buf[HeaderLen:], time.Until(deadline)); err != nil {
		return Frame{}, nil, fmt.Errorf("nt: %04x: %w", cmd, err)
	}
	f, err := Decode(buf)
	if err != nil {
		return Frame{}, nil, err
	}
	if err := f.Err(); err != nil {
		return Frame{}, nil, fmt.Errorf("nt: %04x: %w", cmd, err)
	}
	if f.Kind != KindOK {
		return Frame{}, nil, fmt.Errorf("nt: %04x: reply kind %q: %w", cmd, f.Kind, drivers.ErrFrame)
	}
	if cmd == CmdVMTMode && byte(f.Cmd) == VMTModeFailure {
		return Frame{}, buf, errRefused
	}
	if f.Cmd != cmd {
		return Frame{}, nil, fmt.Errorf("nt: %04x: reply to command %04x: %w", cmd, f.Cmd, drivers.ErrFrame)
	}
	return f, buf, nil
}
