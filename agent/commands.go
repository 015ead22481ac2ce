package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"imagent/agent/platform"
	"imagent/config"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/gas/nanhua/nanhuasim"
	"imagent/drivers/simport"
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
	rt, err := newRuntime(ctx, cfg, log, runtimeOpts{})
	if err != nil {
		return err
	}
	defer rt.close()
	log.Info("imagent started", "version", version, "station", cfg.Station.ID, "lane", cfg.Station.Lane,
		"devices", len(rt.devices), "broker", cfg.MQTT.Broker)
	return rt.run(ctx)
}

func cmdConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 || args[0] != "validate" {
		return errors.New("usage: imagent config validate FILE")
	}
	if _, err := config.Load(args[1], config.LoadOpts{Protocols: protocolNames()}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[1])
	return nil
}

func cmdSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: imagent sim nanhua [--model NHA-503] [--warmup 10s]")
	}
	proto, args := args[0], args[1:]
	if proto != "nanhua" && proto != "gas/nanhua" {
		return fmt.Errorf("sim: unknown protocol %q (known: nanhua)", proto)
	}
	fs := newFlags("sim "+proto, stderr)
	model := fs.String("model", string(nanhua.NHA503), "analyzer model: NHA-503, FLA-502 or CDF5000")
	warmup := fs.Duration("warmup", 0, "warm-up time the simulated analyzer reports after start")
	link := fs.String("link", "", "also create this symlink to the pseudo-terminal (a stable path for configs)")
	dirty := fs.Bool("dirty", false, "the simulated vehicle emits above the idle limits")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := nanhua.ParseModel(*model)
	if err != nil {
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
	car := nanhuasim.NewCar(uint64(time.Now().UnixNano()))
	car.SetDirty(*dirty)
	car.SetTargetRPM(3500) // a bench demo: engine held at speed, probe in
	car.SetProbe(true)
	sim := nanhuasim.New(nanhuasim.Options{Model: m, Warmup: *warmup, ZeroTime: 2 * time.Second, Vehicle: car})
	fmt.Fprintf(stdout, "%s simulator (%s) on %s\n", proto, m, pty.SlavePath)
	err = sim.Serve(ctx, pty.Master)
	if ctx.Err() != nil {
		return nil
	}
	return err
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
