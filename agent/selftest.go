package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"time"

	"go.bug.st/serial"

	"imagent/agent/procedure"
	"imagent/buffer"
	"imagent/drivers"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/gas/nanhua/nanhuasim"
	"imagent/drivers/simport"
)

// cmdSelftest checks that this binary works on this box: SQLite through cgo with WAL and
// full sync, the λ formula, and a driver talking to a simulator over a pseudo-terminal.
// The ARM smoke run under qemu uses it, so a build without cgo cannot pass.
func cmdSelftest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("selftest", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	dir, cleanup, err := tempDir("imagent-selftest-")
	if err != nil {
		return err
	}
	defer cleanup()
	steps := []struct {
		name string
		fn   func() (string, error)
	}{
		{"sqlite outbox", func() (string, error) { return selftestOutbox(ctx, filepath.Join(dir, "outbox.db")) }},
		{"lambda", selftestLambda},
		{"serial over pty", func() (string, error) { return selftestSerial(ctx) }},
	}
	for _, s := range steps {
		detail, err := s.fn()
		if err != nil {
			fmt.Fprintf(stdout, "FAIL %-16s %v\n", s.name, err)
			return fmt.Errorf("selftest: %s: %w", s.name, err)
		}
		fmt.Fprintf(stdout, "ok   %-16s %s\n", s.name, detail)
	}
	fmt.Fprintln(stdout, "selftest passed")
	return nil
}

func selftestOutbox(ctx context.Context, path string) (string, error) {
	ob, err := buffer.Open(ctx, path, buffer.Opts{})
	if err != nil {
		return "", err
	}
	for i := range 3 {
		if _, err := ob.Append(ctx, buffer.KindEvent, func(seq int64, prev []byte) (string, []byte, error) {
			return fmt.Sprintf("selftest-%d", seq), fmt.Appendf(nil, `{"n":%d}`, i), nil
		}); err != nil {
			ob.Close()
			return "", err
		}
	}
	if err := ob.Close(); err != nil {
		return "", err
	}
	ob, err = buffer.Open(ctx, path, buffer.Opts{})
	if err != nil {
		return "", err
	}
	defer ob.Close()
	msgs, err := ob.Pending(ctx, 0, 10)
	if err != nil {
		return "", err
	}
	if len(msgs) != 3 || msgs[2].Seq != 3 {
		return "", fmt.Errorf("reopened outbox holds %d pending records, want 3", len(msgs))
	}
	return "3 records committed, reopened and read back", nil
}

func selftestLambda() (string, error) {
	// A stoichiometric gasoline exhaust: 14.5 % CO2, 0.5 % CO, 0.5 % O2, 100 ppm HC.
	l := procedure.Lambda(procedure.Gasoline, 0.5, 14.5, 0.5, 100)
	if math.IsNaN(l) || l < 0.99 || l > 1.03 {
		return "", fmt.Errorf("λ = %v for a near-stoichiometric mixture", l)
	}
	return fmt.Sprintf("λ = %.4f", l), nil
}

func selftestSerial(ctx context.Context) (string, error) {
	pty, err := simport.Open()
	if err != nil {
		return "", err
	}
	defer pty.Close()
	car := nanhuasim.NewCar(uint64(time.Now().UnixNano()))
	car.SetProbe(true)
	sim := nanhuasim.New(nanhuasim.Options{Model: nanhua.NHA503, Vehicle: car})
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sim.Serve(sctx, pty.Master) }()
	defer func() { stop(); <-done }()
	port, err := serial.Open(pty.SlavePath, &serial.Mode{BaudRate: 9600})
	if err != nil {
		return "", err
	}
	defer port.Close()
	dev, err := nanhua.New(port, nanhua.DefaultOpts)
	if err != nil {
		return "", err
	}
	r, err := dev.Read(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("NHA-503 frame of %d bytes, CO2 %.2f %%", len(r.Raw), r.Values[drivers.CO2pct]), nil
}
