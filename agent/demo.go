package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"imagent/agent/contract"
	"imagent/agent/lane"
	"imagent/agent/platform"
	"imagent/agent/promptsink"
	"imagent/agent/simlane"
	"imagent/agent/simvehicle"
	"imagent/config"
	"imagent/drivers/gas/nanhua/nanhuasim"
)

// cmdDemo runs a whole lane in one process: simulated instruments on pseudo-terminals with
// one simulated vehicle behind them, an in-process MQTT broker on loopback, the reference
// platform and the agent. It runs the day's self-checks the lane needs, then a test of the
// chosen method, and prints the record as the platform stored it.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	speed := fs.Float64("speed", 5, "run the test procedure this many times faster than real time (records are flagged simulated)")
	dirty := fs.Bool("dirty", false, "the simulated vehicle emits above the limits (the test fails)")
	method := fs.String("method", contract.MethodTSI, "test method: tsi, asm, vmas, free_accel, lugdown")
	level := fs.String("log", "warn", "log level: debug, info, warn, error")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	veh, ok := demoVehicles()[*method]
	if !ok {
		return fmt.Errorf("demo: unknown method %q (tsi, asm, vmas, free_accel, lugdown)", *method)
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		return err
	}
	return runSimulated(ctx, simRun{method: *method, vehicle: veh, speed: *speed, dirty: *dirty, timeout: *timeout,
		inspection: "DEMO" + time.Now().Format("20060102150405"), checks: true}, stdout, log)
}

// simRun is one simulated test: the demo's, or `imagent test run` without --config.
type simRun struct {
	method     string
	vehicle    contract.Vehicle
	inspection string
	repair     *contract.RepairBody
	speed      float64
	dirty      bool
	checks     bool // run the day's required self-checks first
	timeout    time.Duration
}

