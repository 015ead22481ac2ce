package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"go.bug.st/serial"
	"go.bug.st/serial/enumerator"

	"imagent/config"
	"imagent/drivers"
	"imagent/drivers/drivertest"
	"imagent/drivers/simport"
)

// cmdSim exposes a protocol's simulator on a pseudo-terminal and prints its path.
func cmdSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("usage: imagent sim PROTOCOL [--model M] [--link PATH] [--seed N]  (protocols: %s)", strings.Join(protocolNames(), ", "))
	}
	name, args := args[0], args[1:]
	p, ok := lookupProtocol(name)
	if !ok {
		return fmt.Errorf("sim: unknown protocol %q (known: %s)", name, strings.Join(protocolNames(), ", "))
	}
	fs := newFlags("sim "+name, stderr)
	link := fs.String("link", "", "also create this symlink to the pseudo-terminal (a stable path for configs)")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the simulated values' noise")
	model := fs.String("model", "", "instrument model to simulate (default: the protocol's first)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pty, err := simport.Open()
	if err != nil {
		return err
	}
	defer pty.Close()
	if *link != "" {
		_ = os.Remove(*link)
		if err := os.Symlink(pty.SlavePath, *link); err != nil {
			return fmt.Errorf("sim: link: %w", err)
		}
		defer os.Remove(*link)
	}
	fmt.Fprintf(stdout, "%s simulator on %s (%d baud %d%s1 nominal)\n", p.name, pty.SlavePath,
		p.mode.BaudRate, p.mode.DataBits, parityLetter(p.mode.Parity))
	err = p.sim(simSpec{Model: *model, Seed: *seed})(ctx, pty.Master)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func parityLetter(p serial.Parity) string {
	switch p {
	case serial.EvenParity:
		return "E"
	case serial.OddParity:
		return "O"
	}
	return "N"
}

// cmdPorts lists serial ports with their USB identity and stable /dev/serial/by-id paths.
func cmdPorts(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ports", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ports, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return fmt.Errorf("ports: %w", err)
	}
	byID := stableNames("/dev/serial/by-id")
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PORT\tUSB\tVID:PID\tSERIAL\tPRODUCT\tSTABLE PATH (use this in the config)")
	for _, p := range ports {
		usb, vidpid := "no", "-"
		if p.IsUSB {
			usb, vidpid = "yes", p.VID+":"+p.PID
		}
		stable := byID[p.Name]
		if stable == "" {
			stable = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, usb, vidpid, dash(p.SerialNumber), dash(p.Product), stable)
	}
	if len(ports) == 0 {
		fmt.Fprintln(w, "(no serial ports found; simulators on pseudo-terminals are never listed)")
	}
	return w.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// stableNames maps device nodes (/dev/ttyUSB0) to the symlinks in dir that point at them.
func stableNames(dir string) map[string]string {
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return out
	}
	for _, e := range entries {
		link := filepath.Join(dir, e.Name())
		target, err := filepath.EvalSymlinks(link)
		if err == nil {
			out[target] = link
		}
	}
	return out
}

// probeResult is what one protocol made of a port.
type probeResult struct {
	Protocol   string
	Answered   int // good readings out of Tries
	Tries      int
	Confidence string // high | low | none
	Sample     drivers.Reading
	Err        string
}

// probePort tries every known protocol on path at its own settings and reports which
// answered with valid frames, and how sure that is.
func probePort(ctx context.Context, path string, tries int, timeout time.Duration) []probeResult {
	var out []probeResult
	for _, p := range protocols() {
		r := probeResult{Protocol: p.name, Tries: tries, Confidence: "none"}
		port, err := serial.Open(path, &p.mode)
		if err != nil {
			r.Err = err.Error()
			out = append(out, r)
			continue
		}
		// A polled instrument never talks unasked: unsolicited bytes mean some other
		// (streaming) device is on the line, whatever this protocol would make of them.
		if heard := listen(ctx, port, 250*time.Millisecond); heard > 0 && !p.streams {
			port.Close()
			r.Err = fmt.Sprintf("%d unsolicited bytes: a streaming device, not %s", heard, p.name)
			out = append(out, r)
			continue
		}
		dev, err := p.newDev(port, config.Device{Name: "probe", Protocol: p.name, Port: path})
		if err == nil {
			for range tries {
				rctx, cancel := context.WithTimeout(ctx, timeout)
				rd, err := dev.Read(rctx)
				cancel()
				if err != nil {
					r.Err = err.Error()
					continue
				}
				r.Answered++
				r.Sample = rd
			}
		} else {
			r.Err = err.Error()
		}
		port.Close()
		switch {
		case r.Answered == tries:
			r.Confidence, r.Err = "high", ""
		case r.Answered > 0:
			r.Confidence = "low"
		}
		out = append(out, r)
		if ctx.Err() != nil {
			break
		}
	}
	return out
}

func cmdProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("probe", stderr)
	tries := fs.Int("tries", 3, "readings to attempt per protocol")
	timeout := fs.Duration("timeout", 1500*time.Millisecond, "time allowed per reading")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: imagent probe PORT [--tries N] [--timeout D]")
	}
	path := pos[0]
	results := probePort(ctx, path, *tries, *timeout)
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROTOCOL\tANSWERED\tCONFIDENCE\tDETAIL")
	found := 0
	for _, r := range results {
		detail := r.Err
		if r.Answered > 0 {
			found++
			detail = formatValues(r.Sample.Values)
		}
		fmt.Fprintf(w, "%s\t%d/%d\t%s\t%s\n", r.Protocol, r.Answered, r.Tries, r.Confidence, detail)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if found == 0 {
		return fmt.Errorf("probe: nothing known answered on %s", path)
	}
	return nil
}

