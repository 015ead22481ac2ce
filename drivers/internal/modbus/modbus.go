// Package modbus holds the Modbus framing shared by several instrument drivers: RTU
// (binary, CRC16) and ASCII (':' hex LRC CR LF), for function 03/04 read registers and
// function 06 write single register. It is a pure codec: no I/O, no state, never panics.
//
// Both sides are here, so drivers (master) and their simulators (slave) share one codec:
//
//	master: EncodeRTU / DecodeRTU, EncodeASCII / DecodeASCII
//	slave:  DecodeRTURequest / EncodeRTUReply / EncodeRTUException and the ASCII twins
//
// Errors wrap the drivers sentinels: a bad CRC or LRC is drivers.ErrChecksum, a malformed
// frame drivers.ErrFrame, and a Modbus exception reply an *ExceptionError that matches
// drivers.ErrNAK (or drivers.ErrBusy for exception 06 "slave device busy").
package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"

	"imagent/drivers"
)

// Function codes.
const (
	ReadHolding byte = 0x03 // read holding registers
	ReadInput   byte = 0x04 // read input registers
	WriteSingle byte = 0x06 // write single register
)

// Exception codes.
const (
	ExIllegalFunction byte = 0x01
	ExIllegalAddress  byte = 0x02
	ExIllegalValue    byte = 0x03
	ExDeviceFailure   byte = 0x04
	ExBusy            byte = 0x06
)

// MaxReadCount is the most registers one 03/04 request may ask for.
const MaxReadCount = 125

// RTUExceptionLen is the length of an RTU exception reply: addr, fn|0x80, code, CRC.
const RTUExceptionLen = 5

// ExceptionError is a Modbus exception reply.
type ExceptionError struct {
	Func byte // the function code of the request (without the 0x80 bit)
	Code byte // the exception code
}

func (e *ExceptionError) Error() string {
	return fmt.Sprintf("modbus: exception %#02x to function %#02x", e.Code, e.Func)
}

// Is makes an exception match drivers.ErrNAK, and exception 06 drivers.ErrBusy too.
func (e *ExceptionError) Is(target error) bool {
	return target == drivers.ErrNAK || (e.Code == ExBusy && target == drivers.ErrBusy)
}

// Request is a read (03/04: Value is the register count) or a write-single (06: Value is
// the value written) request to one slave.
type Request struct {
	Addr  byte   // slave address, 1..247 (0 is broadcast and never answers)
	Func  byte   // ReadHolding, ReadInput or WriteSingle
	Reg   uint16 // first register
	Value uint16 // count for reads, value for WriteSingle
}

// Read returns a read request of fn (03 or 04).
func Read(addr, fn byte, reg, count uint16) Request {
	return Request{Addr: addr, Func: fn, Reg: reg, Value: count}
}

// Write returns a function 06 write-single-register request.
func Write(addr byte, reg, value uint16) Request {
	return Request{Addr: addr, Func: WriteSingle, Reg: reg, Value: value}
}

// Validate reports whether r can be sent.
func (r Request) Validate() error {
	switch r.Func {
	case ReadHolding, ReadInput:
		if r.Value == 0 || r.Value > MaxReadCount {
			return fmt.Errorf("modbus: read count %d outside 1..%d: %w", r.Value, MaxReadCount, drivers.ErrFrame)
		}
		if int(r.Reg)+int(r.Value) > 0x10000 {
			return fmt.Errorf("modbus: registers %#04x+%d beyond 0xFFFF: %w", r.Reg, r.Value, drivers.ErrFrame)
		}
	case WriteSingle:
	default:
		return fmt.Errorf("modbus: unsupported function %#02x: %w", r.Func, drivers.ErrFrame)
	}
	if r.Addr == 0 || r.Addr > 247 {
		return fmt.Errorf("modbus: slave address %d outside 1..247: %w", r.Addr, drivers.ErrFrame)
	}
	return nil
}

