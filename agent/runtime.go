package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"imagent/agent/contract"
	"imagent/agent/lane"
	"imagent/agent/procedure"
	"imagent/agent/promptsink"
	"imagent/agent/record"
	"imagent/agent/selfcheck"
	"imagent/agent/station"
	"imagent/agent/uplink"
	"imagent/buffer"
	"imagent/config"
)

// runtime is one running agent: its outbox, its instruments and its uplink.
type runtime struct {
	cfg     *config.Config
	log     *slog.Logger
	outbox  *buffer.Outbox
	maker   *record.Maker
	uplink  *uplink.Uplink
	devices []*station.Device
	lane    *lane.Lane // nil when the lane has no analyzer and no opacimeter
	gate    *selfcheck.Gate
	boards  []*promptsink.Board
	bootID  string
	health  health        // runtime_health.go
	cons    *consoleParts // the technicians' console (runtime_console.go)
}

// runtimeOpts are what a demo or a test changes about a station's runtime.
type runtimeOpts struct {
	clock     procedure.Clock        // default: the wall clock
	simulated bool                   // every test record is flagged simulated
	prompt    func(procedure.Prompt) // also receives every prompt (a simulated driver)
	wall      record.Clock           // default: the kernel's clock (fault tests inject one)
	maintain  time.Duration          // how often the outbox is maintained (default 30 s)
	configDir string                 // where the configuration file is (region overrides are looked up beside it)
	devices   []*station.Device      // instruments built elsewhere (a simulated lane), instead of cfg.Devices

	configPath   string // the configuration file, for the console's editor ("" hides it)
	noConsoleTCP bool   // serve the console on the Unix socket only (demo, soak)
}

// newRuntime opens the outbox and builds (but does not start) the supervisors, the lane
// and the uplink.
func newRuntime(ctx context.Context, cfg *config.Config, log *slog.Logger, ro runtimeOpts) (*runtime, error) {
	if err := os.MkdirAll(cfg.Agent.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	wall := ro.wall
	if wall == nil {
		wall = record.KernelClock{}
	}
	ob, err := buffer.Open(ctx, filepath.Join(cfg.Agent.DataDir, "outbox.db"), outboxOpts(cfg, wall))
	if err != nil {
		return nil, err
	}
	logQuarantine(log, ob.Quarantined())
	rt := &runtime{cfg: cfg, log: log, outbox: ob, bootID: record.BootID(), devices: ro.devices}
	rt.health = health{wall: wall, maintainEvery: ro.maintain, quotaBytes: int64(cfg.Buffer.QuotaMB) << 20,
		quarantine: ob.Quarantined()}
	rt.health.watcher = rt.newWatcher(wall)
	for _, d := range cfg.Devices {
		open, err := serialOpener(d)
		if err != nil {
			ob.Close()
			return nil, err
		}
		rt.devices = append(rt.devices, station.NewDevice(station.Spec{
			Name: d.Name, Role: d.Role, Protocol: d.Protocol, Port: d.Port, Model: d.Model,
			Poll: d.Poll.Duration,
		}, open, log))
	}
	tlsCfg, err := tlsConfig(cfg.MQTT.TLS)
	if err != nil {
		ob.Close()
		return nil, err
	}
	topics := contract.Topics{Station: cfg.Station.ID, Lane: cfg.Station.Lane}
	rt.uplink = uplink.New(ob, uplinkOpts(cfg, uplink.Options{
		Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID,
		Username: cfg.MQTT.Username, Password: cfg.MQTT.Password, TLS: tlsCfg,
		Topics: topics, KeepAlive: cfg.MQTT.KeepAlive.Duration,
		ConnectTimeout: cfg.MQTT.ConnectTimeout.Duration, AckTimeout: cfg.MQTT.AckTimeout.Duration,
		Window: cfg.MQTT.Window, BackoffMin: cfg.MQTT.BackoffMin.Duration, BackoffMax: cfg.MQTT.BackoffMax.Duration,
		StatusFunc: rt.status, Version: version, BootID: rt.bootID, Logger: log.With("part", "uplink"),
		OnStall: rt.onStall,
	}))
	rt.maker = &record.Maker{
		Outbox: ob, Station: cfg.Station.ID, Lane: cfg.Station.Lane, Version: version, BootID: rt.bootID,
		Now: wall.Now, Clock: wall.Quality, OnRefused: rt.onRefused,
		OnCommit: func(m buffer.Msg) {
			log.Info("record stored", "seq", m.Seq, "id", m.ID, "kind", m.Kind)
			rt.uplink.Kick()
		},
	}
	if err := rt.newLane(ro); err != nil {
		ob.Close()
		return nil, err
	}
	if err := rt.newConsole(ctx, ro); err != nil {
		ob.Close()
		return nil, err
	}
	return rt, nil
}

// run starts every supervisor and the uplink, and returns when ctx is done and all of
// them have stopped.
func (rt *runtime) run(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() { rt.runConsole(ctx, stop) })
	for _, d := range rt.devices {
		wg.Go(func() { _ = d.Run(ctx) })
	}
	for _, b := range rt.boards {
		wg.Go(func() { _ = b.Run(ctx) })
	}
	var upErr error
	wg.Go(func() { upErr = rt.uplink.Run(ctx) })
	wg.Go(func() { rt.background(ctx) })
	wg.Wait()
	return upErr
}

func (rt *runtime) close() error {
	rt.closeConsole()
	return rt.outbox.Close()
}

// device returns the first device with the given role.
func (rt *runtime) device(role string) (*station.Device, error) {
	for _, d := range rt.devices {
		if d.Spec().Role == role {
			return d, nil
		}
	}
	return nil, fmt.Errorf("no %s configured", role)
}

// status is the retained status message the uplink publishes.
func (rt *runtime) status() contract.Status {
	now := time.Now()
	st := contract.Status{V: contract.Version, State: "online", Version: version, BootID: rt.bootID}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rt.healthStatus(ctx, &st, now) // runtime_health.go
	for _, d := range rt.devices {
		s := d.Snapshot()
		age := s.Age(now).Seconds()
		if s.LastFrame.IsZero() {
			age = -1
		}
		st.Devices = append(st.Devices, contract.Device{Name: s.Name, State: string(s.State),
			LastFrameAgeS: float64(int64(age*10)) / 10, Error: s.Err})
	}
	return st
}

func tlsConfig(t config.TLS) (*tls.Config, error) {
	if t.CA == "" && t.Cert == "" && !t.InsecureSkipVerify {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("mqtt tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt tls ca %s: no certificate found", t.CA)
		}
		c.RootCAs = pool
	}
	if t.Cert != "" {
		kp, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("mqtt tls client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{kp}
	}
	return c, nil
}
