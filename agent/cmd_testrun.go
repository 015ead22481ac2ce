package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"imagent/agent/contract"
	"imagent/agent/lane"
	"imagent/agent/promptsink"
	"imagent/agent/simlane"
	"imagent/config"
)

// demoVehicles are the demo's vehicle for each method.
func demoVehicles() map[string]contract.Vehicle {
	car := contract.Vehicle{Plate: "苏A12345", PlateType: "02", VIN: "LSVAU2180N2123456", Fuel: "gasoline", GVWkg: 1800, RMkg: 1400, Catalyst: true}
	truck := contract.Vehicle{Plate: "苏A6789D", PlateType: "01", VIN: "LFWSRXRJ5N1A12345", Fuel: "diesel", GVWkg: 12000,
		RatedPowerKW: 120, RatedRPM: 2500, Aspiration: "turbo"}
	return map[string]contract.Vehicle{
		contract.MethodTSI: car, contract.MethodASM: car, contract.MethodVMAS: car,
		contract.MethodFreeAccel: truck, contract.MethodLugDown: truck,
	}
}

// runMissingChecks runs, on a simulated lane, each self-check the lane still needs today,
// as the station's operator would, and prints their results.
func runMissingChecks(ctx context.Context, rt *runtime, sl *simlane.Lane, stdout io.Writer) error {
	if rt.gate == nil {
		return nil
	}
	missing, err := rt.gate.Missing(ctx)
	if err != nil {
		return err
	}
	for _, c := range missing {
		if _, err := rt.lane.StartCheck(ctx, sl.CheckRequest(c, 0)); err != nil {
			return err
		}
		p, err := rt.lane.Wait(ctx)
		if err != nil {
			return err
		}
		if p.Err != "" {
			return fmt.Errorf("self-check %s: %s", c, p.Err)
		}
		res := p.Verdict
		if p.AbortReason != "" {
			res += " (" + p.AbortReason + ")"
		}
		fmt.Fprintf(stdout, "self-check %-15s %s, record seq %d\n", c, res, p.RecordSeq)
	}
	return nil
}

const testUsage = `usage: imagent test run --method M --vehicle FILE [flags]

Runs one emission test and stores its record. With --config it runs on the station's
instruments (stop 'imagent run' first: one process owns each serial port); without it, on
a simulated lane with an in-process broker and platform, like 'imagent demo'.
`

// cmdTest is `imagent test run`.
func cmdTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprint(stderr, testUsage)
		return errors.New("usage: imagent test run --method M --vehicle FILE")
	}
	fs := newFlags("test run", stderr)
	method := fs.String("method", "", "test method: tsi, asm, vmas, free_accel, lugdown (required)")
	vehicle := fs.String("vehicle", "", "vehicle file, TOML (required; examples in testdata/vehicles/)")
	inspection := fs.String("inspection", "", "inspection serial number (检验流水号); default made up from the time")
	repair := fs.String("repair", "", "M-station: repair file, TOML; the test is stored as a repair record that links to the failed inspection")
	cfgPath := fs.String("config", "", "station configuration: run on its instruments (default: a simulated lane)")
	speed := fs.Float64("speed", 5, "simulated lane only: clock speed-up (records are flagged simulated)")
	dirty := fs.Bool("dirty", false, "simulated lane only: the vehicle emits above the limits")
	noChecks := fs.Bool("no-checks", false, "simulated lane only: do not run the day's self-checks first (the lane may then refuse the test)")
	level := fs.String("log", "warn", "log level: debug, info, warn, error")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *method == "" || *vehicle == "" {
		fs.Usage()
		return errors.New("test run: --method and --vehicle are required")
	}
	veh, err := loadVehicle(*vehicle, *method)
	if err != nil {
		return err
	}
	var rep *contract.RepairBody
	if *repair != "" {
		if rep, err = loadRepair(*repair, veh); err != nil {
			return err
		}
	}
	id := *inspection
	if id == "" {
		id = "T" + time.Now().Format("20060102150405")
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		return err
	}
	if *cfgPath == "" {
		return runSimulated(ctx, simRun{method: *method, vehicle: veh, inspection: id, repair: rep, speed: *speed,
			dirty: *dirty, checks: !*noChecks, timeout: *timeout}, stdout, log)
	}
	cfg, err := config.Load(*cfgPath, config.LoadOpts{Protocols: protocolNames()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rt, err := newRuntime(ctx, cfg, log, runtimeOpts{configDir: filepath.Dir(*cfgPath), prompt: promptsink.Console(stdout)})
	if err != nil {
		return err
	}
	defer rt.close()
	if rt.lane == nil {
		return errors.New("test run: the station has neither an analyzer nor an opacimeter")
	}
	var wg sync.WaitGroup
	runCtx, stop := context.WithCancel(ctx)
	wg.Go(func() { _ = rt.run(runCtx) })
	defer func() { stop(); wg.Wait() }()
	if _, err := rt.lane.Start(ctx, lane.Request{Method: *method, InspectionID: id, Vehicle: veh, Repair: rep}); err != nil {
		return err
	}
	p, err := rt.lane.Wait(ctx)
	if err != nil {
		return err
	}
	if p.Err != "" {
		return fmt.Errorf("test run: %s", p.Err)
	}
	verdict := p.Verdict
	if p.AbortReason != "" {
		verdict += " (" + p.AbortReason + ")"
	}
	fmt.Fprintf(stdout, "stored     seq %d, id %s\nverdict    %s\n", p.RecordSeq, p.RecordID, verdict)
	// Give the uplink a moment to deliver it; what it does not send now stays in the outbox.
	deadline := time.After(5 * time.Second)
	for {
		st, err := rt.outbox.Stats(ctx)
		if err != nil || st.OldestUnackedSeq == 0 || st.OldestUnackedSeq > p.RecordSeq {
			break
		}
		select {
		case <-deadline:
			fmt.Fprintln(stdout, "uplink     not acknowledged yet; the record waits in the outbox for 'imagent run'")
			return nil
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}
