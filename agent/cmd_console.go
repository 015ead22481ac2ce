package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"imagent/agent/console"
	"imagent/agent/platform"
	"imagent/agent/procedure"
	"imagent/config"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/gas/nanhua/nanhuasim"
	"imagent/drivers/simport"
)

func cmdConsole(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: imagent console passwd | imagent console demo [--listen ADDR]")
	}
	switch args[0] {
	case "passwd":
		return cmdConsolePasswd(args[1:], os.Stdin, stdout, stderr)
	case "demo":
		return cmdConsoleDemo(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("console: unknown subcommand %q (passwd, demo)", args[0])
}

// cmdConsolePasswd reads a password (twice, without echo, from a terminal; once from a
// pipe) and prints the line to put in the [console] section.
func cmdConsolePasswd(args []string, stdin *os.File, stdout, stderr io.Writer) error {
	fs := newFlags("console passwd", stderr)
	iter := fs.Int("iterations", console.DefaultIterations, "PBKDF2 iterations (stored in the hash)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var pw string
	if isTerminal(stdin) {
		a, err := readSecret(stdin, stderr, "console password: ")
		if err != nil {
			return err
		}
		b, err := readSecret(stdin, stderr, "again: ")
		if err != nil {
			return err
		}
		if a != b {
			return errors.New("console passwd: the passwords differ")
		}
		pw = a
	} else {
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("console passwd: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	h, err := console.HashPassword(pw, *iter)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "put this line in the [console] section of the configuration, then restart imagent:\n")
	fmt.Fprintf(stdout, "password_hash = %q\n", h)
	return nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// readSecret reads one line from a terminal with echo off.
func readSecret(f *os.File, prompt io.Writer, text string) (string, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", fmt.Errorf("console passwd: %w", err)
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return "", fmt.Errorf("console passwd: %w", err)
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old) //nolint:errcheck // best effort restore
	fmt.Fprint(prompt, text)
	line, err := bufio.NewReader(f).ReadString('\n')
	fmt.Fprintln(prompt)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("console passwd: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// cmdConsoleDemo runs a simulated lane with its console until interrupted: a technician can
// try every page without instruments.
func cmdConsoleDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("console demo", stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "console address")
	speed := fs.Float64("speed", 5, "run test procedures this many times faster than real time")
	dirty := fs.Bool("dirty", false, "the simulated vehicle fails")
	only := fs.Bool("analyzer-only", false, "simulate the analyzer only (default: also an opacimeter, a dyno, a tachometer and a weather station)")
	level := fs.String("log", "warn", "log level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		return err
	}
	dir, cleanup, err := tempDir("imagent-console-demo-")
	if err != nil {
		return err
	}
	defer cleanup()
	lane, err := startSimLane(ctx, simLaneOpts{dir: dir, listen: *listen, speed: *speed, dirty: *dirty, station: !*only, log: log})
	if err != nil {
		return err
	}
	defer lane.close()
	addr := lane.consoleAddr(ctx)
	if addr == "" {
		return fmt.Errorf("console demo: the console could not listen on %s", *listen)
	}
	fmt.Fprintf(stdout, "console    http://%s/  (simulated NHA-503 on %s; configuration %s)\n", addr, lane.pty.SlavePath, lane.cfgPath)
	fmt.Fprintln(stdout, "press Ctrl-C to stop")
	<-ctx.Done()
	return nil
}

// simLaneOpts configure a simulated lane (console demo and the console's browser tests).
type simLaneOpts struct {
	dir           string // working directory (configuration, outbox, platform database)
	listen        string // console address
	speed         float64
	dirty         bool
	leak          bool   // the simulated analyzer finds a leak
	passwordHash  string // console.password_hash; "" allows loopback without password
	allowLoopback bool
	station       bool // also an opacimeter, a dyno, a tachometer and a weather station
	log           *slog.Logger
}

// simLane is a whole lane in one process: an in-process broker, the reference platform,
// an NHA-503 simulator with a simulated car on a pty, and the agent's runtime (with its
// console) configured from a real file, restarted in process when the console asks.
type simLane struct {
	o       simLaneOpts
	cfgPath string
	pty     *simport.PTY
	car     *nanhuasim.Car
	sim     *nanhuasim.Sim
	clock   *procedure.ScaledClock

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closers []func()

	mu sync.Mutex
	rt *runtime
}

func startSimLane(ctx context.Context, o simLaneOpts) (l *simLane, err error) {
	if o.speed <= 0 {
		o.speed = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	l = &simLane{o: o, cancel: cancel, cfgPath: filepath.Join(o.dir, "imagent.toml")}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	broker, url, err := startMochi(o.log)
	if err != nil {
		return l, err
	}
	l.closers = append(l.closers, func() { broker.Close() })
	plat, err := platform.Open(ctx, platform.Options{Broker: url, ClientID: "sim-platform", DBPath: filepath.Join(o.dir, "platform.db"), Logger: o.log.With("part", "platform")})
	if err != nil {
		return l, err
	}
	l.closers = append(l.closers, func() { plat.Close() })
	l.wg.Go(func() { _ = plat.Run(ctx) })

	if l.pty, err = simport.Open(); err != nil {
		return l, err
	}
	l.closers = append(l.closers, func() { l.pty.Close() })
	l.car = nanhuasim.NewCar(uint64(time.Now().UnixNano()))
	l.car.SetDirty(o.dirty)
	l.clock = procedure.NewScaledClock(o.speed)
	l.sim = nanhuasim.New(nanhuasim.Options{Model: nanhua.NHA503, ZeroTime: 2 * time.Second, LeakTime: 2 * time.Second,
		Leak: o.leak, Vehicle: l.car, Clock: l.clock.Now})
	l.wg.Go(func() { _ = l.sim.Serve(ctx, l.pty.Master) })

	poll := max(20*time.Millisecond, min(250*time.Millisecond, time.Duration(float64(time.Second)/(2*o.speed))))
	text := string(config.DefaultTOML())
	for _, r := range [][2]string{
		{`data_dir = "/var/lib/imagent"`, `data_dir = ` + strconv.Quote(filepath.Join(o.dir, "agent"))},
		{`broker = "tcp://127.0.0.1:1883"`, `broker = ` + strconv.Quote(url)},
		{`port = "sim:nanhua"`, `port = ` + strconv.Quote(l.pty.SlavePath)},
		{`poll = "500ms"`, `poll = ` + strconv.Quote(poll.String())},
		{`listen = "127.0.0.1:8080"`, `listen = ` + strconv.Quote(o.listen)},
	} {
		if !strings.Contains(text, r[0]) {
			return l, fmt.Errorf("sim lane: the default configuration has no %s", r[0])
		}
		text = strings.Replace(text, r[0], r[1], 1)
	}
	text = strings.Replace(text, "allow_loopback_without_password = true", fmt.Sprintf("allow_loopback_without_password = %v", o.allowLoopback || o.passwordHash == ""), 1)
	if o.passwordHash != "" {
		text += "password_hash = " + strconv.Quote(o.passwordHash) + "\n"
	}
	if o.station {
		more, err := l.startStationSims(ctx)
		if err != nil {
			return l, err
		}
		text += more
	}
	if err := os.WriteFile(l.cfgPath, []byte(text), 0o600); err != nil {
		return l, err
	}
	first := make(chan error, 1)
	l.wg.Go(func() { l.loop(ctx, first) })
	return l, <-first
}

// stationSims are the rest of a lane's instruments, each on its protocol's simulator.
var stationSims = []struct{ name, role, protocol, model string }{
	{"opacimeter", "opacimeter", "opacity/mqw510x", "MQW-5101"},
	{"dyno", "dyno", "dyno/xincheng", ""},
	{"tachometer", "tachometer", "tacho/nt", "FMP-1"},
	{"weather", "weather", "weather/xce100", ""},
}

// startStationSims starts the simulators of stationSims on ptys and returns their
// [[device]] blocks.
func (l *simLane) startStationSims(ctx context.Context) (string, error) {
	var b strings.Builder
	for i, d := range stationSims {
		p, ok := lookupProtocol(d.protocol)
		if !ok || p.sim == nil {
			return "", fmt.Errorf("sim lane: no simulator for %s", d.protocol)
		}
		pty, err := simport.Open()
		if err != nil {
			return "", err
		}
		l.closers = append(l.closers, func() { pty.Close() })
		serve := p.sim(simSpec{Model: d.model, Seed: uint64(i + 11), Clock: l.clock.Now})
		l.wg.Go(func() { _ = serve(ctx, pty.Master) })
		fmt.Fprintf(&b, "\n[[device]]\nname = %q\nrole = %q\nprotocol = %q\nport = %q\npoll = \"200ms\"\n", d.name, d.role, d.protocol, pty.SlavePath)
		if d.model != "" {
			fmt.Fprintf(&b, "model = %q\n", d.model)
		}
	}
	return b.String(), nil
}

// loop runs the agent on the configuration file, again after each console restart.
func (l *simLane) loop(ctx context.Context, first chan<- error) {
	for started := false; ctx.Err() == nil; started = true {
		cfg, err := config.Load(l.cfgPath, config.LoadOpts{Protocols: protocolNames()})
		var rt *runtime
		if err == nil {
			rt, err = newRuntime(ctx, cfg, l.o.log, runtimeOpts{clock: l.clock, simulated: true, prompt: l.driver, configPath: l.cfgPath})
		}
		if err != nil {
			if !started {
				first <- err
			} else {
				l.o.log.Error("sim lane: restart failed", "err", err)
			}
			return
		}
		l.mu.Lock()
		l.rt = rt
		l.mu.Unlock()
		if !started {
			first <- nil
		}
		_ = rt.run(ctx)
		rt.close()
		if rt.cons == nil || !rt.cons.restart.Load() {
			return
		}
	}
}

// driver is the simulated driver following the prompts.
func (l *simLane) driver(p procedure.Prompt) {
	if p.Probe {
		l.car.SetProbe(true)
	}
	switch {
	case p.TargetRPM > 0:
		l.car.SetTargetRPM(p.TargetRPM)
	case p.Phase != "prepare" && p.Phase != "done":
		l.car.SetTargetRPM(nanhuasim.IdleRPM)
	}
}

func (l *simLane) runtime() *runtime {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rt
}

// consoleAddr waits for the current runtime's console to listen and returns host:port.
func (l *simLane) consoleAddr(ctx context.Context) string {
	rt := l.runtime()
	if rt == nil {
		return ""
	}
	a := rt.cons.server.Addr(ctx)
	if a == nil {
		return ""
	}
	return a.String()
}

func (l *simLane) close() {
	l.cancel()
	l.wg.Wait()
	for i := len(l.closers) - 1; i >= 0; i-- {
		l.closers[i]()
	}
}
