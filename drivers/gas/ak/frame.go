package ak

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"imagent/drivers"
)

// Control bytes.
const (
	STX  byte = 0x02
	ETX  byte = 0x03
	XON  byte = 0x11 // DC1: the bench may receive again
	XOFF byte = 0x13 // DC3: the bench cannot receive now
)

// MaxFrame bounds a frame; answers longer than this are drivers.ErrFrame.
const MaxFrame = 1024

// Error tokens an answer may end with.
const (
	ErrTokSyntax  = "SE" // syntax error (unknown function, bad channel)
	ErrTokFormat  = "DF" // data format error (bad arguments)
	ErrTokBusy    = "BS" // busy
	ErrTokOffline = "OF" // offline: manual mode, remote commands refused until SREM
)

func isFunc(s string) bool {
	if len(s) != 4 {
		return false
	}
	for i := 0; i < 4; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// printable reports whether s is non-empty printable ASCII without blanks.
func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// EncodeRequest builds `STX ' ' fn ' ' 'K' channel [' ' arg]... ETX`. fn must be four
// upper-case letters; channel and every argument non-empty printable ASCII without
// blanks.
func EncodeRequest(fn, channel string, args ...string) ([]byte, error) {
	if !isFunc(fn) {
		return nil, fmt.Errorf("ak: function %q is not four upper-case letters", fn)
	}
	if !printable(channel) || len(channel) > 8 {
		return nil, fmt.Errorf("ak: bad channel %q", channel)
	}
	b := make([]byte, 0, 16)
	b = append(b, STX, ' ')
	b = append(b, fn...)
	b = append(b, ' ', 'K')
	b = append(b, channel...)
	for _, a := range args {
		if !printable(a) {
			return nil, fmt.Errorf("ak: bad argument %q to %s", a, fn)
		}
		b = append(b, ' ')
		b = append(b, a...)
	}
	b = append(b, ETX)
	if len(b) > MaxFrame {
		return nil, fmt.Errorf("ak: request of %d bytes is too long", len(b))
	}
	return b, nil
}

// Request is a decoded request (the bench's side).
type Request struct {
	Func, Channel string
	Args          []string
}

// DecodeRequest is the bench's side of EncodeRequest (used by the simulator).
func DecodeRequest(b []byte) (Request, error) {
	if len(b) < 9 || len(b) > MaxFrame || b[0] != STX || b[len(b)-1] != ETX {
		return Request{}, fmt.Errorf("ak: request of %d bytes without STX..ETX: %w", len(b), drivers.ErrFrame)
	}
	body := string(b[1 : len(b)-1])
	if body[0] != ' ' {
		return Request{}, fmt.Errorf("ak: request: no blank after STX: %w", drivers.ErrFrame)
	}
	toks := strings.Split(body[1:], " ")
	if len(toks) < 2 || !isFunc(toks[0]) || len(toks[1]) < 2 || len(toks[1]) > 9 || toks[1][0] != 'K' || !printable(toks[1][1:]) {
		return Request{}, fmt.Errorf("ak: request %q: %w", body, drivers.ErrFrame)
	}
	r := Request{Func: toks[0], Channel: toks[1][1:]}
	for _, a := range toks[2:] {
		if !printable(a) {
			return Request{}, fmt.Errorf("ak: request %q: bad argument: %w", body, drivers.ErrFrame)
		}
		r.Args = append(r.Args, a)
	}
	return r, nil
}

// Response is a decoded answer.
type Response struct {
	Func   string   // the function answered
	Status int      // error status digit: 0 no error active
	Data   []string // data tokens, without an error token
	Err    string   // ErrTokSyntax, ErrTokFormat, ErrTokBusy, ErrTokOffline or ""
}

// DecodeResponse decodes `STX x FUNC ' ' status [' ' data] ETX`. It never panics; a
// malformed answer is drivers.ErrFrame.
func DecodeResponse(b []byte) (Response, error) {
	switch {
	case len(b) < 9 || len(b) > MaxFrame:
		return Response{}, fmt.Errorf("ak: answer of %d bytes: %w", len(b), drivers.ErrFrame)
	case b[0] != STX || b[len(b)-1] != ETX:
		return Response{}, fmt.Errorf("ak: answer not framed by STX..ETX: %w", drivers.ErrFrame)
	case bytes.IndexByte(b[1:len(b)-1], STX) >= 0 || bytes.IndexByte(b[1:len(b)-1], ETX) >= 0:
		return Response{}, fmt.Errorf("ak: STX or ETX inside an answer: %w", drivers.ErrFrame)
	}
	fn := string(b[2:6])
	if !isFunc(fn) || b[6] != ' ' || b[7] < '0' || b[7] > '9' {
		return Response{}, fmt.Errorf("ak: answer header %q: %w", b[1:min(len(b)-1, 8)], drivers.ErrFrame)
	}
	r := Response{Func: fn, Status: int(b[7] - '0')}
	rest := b[8 : len(b)-1]
	if len(rest) > 0 {
		if rest[0] != ' ' {
			return Response{}, fmt.Errorf("ak: no blank after the status digit: %w", drivers.ErrFrame)
		}
		for _, c := range rest {
			if c < ' ' || c >= 0x7f {
				return Response{}, fmt.Errorf("ak: control byte %#02x in the data: %w", c, drivers.ErrFrame)
			}
		}
		r.Data = strings.Fields(string(rest))
	}
	if n := len(r.Data); n > 0 {
		switch r.Data[n-1] {
		case ErrTokSyntax, ErrTokFormat, ErrTokBusy, ErrTokOffline:
			r.Err, r.Data = r.Data[n-1], r.Data[:n-1]
		}
	}
	if len(r.Data) == 0 {
		r.Data = nil
	}
	return r, nil
}

// EncodeResponse builds an answer (the bench's side). x is the don't-care byte (a blank
// if 0). It returns nil for a malformed fn, status or token.
func EncodeResponse(x byte, r Response) []byte {
	if !isFunc(r.Func) || r.Status < 0 || r.Status > 9 {
		return nil
	}
	if x == 0 {
		x = ' '
	}
	b := []byte{STX, x}
	b = append(b, r.Func...)
	b = append(b, ' ', byte('0'+r.Status))
	toks := r.Data
	if r.Err != "" {
		toks = append(toks[:len(toks):len(toks)], r.Err)
	}
	for _, t := range toks {
		if !printable(t) {
			return nil
		}
		b = append(b, ' ')
		b = append(b, t...)
	}
	return append(b, ETX)
}

// Component says which quantity one AKON value is, and how to get canonical units:
// canonical = value × Scale (e.g. Scale 1e-4 for CO reported in ppm as COpct).
type Component struct {
	Quantity drivers.Quantity
	Scale    float64
}

// DefaultComponents is an assumed five-gas order [I]: CO % vol, CO2 % vol, HC ppm, O2 %
// vol, NO ppm. Set Opts.Components to the bench's configuration.
func DefaultComponents() []Component {
	return []Component{{drivers.COpct, 1}, {drivers.CO2pct, 1}, {drivers.HCppm, 1}, {drivers.O2pct, 1}, {drivers.NOppm, 1}}
}

// Concentrations maps the data of an AKON answer to canonical quantities, value i being
// components[i]. Fewer values than components, or a value that is not a number, is
// drivers.ErrFrame; values beyond the components are ignored.
func Concentrations(data []string, components []Component) (map[drivers.Quantity]float64, error) {
	if len(data) < len(components) {
		return nil, fmt.Errorf("ak: %d concentrations, want %d: %w", len(data), len(components), drivers.ErrFrame)
	}
	out := make(map[drivers.Quantity]float64, len(components))
	for i, c := range components {
		v, err := strconv.ParseFloat(data[i], 64)
		if err != nil || v != v || v > 1e12 || v < -1e12 {
			return nil, fmt.Errorf("ak: concentration %d %q is not a number: %w", i+1, data[i], drivers.ErrFrame)
		}
		out[c.Quantity] = v * c.Scale
	}
	return out, nil
}

// ModeStatus maps the mode codes ASTZ reports to drivers.Status: zero-gas and zero
// calibration modes (SNGA, SNUL) are Zeroing; span and automatic calibration (SEGA,
// SATK), stand-by, pause and manual mode (STBY, SPAU, SMAN) are Busy. Other codes (SREM,
// SMGA, SARE, SARA...) add nothing. The meanings of SNUL, SEGA and SATK are [M].
func ModeStatus(modes []string) drivers.Status {
	var s drivers.Status
	for _, m := range modes {
		switch m {
		case "SNGA", "SNUL":
			s |= drivers.Zeroing
		case "SEGA", "SATK", "STBY", "SPAU", "SMAN":
			s |= drivers.Busy
		}
	}
	return s
}