// PDU returns the 6 message bytes addr, fn, reg, value (no CRC or LRC).
func (r Request) PDU() []byte {
	return []byte{r.Addr, r.Func, byte(r.Reg >> 8), byte(r.Reg), byte(r.Value >> 8), byte(r.Value)}
}

// ReplyLen is the length of the normal reply message to r, without CRC/LRC: addr, fn,
// byte count and 2×count data bytes for a read; the echoed 6 bytes for a write.
func (r Request) ReplyLen() int {
	if r.Func == WriteSingle {
		return 6
	}
	return 3 + 2*int(r.Value)
}

// ParseRequest decodes the 6-byte request message m (no CRC/LRC) a slave received.
func ParseRequest(m []byte) (Request, error) {
	if len(m) != 6 {
		return Request{}, fmt.Errorf("modbus: request of %d bytes, want 6: %w", len(m), drivers.ErrFrame)
	}
	r := Request{Addr: m[0], Func: m[1], Reg: binary.BigEndian.Uint16(m[2:]), Value: binary.BigEndian.Uint16(m[4:])}
	if err := r.Validate(); err != nil {
		return Request{}, err
	}
	return r, nil
}

// ReplyMessage builds the reply message (no CRC/LRC) to r: for a read the registers regs
// (len(regs) must equal the count), for a write the echo of r. It returns an error when
// regs does not fit r.
func ReplyMessage(r Request, regs []uint16) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if r.Func == WriteSingle {
		return r.PDU(), nil
	}
	if len(regs) != int(r.Value) {
		return nil, fmt.Errorf("modbus: %d registers for a read of %d: %w", len(regs), r.Value, drivers.ErrFrame)
	}
	m := make([]byte, 3, 3+2*len(regs))
	m[0], m[1], m[2] = r.Addr, r.Func, byte(2*len(regs))
	for _, v := range regs {
		m = binary.BigEndian.AppendUint16(m, v)
	}
	return m, nil
}

// ExceptionMessage builds an exception reply message (no CRC/LRC).
func ExceptionMessage(addr, fn, code byte) []byte { return []byte{addr, fn | 0x80, code} }

// ParseReply checks the reply message m (CRC/LRC already stripped) against the request r.
// For a read it returns the registers; for a write nil after checking the echo. An
// exception reply gives an *ExceptionError.
func ParseReply(m []byte, r Request) ([]uint16, error) {
	if len(m) < 3 {
		return nil, fmt.Errorf("modbus: reply of %d bytes: %w", len(m), drivers.ErrFrame)
	}
	if m[0] != r.Addr {
		return nil, fmt.Errorf("modbus: reply from slave %d, asked %d: %w", m[0], r.Addr, drivers.ErrFrame)
	}
	if m[1] == r.Func|0x80 {
		if len(m) != 3 {
			return nil, fmt.Errorf("modbus: exception reply of %d bytes: %w", len(m), drivers.ErrFrame)
		}
		return nil, &ExceptionError{Func: r.Func, Code: m[2]}
	}
	if m[1] != r.Func {
		return nil, fmt.Errorf("modbus: reply function %#02x, asked %#02x: %w", m[1], r.Func, drivers.ErrFrame)
	}
	if len(m) != r.ReplyLen() {
		return nil, fmt.Errorf("modbus: reply of %d bytes, want %d: %w", len(m), r.ReplyLen(), drivers.ErrFrame)
	}
	if r.Func == WriteSingle {
		if binary.BigEndian.Uint16(m[2:]) != r.Reg || binary.BigEndian.Uint16(m[4:]) != r.Value {
			return nil, fmt.Errorf("modbus: write echo % X does not match request: %w", m, drivers.ErrFrame)
		}
		return nil, nil
	}
	if int(m[2]) != 2*int(r.Value) {
		return nil, fmt.Errorf("modbus: byte count %d, want %d: %w", m[2], 2*r.Value, drivers.ErrFrame)
	}
	regs := make([]uint16, r.Value)
	for i := range regs {
		regs[i] = binary.BigEndian.Uint16(m[3+2*i:])
	}
	return regs, nil
}

var errEmpty = errors.New("modbus: empty frame")
