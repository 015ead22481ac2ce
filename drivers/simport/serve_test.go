package simport

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.bug.st/serial"
)

func openPTY(t *testing.T) *PTY {
	t.Helper()
	p, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func openSlave(t *testing.T, p *PTY) serial.Port {
	t.Helper()
	port, err := serial.Open(p.SlavePath, &serial.Mode{BaudRate: 9600})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { port.Close() })
	if err := port.SetReadTimeout(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	return port
}

func TestLinkDetachedWithoutSlave(t *testing.T) {
	p := openPTY(t)
	l := NewLink("x", p.Master)
	if !l.HasDeadlines() {
		t.Fatal("a pty master must support read deadlines")
	}
	var b [8]byte
	n, st, err := l.Read(context.Background(), b[:], time.Time{})
	if n != 0 || st != Detached || err != nil {
		t.Fatalf("Read with no slave = %d, %v, %v; want 0, Detached, nil", n, st, err)
	}
	// Nobody listens: the reply is lost, not an error.
	if err := l.Write(context.Background(), []byte("lost")); err != nil {
		t.Fatalf("Write with no slave: %v", err)
	}
}

func TestLinkIdleDataStopped(t *testing.T) {
	p := openPTY(t)
	port := openSlave(t, p)
	l := NewLink("x", p.Master)
	ctx := context.Background()
	var b [8]byte
	if n, st, err := l.Read(ctx, b[:], time.Now().Add(20*time.Millisecond)); n != 0 || st != Idle || err != nil {
		t.Fatalf("silent Read = %d, %v, %v; want 0, Idle, nil", n, st, err)
	}
	if _, err := port.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for deadline := time.Now().Add(2 * time.Second); len(got) < 2 && time.Now().Before(deadline); {
		n, st, err := l.Read(ctx, b[:], time.Time{})
		if st == Stopped {
			t.Fatalf("Read stopped: %v", err)
		}
		got = append(got, b[:n]...)
	}
	if string(got) != "hi" {
		t.Fatalf("read %q, want %q", got, "hi")
	}
	if err := l.WriteWithin(ctx, []byte("ok"), time.Second); err != nil {
		t.Fatal(err)
	}
	r := make([]byte, 2)
	if n, err := port.Read(r); err != nil || string(r[:n]) != "ok" {
		t.Fatalf("slave read %q, %v; want %q", r[:n], err, "ok")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, st, err := l.Read(cctx, b[:], time.Time{}); st != Stopped || err != nil {
		t.Fatalf("Read after cancel = %v, %v; want Stopped, nil", st, err)
	}
	p.Close()
	if _, st, err := l.Read(ctx, b[:], time.Time{}); st != Stopped || err == nil {
		t.Fatalf("Read of a closed master = %v, %v; want Stopped and an error", st, err)
	}
}

// failRW fails every call with a plain error.
type failRW struct{}

var errBroken = errors.New("broken")

func (failRW) Read([]byte) (int, error)  { return 0, errBroken }
func (failRW) Write([]byte) (int, error) { return 0, errBroken }

func TestLinkErrorsAreWrappedAndNamed(t *testing.T) {
	l := NewLink("acmesim", failRW{})
	if l.HasDeadlines() {
		t.Fatal("failRW has no deadlines")
	}
	_, st, err := l.Read(context.Background(), make([]byte, 1), time.Time{})
	if st != Stopped || !errors.Is(err, errBroken) || !strings.HasPrefix(err.Error(), "acmesim: read: ") {
		t.Fatalf("Read = %v, %v; want Stopped and a wrapped acmesim: read: error", st, err)
	}
	err = l.Write(context.Background(), []byte{1})
	if !errors.Is(err, errBroken) || !strings.HasPrefix(err.Error(), "acmesim: write: ") {
		t.Fatalf("Write = %v; want a wrapped acmesim: write: error", err)
	}
	if err := l.Write(context.Background(), nil); err != nil {
		t.Fatalf("empty Write = %v; want nil (nothing written)", err)
	}
}

func TestServerEchoPollIdle(t *testing.T) {
	p := openPTY(t)
	var idles atomic.Int32
	var armed atomic.Bool
	sv := Server{
		Name:    "echo",
		BufSize: 1,
		Input: PerByte(func(c byte) []byte {
			if c == '-' {
				return nil // no answer
			}
			return []byte{c + 1}
		}),
		Idle: func() { idles.Add(1) },
		Poll: func() []byte {
			if armed.CompareAndSwap(true, false) {
				return []byte("!")
			}
			return nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sv.Serve(ctx, p.Master) }()
	port := openSlave(t, p)
	time.Sleep(150 * time.Millisecond) // some silent reads with the slave open
	armed.Store(true)
	time.Sleep(100 * time.Millisecond) // the next Poll sends "!"
	if _, err := port.Write([]byte("a-b")); err != nil {
		t.Fatal(err)
	}
	var got []byte
	r := make([]byte, 8)
	for len(got) < 3 {
		n, err := port.Read(r)
		if err != nil || n == 0 {
			t.Fatalf("slave read after %q: %d, %v", got, n, err)
		}
		got = append(got, r[:n]...)
	}
	if !bytes.Equal(got, []byte("!bc")) {
		t.Fatalf("got %q, want %q (poll output, then replies in order, none for '-')", got, "!bc")
	}
	if idles.Load() == 0 {
		t.Fatal("Idle was never called while the line was silent")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after cancel: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return within 2 s of cancel")
	}
}

func TestServerStopsWhenMasterCloses(t *testing.T) {
	p := openPTY(t)
	done := make(chan error, 1)
	go func() {
		done <- Server{Name: "x", Input: func([]byte) [][]byte { return nil }}.Serve(context.Background(), p.Master)
	}()
	time.Sleep(30 * time.Millisecond)
	p.Close()
	select {
	case err := <-done:
		if err == nil || !strings.HasPrefix(err.Error(), "x: ") {
			t.Fatalf("Serve on a closed master = %v; want an x: error", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return within 2 s of the master closing")
	}
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep with a live ctx reported it was cut short")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep with a done ctx reported the full hour passed")
	}
}

func TestGarbageFirstByte(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	first := []byte{0x07, 0x3f}
	for range 100 {
		g := Garbage(rng, 21, first)
		if len(g) != 21 || (g[0] != 0x07 && g[0] != 0x3f) {
			t.Fatalf("garbage %x: want 21 bytes starting with one of %x", g, first)
		}
	}
	if g := Garbage(rng, 0, first); len(g) != 0 {
		t.Fatalf("zero-length garbage: %x", g)
	}
}
