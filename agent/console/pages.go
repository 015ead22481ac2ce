package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"imagent/agent/contract"
	"imagent/agent/lane"
	"imagent/agent/station"
	"imagent/buffer"
	"imagent/drivers"
)

func (s *Server) pageOverview(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	var devs []deviceView
	for _, d := range s.o.Devices {
		devs = append(devs, s.deviceView(d, now))
	}
	checks, err := s.todayChecks(r.Context())
	if err != nil {
		s.log.Warn("console: today's checks", "err", err)
	}
	v := overviewView{Devices: devs, Status: s.statusView(r.Context()), Checks: checks, Now: now, BootID: s.o.BootID,
		Version: s.o.Version}
	if s.o.Lane != nil {
		p := progressOf(s.o.Lane.Progress(), langOf(nil, r))
		v.Progress = &p
	}
	s.render(w, r, http.StatusOK, "overview", langOf(nil, r).T("overview.title"), func(h *hw) { viewOverview(h, v) })
}

func (s *Server) pageDevice(w http.ResponseWriter, r *http.Request) {
	d := s.device(r.PathValue("name"))
	if d == nil {
		s.apiError(w, r, http.StatusNotFound, "error.notfound")
		return
	}
	v := s.deviceView(d, s.now())
	_, frames := s.live.history(v.Name)
	slices.Reverse(frames)
	supported := s.live.capsOf(v.Name).list()
	s.render(w, r, http.StatusOK, "device", v.Name, func(h *hw) { viewDevice(h, v, supported, frames) })
}

func (s *Server) apiHistory(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if s.device(name) == nil {
		s.apiError(w, r, http.StatusNotFound, "error.notfound")
		return
	}
	samples, frames := s.live.history(name)
	writeJSON(w, http.StatusOK, map[string]any{"now": s.now().UnixMilli(), "window_ms": historyWindow.Milliseconds(),
		"samples": samples, "frames": frames})
}

func (s *Server) apiStatus(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	devs := []deviceView{}
	for _, d := range s.o.Devices {
		devs = append(devs, s.deviceView(d, now))
	}
	out := map[string]any{"station": s.o.Station, "lane": s.o.LaneName, "version": s.o.Version,
		"devices": devs, "status": s.statusView(r.Context())}
	if s.o.Lane != nil {
		out["test"] = progressOf(s.o.Lane.Progress(), langOf(nil, r))
	}
	writeJSON(w, http.StatusOK, out)
}

// allowedCommands lists what may be run on d now: the driver must support it, the device
// must be answering normally, and no test may be running on the lane.
func (s *Server) allowedCommands(d *station.Device, sn station.Snapshot) []string {
	out := []string{}
	if sn.State != station.StateOK {
		return out
	}
	if s.o.Lane != nil && s.o.Lane.Progress().Running {
		return out
	}
	return append(out, s.live.capsOf(d.Spec().Name).list()...)
}

func (s *Server) apiCommand(w http.ResponseWriter, r *http.Request) {
	d := s.device(r.PathValue("name"))
	if d == nil {
		s.apiError(w, r, http.StatusNotFound, "error.notfound")
		return
	}
	var req struct {
		Command string `json:"command"`
	}
	if err := readJSON(w, r, &req); err != nil {
		s.apiError(w, r, http.StatusBadRequest, "error.badinput", err.Error())
		return
	}
	if s.o.Lane != nil && s.o.Lane.Progress().Running {
		s.apiError(w, r, http.StatusConflict, "error.busy")
		return
	}
	if !slices.Contains(s.allowedCommands(d, d.Snapshot()), req.Command) {
		s.apiError(w, r, http.StatusConflict, "cmd.why")
		return
	}
	l := langOf(nil, r)
	if req.Command == "leak" {
		// The leak check is a daily self-check: it is run as one, and recorded.
		res, err := s.runCheck(contract.CheckAnalyzerLeak, d.Spec().Name, "console")
		if err != nil {
			s.checkError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": res, "message": checkMessage(l, res)})
		return
	}
	// Commands outlive the request (a zero left half done helps nobody), bounded in time.
	ctx, cancel := context.WithTimeout(s.agentCtx(), 3*time.Minute)
	defer cancel()
	s.log.Info("device command", "device", d.Spec().Name, "command", req.Command)
	err := d.Do(ctx, func(ctx context.Context, dev drivers.Device) error { return runCommand(ctx, dev, req.Command) })
	if err != nil {
		s.log.Warn("device command failed", "device", d.Spec().Name, "command", req.Command, "err", err)
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "message": l.T("js.failed") + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "message": l.T("cmd."+req.Command) + ": " + l.T("js.done")})
}

