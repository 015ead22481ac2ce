package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"imagent/agent/contract"
	"imagent/agent/platform"
	"imagent/config"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	path := fs.String("config", "/etc/imagent/imagent.toml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, config.LoadOpts{Protocols: protocolNames()})
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.Agent.LogLevel)
	if err != nil {
		return err
	}
	rt, err := newRuntime(ctx, cfg, log, runtimeOpts{configPath: *path, configDir: filepath.Dir(*path)})
	if err != nil {
		return err
	}
	defer rt.close()
	log.Info("imagent started", "version", version, "station", cfg.Station.ID, "lane", cfg.Station.Lane,
		"devices", len(rt.devices), "broker", cfg.MQTT.Broker)
	return rt.runOrRestart(ctx)
}

func cmdConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "apply" || args[0] == "rollback") {
		return cmdConfigChange(ctx, args, stdout, stderr) // cmd_config.go
	}
	if len(args) != 2 || args[0] != "validate" {
		return errors.New("usage: imagent config validate FILE")
	}
	if _, err := config.Load(args[1], config.LoadOpts{Protocols: protocolNames()}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[1])
	return nil
}

func cmdPlatform(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("platform", stderr)
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	db := fs.String("db", "platform.db", "SQLite file the platform stores records in")
	noAck := fs.Bool("no-ack", false, "store records but never acknowledge them (fault tests)")
	level := fs.String("log", "info", "log level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		return err
	}
	p, err := platform.Open(ctx, platform.Options{Broker: *broker, ClientID: "imagent-platform", DBPath: *db, Logger: log, NoAck: *noAck})
	if err != nil {
		return err
	}
	defer p.Close()
	fmt.Fprintf(stdout, "reference platform: %s -> %s\n", *broker, *db)
	return p.Run(ctx)
}

// cmdSoak produces an event record every interval through the real outbox and uplink and
// prints each seq once it is committed. The crash tests SIGKILL it at random moments.
func cmdSoak(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("soak", stderr)
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "MQTT broker URL")
	dir := fs.String("data", "", "data directory (required)")
	interval := fs.Duration("interval", 20*time.Millisecond, "time between records")
	count := fs.Int("count", 0, "stop producing after this many records (0: no limit)")
	level := fs.String("log", "warn", "log level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("soak: --data is required")
	}
	cfg := config.Default()
	cfg.Devices = nil
	cfg.Station.ID, cfg.Station.Lane = "SOAK01", "L1"
	cfg.Agent.DataDir = *dir
	cfg.MQTT.Broker = *broker
	cfg.MQTT.ClientID = "imagent-soak"
	cfg.MQTT.AckTimeout = config.Duration{Duration: 5 * time.Second}
	cfg.MQTT.BackoffMin = config.Duration{Duration: 100 * time.Millisecond}
	cfg.MQTT.BackoffMax = config.Duration{Duration: time.Second}
	log, err := newLogger(stderr, *level)
	if err != nil {
		return err
	}
	rt, err := newRuntime(ctx, cfg, log, runtimeOpts{noConsoleTCP: true})
	if err != nil {
		return err
	}
	defer rt.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- rt.run(ctx) }()
	for i := 0; *count == 0 || i < *count; i++ {
		m, err := rt.maker.Commit(ctx, contract.KindEvent, contract.EventBody{Event: "soak", Detail: fmt.Sprint(i)}, true)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		fmt.Fprintf(stdout, "committed seq=%d id=%s\n", m.Seq, m.ID)
		select {
		case <-ctx.Done():
		case <-time.After(*interval):
		}
		if ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() == nil {
		fmt.Fprintln(stdout, "produced; syncing until stopped")
		<-ctx.Done()
	}
	cancel()
	return <-done
}

func tempDir(prefix string) (string, func(), error) {
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	return d, func() { os.RemoveAll(d) }, nil
}
