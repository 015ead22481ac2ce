package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"

	"imagent/agent/contract"
	"imagent/agent/record"
	"imagent/agent/station"
	"imagent/buffer"
	"imagent/config"
	"imagent/drivers"
	"imagent/drivers/gas/nanhua"
	"imagent/drivers/gas/nanhua/nanhuasim"
	"imagent/drivers/simport"
)

// rig is a console over real parts: an outbox in a temp dir, a record maker, and an
// NHA-503 simulator on a pty supervised by station.Device with the real driver.
type rig struct {
	ob, ro *buffer.Outbox
	maker  *record.Maker
	dev    *station.Device
	sim    *nanhuasim.Sim
	srv    *Server
	h      http.Handler
	cfg    string
}

func newRig(t *testing.T, sim nanhuasim.Options, o Options) *rig {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	ob, err := buffer.Open(ctx, filepath.Join(dir, "outbox.db"), buffer.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	ro, err := buffer.OpenReadOnly(ctx, ob.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	r := &rig{ob: ob, ro: ro, maker: &record.Maker{Outbox: ob, Station: "S1", Lane: "L1", Version: "test"}}

	pty, err := simport.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pty.Close() })
	sim.Model = nanhua.NHA503
	r.sim = nanhuasim.New(sim)
	wg.Go(func() { _ = r.sim.Serve(ctx, pty.Master) })
	open := func(ctx context.Context) (drivers.Device, io.Closer, error) {
		p, err := serial.Open(pty.SlavePath, &serial.Mode{BaudRate: 9600})
		if err != nil {
			return nil, nil, err
		}
		d, err := nanhua.New(p, nanhua.DefaultOpts)
		if err != nil {
			p.Close()
			return nil, nil, err
		}
		return d, p, nil
	}
	r.dev = station.NewDevice(station.Spec{Name: "analyzer", Role: "analyzer", Protocol: "gas/nanhua", Model: "NHA-503",
		Port: pty.SlavePath, Poll: 50 * time.Millisecond}, open, slog.New(slog.DiscardHandler))
	wg.Go(func() { _ = r.dev.Run(ctx) })

	r.cfg = filepath.Join(dir, "imagent.toml")
	text := strings.Replace(string(config.DefaultTOML()), `"sim:nanhua"`, `"/dev/serial/by-id/usb-test-if00-port0"`, 1)
	text = strings.Replace(text, `data_dir = "/var/lib/imagent"`, `data_dir = "`+dir+`/agent"`, 1)
	if err := os.WriteFile(r.cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	o.Devices = []*station.Device{r.dev}
	o.Outbox, o.Records, o.Commit = ob, ro, r.maker.Commit
	o.Checkers = []Checker{&LeakCheck{Commit: r.maker.Commit}}
	o.ConfigPath, o.Protocols = r.cfg, []string{"gas/nanhua"}
	o.AllowLoopbackWithoutPassword = true
	r.srv = newServer(t, o)
	wg.Go(func() { r.srv.live.run(ctx) })
	r.srv.mu.Lock()
	r.srv.agent = ctx
	r.srv.mu.Unlock()
	r.h = r.srv.Handler()
	deadline := time.Now().Add(10 * time.Second)
	for r.dev.Snapshot().State != station.StateOK || !r.srv.live.capsOf("analyzer").known {
		if time.Now().After(deadline) {
			t.Fatalf("analyzer not ready: %+v", r.dev.Snapshot())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r
}

// session returns a password-free loopback session cookie and its CSRF token.
func (r *rig) session(t *testing.T) (*http.Cookie, string) {
	t.Helper()
	w := request(r.h, "GET", "/", local, nil, nil)
	m := csrfMeta.FindStringSubmatch(w.Body.String())
	if w.Code != http.StatusOK || m == nil {
		t.Fatalf("overview: %d", w.Code)
	}
	return cookie(w, sessionCookie), m[1]
}

func (r *rig) post(t *testing.T, path, body, ct string, out any) int {
	t.Helper()
	sc, tok := r.session(t)
	w := request(r.h, "POST", path, local, strings.NewReader(body), map[string]string{"Content-Type": ct, csrfHeader: tok}, sc)
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body.String())
		}
	}
	return w.Code
}