func runCommand(ctx context.Context, dev drivers.Device, cmd string) error {
	unsupported := fmt.Errorf("%s: %w", cmd, ErrUnsupported)
	switch cmd {
	case "zero":
		if z, ok := dev.(drivers.Zeroer); ok {
			return z.Zero(ctx)
		}
	case "pump_on", "pump_off":
		if p, ok := dev.(drivers.Pump); ok {
			return p.SetPump(ctx, cmd == "pump_on")
		}
	case "lift_up", "lift_down":
		if l, ok := dev.(drivers.Lifter); ok {
			return l.SetLift(ctx, cmd == "lift_up")
		}
	case "dyno_off":
		if c, ok := dev.(drivers.DynoController); ok {
			return c.SetControl(ctx, drivers.ControlOff, 0)
		}
	}
	return unsupported
}

// capabilities are the commands a device's driver supports, found once by type assertion.
type capabilities struct {
	known                          bool
	zero, leak, pump, lift, dynoff bool
}

func (c capabilities) list() []string {
	var out []string
	for _, x := range []struct {
		on   bool
		cmds []string
	}{{c.zero, []string{"zero"}}, {c.leak, []string{"leak"}}, {c.pump, []string{"pump_on", "pump_off"}},
		{c.lift, []string{"lift_up", "lift_down"}}, {c.dynoff, []string{"dyno_off"}}} {
		if x.on {
			out = append(out, x.cmds...)
		}
	}
	return out
}

func capsOfDriver(d drivers.Device) capabilities {
	c := capabilities{known: true}
	_, c.zero = d.(drivers.Zeroer)
	_, c.leak = d.(drivers.LeakChecker)
	_, c.pump = d.(drivers.Pump)
	_, c.lift = d.(drivers.Lifter)
	_, c.dynoff = d.(drivers.DynoController)
	return c
}

func (s *Server) pageTest(w http.ResponseWriter, r *http.Request) {
	v := testView{HasLane: s.o.Lane != nil}
	if s.o.Lane != nil {
		v.Methods = s.o.Lane.Methods()
		slices.Sort(v.Methods)
		v.Progress = progressOf(s.o.Lane.Progress(), langOf(nil, r))
		v.InspectionID = "T" + s.now().Format("20060102150405")
		for _, d := range s.o.Devices {
			if d.Spec().Role == "analyzer" {
				v.Analyzer = d.Spec().Name
				break
			}
		}
	}
	s.render(w, r, http.StatusOK, "test", langOf(nil, r).T("test.title"), func(h *hw) { viewTest(h, v) })
}

type testRequest struct {
	Method       string  `json:"method"`
	InspectionID string  `json:"inspection_id"`
	Plate        string  `json:"plate"`
	PlateType    string  `json:"plate_type"`
	VIN          string  `json:"vin"`
	Fuel         string  `json:"fuel"`
	GVWkg        float64 `json:"gvw_kg"`
	RMkg         float64 `json:"rm_kg"`
	Catalyst     bool    `json:"catalyst"`
}

