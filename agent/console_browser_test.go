package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"imagent/agent/console"
	"imagent/buffer"
	"imagent/drivers/gas/nanhua/nanhuasim"
)

// pageBudget is the most the console's static assets may weigh (issue 6).
const pageBudget = 300 << 10

// findChromium returns the browser to drive: $IMAGENT_CHROMIUM, or Debian's chromium.
func findChromium() string {
	if p := os.Getenv("IMAGENT_CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// netLog records every request the page makes and the bytes of each response.
type netLog struct {
	mu    sync.Mutex
	urls  map[network.RequestID]string
	types map[network.RequestID]network.ResourceType
	bytes map[network.RequestID]float64
	all   []string
}

func newNetLog() *netLog {
	return &netLog{urls: map[network.RequestID]string{}, types: map[network.RequestID]network.ResourceType{}, bytes: map[network.RequestID]float64{}}
}

func (n *netLog) event(ev any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		n.urls[e.RequestID] = e.Request.URL
		n.types[e.RequestID] = e.Type
		n.all = append(n.all, e.Request.URL)
	case *network.EventLoadingFinished:
		n.bytes[e.RequestID] = e.EncodedDataLength
	}
}

// reset starts a new page's tally and returns the previous one: asset bytes (scripts,
// styles, images, fonts) and document bytes.
func (n *netLog) reset() (assets, docs float64, urls []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, b := range n.bytes {
		switch n.types[id] {
		case network.ResourceTypeScript, network.ResourceTypeStylesheet, network.ResourceTypeImage, network.ResourceTypeFont:
			assets += b
		case network.ResourceTypeDocument:
			docs += b
		}
	}
	urls = n.all
	n.urls, n.types, n.bytes, n.all = map[network.RequestID]string{}, map[network.RequestID]network.ResourceType{}, map[network.RequestID]float64{}, nil
	return assets, docs, urls
}

// offBox returns the URLs that would leave this machine.
func offBox(urls []string) []string {
	var bad []string
	for _, u := range urls {
		p, err := url.Parse(u)
		if err != nil {
			bad = append(bad, u)
			continue
		}
		switch p.Scheme {
		case "data", "about", "blob":
			continue
		}
		host := p.Hostname()
		if a, err := netip.ParseAddr(host); (err != nil || !a.IsLoopback()) && host != "localhost" {
			bad = append(bad, u)
		}
	}
	return bad
}

// TestConsoleInBrowser drives the console of a simulated lane (NHA-503 simulator on a
// pty, in-process broker and platform, the real runtime) with headless Chromium: login,
// live values, a config error then a valid apply, a self-check, a test run and its
// record's page. Every page must load at most 300 KB of assets and request nothing from
// beyond this machine. Screenshots go to testdata/artifacts/console/.
func TestConsoleInBrowser(t *testing.T) {
	chromium := findChromium()
	if chromium == "" {
		t.Skip("chromium is not installed (apt-get install chromium; CI installs it): the browser tests cannot run")
	}
	art, err := filepath.Abs(filepath.Join("..", "testdata", "artifacts", "console"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(art, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(art, "*.png"))
	for _, f := range old {
		_ = os.Remove(f) // the artifacts are this run's
	}
	t.Logf("screenshots: %s", art)

	const password = "correct horse battery"
	hash, err := console.HashPassword(password, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	log, _ := newLogger(os.Stderr, "error")
	lane, err := startSimLane(ctx, simLaneOpts{dir: t.TempDir(), listen: "127.0.0.1:0", speed: 20, passwordHash: hash, station: true, log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer lane.close()
	addr := lane.consoleAddr(ctx)
	if addr == "" {
		t.Fatal("the console did not listen")
	}
	base := "http://" + addr

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	stopAt := context.AfterFunc(ctx, bcancel) // the test's deadline also ends the browser
	defer stopAt()

	nl := newNetLog()
	if err := chromedp.Listen(bctx, nl.event); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// Every page loads its assets afresh, so each page's weight is measured in full.
	if _, err := chromedp.Call(bctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		t.Fatal(err)
	}
	// Accept every confirm() the console asks (apply, rollback…).
	dialogs := chromedp.Events(bctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()

	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		for i, a := range actions {
			sctx, scancel := context.WithTimeout(bctx, 45*time.Second)
			err := chromedp.Do(sctx, a)
			scancel()
			if err != nil {
				shot(t, bctx, art, "failed-"+name)
				t.Fatalf("%s (action %d): %v", name, i+1, err)
			}
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			shot(t, bctx, art, "failed-text")
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	// setText puts v in a textarea as if typed (SetValue does not reach a textarea's text).
	setText := func(sel, v string) chromedp.Action[chromedp.Void] {
		js, _ := json.Marshal(v)
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Evaluate[bool](`(() => { const e = document.querySelector(`+strconv.Quote(sel)+`); e.value = `+string(js)+`; e.dispatchEvent(new Event("input")); return true; })()`)(ctx, tg)
			return chromedp.Void{}, err
		}
	}
	// waitJS polls a JavaScript condition (true when done) for up to d.
	waitJS := func(name, cond string, d time.Duration) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(bctx, d)
		defer wcancel()
		if _, err := chromedp.Run(wctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
			shot(t, bctx, art, "failed-"+name)
			t.Fatalf("%s: %s did not become true: %v", name, cond, err)
		}
	}
	// pageDone checks the page just loaded: asset weight and no request off the box.
	pageDone := func(name string) {
		t.Helper()
		time.Sleep(300 * time.Millisecond) // let late loads (the script's fetches) finish
		assets, docs, urls := nl.reset()
		t.Logf("page %-9s assets %6.0f B, document %6.0f B, %d requests", name, assets, docs, len(urls))
		if assets > pageBudget {
			t.Errorf("page %s loads %.0f bytes of assets, budget %d", name, assets, pageBudget)
		}
		if bad := offBox(urls); len(bad) > 0 {
			t.Errorf("page %s made requests beyond this machine: %v", name, bad)
		}
	}

	// 1. Login: every page needs it (no password-free loopback here). A wrong password is
	// refused, the right one lets in.
	step("open", chromedp.Navigate(base+"/"))
	if loc, _ := chromedp.Run(bctx, chromedp.Location()); !strings.Contains(loc, "/login") {
		t.Fatalf("not sent to the login page: %s", loc)
	}
	shot(t, bctx, art, "01-login")
	pageDone("login")
	step("wrong password",
		chromedp.SendKeys(chromedp.CSS("#password"), "wrong password"),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("p.bad[role=alert]")),
	)
	if s := text("p.bad[role=alert]"); !strings.Contains(s, "密码错误") {
		t.Errorf("wrong password message: %q", s)
	}
	step("login",
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS(`article.dev[data-device="analyzer"]`)),
	)
	pageDone("logging-in")

	// 2. Live values: the overview follows the analyzer over SSE. The simulated driver
	// presses the pedal; the displayed engine speed must follow without a reload.
	waitJS("analyzer ok", `document.querySelector('article.dev [data-f="state"]').textContent === "正常"`, 20*time.Second)
	lane.car.SetTargetRPM(2500)
	waitJS("live rpm", `(() => { const d = document.querySelector('article.dev dd[data-q="rpm"]'); return !!d && parseFloat(d.textContent) > 2000; })()`, 20*time.Second)
	lane.car.SetTargetRPM(nanhuasim.IdleRPM)
	waitJS("live rpm back", `parseFloat(document.querySelector('article.dev dd[data-q="rpm"]').textContent) < 1200`, 20*time.Second)
	waitJS("uplink", `document.querySelector('[data-s="connected"]').classList.contains("s-ok")`, 20*time.Second)
	waitJS("whole lane", `document.querySelectorAll('article.dev [data-f="state"].s-ok').length === 5`, 20*time.Second)
	shot(t, bctx, art, "02-overview")
	pageDone("overview")

	// 3. The device page: live values, a chart of the last minutes, commands, raw frames.
	step("device page", chromedp.Navigate(base+"/device/analyzer"), chromedp.WaitVisible(chromedp.CSS("#commands")))
	waitJS("chart", `(() => { const p = document.querySelector('#charts svg polyline'); return !!p && p.getAttribute("points").split(" ").length > 3; })()`, 20*time.Second)
	waitJS("zero enabled", `!document.querySelector('#commands button[data-cmd="zero"]').disabled`, 10*time.Second)
	step("zero", chromedp.Click(chromedp.CSS(`#commands button[data-cmd="zero"]`)))
	waitJS("zero done", `document.querySelector('#cmd-result').className === "ok"`, 30*time.Second)
	shot(t, bctx, art, "03-device")
	pageDone("device")

	// The dyno's page offers what its driver can do (lift, release the load), not what an
	// analyzer can.
	step("dyno page", chromedp.Navigate(base+"/device/dyno"), chromedp.WaitVisible(chromedp.CSS("#commands")))
	waitJS("dyno commands", `(() => { const c = [...document.querySelectorAll('#commands button')].map(b => b.dataset.cmd).join(","); return c === "lift_up,lift_down,dyno_off"; })()`, 10*time.Second)
	waitJS("dyno chart", `!!document.querySelector('#charts svg polyline')`, 20*time.Second)
	shot(t, bctx, art, "03b-dyno")
	pageDone("dyno")

	// 4. Configuration: an invalid edit shows its line; a valid one is applied atomically,
	// keeping the previous file.
	orig, err := os.ReadFile(lane.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(orig), "window = 32", "window = 5000", 1)
	wantLine := strings.Count(bad[:strings.Index(bad, "window = 5000")], "\n") + 1
	step("config page", chromedp.Navigate(base+"/config"), chromedp.WaitVisible(chromedp.CSS("#toml")))
	pageDone("config")
	step("invalid config",
		setText("#toml", bad),
		chromedp.Click(chromedp.CSS("#cfg-validate")),
		chromedp.WaitVisible(chromedp.CSS("#cfg-result .problems")),
	)
	problems := text("#cfg-result")
	for _, want := range []string{fmt.Sprintf("第 %d 行", wantLine), "mqtt.window", "1024"} {
		if !strings.Contains(problems, want) {
			t.Errorf("validation result lacks %q:\n%s", want, problems)
		}
	}
	shot(t, bctx, art, "04-config-invalid")
	if now, _ := os.ReadFile(lane.cfgPath); string(now) != string(orig) {
		t.Fatal("validating changed the file")
	}
	good := strings.Replace(string(orig), "window = 32", "window = 16", 1)
	step("apply config",
		setText("#toml", good),
		chromedp.Click(chromedp.CSS("#cfg-apply")),
	)
	waitJS("applied", `(() => { const m = document.querySelector('#cfg-message.ok'); return !!m && m.textContent.includes(".prev"); })()`, 20*time.Second)
	if now, _ := os.ReadFile(lane.cfgPath); string(now) != good {
		t.Error("the applied configuration is not on disk")
	}
	if prev, _ := os.ReadFile(lane.cfgPath + ".prev"); string(prev) != string(orig) {
		t.Error("the previous configuration was not kept as .prev")
	}
	shot(t, bctx, art, "05-config-applied")
	pageDone("config-apply")

	// 5. A self-check: the analyzer leak check runs on the simulator and is recorded.
	step("checks page", chromedp.Navigate(base+"/checks"), chromedp.WaitVisible(chromedp.CSS(`button[data-run="analyzer_leak"]`)))
	if s := text(`tr[data-check="analyzer_leak"] [data-f="today"]`); !strings.Contains(s, "今日未做") {
		t.Errorf("before the check, today's status is %q", s)
	}
	step("run check", chromedp.Click(chromedp.CSS(`button[data-run="analyzer_leak"]`)))
	waitJS("check result", `document.querySelector('#check-result').className === "ok"`, 60*time.Second)
	if s := text(`tr[data-check="analyzer_leak"] [data-f="today"]`); s != "通过" {
		t.Errorf("after the check, today's status is %q", s)
	}
	shot(t, bctx, art, "06-checks")
	pageDone("checks")
	rt := lane.runtime()
	checks, _, err := rt.cons.records.Search(ctx, buffer.Query{Kind: buffer.KindCheck})
	if err != nil || len(checks) != 1 || checks[0].Pass == nil || !*checks[0].Pass || checks[0].Check != "analyzer_leak" {
		t.Fatalf("check records in the outbox: %+v %v", checks, err)
	}

	// 6. The test runner: a two-speed idle test followed to the end, then its record.
	step("test page", chromedp.Navigate(base+"/test"), chromedp.WaitVisible(chromedp.CSS("#test-form")))
	pageDone("test")
	step("start test",
		chromedp.SendKeys(chromedp.CSS(`#test-form input[name="plate"]`), "苏A12345"),
		chromedp.SendKeys(chromedp.CSS(`#test-form input[name="vin"]`), "LSVAU2180N2123456"),
		chromedp.Click(chromedp.CSS("#test-start")),
	)
	waitJS("countdown", `/\d/.test(document.querySelector('#t-remaining').textContent)`, 60*time.Second)
	waitJS("rpm during the test", `parseFloat(document.querySelector('#t-rpm').textContent) > 2000`, 30*time.Second)
	shot(t, bctx, art, "07-test-running")
	waitJS("test end", `!!document.querySelector('#t-verdict')`, 150*time.Second)
	if s := text("#t-verdict"); !strings.Contains(s, "合格") {
		t.Errorf("verdict shown: %q", s)
	}
	shot(t, bctx, art, "08-test-done")
	step("open record", chromedp.Click(chromedp.CSS("#t-record")), chromedp.WaitVisible(chromedp.CSS("#process svg.chart")))
	if s := text("#verdict"); s != "合格" {
		t.Errorf("record page verdict %q", s)
	}
	if n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#process svg.chart').length`)); err != nil || n < 5 {
		t.Errorf("record page has %d process charts (%v)", n, err)
	}
	if s := text("#phases"); !strings.Contains(s, "高怠速") || !strings.Contains(s, "CO") {
		t.Errorf("phase table: %q", s)
	}
	shot(t, bctx, art, "09-record")
	pageDone("record")

	// 7. Records: search by plate finds it; its sync state is shown.
	step("records", chromedp.Navigate(base+"/records?plate=a12345"), chromedp.WaitVisible(chromedp.CSS("#records")))
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('#records tbody tr').length`))
	if err != nil || rows != 1 {
		t.Errorf("search by plate: %d rows (%v)", rows, err)
	}
	shot(t, bctx, art, "10-records")
	pageDone("records")

	// 8. English.
	step("english", chromedp.Click(chromedp.CSS("#lang")), chromedp.WaitVisible(chromedp.CSS("#records")))
	if s := text("header nav"); !strings.Contains(s, "Overview") || !strings.Contains(s, "Records") {
		t.Errorf("English navigation: %q", s)
	}
	step("english overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("article.dev")))
	waitJS("english live", `document.querySelector('article.dev [data-f="state"]').textContent === "OK"`, 10*time.Second)
	shot(t, bctx, art, "11-overview-en")
	pageDone("overview-en")

	total, err := console.AssetBytes()
	if err != nil || total > pageBudget {
		t.Errorf("embedded assets total %d bytes (budget %d): %v", total, pageBudget, err)
	}
	t.Logf("embedded console assets (CSS, JS): %d bytes", total)
}

var shotName = regexp.MustCompile(`[^a-z0-9-]`)

// shot saves a full-page PNG screenshot as a test artifact.
func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	b, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(dir, shotName.ReplaceAllString(name, "_")+".png")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	t.Logf("screenshot %s (%s bytes)", p, strconv.Itoa(len(b)))
}
