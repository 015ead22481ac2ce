package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
	verify := fs.Bool("verify", false, "check every lane's hash chain in --db and exit (no broker needed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *verify {
		return platformVerify(ctx, *db, stdout)
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

func tempDir(prefix string) (string, func(), error) {
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	return d, func() { os.RemoveAll(d) }, nil
}