func formatValues(v map[drivers.Quantity]float64) string {
	var keys []string
	for k := range v {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%g", k, v[drivers.Quantity(k)]))
	}
	return strings.Join(parts, " ")
}

// deviceFromFlags finds the device named on the command line in a config file, or builds
// one from --port/--proto.
func deviceFromFlags(cfgPath, name, port, proto, model string) (config.Device, error) {
	if port != "" {
		if proto == "" {
			return config.Device{}, errors.New("--port needs --proto")
		}
		return config.Device{Name: "cli", Protocol: proto, Port: port, Model: model}, nil
	}
	cfg, err := config.Load(cfgPath, config.LoadOpts{Protocols: protocolNames()})
	if err != nil {
		return config.Device{}, err
	}
	for _, d := range cfg.Devices {
		if d.Name == name {
			return d, nil
		}
	}
	return config.Device{}, fmt.Errorf("no device %q in %s", name, cfgPath)
}

// cmdMonitor shows a device's live values in the terminal, reading the port itself (stop
// the agent first, or use the console while it runs).
func cmdMonitor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("monitor", stderr)
	cfgPath := fs.String("config", "/etc/imagent/imagent.toml", "configuration file naming the device")
	port := fs.String("port", "", "monitor this port instead of a configured device (needs --proto)")
	proto := fs.String("proto", "", "protocol for --port")
	model := fs.String("model", "", "model for --port")
	count := fs.Int("n", 0, "stop after this many readings (0: until interrupted)")
	interval := fs.Duration("interval", time.Second, "time between readings")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	name := ""
	if len(pos) > 0 {
		name = pos[0]
	}
	if name == "" && *port == "" {
		return errors.New("usage: imagent monitor DEVICE [--config FILE] | --port PATH --proto P")
	}
	d, err := deviceFromFlags(*cfgPath, name, *port, *proto, *model)
	if err != nil {
		return err
	}
	open, err := serialOpener(d)
	if err != nil {
		return err
	}
	dev, closer, err := open(ctx)
	if err != nil {
		return err
	}
	defer closer.Close()
	for i := 0; *count == 0 || i < *count; i++ {
		r, err := dev.Read(ctx)
		now := time.Now().Format("15:04:05.000")
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(stdout, "%s  %s  ERROR %v\n", now, d.Name, err)
		} else {
			st := strings.Join(r.Status.Names(), ",")
			if st == "" {
				st = "ready"
			}
			fmt.Fprintf(stdout, "%s  %s  [%s]  %s\n", now, d.Name, st, formatValues(r.Values))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*interval):
		}
	}
	return nil
}

// cmdRecord captures real traffic with a device as a new trace file.
func cmdRecord(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("record", stderr)
	proto := fs.String("proto", "", "protocol to speak (required)")
	model := fs.String("model", "", "instrument model")
	out := fs.String("o", "", "trace file to write (required)")
	count := fs.Int("n", 5, "readings to capture")
	note := fs.String("note", "", "free text for the trace header (station, firmware seen…)")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *proto == "" || *out == "" {
		return errors.New("usage: imagent record PORT --proto P [--model M] -o FILE.trace [-n N]")
	}
	p, ok := lookupProtocol(*proto)
	if !ok {
		return fmt.Errorf("record: unknown protocol %q (known: %s)", *proto, strings.Join(protocolNames(), ", "))
	}
	d := config.Device{Name: "record", Protocol: p.name, Port: pos[0], Model: *model}
	port, err := serial.Open(d.Port, portMode(p, d))
	if err != nil {
		return fmt.Errorf("record: open %s: %w", d.Port, err)
	}
	defer port.Close()
	header := []string{
		fmt.Sprintf("%s model=%s", p.name, dash(*model)),
		fmt.Sprintf("source: captured from a real device by imagent record %s on %s at %s", version, d.Port, time.Now().UTC().Format(time.RFC3339)),
	}
	if *note != "" {
		header = append(header, "note: "+*note)
	}
	rec := drivertest.NewRecord(port, header...)
	dev, err := p.newDev(rec, d)
	if err != nil {
		return err
	}
	good := 0
	for i := 0; i < *count && ctx.Err() == nil; i++ {
		r, err := dev.Read(ctx)
		if err != nil {
			rec.Note("read failed: " + err.Error())
			fmt.Fprintf(stderr, "reading %d: %v\n", i+1, err)
			continue
		}
		good++
		rec.Note(formatValues(r.Values))
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := rec.Trace().Write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d of %d readings, trace written\n", *out, good, *count)
	return nil
}

// listen counts the bytes that arrive on r within d without anything being sent.
func listen(ctx context.Context, r io.Reader, d time.Duration) int {
	buf := make([]byte, 256)
	total := 0
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n, err := drivers.ReadFull(ctx, r, buf[:1], time.Until(deadline))
		total += n
		if err != nil {
			break
		}
	}
	return total
}
