package drivertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/drivers"
)

const sample = `# gas/test model=X
# source: typed for this test
> 01  # request
< 06 00 1e   # reply
# a note
> 0203
< 15
`

func parse(t *testing.T, s string) *Trace {
	t.Helper()
	tr, err := ParseTrace(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestTraceRoundTrip(t *testing.T) {
	tr := parse(t, sample)
	if len(tr.Header) != 2 || tr.Header[1] != "source: typed for this test" {
		t.Errorf("header = %q", tr.Header)
	}
	if len(tr.Ops) != 5 {
		t.Fatalf("ops = %+v", tr.Ops)
	}
	if op := tr.Ops[1]; op.Dir != Device || !bytes.Equal(op.Data, []byte{6, 0, 0x1e}) || op.Comment != "reply" || op.Line != 4 {
		t.Errorf("op 2 = %+v", op)
	}
	if op := tr.Ops[2]; op.Dir != Note || op.Comment != "a note" {
		t.Errorf("op 3 = %+v", op)
	}
	if !bytes.Equal(tr.HostBytes(), []byte{1, 2, 3}) || !bytes.Equal(tr.DeviceBytes(), []byte{6, 0, 0x1e, 0x15}) {
		t.Errorf("host % x, device % x", tr.HostBytes(), tr.DeviceBytes())
	}
	var buf bytes.Buffer
	if err := tr.Write(&buf); err != nil {
		t.Fatal(err)
	}
	want := "# gas/test model=X\n# source: typed for this test\n> 01  # request\n< 06 00 1e  # reply\n# a note\n> 02 03\n< 15\n"
	if buf.String() != want {
		t.Errorf("Write:\n%s\nwant:\n%s", buf.String(), want)
	}
	again := parse(t, buf.String())
	for i := range tr.Ops {
		a, b := tr.Ops[i], again.Ops[i]
		if a.Dir != b.Dir || !bytes.Equal(a.Data, b.Data) || a.Comment != b.Comment {
			t.Errorf("op %d changed: %+v -> %+v", i, a, b)
		}
	}
	if err := (&Trace{Ops: []Op{{Dir: 'x'}}}).Write(io.Discard); err == nil {
		t.Error("Write accepted an op with a bad direction")
	}
}

func TestParseTraceErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"> 01\n< 0g\n", "line 2"},
		{"> 0\n", "line 1"},
		{"# h\n\n>\n", "line 3"},
		{"> 01\n! 02\n", "line 2"},
		{"<   # only a comment\n", "line 1"},
	} {
		_, err := ParseTrace(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseTrace(%q) err = %v, want mention of %s", tc.in, err, tc.want)
		}
	}
}

func TestPlayback(t *testing.T) {
	for _, oneByte := range []bool{false, true} {
		t.Run(fmt.Sprint("oneByte=", oneByte), func(t *testing.T) {
			p := NewPlayback(parse(t, sample))
			p.OneByte = oneByte
			buf := make([]byte, 8)
			// Quiet line before the host writes.
			if n, err := p.Read(buf); n != 0 || err != nil {
				t.Fatalf("Read before the request = %d, %v; want 0, nil", n, err)
			}
			if _, err := p.Write([]byte{1}); err != nil {
				t.Fatal(err)
			}
			var got []byte
			for len(got) < 3 {
				n, err := p.Read(buf)
				if err != nil {
					t.Fatal(err)
				}
				if oneByte && n != 1 {
					t.Fatalf("OneByte Read returned %d bytes", n)
				}
				got = append(got, buf[:n]...)
			}
			if !bytes.Equal(got, []byte{6, 0, 0x1e}) {
				t.Errorf("read % x", got)
			}
			// A write split in two.
			if _, err := p.Write([]byte{2}); err != nil {
				t.Fatal(err)
			}
			if err := p.Close(); err == nil || !strings.Contains(err.Error(), "unused") {
				t.Errorf("Close with ops left = %v", err)
			}
		})
	}

	p := NewPlayback(parse(t, sample))
	if _, err := p.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte{9}); err == nil || !strings.Contains(err.Error(), "device to send") {
		t.Errorf("write while the device has bytes to send: %v", err)
	}
	if _, err := p.Read(make([]byte, 1)); err == nil {
		t.Error("Read after a mismatch succeeded")
	}
	if err := p.Close(); err == nil {
		t.Error("Close after a mismatch returned nil")
	}

	p = NewPlayback(parse(t, sample))
	if _, err := p.Write([]byte{7}); err == nil || !strings.Contains(err.Error(), "want 01") {
		t.Errorf("wrong bytes: %v", err)
	}

	p = NewPlayback(parse(t, "> 01 02\n< 06\n"))
	if n, err := p.Write([]byte{1, 2, 3}); err == nil || n != 2 {
		t.Errorf("write past the op = %d, %v", n, err)
	}

	// Whole trace used: Read gives io.EOF, Close nil.
	p = NewPlayback(parse(t, "> 01\n< 06\n"))
	p.Write([]byte{1})
	buf := make([]byte, 4)
	if n, err := p.Read(buf); n != 1 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	if _, err := p.Read(buf); err != io.EOF {
		t.Errorf("Read at the end = %v, want io.EOF", err)
	}
	if _, err := p.Write([]byte{1}); err == nil {
		t.Error("Write after the end succeeded")
	}
	p = NewPlayback(parse(t, "> 01 02\n< 06\n"))
	p.Write([]byte{1})
	p.Write([]byte{2})
	p.Read(buf)
	if err := p.Close(); err != nil {
		t.Errorf("Close of a fully used trace = %v", err)
	}
	if _, err := p.Write([]byte{1}); err == nil {
		t.Error("Write after Close succeeded")
	}
}