// runSimulated runs o on a whole simulated lane and prints the record as the platform
// stored it.
func runSimulated(ctx context.Context, o simRun, stdout io.Writer, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	dir, cleanup, err := tempDir("imagent-demo-")
	if err != nil {
		return err
	}
	defer cleanup()

	// Shutdown order: stop every goroutine first (the uplink publishes its offline status
	// while the broker is still up), then release what they used, newest first.
	var wg sync.WaitGroup
	var closers []func()
	defer func() {
		cancel()
		wg.Wait()
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()

	// 1. An MQTT broker on loopback.
	broker, url, err := startMochi(log)
	if err != nil {
		return err
	}
	closers = append(closers, func() { broker.Close() })
	fmt.Fprintf(stdout, "broker     %s (in-process)\n", url)

	// 2. The reference platform.
	plat, err := platform.Open(ctx, platform.Options{Broker: url, ClientID: "demo-platform", DBPath: dir + "/platform.db", Logger: log.With("part", "platform")})
	if err != nil {
		return err
	}
	closers = append(closers, func() { plat.Close() })
	wg.Go(func() { _ = plat.Run(ctx) })
	fmt.Fprintf(stdout, "platform   %s/platform.db\n", dir)

	// 3. The simulated instruments, each on a pseudo-terminal, with one simulated vehicle
	// behind them; the simulators run on the procedure's clock.
	roles, diesel, opac := simlane.RolesFor(o.method)
	vo := simvehicle.Options{Seed: uint64(time.Now().UnixNano())}
	if diesel {
		vo.Kind = simvehicle.Diesel
	}
	sl, err := simlane.Start(simlane.Options{Roles: roles, Speed: o.speed, Vehicle: vo, Opacimeter: opac, NoSupervisors: true,
		Analyzer: nanhuasim.Options{ZeroTime: 3 * time.Second}, Log: log})
	if err != nil {
		return err
	}
	closers = append(closers, sl.Close)
	sl.Vehicle.SetDirty(o.dirty)
	for _, d := range sl.Devices() {
		s := d.Spec()
		fmt.Fprintf(stdout, "%-10s %s simulator on %s\n", s.Role, s.Model, s.Port)
	}

	// 4. The agent, configured from the embedded default, on those instruments, with a
	// simulated driver who follows the prompts.
	cfg := config.Default()
	cfg.Agent.DataDir = dir + "/agent"
	cfg.MQTT.Broker = url
	cfg.Devices = nil
	prompt := promptsink.Tee(promptsink.Console(stdout), sl.Driver.Follow)
	rt, err := newRuntime(ctx, cfg, log, runtimeOpts{clock: sl.Clock, simulated: true, prompt: prompt, devices: sl.Devices(), noConsoleTCP: true})
	if err != nil {
		return err
	}
	closers = append(closers, func() { rt.close() })
	wg.Go(func() { _ = rt.run(ctx) })
	if err := sl.WaitReady(ctx); err != nil {
		return err
	}

	// 5. The day's self-checks, then the test.
	if o.checks {
		if err := runMissingChecks(ctx, rt, sl, stdout); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "test       %s, %s (%s), clock ×%g\n", o.method, o.vehicle.Plate, o.vehicle.VIN, o.speed)
	if _, err := rt.lane.Start(ctx, lane.Request{Method: o.method, InspectionID: o.inspection, Vehicle: o.vehicle, Repair: o.repair}); err != nil {
		return err
	}
	prog, err := rt.lane.Wait(ctx)
	if err != nil {
		return err
	}
	if prog.Err != "" {
		return fmt.Errorf("demo: %s", prog.Err)
	}
	fmt.Fprintf(stdout, "stored     seq %d, id %s (outbox, synchronous=FULL)\n", prog.RecordSeq, prog.RecordID)

	// 6. Wait for the platform to store and acknowledge it, then print its copy.
	var st platform.Stored
	for {
		st, err = plat.Record(ctx, prog.RecordID)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("demo: the platform did not receive record %s: %w", prog.RecordID, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	var got contract.TestBody
	if o.repair != nil {
		var rb contract.RepairBody
		if err := decodeBody(st.Envelope, &rb); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nrepair of inspection %s (%s, %s): %s, by %s\n", rb.FailedInspection.InspectionID,
			rb.FailedInspection.Plate, rb.FailedInspection.VIN, rb.Repair.Diagnosis, rb.Repair.Technician.Name)
		if rb.Test != nil {
			got = *rb.Test
		}
	} else if err := decodeBody(st.Envelope, &got); err != nil {
		return err
	}
	printRecord(stdout, st, &got)
	return nil
}

func decodeBody(e contract.Envelope, v any) error {
	if err := json.Unmarshal(e.Body, v); err != nil {
		return fmt.Errorf("decode body: %w", err)
	}
	return nil
}

func printRecord(w io.Writer, st platform.Stored, b *contract.TestBody) {
	fmt.Fprintf(w, "\nrecord as stored by the platform\n")
	fmt.Fprintf(w, "  id         %s\n  seq        %d\n  kind       %s\n  method     %s\n  simulated  %v\n",
		st.ID, st.Seq, st.Kind, b.Method, st.Envelope.Simulated)
	for _, p := range b.Phases {
		verdict := "pass"
		if !p.Pass {
			verdict = "FAIL"
		}
		var parts []string
		for _, j := range p.Judged {
			parts = append(parts, fmt.Sprintf("%s %.3g (%s %g)", j.Quantity, j.Value, map[string]string{"max": "≤", "min": "≥"}[j.Bound], j.Limit))
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "  %-10s %s  %s\n", p.Name, verdict, strings.Join(parts, ", "))
	}
	verdict := b.Verdict
	if b.AbortReason != "" {
		verdict += " (" + b.AbortReason + ": " + b.AbortDetail + ")"
	}
	fmt.Fprintf(w, "  verdict    %s\n  process    %d rows (1 Hz)\n", verdict, len(b.Process.Rows))
}

// startMochi starts an MQTT broker on a free loopback port.
func startMochi(log *slog.Logger) (*mqtt.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	s := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, "", err
	}
	if err := s.AddListener(listeners.NewTCP(listeners.Config{ID: "demo", Address: addr})); err != nil {
		return nil, "", err
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	select {
	case err := <-errc:
		if err != nil {
			return nil, "", errors.Join(errors.New("demo broker"), err)
		}
	case <-time.After(50 * time.Millisecond):
	}
	log.Debug("demo broker listening", "addr", addr)
	return s, "tcp://" + addr, nil
}