// TestLeakCheck runs the analyzer leak check on the simulator through the console's API:
// a tight sample path passes, a leak fails, both are check records, and today's status
// reads back from the outbox.
func TestLeakCheck(t *testing.T) {
	for _, leak := range []bool{false, true} {
		t.Run(map[bool]string{false: "tight", true: "leak"}[leak], func(t *testing.T) {
			r := newRig(t, nanhuasim.Options{LeakTime: 300 * time.Millisecond, Leak: leak}, Options{})
			st, err := r.srv.todayChecks(context.Background())
			if err != nil || len(st) != 1 || st[0].Ran {
				t.Fatalf("before: %+v %v", st, err)
			}
			var res struct {
				OK     bool        `json:"ok"`
				Result CheckResult `json:"result"`
			}
			if code := r.post(t, "/api/checks/run", `{"check":"analyzer_leak","device":"analyzer"}`, "application/json", &res); code != http.StatusOK || !res.OK {
				t.Fatalf("run: %d %+v", code, res)
			}
			if res.Result.Pass == leak {
				t.Fatalf("leak=%v but pass=%v", leak, res.Result.Pass)
			}
			m, err := r.ob.Get(context.Background(), res.Result.RecordID)
			if err != nil {
				t.Fatal(err)
			}
			var env contract.Envelope
			var body contract.CheckBody
			if err := json.Unmarshal(m.Payload, &env); err != nil || json.Unmarshal(env.Body, &body) != nil {
				t.Fatalf("stored check: %s", m.Payload)
			}
			if m.Kind != buffer.KindCheck || body.Check != contract.CheckAnalyzerLeak || body.Device.Name != "analyzer" ||
				(body.Result == contract.VerdictPass) == leak || body.Operator != "console" || body.Ended.Before(body.Started) {
				t.Fatalf("check record: kind %s body %+v", m.Kind, body)
			}
			st, err = r.srv.todayChecks(context.Background())
			if err != nil || len(st) != 1 || !st[0].Ran || st[0].Pass == leak || st[0].RecordID != m.ID {
				t.Fatalf("today: %+v %v", st, err)
			}
			page := request(r.h, "GET", "/checks", local, nil, nil, cookieOf(t, r))
			want := map[bool]string{false: "通过", true: "未通过"}[leak]
			if !strings.Contains(page.Body.String(), want) || !strings.Contains(page.Body.String(), m.ID) {
				t.Errorf("checks page lacks %q or the record", want)
			}
			// The overview's backlog counts it by kind (the stats are cached for a second).
			deadline := time.Now().Add(5 * time.Second)
			for {
				var st struct {
					Status statusView `json:"status"`
				}
				w := request(r.h, "GET", "/api/status", local, nil, nil, cookieOf(t, r))
				if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
					t.Fatal(err)
				}
				if st.Status.ByKind["check"] == 1 && st.Status.Pending == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("status after one check record: %+v", st.Status)
				}
				time.Sleep(100 * time.Millisecond)
			}
			// The same check from the device page's command runs as a self-check too.
			if code := r.post(t, "/api/device/analyzer/command", `{"command":"leak"}`, "application/json", &res); code != http.StatusOK || res.Result.RecordID == "" {
				t.Fatalf("leak command: %d %+v", code, res)
			}
		})
	}
}

func cookieOf(t *testing.T, r *rig) *http.Cookie {
	c, _ := r.session(t)
	return c
}