// drivers.ReadFull sees a silent Playback as a quiet serial line: it times out.
func TestPlaybackReadFullTimeout(t *testing.T) {
	p := NewPlayback(parse(t, "> 01\n< 06 00\n"))
	p.Write([]byte{1})
	buf := make([]byte, 3)
	n, err := drivers.ReadFull(context.Background(), p, buf, 50*time.Millisecond)
	// Two bytes, then the trace is over: the link "closes".
	if n != 2 || err == nil {
		t.Errorf("ReadFull = %d, %v", n, err)
	}
	p = NewPlayback(parse(t, "> 01\n< 06\n"))
	if _, err := drivers.ReadFull(context.Background(), p, buf[:1], 30*time.Millisecond); !errors.Is(err, drivers.ErrTimeout) {
		t.Errorf("ReadFull before the request = %v, want ErrTimeout", err)
	}
}

func TestRecord(t *testing.T) {
	src := parse(t, sample)
	r := NewRecord(NewPlayback(src), "source: test")
	if err := r.SetReadTimeout(time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := r.SetReadDeadline(time.Now()); err != nil { // Playback has none: ignored
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	r.Write([]byte{1})
	r.Read(buf) // 06 00
	r.Read(buf) // 1e
	r.Note("half way")
	r.Write([]byte{2})
	r.Write([]byte{3})
	r.Read(buf)
	got := r.Trace()
	if got.Header[0] != "source: test" {
		t.Errorf("header %q", got.Header)
	}
	if !bytes.Equal(got.HostBytes(), src.HostBytes()) || !bytes.Equal(got.DeviceBytes(), src.DeviceBytes()) {
		t.Errorf("recorded host % x device % x", got.HostBytes(), got.DeviceBytes())
	}
	var w bytes.Buffer
	got.Write(&w)
	want := "# source: test\n> 01\n< 06 00 1e\n# half way\n> 02 03\n< 15\n"
	if w.String() != want {
		t.Errorf("recorded trace:\n%s\nwant:\n%s", w.String(), want)
	}
	// The copy is independent.
	got.Ops[0].Data[0] = 0xff
	if r.Trace().Ops[0].Data[0] != 1 {
		t.Error("Trace returned shared memory")
	}
}

// ping is a minimal device for testing the kit: the host sends 'P', the device answers
// "PONG" and a counter byte.
type ping struct{ rw io.ReadWriter }

func (p ping) Read(ctx context.Context) (drivers.Reading, error) {
	if err := drivers.Drain(ctx, p.rw, 5*time.Millisecond); err != nil {
		return drivers.Reading{}, fmt.Errorf("ping: %w", err)
	}
	if _, err := p.rw.Write([]byte{'P'}); err != nil {
		return drivers.Reading{}, fmt.Errorf("ping: %w", err)
	}
	buf := make([]byte, 5)
	if _, err := drivers.ReadFull(ctx, p.rw, buf, time.Second); err != nil {
		return drivers.Reading{}, fmt.Errorf("ping: %w", err)
	}
	if string(buf[:4]) != "PONG" {
		return drivers.Reading{}, fmt.Errorf("ping: %q: %w", buf, drivers.ErrFrame)
	}
	return drivers.Reading{Time: time.Now(), Values: map[drivers.Quantity]float64{drivers.RPM: float64(buf[4])}, Raw: buf}, nil
}

// servePing is the ping device's simulator, with the pty master rules of ServeFunc.
func servePing(ctx context.Context, rw io.ReadWriter) error {
	f := rw.(*os.File)
	var b [1]byte
	var n byte
	for ctx.Err() == nil {
		f.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := f.Read(b[:]); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if errors.Is(err, syscall.EIO) {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			return err
		}
		if b[0] == 'P' {
			n++
			f.Write([]byte{'P', 'O', 'N', 'G', n})
		}
	}
	return nil
}

func TestConformancePing(t *testing.T) {
	Conformance(t, Harness{
		Mode:  serial.Mode{BaudRate: 9600},
		Serve: servePing,
		New:   func(rw io.ReadWriter) (drivers.Device, error) { return ping{rw}, nil },
	})
}

func TestSimPortStopKill(t *testing.T) {
	sp := OpenSimPort(t, servePing, serial.Mode{BaudRate: 19200})
	dev := ping{sp.Port}
	ctx := context.Background()
	r, err := dev.Read(ctx)
	if err != nil || r.Values[drivers.RPM] != 1 {
		t.Fatalf("Read = %+v, %v", r, err)
	}
	sp.Stop()
	sp.Stop() // idempotent
	if _, err := dev.Read(ctx); !errors.Is(err, drivers.ErrTimeout) {
		t.Errorf("Read from a stopped simulator = %v, want ErrTimeout", err)
	}
	sp.Kill()
	if _, err := dev.Read(ctx); err == nil {
		t.Error("Read after Kill succeeded")
	}
	sp.Kill()
}

// TestReplayDir: each trace runs whole and bytewise with its case, and the ops must all be
// used.
func TestReplayDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/a.trace", []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	var runs []string
	ReplayDir(t, dir, map[string]int{"a.trace": 7}, func(t *testing.T, ctx context.Context, p *Playback, c int) {
		runs = append(runs, fmt.Sprintf("%s %v %d", t.Name(), p.OneByte, c))
		if _, err := p.Write([]byte{0x01}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 3)
		if _, err := drivers.ReadFull(ctx, p, buf, time.Second); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write([]byte{0x02, 0x03}); err != nil {
			t.Fatal(err)
		}
		if _, err := drivers.ReadFull(ctx, p, buf[:1], time.Second); err != nil {
			t.Fatal(err)
		}
	})
	want := []string{"TestReplayDir/a/whole false 7", "TestReplayDir/a/bytewise true 7"}
	if fmt.Sprint(runs) != fmt.Sprint(want) {
		t.Fatalf("runs %q, want %q", runs, want)
	}
}

// TestReplayDirFails runs ReplayDir in a child test process on broken setups: each must
// fail it.
func TestReplayDirFails(t *testing.T) {
	if which := os.Getenv("DRIVERTEST_REPLAY_CHILD"); which != "" {
		dir := os.Getenv("DRIVERTEST_REPLAY_DIR")
		noop := func(t *testing.T, ctx context.Context, p *Playback, c int) {}
		switch which {
		case "no-case":
			ReplayDir(t, dir, map[string]int{}, noop)
		case "missing-trace":
			ReplayDir(t, dir, map[string]int{"a.trace": 1, "b.trace": 2}, noop)
		case "unused-ops":
			ReplayDir(t, dir, map[string]int{"a.trace": 1}, noop)
		case "no-source":
			if err := os.WriteFile(dir+"/a.trace", []byte("# nothing\n> 01\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			ReplayDir(t, dir, map[string]int{"a.trace": 1}, func(t *testing.T, ctx context.Context, p *Playback, c int) {
				p.Write([]byte{1})
			})
		case "empty-dir":
			ReplayDir(t, t.TempDir(), map[string]int{}, noop)
		}
		return
	}
	for which, msg := range map[string]string{
		"no-case":       "a.trace has no entry in traceCases",
		"missing-trace": "traceCases names b.trace, which does not exist",
		"unused-ops":    "drivertest: playback",
		"no-source":     "a.trace: header has no source: line",
		"empty-dir":     "no traces",
	} {
		t.Run(which, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(dir+"/a.trace", []byte(sample), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestReplayDirFails$", "-test.count=1")
			cmd.Env = append(os.Environ(), "DRIVERTEST_REPLAY_CHILD="+which, "DRIVERTEST_REPLAY_DIR="+dir)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), msg) {
				t.Fatalf("child test: err %v, output:\n%s\nwant a failure mentioning %q", err, out, msg)
			}
		})
	}
}

