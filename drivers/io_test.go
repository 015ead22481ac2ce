package drivers_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
	"imagent/drivers/simport"
)

// ptyPair is a real pty: the master (deadline-based reads) and a go.bug.st/serial port on
// the slave (timeout-based reads), as the simulators and the drivers use them.
func ptyPair(t *testing.T) (*simport.PTY, serial.Port) {
	t.Helper()
	p, err := simport.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	port, err := serial.Open(p.SlavePath, &serial.Mode{BaudRate: 9600})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { port.Close() })
	return p, port
}

func TestReadSomeSerialPort(t *testing.T) {
	p, port := ptyPair(t)
	ctx := context.Background()
	buf := make([]byte, 16)
	if n, err := drivers.ReadSome(ctx, port, buf, 30*time.Millisecond); n != 0 || err != nil {
		t.Fatalf("quiet line: ReadSome = %d, %v; want 0, nil", n, err)
	}
	if _, err := p.Master.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for len(got) < 3 {
		n, err := drivers.ReadSome(ctx, port, buf, 2*time.Second)
		if err != nil || n == 0 {
			t.Fatalf("ReadSome after %q = %d, %v; want bytes", got, n, err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "abc" {
		t.Fatalf("read %q, want %q", got, "abc")
	}
}

func TestReadSomeDeadlineReader(t *testing.T) {
	p, port := ptyPair(t)
	ctx := context.Background()
	buf := make([]byte, 16)
	if n, err := drivers.ReadSome(ctx, p.Master, buf, 30*time.Millisecond); n != 0 || err != nil {
		t.Fatalf("quiet line: ReadSome = %d, %v; want 0, nil", n, err)
	}
	if _, err := port.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	n, err := drivers.ReadSome(ctx, p.Master, buf, 2*time.Second)
	if err != nil || string(buf[:n]) != "x" {
		t.Fatalf("ReadSome = %q, %v; want %q", buf[:n], err, "x")
	}
}

func TestReadSomeCancelled(t *testing.T) {
	_, port := ptyPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	// The wait is an hour: only ctx can end it.
	n, err := drivers.ReadSome(ctx, port, make([]byte, 4), time.Hour)
	if n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadSome with ctx cancelled = %d, %v; want 0, context.Canceled", n, err)
	}
}

// failReader fails every Read with err, after delivering data once if it has any.
type failReader struct {
	data []byte
	err  error
}

func (r *failReader) Read(b []byte) (int, error) {
	n := copy(b, r.data)
	r.data = r.data[n:]
	return n, r.err
}

func TestReadSomeErrors(t *testing.T) {
	ctx := context.Background()
	buf := make([]byte, 4)
	_, err := drivers.ReadSome(ctx, strings.NewReader(""), buf, time.Second)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("EOF: ReadSome error %v; want io.ErrUnexpectedEOF", err)
	}
	broken := errors.New("broken")
	r := &failReader{data: []byte("ok"), err: broken}
	if n, err := drivers.ReadSome(ctx, r, buf, time.Second); n != 2 || err != nil {
		t.Fatalf("data with an error: ReadSome = %d, %v; want 2, nil (the error comes next)", n, err)
	}
	if _, err := drivers.ReadSome(ctx, r, buf, time.Second); !errors.Is(err, broken) {
		t.Fatalf("ReadSome error %v; want %v", err, broken)
	}
}

func TestNoFrame(t *testing.T) {
	err := drivers.NoFrame("acme", "read", true, time.Second)
	if !errors.Is(err, drivers.ErrFrame) || errors.Is(err, drivers.ErrTimeout) || !strings.HasPrefix(err.Error(), "acme: read: ") {
		t.Fatalf("garbage: %v; want an acme: read: ErrFrame", err)
	}
	err = drivers.NoFrame("acme", "zero", false, time.Second)
	if !errors.Is(err, drivers.ErrTimeout) || errors.Is(err, drivers.ErrFrame) || !strings.HasPrefix(err.Error(), "acme: zero: ") {
		t.Fatalf("silence: %v; want an acme: zero: ErrTimeout", err)
	}
}

func TestSend(t *testing.T) {
	p, port := ptyPair(t)
	ctx := context.Background()
	// The device sent something nobody asked for: Send must discard it before writing.
	if _, err := p.Master.Write([]byte("stale")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if err := drivers.Send(ctx, port, []byte("req"), 30*time.Millisecond); err != nil {
		t.Fatalf("Send: %v", err)
	}
	buf := make([]byte, 16)
	if n, err := drivers.ReadSome(ctx, port, buf, 30*time.Millisecond); n != 0 || err != nil {
		t.Fatalf("after Send the port still holds %q (%v); want it drained", buf[:n], err)
	}
	var got []byte
	for len(got) < 3 {
		n, err := drivers.ReadSome(ctx, p.Master, buf, 2*time.Second)
		if err != nil || n == 0 {
			t.Fatalf("device read after %q: %d, %v", got, n, err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "req" {
		t.Fatalf("device got %q, want %q", got, "req")
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := drivers.Send(cctx, port, []byte("no"), time.Millisecond); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send with ctx done = %v; want context.Canceled", err)
	}
	if n, _ := drivers.ReadSome(ctx, p.Master, buf, 30*time.Millisecond); n != 0 {
		t.Fatalf("Send with ctx done wrote %q", buf[:n])
	}
}

// brokenRW is a quiet line whose writes fail.
type brokenRW struct{}

var errWrite = errors.New("write failed")

func (brokenRW) Read([]byte) (int, error)  { return 0, io.EOF }
func (brokenRW) Write([]byte) (int, error) { return 0, errWrite }

// quietBrokenRW is a silent line (reads return nothing at once) whose writes fail.
type quietBrokenRW struct{ brokenRW }

func (quietBrokenRW) Read([]byte) (int, error) { return 0, nil }

func TestSendErrors(t *testing.T) {
	err := drivers.Send(context.Background(), brokenRW{}, []byte("x"), time.Millisecond)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.HasPrefix(err.Error(), "drain: ") {
		t.Fatalf("Send on a closed link = %v; want a drain: error wrapping io.ErrUnexpectedEOF", err)
	}
	err = drivers.Send(context.Background(), quietBrokenRW{}, []byte("x"), time.Millisecond)
	if !errors.Is(err, errWrite) || !strings.HasPrefix(err.Error(), "write: ") {
		t.Fatalf("Send with a failing write = %v; want a write: error wrapping it", err)
	}
}
