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
	"imagent/agent/procedure"
	"imagent/config"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/gas/nanhua/nanhuasim"
	"imagent/drivers/simport"
)

// cmdDemo runs a whole lane in one process: a simulated analyzer on a pseudo-terminal, an
// in-process MQTT broker on loopback, the reference platform and the agent. It runs a
// two-speed idle test on a simulated vehicle and prints the record as the platform stored it.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	speed := fs.Float64("speed", 5, "run the test procedure this many times faster than real time (records are flagged simulated)")
	dirty := fs.Bool("dirty", false, "the simulated vehicle emits above the limits (the test fails)")
	method := fs.String("method", contract.MethodTSI, "test method (tsi)")
	level := fs.String("log", "warn", "log level: debug, info, warn, error")
	timeout := fs.Duration("timeout", 3*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *method != contract.MethodTSI {
		return fmt.Errorf("demo: method %q is not implemented yet (have: tsi)", *method)
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
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

	// 3. A simulated analyzer with a simulated car behind it, on a pseudo-terminal.
	pty, err := simport.Open()
	if err != nil {
		return err
	}
	closers = append(closers, func() { pty.Close() })
	car := nanhuasim.NewCar(uint64(time.Now().UnixNano()))
	car.SetDirty(*dirty)
	// The simulator runs on the procedure's clock, so the engine responds in test seconds.
	clock := procedure.NewScaledClock(*speed)
	sim := nanhuasim.New(nanhuasim.Options{Model: nanhua.NHA503, ZeroTime: 3 * time.Second, Vehicle: car, Clock: clock.Now})
	wg.Go(func() { _ = sim.Serve(ctx, pty.Master) })
	fmt.Fprintf(stdout, "analyzer   NHA-503 simulator on %s\n", pty.SlavePath)

	// 4. The agent, configured from the embedded default, with a simulated driver who
	// follows the prompts.
	cfg := config.Default()
	cfg.Agent.DataDir = dir + "/agent"
	cfg.MQTT.Broker = url
	for i := range cfg.Devices {
		cfg.Devices[i].Port = pty.SlavePath
		// At least two polls per procedure second, however fast the clock runs.
		cfg.Devices[i].Poll = config.Duration{Duration: max(10*time.Millisecond, min(100*time.Millisecond, time.Duration(float64(time.Second)/(2**speed))))}
	}
	var lastPrompt string
	driver := func(p procedure.Prompt) {
		if p.Probe {
			car.SetProbe(true)
		}
		switch {
		case p.TargetRPM > 0:
			car.SetTargetRPM(p.TargetRPM)
		case p.Phase != "prepare" && p.Phase != "done":
			car.SetTargetRPM(nanhuasim.IdleRPM)
		}
		if p.Text != lastPrompt {
			fmt.Fprintf(stdout, "  prompt   [%s] %s\n", p.Phase, p.Text)
			lastPrompt = p.Text
		}
	}
	rt, err := newRuntime(ctx, cfg, log, runtimeOpts{clock: clock, simulated: true, prompt: driver, noConsoleTCP: true})
	if err != nil {
		return err
	}
	closers = append(closers, func() { rt.close() })
	wg.Go(func() { _ = rt.run(ctx) })

	// 5. The test.
	veh := contract.Vehicle{Plate: "苏A12345", PlateType: "02", VIN: "LSVAU2180N2123456", Fuel: "gasoline", GVWkg: 1800, RMkg: 1400, Catalyst: true}
	fmt.Fprintf(stdout, "test       two-speed idle, %s (%s), clock ×%g\n", veh.Plate, veh.VIN, *speed)
	if _, err := rt.lane.Start(ctx, lane.Request{Method: *method, InspectionID: "DEMO" + time.Now().Format("20060102150405"), Vehicle: veh}); err != nil {
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
	if err := decodeBody(st.Envelope, &got); err != nil {
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
		verdict += " (" + b.AbortReason + ")"
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
