package xce100

import (
	"bytes"
	"fmt"
	"math"
	"strconv"

	"imagent/drivers"
)

// Bytes and strings with a fixed meaning on the wire.
const (
	TagTemp     byte = 'T' // starts a frame; temperature follows, °C
	TagRH       byte = 'H' // relative humidity follows, %
	TagPressure byte = 'P' // barometric pressure follows (kPa, see Opts.PressureHPa)
	TagEnd      byte = 'E' // ends a frame

	CalEnter    = "K"    // XCE-101: host asks to enter calibration
	CalReady    = "BDZB" // XCE-101: 标定准备, ready for a calibration value
	CalOK       = "BDCG" // XCE-101: 标定成功, calibration accepted
	CalRejected = "BDSB" // XCE-101: 标定失败, calibration refused
)

// MaxFrameLen bounds a frame: 'T', three fields of at most MaxFieldLen bytes, three tags.
// A longer run between 'T' and 'E' is not a frame.
const MaxFrameLen = 4 + 3*MaxFieldLen

// MaxFieldLen bounds one number field, padding included.
const MaxFieldLen = 12

// Frame is one T…H…P…E group in the units the station sends.
type Frame struct {
	TempC float64 // temperature, °C
	RH    float64 // relative humidity, %
	P     float64 // barometric pressure as sent: kPa (default) or hPa (Opts.PressureHPa)
}

// DecodeFrame decodes exactly one frame `T<num>H<num>P<num>E`. The protocol has no
// checksum, so the structure is checked strictly: the tags in this order, nothing before
// or after, each number an optional sign, 1–4 integer digits and an optional point with
// 1–3 decimals, padded with blanks at most (what .NET's float.Parse in the lane software
// accepts, less exponents and thousands separators). Plausibility of the values is
// Limits.Check's job. Errors wrap drivers.ErrFrame. DecodeFrame does not allocate on a
// good frame.
func DecodeFrame(b []byte) (Frame, error) {
	var f Frame
	if len(b) == 0 {
		return f, fmt.Errorf("xce100: empty frame: %w", drivers.ErrFrame)
	}
	if len(b) > MaxFrameLen {
		return f, fmt.Errorf("xce100: frame of %d bytes, at most %d: %w", len(b), MaxFrameLen, drivers.ErrFrame)
	}
	if b[0] != TagTemp {
		return f, fmt.Errorf("xce100: frame starts with %q, want 'T': %w", b[0], drivers.ErrFrame)
	}
	if b[len(b)-1] != TagEnd {
		return f, fmt.Errorf("xce100: frame ends with %q, want 'E': %w", b[len(b)-1], drivers.ErrFrame)
	}
	rest := b[1 : len(b)-1]
	var err error
	for i, tag := range [3]byte{TagRH, TagPressure, 0} {
		end := len(rest)
		if tag != 0 {
			end = bytes.IndexByte(rest, tag)
			if end < 0 {
				return Frame{}, fmt.Errorf("xce100: no %q in frame: %w", tag, drivers.ErrFrame)
			}
		}
		var v float64
		if v, err = parseField(rest[:end]); err != nil {
			return Frame{}, fmt.Errorf("xce100: field %d (%q): %w", i+1, "THP"[i], err)
		}
		switch i {
		case 0:
			f.TempC = v
		case 1:
			f.RH = v
		default:
			f.P = v
		}
		if tag != 0 {
			rest = rest[end+1:]
		}
	}
	return f, nil
}

var pow10 = [...]float64{1, 10, 100, 1000}

// parseField parses one number field (see DecodeFrame).
func parseField(b []byte) (float64, error) {
	if len(b) > MaxFieldLen {
		return 0, fmt.Errorf("%d bytes, at most %d: %w", len(b), MaxFieldLen, drivers.ErrFrame)
	}
	i, n := 0, len(b)
	for i < n && b[i] == ' ' {
		i++
	}
	for n > i && b[n-1] == ' ' {
		n--
	}
	neg := false
	if i < n && (b[i] == '-' || b[i] == '+') {
		neg = b[i] == '-'
		i++
	}
	var mant int64
	intDigits := 0
	for i < n && b[i] >= '0' && b[i] <= '9' {
		mant = mant*10 + int64(b[i]-'0')
		intDigits++
		i++
	}
	if intDigits == 0 || intDigits > 4 {
		return 0, fmt.Errorf("%d integer digits, want 1..4: %w", intDigits, drivers.ErrFrame)
	}
	decimals := 0
	if i < n && b[i] == '.' {
		i++
		for i < n && b[i] >= '0' && b[i] <= '9' {
			mant = mant*10 + int64(b[i]-'0')
			decimals++
			i++
		}
		if decimals == 0 || decimals > 3 {
			return 0, fmt.Errorf("%d decimals, want 1..3: %w", decimals, drivers.ErrFrame)
		}
	}
	if i != n {
		return 0, fmt.Errorf("unexpected %q: %w", b[i], drivers.ErrFrame)
	}
	v := float64(mant) / pow10[decimals]
	if neg {
		v = -v
	}
	return v, nil
}

// maxEncoded is the largest magnitude AppendFrame writes (4 integer digits, 1 decimal).
const maxEncoded = 9999.9

// AppendFrame appends the canonical frame for f: each value with one decimal, no padding,
// e.g. "T25.3H56.0P101.3E". Values beyond ±9999.9 are clamped and NaN is written as 0, so
// the result always decodes.
func AppendFrame(dst []byte, f Frame) []byte {
	dst = append(dst, TagTemp)
	dst = appendField(dst, f.TempC)
	dst = append(dst, TagRH)
	dst = appendField(dst, f.RH)
	dst = append(dst, TagPressure)
	dst = appendField(dst, f.P)
	return append(dst, TagEnd)
}

