package modbus

import (
	"fmt"

	"imagent/drivers"
)

// CRC16 is the Modbus RTU CRC: reflected polynomial 0xA001, initial value 0xFFFF. On the
// wire it follows the message low byte first.
func CRC16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// AppendCRC appends CRC16(m) to m, low byte first.
func AppendCRC(m []byte) []byte {
	c := CRC16(m)
	return append(m, byte(c), byte(c>>8))
}

// checkCRC verifies and strips the trailing CRC of an RTU frame.
func checkCRC(frame []byte) ([]byte, error) {
	if len(frame) == 0 {
		return nil, fmt.Errorf("%w: %w", errEmpty, drivers.ErrFrame)
	}
	if len(frame) < 4 {
		return nil, fmt.Errorf("modbus: RTU frame of %d bytes: %w", len(frame), drivers.ErrFrame)
	}
	n := len(frame) - 2
	got := uint16(frame[n]) | uint16(frame[n+1])<<8
	if want := CRC16(frame[:n]); got != want {
		return nil, fmt.Errorf("modbus: %w: CRC %#04x, want %#04x", drivers.ErrChecksum, got, want)
	}
	return frame[:n], nil
}

// EncodeRTU returns the RTU frame of r (message + CRC), e.g. Read(1, ReadInput, 0, 3)
// gives 01 04 00 00 00 03 B0 0B.
func EncodeRTU(r Request) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return AppendCRC(r.PDU()), nil
}

// RTUReplyLen is the full length (with CRC) of a normal RTU reply to r.
func RTUReplyLen(r Request) int { return r.ReplyLen() + 2 }

// RTURemaining tells a reader how many more bytes to read after the first three bytes
// head of an RTU reply to r: 2 for an exception (fn|0x80), RTUReplyLen(r)-3 otherwise.
// It returns an error when head can belong to no reply to r.
func RTURemaining(head []byte, r Request) (int, error) {
	if len(head) < 3 {
		return 0, fmt.Errorf("modbus: RTU head of %d bytes, want 3: %w", len(head), drivers.ErrFrame)
	}
	if head[0] != r.Addr {
		return 0, fmt.Errorf("modbus: reply from slave %d, asked %d: %w", head[0], r.Addr, drivers.ErrFrame)
	}
	switch head[1] {
	case r.Func | 0x80:
		return RTUExceptionLen - 3, nil
	case r.Func:
		return RTUReplyLen(r) - 3, nil
	}
	return 0, fmt.Errorf("modbus: reply function %#02x, asked %#02x: %w", head[1], r.Func, drivers.ErrFrame)
}

// DecodeRTU checks the RTU reply frame to r (CRC included) and returns the registers of a
// read (nil for a write). Exceptions give an *ExceptionError.
func DecodeRTU(frame []byte, r Request) ([]uint16, error) {
	m, err := checkCRC(frame)
	if err != nil {
		return nil, err
	}
	return ParseReply(m, r)
}

// DecodeRTURequest decodes an 8-byte RTU request frame (slave side).
func DecodeRTURequest(frame []byte) (Request, error) {
	m, err := checkCRC(frame)
	if err != nil {
		return Request{}, err
	}
	return ParseRequest(m)
}

// EncodeRTUReply builds the RTU reply to r (slave side); see ReplyMessage.
func EncodeRTUReply(r Request, regs []uint16) ([]byte, error) {
	m, err := ReplyMessage(r, regs)
	if err != nil {
		return nil, err
	}
	return AppendCRC(m), nil
}

// EncodeRTUException builds an RTU exception reply (slave side).
func EncodeRTUException(addr, fn, code byte) []byte {
	return AppendCRC(ExceptionMessage(addr, fn, code))
}
