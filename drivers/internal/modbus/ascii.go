package modbus

import (
	"fmt"

	"imagent/drivers"
)

const hexdigits = "0123456789ABCDEF"

// LRC is the Modbus ASCII longitudinal redundancy check: the two's complement of the 8-bit
// sum of the message bytes (the binary values, not their hex characters).
func LRC(m []byte) byte { return drivers.Neg8(m) }

// ASCIIFrame returns ':' + upper-case hex of m + hex of LRC(m) + CR LF.
func ASCIIFrame(m []byte) []byte {
	out := make([]byte, 0, 1+2*len(m)+4)
	out = append(out, ':')
	for _, c := range m {
		out = append(out, hexdigits[c>>4], hexdigits[c&15])
	}
	l := LRC(m)
	return append(out, hexdigits[l>>4], hexdigits[l&15], '\r', '\n')
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// ParseASCIIFrame checks a whole ASCII frame (':' … LRC CR LF; lower-case hex accepted)
// and returns the message bytes without the LRC.
func ParseASCIIFrame(frame []byte) ([]byte, error) {
	if len(frame) == 0 {
		return nil, fmt.Errorf("%w: %w", errEmpty, drivers.ErrFrame)
	}
	if frame[0] != ':' {
		return nil, fmt.Errorf("modbus: ASCII frame starts with %#02x, want ':': %w", frame[0], drivers.ErrFrame)
	}
	if len(frame) < 1+2*2+2 || frame[len(frame)-2] != '\r' || frame[len(frame)-1] != '\n' {
		return nil, fmt.Errorf("modbus: ASCII frame of %d bytes without CR LF: %w", len(frame), drivers.ErrFrame)
	}
	body := frame[1 : len(frame)-2]
	if len(body)%2 != 0 {
		return nil, fmt.Errorf("modbus: odd number (%d) of hex characters: %w", len(body), drivers.ErrFrame)
	}
	b := make([]byte, len(body)/2)
	for i := range b {
		h, ok1 := unhex(body[2*i])
		l, ok2 := unhex(body[2*i+1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("modbus: non-hex character in %q: %w", body[2*i:2*i+2], drivers.ErrFrame)
		}
		b[i] = h<<4 | l
	}
	n := len(b) - 1
	if want := LRC(b[:n]); b[n] != want {
		return nil, fmt.Errorf("modbus: %w: LRC %#02x, want %#02x", drivers.ErrChecksum, b[n], want)
	}
	return b[:n], nil
}

// EncodeASCII returns the ASCII frame of r, e.g. Read(1, ReadHolding, 0x1258, 5) gives
// ":0103125800058D\r\n".
func EncodeASCII(r Request) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return ASCIIFrame(r.PDU()), nil
}

// DecodeASCII checks the ASCII reply frame to r (':' through CR LF) and returns the
// registers of a read (nil for a write). Exceptions give an *ExceptionError.
func DecodeASCII(frame []byte, r Request) ([]uint16, error) {
	m, err := ParseASCIIFrame(frame)
	if err != nil {
		return nil, err
	}
	return ParseReply(m, r)
}

// DecodeASCIIRequest decodes an ASCII request frame (slave side).
func DecodeASCIIRequest(frame []byte) (Request, error) {
	m, err := ParseASCIIFrame(frame)
	if err != nil {
		return Request{}, err
	}
	return ParseRequest(m)
}

// EncodeASCIIReply builds the ASCII reply to r (slave side); see ReplyMessage.
func EncodeASCIIReply(r Request, regs []uint16) ([]byte, error) {
	m, err := ReplyMessage(r, regs)
	if err != nil {
		return nil, err
	}
	return ASCIIFrame(m), nil
}

// EncodeASCIIException builds an ASCII exception reply (slave side).
func EncodeASCIIException(addr, fn, code byte) []byte {
	return ASCIIFrame(ExceptionMessage(addr, fn, code))
}
