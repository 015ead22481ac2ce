package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"imagent/config"
)

// cmdConfigChange is `imagent config apply FILE` and `imagent config rollback`. With an
// agent running, the change goes through it (the same checks as the console, a
// config-change event record, then a restart on the new file); without one, the file is
// checked and replaced here. Either way the replaced version is kept as FILE.prev.
func cmdConfigChange(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub := args[0]
	fs := newFlags("config "+sub, stderr)
	path := fs.String("config", "/etc/imagent/imagent.toml", "the configuration file the agent runs with")
	noRestart := fs.Bool("no-restart", false, "do not restart a running agent")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var data []byte
	var err error
	switch {
	case sub == "apply" && fs.NArg() == 1:
		data, err = os.ReadFile(fs.Arg(0))
	case sub == "rollback" && fs.NArg() == 0:
		data, err = os.ReadFile(*path + ".prev")
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("config rollback: %s.prev does not exist: there is nothing to roll back to", *path)
		}
	default:
		return errors.New("usage: imagent config validate FILE | imagent config apply [--config DEST] FILE | imagent config rollback [--config DEST]")
	}
	if err != nil {
		return fmt.Errorf("config %s: %w", sub, err)
	}
	cur, err := config.Load(*path, config.LoadOpts{})
	if err != nil {
		return fmt.Errorf("config %s: the current configuration cannot be read, so the running agent cannot be found: %w", sub, err)
	}
	ac := newAgentClient(cur.Agent.DataDir)
	var res struct {
		OK       bool   `json:"ok"`
		Message  string `json:"message"`
		Problems []struct {
			Text string `json:"text"`
		} `json:"problems"`
	}
	var body io.Reader = bytes.NewReader(data)
	if sub == "rollback" {
		body = http.NoBody // the agent rolls back to its own .prev
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://imagent/api/config/"+sub+"?lang=en", body)
	if err != nil {
		return err
	}
	if _, serr := os.Stat(ac.socket); serr == nil {
		err = ac.do(req, &res)
	} else {
		err = errNoAgent
	}
	switch {
	case errors.Is(err, errNoAgent):
		if err := applyHere(data, cur, *path); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s done; previous version kept as %s.prev (no agent is running: it uses the new file at its next start)\n", *path, sub, *path)
		return nil
	case err != nil:
		return err
	case !res.OK:
		msg := res.Message
		for _, p := range res.Problems {
			msg += "\n" + p.Text
		}
		return fmt.Errorf("config %s: refused by the agent:%s", sub, msg)
	}
	fmt.Fprintf(stdout, "%s\n", res.Message)
	if *noRestart {
		return nil
	}
	var rr struct {
		OK      bool   `json:"ok"`
		Message string `json:"message"`
	}
	if err := ac.call(ctx, http.MethodPost, "/api/agent/restart?lang=en", nil, &rr); err != nil {
		return err
	}
	if !rr.OK {
		return fmt.Errorf("config %s: the agent did not restart: %s (restart it by hand)", sub, rr.Message)
	}
	fmt.Fprintln(stdout, rr.Message)
	return nil
}

// applyHere checks data as the agent would and replaces path with it.
func applyHere(data []byte, cur *config.Config, path string) error {
	c, err := config.Parse(path, data, config.LoadOpts{Protocols: protocolNames()})
	if err != nil {
		return err
	}
	if err := checkRuntimeConfig(c); err != nil {
		return err
	}
	if c.Agent.DataDir != cur.Agent.DataDir {
		return fmt.Errorf("agent.data_dir changes from %s to %s: records not yet uploaded would be left behind; move the directory by hand first", cur.Agent.DataDir, c.Agent.DataDir)
	}
	return config.WriteAtomic(path, data)
}