func TestNearWantValuesWantErr(t *testing.T) {
	// The passing cases; each failing one is checked in a child, as above.
	Near(t, "x", 1.05, 1, 0.1)
	WantValues(t, drivers.Reading{Values: map[drivers.Quantity]float64{drivers.HCppm: 12}},
		map[drivers.Quantity]float64{drivers.HCppm: 12})
	WantErr(t, "acme", fmt.Errorf("acme: read: %w", drivers.ErrTimeout), drivers.ErrTimeout)
}

func TestNearWantValuesWantErrFail(t *testing.T) {
	if which := os.Getenv("DRIVERTEST_ASSERT_CHILD"); which != "" {
		switch which {
		case "far":
			Near(t, "x", 1.5, 1, 0.1)
		case "nan":
			Near(t, "x", math.NaN(), 1, 0.1)
		case "missing":
			WantValues(t, drivers.Reading{Values: map[drivers.Quantity]float64{drivers.COpct: 1}},
				map[drivers.Quantity]float64{drivers.HCppm: 1})
		case "extra":
			WantValues(t, drivers.Reading{Values: map[drivers.Quantity]float64{drivers.HCppm: 1, drivers.COpct: 1}},
				map[drivers.Quantity]float64{drivers.HCppm: 1})
		case "wrong-err":
			WantErr(t, "acme", fmt.Errorf("acme: %w", drivers.ErrFrame), drivers.ErrTimeout)
		case "no-prefix":
			WantErr(t, "acme", fmt.Errorf("other: %w", drivers.ErrTimeout), drivers.ErrTimeout)
		}
		return
	}
	for _, which := range []string{"far", "nan", "missing", "extra", "wrong-err", "no-prefix"} {
		t.Run(which, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestNearWantValuesWantErrFail$", "-test.count=1")
			cmd.Env = append(os.Environ(), "DRIVERTEST_ASSERT_CHILD="+which)
			if out, err := cmd.CombinedOutput(); err == nil {
				t.Fatalf("child test passed; want it to fail:\n%s", out)
			}
		})
	}
}

func TestStartSimContext(t *testing.T) {
	newPing := func(rw io.ReadWriter, greeting string) (ping, error) {
		if greeting != "hello" {
			return ping{}, fmt.Errorf("ping: options %q", greeting)
		}
		return ping{rw}, nil
	}
	if os.Getenv("DRIVERTEST_STARTSIM_CHILD") != "" {
		StartSim(t, servePing, serial.Mode{BaudRate: 9600}, newPing, "bad")
		return
	}
	dev := StartSim(t, servePing, serial.Mode{BaudRate: 9600}, newPing, "hello")
	ctx := Context(t, 10*time.Second)
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > 10*time.Second {
		t.Fatalf("Context deadline %v, %v; want within 10 s", dl, ok)
	}
	if r, err := dev.Read(ctx); err != nil || r.Values[drivers.RPM] != 1 {
		t.Fatalf("Read through StartSim = %+v, %v", r, err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStartSimContext$", "-test.count=1")
	cmd.Env = append(os.Environ(), "DRIVERTEST_STARTSIM_CHILD=1")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), `drivertest: New: ping: options "bad"`) {
		t.Fatalf("StartSim with a failing New: err %v, output:\n%s", err, out)
	}
}
