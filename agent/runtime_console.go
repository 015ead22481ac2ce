package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"imagent/agent/console"
	"imagent/agent/contract"
	"imagent/agent/record"
	"imagent/agent/selfcheck"
	"imagent/agent/station"
	"imagent/buffer"
	"imagent/config"
)

// consoleParts is the runtime's technicians' console.
type consoleParts struct {
	server  *console.Server
	records *buffer.Outbox // read-only handle for searches and exports
	restart atomic.Bool    // the console asked for a restart on a new configuration

	mu   sync.Mutex
	stop context.CancelFunc // stops run
}

// consoleSocket is the trusted Unix socket of a running agent, in its data directory.
func consoleSocket(dataDir string) string { return filepath.Join(dataDir, "console.sock") }

// newConsole builds the console on the runtime's parts (it serves once run starts).
func (rt *runtime) newConsole(ctx context.Context, ro runtimeOpts) error {
	recs, err := buffer.OpenReadOnly(ctx, rt.outbox.Path())
	if err != nil {
		return err
	}
	cp := &consoleParts{records: recs}
	o := console.Options{
		Listen: rt.cfg.Console.Listen, Socket: consoleSocket(rt.cfg.Agent.DataDir),
		PasswordHash:                 rt.cfg.Console.PasswordHash,
		AllowLoopbackWithoutPassword: rt.cfg.Console.AllowLoopbackWithoutPassword,
		Station:                      rt.cfg.Station.ID, LaneName: rt.cfg.Station.Lane, Version: version, BootID: rt.bootID,
		Devices: rt.devices, Uplink: rt.uplink, Broker: rt.cfg.MQTT.Broker, Outbox: rt.outbox, Records: recs,
		Commit:     rt.maker.Commit,
		Checkers:   rt.consoleCheckers(ro),
		Prober:     serialProber{timeout: 1500 * time.Millisecond},
		Clock:      record.ClockQuality,
		ConfigPath: ro.configPath, Protocols: protocolNames(), CheckConfig: checkRuntimeConfig,
		Simulated: ro.simulated,
		Log:       rt.log.With("part", "console"),
	}
	if rt.maker.Clock != nil {
		o.Clock = rt.maker.Clock
	}
	if rt.lane != nil {
		o.Lane = rt.lane
	}
	if ro.configPath != "" {
		o.Restart = func() error {
			cp.mu.Lock()
			stop := cp.stop
			cp.mu.Unlock()
			if stop == nil {
				return errors.New("the agent is not running")
			}
			cp.restart.Store(true)
			stop()
			return nil
		}
	}
	if ro.noConsoleTCP {
		o.Listen = ""
	}
	cp.server, err = console.New(o)
	if err != nil {
		recs.Close()
		return err
	}
	rt.cons = cp
	return nil
}

// runConsole serves the console until ctx is done. A console that cannot listen is logged
// (by Run, at once) and left out: it never takes the agent down.
func (rt *runtime) runConsole(ctx context.Context, stop context.CancelFunc) {
	rt.cons.mu.Lock()
	rt.cons.stop = stop
	rt.cons.mu.Unlock()
	_ = rt.cons.server.Run(ctx)
}

func (rt *runtime) closeConsole() {
	if rt.cons != nil {
		rt.cons.records.Close()
	}
}

// runOrRestart runs the agent; when the console asked for a restart on an applied
// configuration, it stops everything, closes the outbox and executes this binary again
// with the same arguments (same process id, so a service manager sees no exit).
func (rt *runtime) runOrRestart(ctx context.Context) error {
	err := rt.run(ctx)
	if ctx.Err() != nil || rt.cons == nil || !rt.cons.restart.Load() {
		return err
	}
	rt.log.Info("restarting on the applied configuration")
	if cerr := rt.close(); cerr != nil {
		rt.log.Error("close before restart", "err", cerr)
	}
	exe, xerr := os.Executable()
	if xerr != nil {
		return fmt.Errorf("restart: %w", xerr)
	}
	return fmt.Errorf("restart: %w", syscall.Exec(exe, os.Args, os.Environ()))
}

// checkRuntimeConfig runs the checks newRuntime would fail on, so the console refuses a
// configuration the agent could not start with.
func checkRuntimeConfig(c *config.Config) error {
	var errs []error
	for _, d := range c.Devices {
		if _, err := serialOpener(d); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := tlsConfig(c.MQTT.TLS); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// serialProber is the console's Prober: probePort (cmd_devices.go) with one reading per
// protocol, so a silent port answers within about a second per known protocol.
type serialProber struct{ timeout time.Duration }

func (p serialProber) Probe(ctx context.Context, path string) ([]console.ProbeResult, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	var out []console.ProbeResult
	for _, r := range probePort(ctx, path, 1, p.timeout) {
		res := console.ProbeResult{Protocol: r.Protocol, Found: r.Answered > 0, Detail: r.Err}
		if pr, ok := lookupProtocol(r.Protocol); ok {
			res.Baud = pr.mode.BaudRate
		}
		if res.Found {
			res.Values = map[string]float64{}
			for q, v := range r.Sample.Values {
				res.Values[string(q)] = v
			}
			res.Raw = hex.EncodeToString(r.Sample.Raw)
			res.Detail = formatValues(r.Sample.Values)
		}
		out = append(out, res)
	}
	return out, ctx.Err()
}

// Ports lists stable serial port names first, then the kernel's USB and ACM ttys.
func (serialProber) Ports() []string {
	var out []string
	for _, pat := range []string{"/dev/serial/by-id/*", "/dev/serial/by-path/*", "/dev/ttyUSB*", "/dev/ttyACM*"} {
		m, _ := filepath.Glob(pat)
		out = append(out, m...)
	}
	return out
}

// consoleCheckers are the self-checks the console can start without further input. With a
// lane they run through it (one job at a time, and a pass unlocks the lane through the
// self-check gate); without one the leak check runs on its own.
func (rt *runtime) consoleCheckers(ro runtimeOpts) []console.Checker {
	if rt.lane == nil {
		return []console.Checker{&console.LeakCheck{Commit: rt.maker.Commit, Simulated: ro.simulated}}
	}
	return []console.Checker{
		laneChecker{rt: rt, id: contract.CheckAnalyzerLeak, role: "analyzer"},
		laneChecker{rt: rt, id: contract.CheckDynoCoastDown, role: "dyno"},
		laneChecker{rt: rt, id: contract.CheckDynoParasitic, role: "dyno"},
	}
}

// laneChecker runs one self-check through the lane.
type laneChecker struct {
	rt       *runtime
	id, role string
}

func (c laneChecker) ID() string                  { return c.id }
func (c laneChecker) Applies(s station.Spec) bool { return s.Role == c.role }
func (c laneChecker) String() string              { return c.id }
func (c laneChecker) Run(ctx context.Context, dev *station.Device, by string) (console.CheckResult, error) {
	res := console.CheckResult{Check: c.id, Device: dev.Spec().Name, Started: time.Now()}
	if _, err := c.rt.lane.StartCheck(ctx, selfcheck.Request{Check: c.id, Operator: by}); err != nil {
		return res, err
	}
	p, err := c.rt.lane.Wait(ctx)
	res.Ended = time.Now()
	if err != nil {
		return res, err
	}
	if p.Err != "" {
		return res, errors.New(p.Err)
	}
	res.Pass = p.Verdict == contract.VerdictPass
	res.Detail = p.AbortReason
	res.RecordID, res.RecordSeq = p.RecordID, p.RecordSeq
	return res, nil
}
