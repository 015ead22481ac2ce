package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"imagent/agent/console"
	"imagent/agent/station"
	"imagent/config"
)

// cmdCheck runs device self-checks from a shell. A running agent owns the serial ports, so
// the check is asked of it over its console socket; with no agent running, the check runs
// here on a runtime of its own, and its record waits in the outbox for the next upload.
func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "run" {
		return errors.New("usage: imagent check run [--config FILE] [--device NAME] [--check analyzer_leak]")
	}
	fs := newFlags("check run", stderr)
	path := fs.String("config", "/etc/imagent/imagent.toml", "configuration file")
	device := fs.String("device", "", "only this device (default: every device a check applies to)")
	check := fs.String("check", "", "only this check (default: every check)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := config.Load(*path, config.LoadOpts{Protocols: protocolNames()})
	if err != nil {
		return err
	}
	ac := newAgentClient(cfg.Agent.DataDir)
	var status struct {
		Checks []struct{ Check, Device string }
	}
	if err := ac.call(ctx, http.MethodGet, "/api/checks?lang=en", nil, &status); err == nil {
		n := 0
		for _, c := range status.Checks {
			if (*device != "" && c.Device != *device) || (*check != "" && c.Check != *check) {
				continue
			}
			n++
			fmt.Fprintf(stdout, "%s on %s: running (in the agent)…\n", c.Check, c.Device)
			var res struct {
				OK      bool                `json:"ok"`
				Message string              `json:"message"`
				Result  console.CheckResult `json:"result"`
			}
			err := ac.call(ctx, http.MethodPost, "/api/checks/run?lang=en", map[string]string{"check": c.Check, "device": c.Device, "by": "cli"}, &res)
			if err != nil {
				return err
			}
			if !res.OK {
				return fmt.Errorf("check %s on %s: %s", c.Check, c.Device, res.Message)
			}
			printCheck(stdout, res.Result)
		}
		if n == 0 {
			return errors.New("check run: no check matches")
		}
		return nil
	} else if !errors.Is(err, errNoAgent) {
		return err
	}
	fmt.Fprintln(stderr, "no agent is running: running the check here; its record is uploaded when the agent next runs")
	return runChecksStandalone(ctx, cfg, *device, *check, stdout)
}

func printCheck(w io.Writer, r console.CheckResult) {
	v := "PASS"
	if !r.Pass {
		v = "FAIL"
	}
	fmt.Fprintf(w, "%s on %s: %s", r.Check, r.Device, v)
	if r.Detail != "" {
		fmt.Fprintf(w, " (%s)", r.Detail)
	}
	fmt.Fprintf(w, "; record seq %d, id %s\n", r.RecordSeq, r.RecordID)
}

// runChecksStandalone opens the outbox and the devices itself (no uplink, no console).
func runChecksStandalone(ctx context.Context, cfg *config.Config, device, check string, stdout io.Writer) error {
	log, err := newLogger(io.Discard, "error")
	if err != nil {
		return err
	}
	rt, err := newRuntime(ctx, cfg, log, runtimeOpts{noConsoleTCP: true})
	if err != nil {
		return err
	}
	defer rt.close()
	checkers := []console.Checker{&console.LeakCheck{Commit: rt.maker.Commit}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	n := 0
	for _, d := range rt.devices {
		if device != "" && d.Spec().Name != device {
			continue
		}
		for _, c := range checkers {
			if (check != "" && c.ID() != check) || !c.Applies(d.Spec()) {
				continue
			}
			n++
			wg.Go(func() { _ = d.Run(ctx) })
			if err := waitReady(ctx, d, 30*time.Second); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s on %s: running…\n", c.ID(), d.Spec().Name)
			res, err := c.Run(ctx, d, "cli")
			if err != nil {
				return err
			}
			printCheck(stdout, res)
		}
	}
	if n == 0 {
		return errors.New("check run: no check matches")
	}
	return nil
}

// waitReady waits until d answers normally.
func waitReady(ctx context.Context, d *station.Device, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		s := d.Snapshot()
		if s.State == station.StateOK {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("check run: %s is not ready (%s %s)", d.Spec().Name, s.State, s.Err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// agentClient talks to a running agent's console over its Unix socket.
type agentClient struct {
	socket string
	hc     *http.Client
}

var errNoAgent = errors.New("no agent is running")

func newAgentClient(dataDir string) *agentClient {
	sock := consoleSocket(dataDir)
	return &agentClient{socket: sock, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}}
}

// call sends a JSON request and decodes the JSON answer into out. It returns errNoAgent
// when nothing listens on the socket.
func (c *agentClient) call(ctx context.Context, method, path string, in, out any) error {
	if _, err := os.Stat(c.socket); err != nil {
		return errNoAgent
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://imagent"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.do(req, out)
}

func (c *agentClient) do(req *http.Request, out any) error {
	resp, err := c.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return errNoAgent
		}
		return fmt.Errorf("agent: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("agent: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return nil
}