func (t *testRequest) check() error {
	t.Plate, t.VIN, t.InspectionID = strings.TrimSpace(t.Plate), strings.ToUpper(strings.TrimSpace(t.VIN)), strings.TrimSpace(t.InspectionID)
	switch {
	case t.Plate == "" || len(t.Plate) > 32:
		return errors.New("plate")
	case t.InspectionID == "" || len(t.InspectionID) > 64:
		return errors.New("inspection_id")
	case len(t.VIN) > 17:
		return errors.New("vin")
	case !slices.Contains([]string{"gasoline", "lpg", "ng", "diesel"}, t.Fuel):
		return errors.New("fuel")
	case t.GVWkg < 0 || t.GVWkg > 100_000 || t.RMkg < 0 || t.RMkg > 100_000:
		return errors.New("mass")
	}
	return nil
}

func (s *Server) apiTestStart(w http.ResponseWriter, r *http.Request) {
	if s.o.Lane == nil {
		s.apiError(w, r, http.StatusNotFound, "test.nolane")
		return
	}
	var req testRequest
	if err := readJSON(w, r, &req); err != nil {
		s.apiError(w, r, http.StatusBadRequest, "error.badinput", err.Error())
		return
	}
	if err := req.check(); err != nil {
		s.apiError(w, r, http.StatusBadRequest, "error.badinput", err.Error())
		return
	}
	// The test runs for the agent's lifetime, not the request's.
	id, err := s.o.Lane.Start(s.agentCtx(), lane.Request{Method: req.Method, InspectionID: req.InspectionID,
		Vehicle: contract.Vehicle{Plate: req.Plate, PlateType: req.PlateType, VIN: req.VIN, Fuel: req.Fuel,
			GVWkg: req.GVWkg, RMkg: req.RMkg, Catalyst: req.Catalyst}})
	if err != nil {
		writeJSON(w, http.StatusConflict, map[string]any{"ok": false, "message": err.Error()})
		return
	}
	s.log.Info("test started from the console", "run", id, "method", req.Method, "plate", req.Plate)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "run_id": id})
}

func (s *Server) apiTestCancel(w http.ResponseWriter, r *http.Request) {
	if s.o.Lane == nil {
		s.apiError(w, r, http.StatusNotFound, "test.nolane")
		return
	}
	s.o.Lane.Cancel()
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "test": progressOf(s.o.Lane.Progress(), langOf(nil, r))})
}

func (s *Server) pageChecks(w http.ResponseWriter, r *http.Request) {
	checks, err := s.todayChecks(r.Context())
	v := checksView{Checks: checks}
	if err != nil {
		v.Error = err.Error()
	}
	if s.o.Records != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		recent, _, err := s.o.Records.Search(ctx, buffer.Query{Kind: buffer.KindCheck, Limit: 20})
		cancel()
		if err == nil {
			v.Recent = recent
		}
	}
	if s.o.Lane != nil {
		v.Busy = s.o.Lane.Progress().Running
	}
	s.render(w, r, http.StatusOK, "checks", langOf(nil, r).T("checks.title"), func(h *hw) { viewChecks(h, v) })
}

func (s *Server) apiChecks(w http.ResponseWriter, r *http.Request) {
	checks, err := s.todayChecks(r.Context())
	if err != nil {
		s.apiError(w, r, http.StatusInternalServerError, "error.internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "checks": checks})
}

func (s *Server) apiCheckRun(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Check  string `json:"check"`
		Device string `json:"device"`
		By     string `json:"by"`
	}
	if err := readJSON(w, r, &req); err != nil {
		s.apiError(w, r, http.StatusBadRequest, "error.badinput", err.Error())
		return
	}
	by := "console"
	if trusted(r) && req.By != "" {
		by = req.By
	}
	res, err := s.runCheck(req.Check, req.Device, by)
	if err != nil {
		s.checkError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": res, "message": checkMessage(langOf(nil, r), res)})
}

func (s *Server) checkError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errNotFound):
		s.apiError(w, r, http.StatusNotFound, "error.notfound")
	case errors.Is(err, errLaneBusy):
		s.apiError(w, r, http.StatusConflict, "error.busy")
	case errors.Is(err, errCheckBusy):
		s.apiError(w, r, http.StatusConflict, "checks.running")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "message": langOf(nil, r).T("js.failed") + err.Error()})
	}
}

