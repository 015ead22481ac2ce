package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"imagent/agent/contract"
	"imagent/agent/record"
	"imagent/buffer"
	"imagent/config"
)

// cmdSoak produces records continuously through the real runtime (outbox, uplink,
// housekeeping) and prints one line per committed record:
//
//	committed seq=N id=ID kind=KIND
//
// and "refused kind=telemetry" when the outbox refuses telemetry at its quota. The
// fault-injection suite (agent/chaos) runs it as a child process and SIGKILLs, starves,
// disconnects and re-clocks it.
//
// --clock-file is for fault tests only (not in the usage text): the agent's wall clock is
// the system clock shifted by the offset in that file, with the quality it names (see
// record.FileClock), so a test can step the clock by hours without touching the host's.
func cmdSoak(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("soak", stderr)
	cfgFile := fs.String("config", "", "base configuration (station, [mqtt] with TLS, [buffer]); flags below override it")
	broker := fs.String("broker", "", "MQTT broker URL (default tcp://127.0.0.1:1883)")
	dir := fs.String("data", "", "data directory (required)")
	interval := fs.Duration("interval", 20*time.Millisecond, "time between records")
	count := fs.Int("count", 0, "stop producing after this many records (0: no limit; -1: produce nothing, only sync)")
	telemetry := fs.Int("telemetry", 0, "make every Nth record telemetry (0: none)")
	bodyBytes := fs.Int("body-bytes", 0, "pad each record's body to about this many bytes")
	level := fs.String("log", "warn", "log level")
	keepAlive := fs.Duration("keepalive", 0, "MQTT keep-alive (silent link detection after 1.5×)")
	ackTimeout := fs.Duration("ack-timeout", 5*time.Second, "resend a record not acked by the platform after this")
	stallAfter := fs.Duration("stall-after", 0, "restart the uplink when connected with a backlog and no ack for this long")
	rateRecords := fs.Float64("rate-records", -1, "backlog drain, records/s (0: unlimited; default: unlimited without --config)")
	rateBytes := fs.Int("rate-bytes", -1, "backlog drain, wire bytes/s (0: unlimited)")
	window := fs.Int("window", 0, "publishes awaiting PUBACK")
	quotaMB := fs.Int("quota-mb", 0, "outbox quota in MiB (default: the configuration's)")
	minFreeMB := fs.Int("min-free-mb", 0, "free space kept on the filesystem, MiB")
	maintainEvery := fs.Duration("maintain-every", 0, "outbox maintenance interval (default 30s)")
	clockFile := fs.String("clock-file", "", "")
	cpuProfile := fs.String("cpuprofile", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("soak: --data is required")
	}
	cfg := config.Default()
	cfg.Devices = nil
	cfg.Station.ID, cfg.Station.Lane = "SOAK01", "L1"
	cfg.MQTT.ClientID = "imagent-soak"
	cfg.MQTT.RateRecords, cfg.MQTT.RateBytes = 0, 0
	if *cfgFile != "" {
		c, err := config.Load(*cfgFile, config.LoadOpts{Protocols: protocolNames()})
		if err != nil {
			return err
		}
		c.Devices = nil
		cfg = c
	}
	cfg.Agent.DataDir = *dir
	if *broker != "" {
		cfg.MQTT.Broker = *broker
	}
	cfg.MQTT.AckTimeout = config.Duration{Duration: *ackTimeout}
	cfg.MQTT.BackoffMin = config.Duration{Duration: 100 * time.Millisecond}
	cfg.MQTT.BackoffMax = config.Duration{Duration: time.Second}
	if *keepAlive > 0 {
		cfg.MQTT.KeepAlive = config.Duration{Duration: *keepAlive}
	}
	if *stallAfter > 0 {
		cfg.MQTT.StallAfter = config.Duration{Duration: *stallAfter}
	}
	if *rateRecords >= 0 {
		cfg.MQTT.RateRecords = *rateRecords
	}
	if *rateBytes >= 0 {
		cfg.MQTT.RateBytes = *rateBytes
	}
	if *window > 0 {
		cfg.MQTT.Window = *window
	}
	if *quotaMB > 0 {
		cfg.Buffer.QuotaMB = *quotaMB
	}
	if *minFreeMB > 0 {
		cfg.Buffer.MinFreeMB = *minFreeMB
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		return err
	}
	if *cpuProfile != "" { // for the drain benchmark
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	ro := runtimeOpts{maintain: *maintainEvery, noConsoleTCP: true}
	if *clockFile != "" {
		ro.wall = &record.FileClock{Path: *clockFile}
	}
	rt, err := newRuntime(ctx, cfg, log, ro)
	if err != nil {
		return err
	}
	defer rt.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- rt.run(ctx) }()
	pad := strings.Repeat("x", max(0, *bodyBytes-40))
	for i := 0; (*count == 0 || i < *count) && ctx.Err() == nil; i++ {
		kind := contract.KindEvent
		if *telemetry > 0 && i%*telemetry == *telemetry-1 {
			kind = contract.KindTelemetry
		}
		m, err := rt.maker.Commit(ctx, kind, contract.EventBody{Event: "soak", Detail: fmt.Sprint(i), Attrs: padAttrs(pad)}, true)
		switch {
		case err == nil:
			fmt.Fprintf(stdout, "committed seq=%d id=%s kind=%s\n", m.Seq, m.ID, m.Kind)
		case errors.Is(err, buffer.ErrQuotaFull):
			fmt.Fprintf(stdout, "refused kind=%s\n", kind)
		case errors.Is(err, buffer.ErrDiskFull):
			// A real lane shows "cannot store" and the operator retries; the soak just
			// carries on, so the test sees that nothing committed is lost.
			fmt.Fprintf(stdout, "failed kind=%s err=disk full\n", kind)
		case ctx.Err() != nil:
		default:
			cancel()
			<-done
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(*interval):
		}
	}
	if ctx.Err() == nil {
		fmt.Fprintln(stdout, "produced; syncing until stopped")
		<-ctx.Done()
	}
	cancel()
	return <-done
}

func padAttrs(pad string) map[string]string {
	if pad == "" {
		return nil
	}
	return map[string]string{"pad": pad}
}
