package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"imagent/agent/contract"
	"imagent/config"
)

// Prober finds out which instrument is attached to a serial port.
type Prober interface {
	// Probe tries the known protocols on port and reports what answered. It must return
	// promptly when ctx is done.
	Probe(ctx context.Context, port string) ([]ProbeResult, error)
	// Ports lists the serial ports of this box worth probing (stable paths first).
	Ports() []string
}

// ProbeResult is what one protocol found on a port.
type ProbeResult struct {
	Protocol string             `json:"protocol"`
	Baud     int                `json:"baud"`
	Found    bool               `json:"found"`
	Detail   string             `json:"detail,omitempty"` // the error, or what answered
	Values   map[string]float64 `json:"values,omitempty"`
	Raw      string             `json:"raw,omitempty"` // hex of the frame that answered
}

const maxConfigBytes = 1 << 20

// configCheck is the answer to validate and apply.
type configCheck struct {
	OK       bool          `json:"ok"`
	Problems []problemView `json:"problems"`
	Warnings []problemView `json:"warnings"`
	Message  string        `json:"message,omitempty"`
	Applied  bool          `json:"applied,omitempty"`
	Restart  bool          `json:"restart,omitempty"` // the console can restart the agent
}

type problemView struct {
	Line int    `json:"line"`
	Col  int    `json:"col"`
	Key  string `json:"key"`
	Msg  string `json:"msg"`
	Text string `json:"text"` // "line:col: key: msg"
}

func problemsOf(ps []config.Problem) []problemView {
	out := []problemView{}
	for _, p := range ps {
		out = append(out, problemView{Line: p.Line, Col: p.Col, Key: p.Key, Msg: p.Msg, Text: p.String()})
	}
	return out
}

// checkConfig parses data exactly as the agent will at start, adds the agent's own checks,
// and refuses a change of agent.data_dir (records pending in the old outbox would be
// stranded).
func (s *Server) checkConfig(data []byte, l lang) (configCheck, *config.Config) {
	var warns []config.Problem
	c, err := config.Parse("config", data, config.LoadOpts{Protocols: s.o.Protocols, Warn: func(p config.Problem) { warns = append(warns, p) }})
	res := configCheck{Problems: []problemView{}, Warnings: problemsOf(warns)}
	var errs *config.Errors
	switch {
	case errors.As(err, &errs):
		res.Problems = problemsOf(errs.List)
		return res, nil
	case err != nil:
		res.Problems = []problemView{{Msg: err.Error(), Text: err.Error()}}
		return res, nil
	}
	if s.o.CheckConfig != nil {
		if err := s.o.CheckConfig(c); err != nil {
			res.Problems = append(res.Problems, problemView{Msg: err.Error(), Text: err.Error()})
		}
	}
	if cur, err := s.currentConfig(); err == nil && cur.Agent.DataDir != c.Agent.DataDir {
		msg := l.T("config.datadir")
		res.Problems = append(res.Problems, problemView{Key: "agent.data_dir", Msg: msg, Text: "agent.data_dir: " + msg})
	}
	res.OK = len(res.Problems) == 0
	if res.OK {
		res.Message = l.T("config.ok")
	}
	return res, c
}

func (s *Server) currentConfig() (*config.Config, error) {
	return config.Load(s.o.ConfigPath, config.LoadOpts{})
}

func readConfigBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxConfigBytes))
	if err != nil {
		return nil, fmt.Errorf("configuration too large or unreadable: %w", err)
	}
	return b, nil
}

func (s *Server) apiConfigValidate(w http.ResponseWriter, r *http.Request) {
	l := langOf(nil, r)
	data, err := readConfigBody(w, r)
	if err != nil {
		s.apiError(w, r, http.StatusRequestEntityTooLarge, "error.badinput", err.Error())
		return
	}
	res, _ := s.checkConfig(data, l)
	writeJSON(w, http.StatusOK, res)
}

