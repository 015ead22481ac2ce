package modbus

import (
	"bytes"
	"encoding/hex"
	"errors"
	"slices"
	"testing"

	"imagent/drivers"
)

func unhexT(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCRC16(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint16
	}{
		{"010400000003", 0x0BB0}, // DWSP-T5 request of domain.md §1.7: ... B0 0B
		{"010400000004", 0xC9F1}, // RZ-1 request: ... F1 C9
		{"", 0xFFFF},
		{"313233343536373839", 0x4B37}, // "123456789": the CRC-16/MODBUS check value
	} {
		if got := CRC16(unhexT(t, c.in)); got != c.want {
			t.Errorf("CRC16(%s) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
}

func TestEncodeRTU(t *testing.T) {
	for _, c := range []struct {
		r    Request
		want string
	}{
		{Read(1, ReadInput, 0, 3), "010400000003B00B"},
		{Read(1, ReadInput, 0, 4), "010400000004F1C9"},
	} {
		got, err := EncodeRTU(c.r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, unhexT(t, c.want)) {
			t.Errorf("EncodeRTU(%+v) = % X, want %s", c.r, got, c.want)
		}
		back, err := DecodeRTURequest(got)
		if err != nil || back != c.r {
			t.Errorf("DecodeRTURequest = %+v, %v; want %+v", back, err, c.r)
		}
	}
	for _, bad := range []Request{
		Read(1, ReadInput, 0, 0), Read(1, ReadInput, 0, 126), Read(0, ReadInput, 0, 1),
		Read(248, ReadHolding, 0, 1), Read(1, 0x10, 0, 1), Read(1, ReadHolding, 0xFFFF, 2),
	} {
		if _, err := EncodeRTU(bad); !errors.Is(err, drivers.ErrFrame) {
			t.Errorf("EncodeRTU(%+v) err = %v, want ErrFrame", bad, err)
		}
	}
}

func TestDecodeRTU(t *testing.T) {
	r := Read(1, ReadInput, 0, 3)
	good, err := EncodeRTUReply(r, []uint16{10132, 253, 650})
	if err != nil {
		t.Fatal(err)
	}
	if len(good) != RTUReplyLen(r) {
		t.Fatalf("reply len %d, want %d", len(good), RTUReplyLen(r))
	}
	if n, err := RTURemaining(good[:3], r); err != nil || n != len(good)-3 {
		t.Fatalf("RTURemaining = %d, %v", n, err)
	}
	regs, err := DecodeRTU(good, r)
	if err != nil || !slices.Equal(regs, []uint16{10132, 253, 650}) {
		t.Fatalf("DecodeRTU = %v, %v", regs, err)
	}
	// A hand-checked reply: 01 04 06 27 94 00 FD 02 8A + CRC.
	if !bytes.Equal(good[:9], unhexT(t, "0104062794"+"00FD028A")) {
		t.Errorf("reply body % X", good[:9])
	}

	badCRC := slices.Clone(good)
	badCRC[4] ^= 1
	exc := EncodeRTUException(1, ReadInput, ExBusy)
	if n, err := RTURemaining(exc[:3], r); err != nil || n != 2 {
		t.Fatalf("RTURemaining(exception) = %d, %v", n, err)
	}
	for _, c := range []struct {
		name  string
		frame []byte
		r     Request
		want  error
	}{
		{"crc", badCRC, r, drivers.ErrChecksum},
		{"empty", nil, r, drivers.ErrFrame},
		{"short", good[:3], r, drivers.ErrFrame},
		{"other slave", mustRTU(t, Read(2, ReadInput, 0, 3), []uint16{1, 2, 3}), r, drivers.ErrFrame},
		{"other count", mustRTU(t, Read(1, ReadInput, 0, 2), []uint16{1, 2}), r, drivers.ErrFrame},
		{"other function", mustRTU(t, Read(1, ReadHolding, 0, 3), []uint16{1, 2, 3}), r, drivers.ErrFrame},
		{"exception", exc, r, drivers.ErrBusy},
		{"exception nak", EncodeRTUException(1, ReadInput, ExIllegalAddress), r, drivers.ErrNAK},
	} {
		if _, err := DecodeRTU(c.frame, c.r); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	var ex *ExceptionError
	if _, err := DecodeRTU(exc, r); !errors.As(err, &ex) || ex.Code != ExBusy || ex.Func != ReadInput {
		t.Errorf("exception: %v", err)
	}
	if _, err := DecodeRTU(EncodeRTUException(1, ReadInput, ExIllegalAddress), r); errors.Is(err, drivers.ErrBusy) {
		t.Error("exception 02 matches ErrBusy")
	}
}

func mustRTU(t *testing.T, r Request, regs []uint16) []byte {
	t.Helper()
	b, err := EncodeRTUReply(r, regs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWriteSingle(t *testing.T) {
	r := Write(1, 0x125E, 1)
	f, err := EncodeRTU(r)
	if err != nil {
		t.Fatal(err)
	}
	echo, err := EncodeRTUReply(r, nil)
	if err != nil || !bytes.Equal(echo, f) {
		t.Fatalf("echo % X, %v; want % X", echo, err, f)
	}
	if regs, err := DecodeRTU(echo, r); err != nil || regs != nil {
		t.Fatalf("DecodeRTU(echo) = %v, %v", regs, err)
	}
	wrong, _ := EncodeRTUReply(Write(1, 0x125E, 0), nil)
	if _, err := DecodeRTU(wrong, r); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("wrong echo: %v", err)
	}
	if _, err := ReplyMessage(Read(1, ReadHolding, 0, 2), []uint16{1}); !errors.Is(err, drivers.ErrFrame) {
		t.Errorf("short regs: %v", err)
	}
}

func TestASCII(t *testing.T) {
	r := Read(1, ReadHolding, 0x1258, 5)
	f, err := EncodeASCII(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(f) != ":0103125800058D\r\n" {
		t.Fatalf("EncodeASCII = %q", f)
	}
	if back, err := DecodeASCIIRequest(f); err != nil || back != r {
		t.Fatalf("DecodeASCIIRequest = %+v, %v", back, err)
	}
	w, _ := EncodeASCII(Write(1, 0x1265, 0x0820))
	if string(w) != ":0106126508205A\r\n" {
		t.Errorf("write frame %q", w)
	}
	rep, err := EncodeASCIIReply(r, []uint16{2080, 250, 10130, 1200, 1150})
	if err != nil {
		t.Fatal(err)
	}
	regs, err := DecodeASCII(rep, r)
	if err != nil || !slices.Equal(regs, []uint16{2080, 250, 10130, 1200, 1150}) {
		t.Fatalf("DecodeASCII = %v, %v", regs, err)
	}
	lower := bytes.ToLower(rep)
	if _, err := DecodeASCII(lower, r); err != nil {
		t.Errorf("lower-case hex: %v", err)
	}
	badLRC := slices.Clone(rep)
	badLRC[len(badLRC)-3] ^= 1 // last LRC digit: '0'..'F' → still hex except for odd cases
	if _, ok := unhex(badLRC[len(badLRC)-3]); !ok {
		badLRC[len(badLRC)-3] = '0'
	}
	for _, c := range []struct {
		name  string
		frame []byte
		want  error
	}{
		{"lrc", badLRC, drivers.ErrChecksum},
		{"no colon", rep[1:], drivers.ErrFrame},
		{"no crlf", rep[:len(rep)-2], drivers.ErrFrame},
		{"odd", append([]byte(":0"), rep[1:]...), drivers.ErrFrame},
		{"non-hex", []byte(":01G3\r\n"), drivers.ErrFrame},
		{"empty", nil, drivers.ErrFrame},
		{"exception", EncodeASCIIException(1, ReadHolding, ExIllegalAddress), drivers.ErrNAK},
	} {
		if _, err := DecodeASCII(c.frame, r); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

// FuzzDecodeRTU: DecodeRTU never panics; whatever it accepts re-encodes to the same bytes.
func FuzzDecodeRTU(f *testing.F) {
	r := Read(1, ReadInput, 0, 3)
	good, _ := EncodeRTUReply(r, []uint16{10132, 253, 650})
	f.Add(good, byte(3))
	f.Add(EncodeRTUException(1, ReadInput, ExBusy), byte(3))
	f.Add(unhexT(f, "010400000003B00B"), byte(3))
	f.Fuzz(func(t *testing.T, b []byte, count byte) {
		req := Read(1, ReadInput, 0, uint16(count))
		regs, err := DecodeRTU(b, req)
		if err != nil {
			return
		}
		back, err := EncodeRTUReply(req, regs)
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("accepted % X, re-encoded % X (%v)", b, back, err)
		}
		if rq, err := DecodeRTURequest(b); err == nil {
			if e, _ := EncodeRTU(rq); !bytes.Equal(e, b) {
				t.Fatalf("request % X re-encoded % X", b, e)
			}
		}
	})
}

// FuzzDecodeASCII: DecodeASCII never panics; accepted frames re-encode identically (up to
// hex case).
func FuzzDecodeASCII(f *testing.F) {
	r := Read(1, ReadHolding, 0x1258, 5)
	good, _ := EncodeASCIIReply(r, []uint16{2080, 250, 10130, 1200, 1150})
	f.Add(good, byte(5))
	f.Add([]byte(":0103125800058D\r\n"), byte(5))
	f.Add(EncodeASCIIException(1, ReadHolding, 2), byte(5))
	f.Fuzz(func(t *testing.T, b []byte, count byte) {
		req := Read(1, ReadHolding, 0x1258, uint16(count))
		regs, err := DecodeASCII(b, req)
		if err != nil {
			return
		}
		back, err := EncodeASCIIReply(req, regs)
		if err != nil || !bytes.EqualFold(back, b) {
			t.Fatalf("accepted %q, re-encoded %q (%v)", b, back, err)
		}
	})
}

func BenchmarkDecodeRTU(b *testing.B) {
	r := Read(1, ReadInput, 0, 3)
	f, _ := EncodeRTUReply(r, []uint16{10132, 253, 650})
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if _, err := DecodeRTU(f, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeASCII(b *testing.B) {
	r := Read(1, ReadHolding, 0x1258, 5)
	f, _ := EncodeASCIIReply(r, []uint16{2080, 250, 10130, 1200, 1150})
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if _, err := DecodeASCII(f, r); err != nil {
			b.Fatal(err)
		}
	}
}