func appendField(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		v = 0
	case v > maxEncoded:
		v = maxEncoded
	case v < -maxEncoded:
		v = -maxEncoded
	}
	v = math.Round(v*10) / 10
	if v == 0 {
		v = 0 // no "-0.0"
	}
	return strconv.AppendFloat(dst, v, 'f', 1, 64)
}

// Scan looks for frames in b, a stretch of the XCE-101 stream, and resynchronises on
// anything that is not a frame: bytes before a 'T', a 'T' without an 'E' within
// MaxFrameLen, a run that does not decode. It returns the newest frame that decodes and
// that accept (if not nil) accepts, aliasing b (nil if none); the offset from which b must
// be kept because it may be the start of a frame still arriving; and how many bytes it
// discarded as garbage. Frames accept refuses are not garbage.
func Scan(b []byte, accept func(Frame) bool) (newest []byte, keep, garbage int) {
	i := 0
	for {
		t := bytes.IndexByte(b[i:], TagTemp)
		if t < 0 {
			return newest, len(b), garbage + len(b) - i
		}
		garbage += t
		i += t
		window := b[i:min(len(b), i+MaxFrameLen)]
		e := bytes.IndexByte(window, TagEnd)
		if e < 0 {
			if len(b)-i < MaxFrameLen {
				return newest, i, garbage // maybe a frame still arriving
			}
			i++ // too long to be a frame
			garbage++
			continue
		}
		cand := window[:e+1]
		f, err := DecodeFrame(cand)
		if err != nil {
			i++ // resynchronise on the next 'T'
			garbage++
			continue
		}
		if accept == nil || accept(f) {
			newest = cand
		}
		i += len(cand)
	}
}

// Limits are the plausible ranges of the values. A frame outside them is rejected as
// malformed (drivers.ErrFrame): with no checksum, an implausible value is the only sign
// of a corrupted digit.
type Limits struct {
	TempMin, TempMax float64 // °C
	RHMin, RHMax     float64 // %
	PMin, PMax       float64 // kPa
}

// DefaultLimits cover a lane's working conditions from sea level to about 5,500 m.
var DefaultLimits = Limits{TempMin: -40, TempMax: 60, RHMin: 0, RHMax: 100, PMin: 50, PMax: 110}

// Check reports whether the values (pressure in kPa) are plausible.
func (l Limits) Check(tempC, rh, pKPa float64) error {
	for _, c := range [...]struct {
		name      string
		v, lo, hi float64
		unit      string
	}{
		{"temperature", tempC, l.TempMin, l.TempMax, "°C"},
		{"humidity", rh, l.RHMin, l.RHMax, "%"},
		{"pressure", pKPa, l.PMin, l.PMax, "kPa"},
	} {
		if !(c.v >= c.lo && c.v <= c.hi) {
			return fmt.Errorf("xce100: implausible %s %g %s, want %g..%g: %w", c.name, c.v, c.unit, c.lo, c.hi, drivers.ErrFrame)
		}
	}
	return nil
}

// valid reports whether l is usable (every range non-empty and finite).
func (l Limits) valid() bool {
	for _, r := range [][2]float64{{l.TempMin, l.TempMax}, {l.RHMin, l.RHMax}, {l.PMin, l.PMax}} {
		if math.IsNaN(r[0]) || math.IsNaN(r[1]) || math.IsInf(r[0], 0) || math.IsInf(r[1], 0) || r[0] >= r[1] {
			return false
		}
	}
	return true
}

// CalCommand is the XCE-101 calibration command for one quantity: 'B', the reference
// value ×10 rounded half away from zero and right-aligned in 4 characters with blanks,
// then the quantity's tag ('T', 'H' or 'P'); e.g. 25.3 °C gives "B 253T". It fails when
// the value does not fit in 4 characters.
func CalCommand(tag byte, value float64) ([]byte, error) {
	switch tag {
	case TagTemp, TagRH, TagPressure:
	default:
		return nil, fmt.Errorf("xce100: no calibration for tag %q", tag)
	}
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return nil, fmt.Errorf("xce100: calibration value %v", value)
	}
	v := math.Round(value * 10)
	if v < -999 || v > 9999 {
		return nil, fmt.Errorf("xce100: calibration value %g does not fit in 4 characters ×10", value)
	}
	s := strconv.FormatInt(int64(v), 10)
	out := make([]byte, 0, 6)
	out = append(out, 'B')
	for range 4 - len(s) {
		out = append(out, ' ')
	}
	out = append(out, s...)
	return append(out, tag), nil
}

// ParseCalCommand is CalCommand's inverse, for the simulator: it returns the tag and the
// value of a 6-byte calibration command.
func ParseCalCommand(b []byte) (tag byte, value float64, err error) {
	if len(b) != 6 || b[0] != 'B' {
		return 0, 0, fmt.Errorf("xce100: calibration command %q: %w", b, drivers.ErrFrame)
	}
	tag = b[5]
	switch tag {
	case TagTemp, TagRH, TagPressure:
	default:
		return 0, 0, fmt.Errorf("xce100: calibration command %q: unknown tag: %w", b, drivers.ErrFrame)
	}
	s := bytes.TrimLeft(b[1:5], " ")
	n, perr := strconv.ParseInt(string(s), 10, 32)
	if perr != nil || len(s) == 0 || s[0] == '+' {
		return 0, 0, fmt.Errorf("xce100: calibration command %q: bad value: %w", b, drivers.ErrFrame)
	}
	return tag, float64(n) / 10, nil
}