// apiConfigApply validates, then replaces the file atomically, keeping the old one as
// .prev, and records a config-change event.
func (s *Server) apiConfigApply(w http.ResponseWriter, r *http.Request) {
	l := langOf(nil, r)
	if s.o.ConfigPath == "" {
		s.apiError(w, r, http.StatusNotFound, "error.noconfig")
		return
	}
	data, err := readConfigBody(w, r)
	if err != nil {
		s.apiError(w, r, http.StatusRequestEntityTooLarge, "error.badinput", err.Error())
		return
	}
	res, _ := s.checkConfig(data, l)
	if !res.OK {
		writeJSON(w, http.StatusUnprocessableEntity, res)
		return
	}
	if err := s.replaceConfig(r.Context(), data, "config_applied", r); err != nil {
		s.apiError(w, r, http.StatusInternalServerError, "error.internal", err.Error())
		return
	}
	res.Applied, res.Restart = true, s.o.Restart != nil
	res.Message = l.F("config.applied", s.o.ConfigPath+".prev")
	writeJSON(w, http.StatusOK, res)
}

// apiConfigRollback puts the previous version back (after validating it); the version it
// replaces becomes the previous one, so a rollback can itself be undone.
func (s *Server) apiConfigRollback(w http.ResponseWriter, r *http.Request) {
	l := langOf(nil, r)
	if s.o.ConfigPath == "" {
		s.apiError(w, r, http.StatusNotFound, "error.noconfig")
		return
	}
	prev, err := os.ReadFile(s.o.ConfigPath + ".prev")
	if errors.Is(err, fs.ErrNotExist) {
		s.apiError(w, r, http.StatusConflict, "config.noprev")
		return
	}
	if err != nil {
		s.apiError(w, r, http.StatusInternalServerError, "error.internal", err.Error())
		return
	}
	res, _ := s.checkConfig(prev, l)
	if !res.OK {
		writeJSON(w, http.StatusUnprocessableEntity, res)
		return
	}
	if err := s.replaceConfig(r.Context(), prev, "config_rolled_back", r); err != nil {
		s.apiError(w, r, http.StatusInternalServerError, "error.internal", err.Error())
		return
	}
	res.Applied, res.Restart = true, s.o.Restart != nil
	res.Message = l.T("config.rolledback")
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) replaceConfig(ctx context.Context, data []byte, event string, r *http.Request) error {
	old, _ := os.ReadFile(s.o.ConfigPath)
	if err := config.WriteAtomic(s.o.ConfigPath, data); err != nil {
		return err
	}
	s.mu.Lock()
	s.applied = true
	s.mu.Unlock()
	who := "cli"
	if a, ok := clientAddr(r); ok {
		who = a.String()
	}
	s.log.Info("configuration replaced", "event", event, "file", s.o.ConfigPath, "by", who)
	if s.o.Commit != nil {
		sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
		body := contract.EventBody{Event: event, Detail: s.o.ConfigPath, Attrs: map[string]string{
			"sha256": sum(data), "prev_sha256": sum(old), "by": who}}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := s.o.Commit(cctx, contract.KindEvent, body, s.o.Simulated); err != nil {
			s.log.Error("config change event not stored", "err", err)
		}
	}
	return nil
}

func (s *Server) apiRestart(w http.ResponseWriter, r *http.Request) {
	if s.o.Restart == nil {
		s.apiError(w, r, http.StatusNotImplemented, "error.norestart")
		return
	}
	if s.o.Lane != nil && s.o.Lane.Progress().Running {
		s.apiError(w, r, http.StatusConflict, "error.busy")
		return
	}
	if err := s.o.Restart(); err != nil {
		s.apiError(w, r, http.StatusConflict, "error.internal", err.Error())
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"ok": true, "message": langOf(nil, r).T("config.restarting")})
}

func (s *Server) apiProbe(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Port string `json:"port"`
	}
	if err := readJSON(w, r, &req); err != nil || strings.TrimSpace(req.Port) == "" {
		s.apiError(w, r, http.StatusBadRequest, "error.badinput", "port")
		return
	}
	if s.o.Prober == nil {
		s.apiError(w, r, http.StatusNotImplemented, "error.internal", "no prober")
		return
	}
	target := resolvePort(req.Port)
	for _, d := range s.o.Devices {
		if resolvePort(d.Spec().Port) == target {
			writeJSON(w, http.StatusConflict, map[string]any{"ok": false,
				"message": fmt.Sprintf("%s: %s (%s)", req.Port, d.Spec().Name, langOf(nil, r).T("state."+string(d.Snapshot().State)))})
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 90*time.Second)
	defer cancel()
	res, err := s.o.Prober.Probe(ctx, req.Port)
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "message": err.Error(), "results": res})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "results": res})
}

// resolvePort follows symlinks (/dev/serial/by-id/... → /dev/ttyUSB0) so two names of one
// port compare equal.
func resolvePort(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}