func checkMessage(l lang, res CheckResult) string {
	v := l.T("checks.passed")
	if !res.Pass {
		v = l.T("checks.failed")
		if res.Detail != "" {
			v += ": " + res.Detail
		}
	}
	return l.T("check."+res.Check) + " · " + res.Device + " · " + v
}

func (s *Server) pageConfig(w http.ResponseWriter, r *http.Request) {
	v := configView{Path: s.o.ConfigPath, Protocols: s.o.Protocols, CanRestart: s.o.Restart != nil}
	if s.o.ConfigPath != "" {
		b, err := os.ReadFile(s.o.ConfigPath)
		if err != nil {
			v.Error = err.Error()
		}
		v.Text = string(b)
		if fi, err := os.Stat(s.o.ConfigPath + ".prev"); err == nil {
			v.Prev = fi.ModTime()
		}
		if fi, err := os.Stat(s.o.ConfigPath); err == nil {
			v.Modified = fi.ModTime()
		}
		if c, err := s.currentConfig(); err == nil {
			v.Config = c
		}
	}
	if s.o.Prober != nil {
		v.Ports = s.o.Prober.Ports()
	}
	s.mu.Lock()
	v.Applied = s.applied
	s.mu.Unlock()
	s.render(w, r, http.StatusOK, "config", langOf(nil, r).T("config.title"), func(h *hw) { viewConfig(h, v) })
}

// queryOf reads the records search form.
func queryOf(r *http.Request) (buffer.Query, map[string]string, error) {
	v := r.URL.Query()
	form := map[string]string{}
	for _, k := range []string{"plate", "vin", "insp", "date", "kind", "before"} {
		form[k] = strings.TrimSpace(v.Get(k))
	}
	q := buffer.Query{Plate: form["plate"], VIN: form["vin"], InspectionID: form["insp"], Kind: buffer.Kind(form["kind"])}
	if q.Kind != "" && !q.Kind.Valid() {
		return q, form, fmt.Errorf("kind %q", q.Kind)
	}
	if d := form["date"]; d != "" {
		day, err := time.ParseInLocation("2006-01-02", d, time.Local)
		if err != nil {
			return q, form, fmt.Errorf("date %q", d)
		}
		q.Since, q.Until = day, day.AddDate(0, 0, 1)
	}
	if b := form["before"]; b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return q, form, fmt.Errorf("before %q", b)
		}
		q.BeforeSeq = n
	}
	for _, k := range []string{"plate", "vin", "insp"} {
		if len(form[k]) > 64 {
			return q, form, fmt.Errorf("%s too long", k)
		}
	}
	return q, form, nil
}

func (s *Server) pageRecords(w http.ResponseWriter, r *http.Request) {
	q, form, err := queryOf(r)
	l := langOf(nil, r)
	v := recordsView{Form: form}
	show := func(status int) {
		s.render(w, r, status, "records", l.T("records.title"), func(h *hw) { viewRecords(h, v) })
	}
	if err != nil {
		v.Error = l.F("error.badinput", err.Error())
		show(http.StatusBadRequest)
		return
	}
	if s.o.Records == nil {
		v.Error = "no outbox"
		show(http.StatusOK)
		return
	}
	q.Limit = 50
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	v.Records, v.Next, err = s.o.Records.Search(ctx, q)
	if err != nil {
		v.Error = err.Error()
	}
	exp := r.URL.Query()
	exp.Del("before")
	exp.Del("lang")
	exp.Del("format")
	v.ExportQuery = exp.Encode()
	older := r.URL.Query()
	older.Set("before", strconv.FormatInt(v.Next, 10))
	older.Del("lang")
	v.OlderQuery = older.Encode()
	newest := r.URL.Query()
	newest.Del("before")
	newest.Del("lang")
	v.NewestQuery = newest.Encode()
	show(http.StatusOK)
}