// TestLeakCheckNotConnected: a check that cannot reach the device stores nothing.
func TestLeakCheckNotConnected(t *testing.T) {
	dir := t.TempDir()
	ob, err := buffer.Open(context.Background(), filepath.Join(dir, "o.db"), buffer.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	maker := &record.Maker{Outbox: ob, Station: "S1", Lane: "L1"}
	dev := station.NewDevice(station.Spec{Name: "analyzer", Role: "analyzer", Poll: 20 * time.Millisecond},
		func(context.Context) (drivers.Device, io.Closer, error) { return nil, nil, errors.New("unplugged") },
		slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = dev.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for dev.Snapshot().State != station.StateAbsent {
		time.Sleep(10 * time.Millisecond)
	}
	_, err = (&LeakCheck{Commit: maker.Commit}).Run(ctx, dev, "test")
	if !errors.Is(err, station.ErrNotConnected) {
		t.Fatalf("err %v", err)
	}
	if st, _ := ob.Stats(ctx); st.LastSeq != 0 {
		t.Fatal("a check that never reached the device was recorded")
	}
}

// TestCommands: commands are offered by capability and state; zero runs on the simulator.
func TestCommands(t *testing.T) {
	r := newRig(t, nanhuasim.Options{ZeroTime: 200 * time.Millisecond}, Options{})
	v := r.srv.deviceView(r.dev, time.Now())
	for _, want := range []string{"zero", "leak", "pump_on", "pump_off"} {
		if !strings.Contains(strings.Join(v.Commands, ","), want) {
			t.Errorf("commands %v lack %s", v.Commands, want)
		}
	}
	if strings.Contains(strings.Join(v.Commands, ","), "lift") {
		t.Errorf("an analyzer offers a lift: %v", v.Commands)
	}
	var res struct {
		OK      bool   `json:"ok"`
		Message string `json:"message"`
	}
	if code := r.post(t, "/api/device/analyzer/command", `{"command":"zero"}`, "application/json", &res); code != http.StatusOK || !res.OK {
		t.Fatalf("zero: %d %+v", code, res)
	}
	if code := r.post(t, "/api/device/analyzer/command", `{"command":"lift_up"}`, "application/json", &res); code != http.StatusConflict {
		t.Errorf("lift on an analyzer: %d", code)
	}
	if code := r.post(t, "/api/device/analyzer/command", `{"command":"pump_on"}`, "application/json", &res); code != http.StatusOK || !res.OK {
		t.Fatalf("pump on: %d %+v", code, res)
	}
	if !r.sim.PumpOn() {
		t.Error("the simulator's pump is off after pump_on")
	}
	// Silent device: no commands.
	r.sim.SetMode(nanhuasim.Silent)
	deadline := time.Now().Add(10 * time.Second)
	for r.dev.Snapshot().State == station.StateOK {
		if time.Now().After(deadline) {
			t.Fatal("device never left ok")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := r.srv.deviceView(r.dev, time.Now()); len(v.Commands) != 0 {
		t.Errorf("commands offered for a device in state %s: %v", v.State, v.Commands)
	}
	if code := r.post(t, "/api/device/analyzer/command", `{"command":"zero"}`, "application/json", &res); code != http.StatusConflict {
		t.Errorf("zero on a silent device: %d", code)
	}
}

// TestLiveEvents: the event stream carries the device's readings.
func TestLiveEvents(t *testing.T) {
	r := newRig(t, nanhuasim.Options{}, Options{})
	sc, _ := r.session(t)
	req, _ := http.NewRequest("GET", "/api/events", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req = req.WithContext(ctx)
	req.RemoteAddr, req.Host = local, "localhost:8080"
	req.AddCookie(sc)
	pr, pw := io.Pipe()
	w := &streamRecorder{h: http.Header{}, w: pw}
	go func() { r.h.ServeHTTP(w, req); pw.Close() }()
	sc2 := bufio.NewScanner(pr)
	sc2.Buffer(make([]byte, 1<<20), 1<<20)
	seen := map[string]bool{}
	var event string
	for sc2.Scan() && !(seen["device"] && seen["tick"]) {
		line := sc2.Text()
		if e, ok := strings.CutPrefix(line, "event: "); ok {
			event = e
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok && (event == "device" || event == "tick") {
			if !strings.Contains(d, `"o2_pct":20.9`) || !strings.Contains(d, `"state":"ok"`) {
				t.Fatalf("%s event without the analyzer's values: %s", event, d)
			}
			seen[event] = true
		}
	}
	cancel()
	if !seen["device"] || !seen["tick"] {
		t.Fatalf("events seen: %v", seen)
	}
}

type streamRecorder struct {
	h    http.Header
	w    io.Writer
	code int
}

func (s *streamRecorder) Header() http.Header         { return s.h }
func (s *streamRecorder) Write(b []byte) (int, error) { return s.w.Write(b) }
func (s *streamRecorder) WriteHeader(c int)           { s.code = c }
func (s *streamRecorder) Flush()                      {}

// TestConfigApplyRollback: validation names the line; apply replaces the file atomically,
// keeps the previous one and records an event; rollback restores it; data_dir stays.
func TestConfigApplyRollback(t *testing.T) {
	r := newRig(t, nanhuasim.Options{}, Options{})
	orig, _ := os.ReadFile(r.cfg)
	type result struct {
		OK       bool          `json:"ok"`
		Applied  bool          `json:"applied"`
		Problems []problemView `json:"problems"`
	}
	var res result
	bad := strings.Replace(string(orig), "[mqtt]\n", "[mqtt]\nbrokr = \"tcp://x:1\"\n", 1)
	line := strings.Count(bad[:strings.Index(bad, "brokr")], "\n") + 1
	if code := r.post(t, "/api/config/validate", bad, "text/plain", &res); code != http.StatusOK || res.OK || len(res.Problems) != 1 ||
		res.Problems[0].Line != line || !strings.Contains(res.Problems[0].Msg, "unknown key") {
		t.Fatalf("validate: %d %+v (want line %d)", code, res, line)
	}
	if code := r.post(t, "/api/config/apply", bad, "text/plain", &res); code != http.StatusUnprocessableEntity || res.Applied {
		t.Fatalf("apply of an invalid file: %d %+v", code, res)
	}
	if now, _ := os.ReadFile(r.cfg); string(now) != string(orig) {
		t.Fatal("an invalid configuration changed the file")
	}
	moved := strings.Replace(string(orig), "/agent\"", "/elsewhere\"", 1)
	if code := r.post(t, "/api/config/apply", moved, "text/plain", &res); code != http.StatusUnprocessableEntity || len(res.Problems) != 1 || res.Problems[0].Key != "agent.data_dir" {
		t.Fatalf("data_dir change: %d %+v", code, res)
	}
	good := strings.Replace(string(orig), "window = 32", "window = 8", 1)
	if code := r.post(t, "/api/config/apply", good, "text/plain", &res); code != http.StatusOK || !res.Applied {
		t.Fatalf("apply: %d %+v", code, res)
	}
	if now, _ := os.ReadFile(r.cfg); string(now) != good {
		t.Fatal("not applied")
	}
	if prev, _ := os.ReadFile(r.cfg + ".prev"); string(prev) != string(orig) {
		t.Fatal("previous version not kept")
	}
	evs, _, err := r.ro.Search(context.Background(), buffer.Query{Kind: buffer.KindEvent})
	if err != nil || len(evs) != 1 {
		t.Fatalf("config event records: %d %v", len(evs), err)
	}
	if code := r.post(t, "/api/config/rollback", "", "text/plain", &res); code != http.StatusOK || !res.Applied {
		t.Fatalf("rollback: %d %+v", code, res)
	}
	if now, _ := os.ReadFile(r.cfg); string(now) != string(orig) {
		t.Fatal("rollback did not restore the previous version")
	}
	if prev, _ := os.ReadFile(r.cfg + ".prev"); string(prev) != good {
		t.Fatal("the rolled-back version is not kept for undoing the rollback")
	}
	if code := r.post(t, "/api/agent/restart", "", "text/plain", nil); code != http.StatusNotImplemented {
		t.Errorf("restart without a restart func: %d", code)
	}
}

// TestProbe: a port a device uses is refused; the prober answers for others.
func TestProbe(t *testing.T) {
	r := newRig(t, nanhuasim.Options{}, Options{Prober: fixedProber{}})
	var res struct {
		OK      bool          `json:"ok"`
		Results []ProbeResult `json:"results"`
	}
	if code := r.post(t, "/api/probe", `{"port":"`+r.dev.Spec().Port+`"}`, "application/json", &res); code != http.StatusConflict {
		t.Errorf("probe of a port in use: %d", code)
	}
	if code := r.post(t, "/api/probe", `{"port":"/dev/ttyUSB9"}`, "application/json", &res); code != http.StatusOK || len(res.Results) != 1 || !res.Results[0].Found {
		t.Errorf("probe: %d %+v", code, res)
	}
}

type fixedProber struct{}

func (fixedProber) Probe(_ context.Context, port string) ([]ProbeResult, error) {
	return []ProbeResult{{Protocol: "gas/nanhua", Baud: 9600, Found: true, Detail: port}}, nil
}
func (fixedProber) Ports() []string { return []string{"/dev/ttyUSB9"} }

// TestPagesRender renders every page in both languages with no template error and no
// untranslated key.
func TestPagesRender(t *testing.T) {
	r := newRig(t, nanhuasim.Options{LeakTime: 100 * time.Millisecond}, Options{Prober: fixedProber{}})
	var res struct {
		Result CheckResult `json:"result"`
	}
	r.post(t, "/api/checks/run", `{"check":"analyzer_leak","device":"analyzer"}`, "application/json", &res)
	sc, _ := r.session(t)
	key := regexp.MustCompile(`\b(nav|common|login|error|overview|dev|up|clock|lane|state|status|cmd|checks|check|config|records|record|sync|kind|verdict|method|fuel|test|phase|ph|js|q)\.[a-z_]+\b`)
	for _, lang := range []string{"zh", "en"} {
		for _, p := range []string{"/", "/device/analyzer", "/test", "/records", "/records?kind=check", "/record/" + res.Result.RecordID, "/checks", "/config"} {
			w := request(r.h, "GET", p+sep(p)+"lang="+lang, local, nil, nil, sc)
			if w.Code != http.StatusOK {
				t.Errorf("%s %s: %d", lang, p, w.Code)
				continue
			}
			body := w.Body.String()
			// Keys show through when missing from the catalog (outside the JS data block).
			if i := strings.Index(body, `id="i18n">`); i >= 0 {
				j := strings.Index(body[i:], "</script>")
				body = body[:i] + body[i+j:]
			}
			if m := key.FindString(body); m != "" {
				t.Errorf("%s %s shows the key %q", lang, p, m)
			}
		}
	}
	csv := request(r.h, "GET", "/record/"+res.Result.RecordID+"/export?format=csv", local, nil, nil, sc)
	if csv.Code != http.StatusOK || !strings.HasPrefix(csv.Body.String(), strings.Join(SummaryCSVHeader, ",")) {
		t.Errorf("CSV export: %d %q", csv.Code, csv.Body.String())
	}
	js := request(r.h, "GET", "/record/"+res.Result.RecordID+"/export?format=json", local, nil, nil, sc)
	m, _ := r.ob.Get(context.Background(), res.Result.RecordID)
	if js.Body.String() != string(m.Payload) {
		t.Error("JSON export is not the stored envelope")
	}
	all := request(r.h, "GET", "/records/export?format=json&kind=check", local, nil, nil, sc)
	var envs []contract.Envelope
	if err := json.Unmarshal(all.Body.Bytes(), &envs); err != nil || len(envs) != 1 || envs[0].ID != m.ID {
		t.Errorf("export of a search: %v %d", err, len(envs))
	}
}

func sep(p string) string {
	if strings.Contains(p, "?") {
		return "&"
	}
	return "?"
}

// TestCatalog: every text has both languages, and every key the templates and the script
// use exists.
func TestCatalog(t *testing.T) {
	for k, v := range catalog {
		if strings.TrimSpace(v[0]) == "" || strings.TrimSpace(v[1]) == "" {
			t.Errorf("%s lacks a language: %q", k, v)
		}
		if strings.Count(v[0], "%") != strings.Count(v[1], "%") {
			t.Errorf("%s: the languages take different arguments: %q", k, v)
		}
	}
	goUsed := regexp.MustCompile(`\.(?:T|F|t|f)\("([a-z]+\.[A-Za-z_]+)"`)
	jsUsed := regexp.MustCompile(`\b[tf]\("([a-z]+\.[A-Za-z_]+)"`)
	check := func(name string, b []byte, re *regexp.Regexp) {
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if _, ok := catalog[m[1]]; !ok {
				t.Errorf("%s uses %q, which the catalog lacks", name, m[1])
			}
		}
	}
	files, _ := filepath.Glob("*.go")
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		check(f, b, goUsed)
		n += len(goUsed.FindAll(b, -1))
	}
	if n < 100 {
		t.Fatalf("found only %d uses of the catalog in the Go files: the pattern is broken", n)
	}
	js, err := embedded.ReadFile("assets/static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	check("app.js", js, jsUsed)
}

// TestAssetsOffline: the assets fit the 300 KB budget and name nothing outside the box.
func TestAssetsOffline(t *testing.T) {
	n, err := AssetBytes()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("console assets: %d bytes", n)
	if n > 300<<10 {
		t.Errorf("assets weigh %d bytes, budget 300 KB", n)
	}
	ext := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|@font-face|url\(`)
	err = fs.WalkDir(embedded, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := embedded.ReadFile(p)
		for _, m := range ext.FindAllString(string(b), -1) {
			if m != "//www.w3.org" && m != "http://www.w3.org" { // the SVG namespace is a name, not a request
				t.Errorf("%s refers to %q", p, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEscaping: text from records, configuration and devices is escaped on every page.
func TestEscaping(t *testing.T) {
	r := newRig(t, nanhuasim.Options{}, Options{})
	evil := `"><script>alert(1)</script><img src=x onerror=alert(2)>`
	body := contract.TestBody{Method: evil, InspectionID: evil, Verdict: evil, AbortReason: evil,
		Vehicle: contract.Vehicle{Plate: evil, VIN: evil, Fuel: evil, PlateType: evil},
		Phases:  []contract.PhaseResult{{Name: evil, Judged: []contract.Judged{{Quantity: evil, Standard: evil, Clause: evil}}}},
		Process: contract.Process{Columns: []string{"t_s", evil}, Phase: []string{evil, evil}, Rows: [][]float64{{0, 1}, {1, 2}}},
		Devices: []contract.DeviceRef{{Name: evil, Protocol: evil}}}
	m, err := r.maker.Commit(context.Background(), contract.KindTest, body, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.maker.Commit(context.Background(), contract.KindEvent, contract.EventBody{Event: evil, Detail: evil, Attrs: map[string]string{evil: evil}}, false); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(r.cfg)
	if err := os.WriteFile(r.cfg, append(cfg, []byte("# </textarea>"+evil+"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	sc, _ := r.session(t)
	for _, p := range []string{"/records", "/records?plate=" + url.QueryEscape(`"><script>`), "/record/" + url.PathEscape(m.ID),
		"/records?kind=event", "/config", "/?lang=en", "/records?plate=%22%3E%3Cb%3E"} {
		w := request(r.h, "GET", p, local, nil, nil, sc)
		b := w.Body.String()
		if w.Code != http.StatusOK {
			t.Errorf("%s: %d", p, w.Code)
		}
		for _, bad := range []string{"<script>alert", "<img src=x", `"><b>`, "</textarea><script", "<b>"} {
			if strings.Contains(b, bad) {
				t.Errorf("%s contains %q unescaped", p, bad)
			}
		}
	}
	w := request(r.h, "GET", "/record/"+url.PathEscape(m.ID), local, nil, nil, sc)
	if !strings.Contains(w.Body.String(), "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the record page does not show the plate, escaped")
	}
}
