package console

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"imagent/agent/contract"
	"imagent/buffer"
	"imagent/config"
)

// path escapes one URL path segment (a device name, a record id).
func pathOf(prefix, seg string) string { return prefix + url.PathEscape(seg) }

// --- login and errors -------------------------------------------------------------------

type loginView struct {
	CanLogin, Loopback bool
	Next, Token, Error string
}

func viewLogin(h *hw, v loginView) {
	h.raw(`<section class="card narrow"><h1>`)
	h.t("login.title")
	h.raw(`</h1>`)
	if !v.CanLogin {
		h.el("p", h.l.T("login.nopassword"), "class", "bad", "id", "nologin")
		h.raw(`</section>`)
		return
	}
	switch v.Error {
	case "wrong":
		h.el("p", h.l.T("login.wrong"), "class", "bad", "role", "alert")
	case "ratelimited":
		h.el("p", h.l.T("login.limited"), "class", "bad", "role", "alert")
	}
	if v.Loopback {
		h.el("p", h.l.T("login.loopbacknote"), "class", "muted")
	}
	h.raw(`<form method="post" action="/login" id="login"><input type="hidden" name="csrf"`)
	h.attr("value", v.Token)
	h.raw(`><input type="hidden" name="next"`)
	h.attr("value", v.Next)
	h.raw(`><label>`)
	h.t("login.password")
	h.raw(` <input type="password" name="password" id="password" autocomplete="current-password" required autofocus></label>`)
	h.raw(`<button type="submit" id="login-submit">`)
	h.t("login.submit")
	h.raw(`</button></form></section>`)
}

func viewError(h *hw, status int, msg string) {
	h.raw(`<section class="card narrow"><h1>`)
	h.esc(strconv.Itoa(status))
	h.raw(`</h1>`)
	h.el("p", msg)
	h.raw(`<p>`)
	h.a("/", h.l.T("nav.overview"))
	h.raw(`</p></section>`)
}

// --- overview ---------------------------------------------------------------------------

type overviewView struct {
	Devices  []deviceView
	Status   statusView
	Checks   []checkStatus
	Now      time.Time
	BootID   string
	Version  string
	Progress *progressView
}

// values writes a <dl class="vals"> of a device's readings.
func viewValues(h *hw, vals map[string]float64, big bool) {
	cls := "vals"
	if big {
		cls += " big"
	}
	h.raw(`<dl`)
	h.attr("class", cls)
	h.raw(` data-f="values">`)
	for _, q := range sortedQuantities(vals) {
		h.raw(`<div>`)
		h.el("dt", h.l.Or("q."+q, q))
		h.el("dd", fmtValue(vals[q]), "data-q", q)
		h.raw(`</div>`)
	}
	h.raw(`</dl>`)
}

func checkBadge(h *hw, c checkStatus, attrs ...string) {
	switch {
	case !c.Ran:
		h.state("s-warming_up", h.l.T("checks.notrun"), attrs...)
	case c.Pass:
		h.state("s-ok", h.l.T("checks.passed"), attrs...)
	default:
		h.state("s-error", h.l.T("checks.failed"), attrs...)
	}
}

func viewOverview(h *hw, v overviewView) {
	l, st := h.l, v.Status
	if st.Applied {
		h.raw(`<p class="warn">`)
		h.t("config.pending")
		h.raw(` `)
		h.a("/config", l.T("nav.config"))
		h.raw(`</p>`)
	}
	h.raw(`<div class="grid"><section class="card wide"><h2>`)
	h.t("overview.devices")
	h.raw(`</h2>`)
	if len(v.Devices) == 0 {
		h.el("p", l.T("overview.nodev"), "class", "muted")
	}
	h.raw(`<div class="devices">`)
	for _, d := range v.Devices {
		h.raw(`<article class="dev"`)
		h.attr("data-device", d.Name)
		h.raw(`><h3>`)
		h.a(pathOf("/device/", d.Name), d.Name)
		h.raw(` `)
		h.el("span", d.Protocol+" "+d.Model, "class", "muted small")
		h.raw(`</h3><p>`)
		h.state("s-"+d.State, l.T("state."+d.State), "data-f", "state")
		h.raw(` `)
		h.el("span", l.T("dev.age")+":", "class", "muted")
		h.raw(` `)
		h.el("span", ago(l, d.AgeMS), "data-f", "age")
		h.raw(`</p><p class="bad small" data-f="err"`)
		h.attrIf(d.Err == "", "hidden")
		h.raw(`>`)
		h.esc(d.Err)
		h.raw(`</p>`)
		viewValues(h, d.Values, false)
		h.raw(`</article>`)
	}
	h.raw(`</div></section>`)

	h.raw(`<section class="card" id="uplink"><h2>`)
	h.t("overview.uplink")
	h.raw(`</h2><p>`)
	if st.Connected {
		h.state("s-ok", l.T("up.connected"), "data-s", "connected")
	} else {
		h.state("s-error", l.T("up.disconnected"), "data-s", "connected")
	}
	h.raw(`</p><dl class="kv">`)
	h.kv(l.T("up.broker"), st.Broker)
	h.kv(l.T("up.pending"), strconv.FormatInt(st.Pending, 10), "data-s", "pending")
	h.kv(l.T("up.sent"), strconv.FormatInt(st.Sent, 10), "data-s", "sent")
	h.kv(l.T("up.rejected"), strconv.FormatInt(st.Rejected, 10), "data-s", "rejected")
	h.kv(l.T("up.bykind"), byKind(l, st.ByKind), "data-s", "bykind")
	h.kv(l.T("up.oldest"), agoOr(l, st.OldestMS, "js.none"), "data-s", "oldest")
	h.kv(l.T("up.lastack"), agoOr(l, st.LastAckMS, "js.neverAck"), "data-s", "lastack")
	h.kv(l.T("up.diskbytes"), humanBytes(st.FileBytes), "data-s", "bytes")
	h.raw(`</dl><p class="bad small" data-s="lasterror"`)
	h.attrIf(st.LastError == "", "hidden")
	h.raw(`>`)
	h.esc(st.LastError)
	h.raw(`</p></section>`)

	h.raw(`<section class="card" id="clock"><h2>`)
	h.t("overview.clock")
	h.raw(`</h2><p>`)
	cls := "s-ok"
	if st.Clock == contract.ClockUnsynced || st.Clock == "" {
		cls = "s-warming_up"
	}
	h.state(cls, l.Or("clock."+st.Clock, st.Clock), "data-s", "clock")
	h.raw(`</p><dl class="kv">`)
	h.kv(l.T("clock.now"), clock(v.Now), "data-s", "now")
	h.kv(l.T("clock.version"), v.Version)
	h.kv(l.T("clock.boot"), v.BootID, "class", "mono small")
	h.raw(`</dl></section>`)

	h.raw(`<section class="card" id="checks"><h2>`)
	h.t("overview.checks")
	h.raw(`</h2>`)
	if len(v.Checks) == 0 {
		h.el("p", l.T("checks.none"), "class", "muted")
	}
	h.raw(`<ul class="plain">`)
	for _, c := range v.Checks {
		h.raw(`<li>`)
		checkBadge(h, c)
		h.raw(` `)
		h.esc(l.Or("check."+c.Check, c.Check) + " · " + c.Device)
		if c.Ran {
			h.raw(` · `)
			h.a(pathOf("/record/", c.RecordID), hhmm(c.At))
		}
		h.raw(`</li>`)
	}
	h.raw(`</ul><p>`)
	h.a("/checks", l.T("nav.checks")+" →")
	h.raw(`</p></section>`)

	if p := v.Progress; p != nil {
		h.raw(`<section class="card" id="lane"><h2>`)
		h.t("overview.lane")
		h.raw(`</h2>`)
		if p.Running {
			h.el("p", l.F("lane.running", p.PhaseText), "data-lane", "summary")
		} else {
			h.el("p", l.T("lane.idle"), "data-lane", "summary")
		}
		h.raw(`<p>`)
		h.a("/test", l.T("nav.test")+" →")
		h.raw(`</p></section>`)
	}
	h.raw(`</div>`)
}

// byKind lists un-acked counts per kind ("test 2 · check 1"), or "none".
func byKind(l lang, m map[string]int64) string {
	var parts []string
	for _, k := range []string{"test", "check", "repair", "event", "telemetry"} {
		if n := m[k]; n > 0 {
			parts = append(parts, l.Or("kind."+k, k)+" "+strconv.FormatInt(n, 10))
		}
	}
	if len(parts) == 0 {
		return l.T("js.none")
	}
	return strings.Join(parts, " · ")
}

// --- device -----------------------------------------------------------------------------

func viewDevice(h *hw, d deviceView, supported []string, frames []frame) {
	l := h.l
	h.raw(`<p class="small">`)
	h.a("/", "← "+l.T("nav.overview"))
	h.raw(`</p><section class="card" id="device"`)
	h.attr("data-device", d.Name)
	h.raw(`><h1>`)
	h.esc(d.Name)
	h.raw(` `)
	h.state("s-"+d.State, l.T("state."+d.State), "data-f", "state")
	h.raw(`</h1><dl class="kv">`)
	h.kv(l.T("dev.role"), d.Role)
	h.kv(l.T("dev.protocol"), d.Protocol)
	h.kv(l.T("dev.model"), d.Model)
	h.kv(l.T("dev.port"), d.Port, "class", "mono")
	h.kv(l.T("dev.poll"), d.Poll)
	h.kv(l.T("dev.opens"), strconv.Itoa(d.Opens), "data-f", "opens")
	h.kv(l.T("dev.age"), ago(l, d.AgeMS), "data-f", "age")
	status := "–"
	if len(d.Status) > 0 {
		status = ""
		for _, s := range d.Status {
			status += l.Or("status."+s, s) + " "
		}
	}
	h.kv(l.T("dev.statusbits"), status, "data-f", "status")
	h.raw(`</dl><p class="bad small" data-f="err"`)
	h.attrIf(d.Err == "", "hidden")
	h.raw(`>`)
	h.esc(d.Err)
	h.raw(`</p></section><div class="grid"><section class="card"><h2>`)
	h.t("dev.values")
	h.raw(`</h2>`)
	viewValues(h, d.Values, true)
	h.raw(`</section><section class="card"><h2>`)
	h.t("dev.commands")
	h.raw(`</h2>`)
	if len(supported) == 0 {
		h.el("p", l.T("dev.nocommands"), "class", "muted")
	} else {
		h.el("p", l.T("cmd.why"), "class", "muted small")
		h.raw(`<div class="buttons" id="commands">`)
		for _, c := range supported {
			h.raw(`<button type="button"`)
			h.attr("data-cmd", c)
			h.attrIf(!slices.Contains(d.Commands, c), "disabled")
			h.raw(`>`)
			h.t("cmd." + c)
			h.raw(`</button>`)
		}
		h.raw(`</div><p id="cmd-result" role="status"></p>`)
	}
	h.raw(`</section></div><section class="card"><h2>`)
	h.t("dev.chart")
	h.raw(`</h2><div id="charts" class="charts"`)
	h.attr("data-history", pathOf("/api/device/", d.Name)+"/history")
	h.raw(`><p class="muted">`)
	h.t("common.loading")
	h.raw(`</p></div></section><section class="card"><h2>`)
	h.t("dev.frames")
	h.raw(`</h2><ol class="frames mono small" id="frames">`)
	for _, f := range frames {
		h.raw(`<li`)
		h.attr("data-hex", f.Hex)
		h.raw(`><time>`)
		h.esc(msTime(f.T))
		h.raw(`</time> `)
		h.esc(f.Hex)
		h.raw(`</li>`)
	}
	h.raw(`</ol></section>`)
}

// --- test runner ------------------------------------------------------------------------

type testView struct {
	HasLane      bool
	Methods      []string
	Progress     progressView
	InspectionID string
	Analyzer     string
}

func input(h *hw, label, name, value string, attrs ...string) {
	h.raw(`<label>`)
	h.esc(label)
	h.raw(` <input`)
	h.attr("name", name)
	if value != "" {
		h.attr("value", value)
	}
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i+1] == "" {
			h.raw(" " + attrs[i])
			continue
		}
		h.attr(attrs[i], attrs[i+1])
	}
	h.raw(`></label>`)
}

func selectBox(h *hw, label, name string, opts []string, text func(string) string, selected string) {
	h.raw(`<label>`)
	h.esc(label)
	h.raw(` <select`)
	h.attr("name", name)
	h.raw(`>`)
	for _, o := range opts {
		h.raw(`<option`)
		h.attr("value", o)
		h.attrIf(o == selected, "selected")
		h.raw(`>`)
		h.esc(text(o))
		h.raw(`</option>`)
	}
	h.raw(`</select></label>`)
}

func viewTest(h *hw, v testView) {
	l := h.l
	if !v.HasLane {
		h.raw(`<section class="card"><h1>`)
		h.t("test.title")
		h.raw(`</h1>`)
		h.el("p", l.T("test.nolane"), "class", "muted")
		h.raw(`</section>`)
		return
	}
	p := v.Progress
	h.raw(`<div class="grid"><section class="card"><h1>`)
	h.t("test.title")
	h.raw(`</h1><form id="test-form" class="form">`)
	selectBox(h, l.T("test.method"), "method", v.Methods, func(m string) string { return l.Or("method."+m, m) }, "")
	input(h, l.T("test.insp"), "inspection_id", v.InspectionID, "required", "", "maxlength", "64")
	input(h, l.T("test.plate"), "plate", "", "required", "", "maxlength", "16", "placeholder", "苏A12345")
	input(h, l.T("test.platetype"), "plate_type", "02", "maxlength", "4")
	input(h, l.T("test.vin"), "vin", "", "maxlength", "17", "class", "mono")
	selectBox(h, l.T("test.fuel"), "fuel", []string{"gasoline", "lpg", "ng", "diesel"}, func(f string) string { return l.T("fuel." + f) }, "gasoline")
	input(h, l.T("test.gvw"), "gvw_kg", "1800", "type", "number", "min", "0", "step", "1")
	input(h, l.T("test.rm"), "rm_kg", "1400", "type", "number", "min", "0", "step", "1")
	h.raw(`<label class="check"><input name="catalyst" type="checkbox" checked> `)
	h.t("test.catalyst")
	h.raw(`</label><div class="buttons"><button type="submit" id="test-start"`)
	h.attrIf(p.Running, "disabled")
	h.raw(`>`)
	h.t("test.start")
	h.raw(`</button><button type="button" id="test-cancel" class="danger"`)
	h.attrIf(!p.Running, "disabled")
	h.raw(`>`)
	h.t("test.cancel")
	h.raw(`</button></div><p id="test-msg" role="status"></p></form></section>`)

	h.raw(`<section class="card runner" id="runner"`)
	h.attr("data-analyzer", v.Analyzer)
	h.raw(`><p class="muted">`)
	h.t("test.phase")
	h.raw(`: <span id="t-phase">`)
	if p.Phase != "" {
		h.or("ph."+p.Phase, p.Phase)
	}
	h.raw(`</span></p><p class="prompt" id="t-prompt" aria-live="polite">`)
	if p.Running {
		h.esc(p.PhaseText)
	} else {
		h.t("lane.idle")
	}
	h.raw(`</p><div class="dials">`)
	dial := func(label, id, value string) {
		h.raw(`<div>`)
		h.el("span", label, "class", "muted")
		h.el("strong", value, "id", id)
		h.raw(`</div>`)
	}
	rem, tgt := "–", "–"
	if p.Running && p.Remaining > 0 {
		rem = l.F("common.seconds", p.Remaining)
	}
	if p.Running && p.TargetRPM > 0 {
		tgt = fmtValue(p.TargetRPM)
	}
	dial(l.T("test.remaining"), "t-remaining", rem)
	dial(l.T("test.target"), "t-target", tgt)
	dial(l.T("test.rpm"), "t-rpm", "–")
	h.raw(`</div><p id="t-result"`)
	h.attrIf(p.Running || (p.Verdict == "" && p.Err == ""), "hidden")
	h.raw(`>`)
	switch {
	case p.Verdict != "":
		h.el("strong", l.F("test.result", p.VerdictText), "class", "v-"+p.Verdict, "id", "t-verdict")
		if p.AbortReason != "" {
			h.esc(" (" + p.AbortReason + ")")
		}
		h.raw(` `)
		h.a(pathOf("/record/", p.RecordID), l.T("test.open"), "id", "t-record")
	case p.Err != "":
		h.el("span", l.F("test.notstored", p.Err), "class", "bad")
	}
	h.raw(`</p>`)
	h.el("p", p.Prompt, "class", "muted small", "id", "t-raw")
	h.raw(`</section></div>`)
}

// --- self-checks ------------------------------------------------------------------------

type checksView struct {
	Checks []checkStatus
	Recent []buffer.Summary
	Busy   bool
	Error  string
}

func syncBadge(h *hw, s buffer.State, id string) {
	attrs := []string{"class", "sync sync-" + string(s)}
	if id != "" {
		attrs = append(attrs, "id", id)
	}
	h.el("span", h.l.Or("sync."+string(s), string(s)), attrs...)
}

func passText(h *hw, pass bool, id string) {
	attrs := []string{"class", "v-fail"}
	text := h.l.T("checks.failed")
	if pass {
		attrs[1], text = "v-pass", h.l.T("checks.passed")
	}
	if id != "" {
		attrs = append(attrs, "id", id)
	}
	h.el("span", text, attrs...)
}

func viewChecks(h *hw, v checksView) {
	l := h.l
	h.raw(`<section class="card"><h1>`)
	h.t("checks.title")
	h.raw(`</h1>`)
	h.el("p", l.T("checks.intro"), "class", "muted")
	if v.Busy {
		h.el("p", l.T("error.busy"), "class", "warn")
	}
	if v.Error != "" {
		h.el("p", v.Error, "class", "bad")
	}
	if len(v.Checks) == 0 {
		h.el("p", l.T("checks.none"), "class", "muted")
	} else {
		h.raw(`<table class="list" id="checks"><thead><tr>`)
		for _, k := range []string{"common.device", "record.check", "checks.today", "checks.last"} {
			h.el("th", l.T(k))
		}
		h.raw(`<th></th></tr></thead><tbody>`)
		for _, c := range v.Checks {
			h.raw(`<tr`)
			h.attr("data-check", c.Check)
			h.attr("data-device", c.Device)
			h.raw(`><td>`)
			h.a(pathOf("/device/", c.Device), c.Device)
			h.raw(`</td>`)
			h.el("td", l.Or("check."+c.Check, c.Check))
			h.raw(`<td>`)
			checkBadge(h, c, "data-f", "today")
			h.raw(`</td><td>`)
			if c.Ran {
				h.a(pathOf("/record/", c.RecordID), hhmm(c.At))
			} else {
				h.raw(`–`)
			}
			h.raw(`</td><td><button type="button"`)
			h.attr("data-run", c.Check)
			h.attr("data-device", c.Device)
			h.attrIf(v.Busy, "disabled")
			h.raw(`>`)
			h.t("common.run")
			h.raw(`</button></td></tr>`)
		}
		h.raw(`</tbody></table>`)
	}
	h.raw(`<p id="check-result" role="status"></p></section>`)
	if len(v.Recent) > 0 {
		h.raw(`<section class="card"><h2>`)
		h.t("checks.recent")
		h.raw(`</h2><table class="list"><thead><tr>`)
		for _, k := range []string{"record.seq", "common.time", "common.device", "record.check", "common.result", "records.sync"} {
			h.el("th", l.T(k))
		}
		h.raw(`</tr></thead><tbody>`)
		for _, r := range v.Recent {
			h.raw(`<tr><td>`)
			h.a(pathOf("/record/", r.ID), strconv.FormatInt(r.Seq, 10))
			h.raw(`</td>`)
			h.el("td", clock(r.Created))
			h.el("td", r.Device)
			h.el("td", l.Or("check."+r.Check, r.Check))
			h.raw(`<td>`)
			passText(h, r.Pass != nil && *r.Pass, "")
			h.raw(`</td><td>`)
			syncBadge(h, r.State, "")
			h.raw(`</td></tr>`)
		}
		h.raw(`</tbody></table></section>`)
	}
}

// --- configuration ----------------------------------------------------------------------

type configView struct {
	Path, Text, Error string
	Modified, Prev    time.Time
	CanRestart        bool
	Applied           bool
	Config            *config.Config
	Protocols, Ports  []string
}

func viewConfig(h *hw, v configView) {
	l := h.l
	h.raw(`<section class="card"><h1>`)
	h.t("config.title")
	h.raw(`</h1>`)
	if v.Path == "" {
		h.el("p", l.T("error.noconfig"), "class", "muted")
	} else {
		h.el("p", l.T("config.intro"), "class", "muted")
		h.raw(`<p>`)
		h.esc(l.T("config.file") + ": ")
		h.el("span", v.Path, "class", "mono")
		if !v.Modified.IsZero() {
			h.esc(" · " + clock(v.Modified))
		}
		h.raw(`</p>`)
		if v.Applied {
			h.el("p", l.T("config.pending"), "class", "warn", "id", "pending")
		}
		if v.Error != "" {
			h.el("p", v.Error, "class", "bad")
		}
		h.raw(`<div class="editor"><pre class="gutter" id="gutter" aria-hidden="true"></pre>`)
		h.raw(`<textarea id="toml" spellcheck="false" autocomplete="off" wrap="off" aria-label="TOML">`)
		h.esc(v.Text)
		h.raw(`</textarea></div><div class="buttons">`)
		h.el("button", l.T("config.validate"), "type", "button", "id", "cfg-validate")
		h.el("button", l.T("config.apply"), "type", "button", "id", "cfg-apply")
		h.raw(`<button type="button" id="cfg-rollback"`)
		h.attrIf(v.Prev.IsZero(), "disabled")
		h.raw(`>`)
		h.t("config.rollback")
		h.raw(`</button>`)
		if v.CanRestart {
			h.el("button", l.T("config.restart"), "type", "button", "id", "cfg-restart", "class", "danger")
		}
		h.raw(`</div><div id="cfg-result" role="status"></div>`)
	}
	h.raw(`</section><div class="grid">`)
	if v.Config != nil {
		h.raw(`<section class="card"><h2>`)
		h.t("config.devices")
		h.raw(`</h2><table class="list"><thead><tr>`)
		for _, k := range []string{"config.name", "dev.role", "dev.protocol", "dev.port"} {
			h.el("th", l.T(k))
		}
		h.raw(`</tr></thead><tbody>`)
		for _, d := range v.Config.Devices {
			h.raw(`<tr>`)
			h.el("td", d.Name)
			h.el("td", d.Role)
			h.el("td", d.Protocol)
			h.el("td", d.Port, "class", "mono small")
			h.raw(`</tr>`)
		}
		h.raw(`</tbody></table></section>`)
	}
	h.raw(`<section class="card"><h2>`)
	h.t("config.probe")
	h.raw(`</h2>`)
	h.el("p", l.T("config.probehint"), "class", "muted small")
	h.raw(`<form id="probe" class="form row">`)
	input(h, l.T("dev.port"), "port", "", "list", "ports", "class", "mono", "required", "", "placeholder", "/dev/serial/by-id/...")
	h.raw(`<datalist id="ports">`)
	for _, p := range v.Ports {
		h.raw(`<option`)
		h.attr("value", p)
		h.raw(`>`)
	}
	h.raw(`</datalist>`)
	h.el("button", l.T("config.probebtn"), "type", "submit")
	h.raw(`</form><ul class="plain" id="probe-result" role="status"></ul></section>`)

	h.raw(`<section class="card"><h2>`)
	h.t("config.adddev")
	h.raw(`</h2>`)
	h.el("p", l.T("config.adddevhint"), "class", "muted small")
	h.raw(`<form id="adddev" class="form">`)
	input(h, l.T("config.name"), "name", "", "required", "", "pattern", "[A-Za-z0-9_-]{1,64}")
	selectBox(h, l.T("dev.role"), "role", config.Roles(), func(s string) string { return s }, "")
	selectBox(h, l.T("dev.protocol"), "protocol", v.Protocols, func(s string) string { return s }, "")
	input(h, l.T("dev.port"), "port", "", "list", "ports", "class", "mono", "required", "")
	input(h, l.T("dev.model"), "model", "")
	input(h, l.T("config.baud"), "baud", "0", "type", "number", "min", "0")
	h.el("button", l.T("config.addbtn"), "type", "submit")
	h.raw(`</form></section></div>`)
}

// --- records ----------------------------------------------------------------------------

type recordsView struct {
	Form                                 map[string]string
	Error                                string
	Records                              []buffer.Summary
	Next                                 int64
	ExportQuery, OlderQuery, NewestQuery string
}

func viewRecords(h *hw, v recordsView) {
	l, f := h.l, v.Form
	h.raw(`<section class="card"><h1>`)
	h.t("records.title")
	h.raw(`</h1><form method="get" action="/records" class="form row" id="search">`)
	input(h, l.T("records.plate"), "plate", f["plate"], "maxlength", "64")
	input(h, l.T("records.vin"), "vin", f["vin"], "maxlength", "64", "class", "mono")
	input(h, l.T("records.insp"), "insp", f["insp"], "maxlength", "64")
	input(h, l.T("records.date"), "date", f["date"], "type", "date")
	selectBox(h, l.T("records.kind"), "kind", []string{"", "test", "check", "repair", "event"}, func(k string) string {
		if k == "" {
			return l.T("records.any")
		}
		return l.T("kind." + k)
	}, f["kind"])
	h.el("button", l.T("common.search"), "type", "submit")
	h.raw(`</form>`)
	if v.Error != "" {
		h.el("p", v.Error, "class", "bad", "role", "alert")
	}
	if len(v.Records) == 0 {
		if v.Error == "" {
			h.el("p", l.T("records.none"), "class", "muted")
		}
		h.raw(`</section>`)
		return
	}
	h.raw(`<p class="buttons">`)
	h.a("/records/export?"+v.ExportQuery+"&format=csv", l.T("records.exportcsv"), "class", "button", "download", "")
	h.raw(` `)
	h.a("/records/export?"+v.ExportQuery+"&format=json", l.T("records.exportjson"), "class", "button", "download", "")
	h.raw(`</p><div class="scroll"><table class="list" id="records"><thead><tr>`)
	for _, k := range []string{"record.seq", "records.stored", "records.kind", "records.plate", "records.vin", "records.insp", "records.method", "records.verdict", "records.sync"} {
		h.el("th", l.T(k))
	}
	h.raw(`</tr></thead><tbody>`)
	for _, r := range v.Records {
		h.raw(`<tr><td>`)
		h.a(pathOf("/record/", r.ID), strconv.FormatInt(r.Seq, 10))
		h.raw(`</td>`)
		h.el("td", clock(r.Created))
		h.raw(`<td>`)
		h.or("kind."+string(r.Kind), string(r.Kind))
		if r.Simulated {
			h.raw(` `)
			h.el("span", l.T("common.sim"), "class", "tag")
		}
		h.raw(`</td>`)
		h.el("td", r.Plate)
		h.el("td", r.VIN, "class", "mono")
		h.el("td", r.InspectionID)
		switch {
		case r.Method != "":
			h.el("td", l.Or("method."+r.Method, r.Method))
		case r.Check != "":
			h.el("td", l.Or("check."+r.Check, r.Check)+" · "+r.Device)
		default:
			h.raw(`<td></td>`)
		}
		h.raw(`<td>`)
		switch {
		case r.Verdict != "":
			h.el("span", l.Or("verdict."+r.Verdict, r.Verdict), "class", "v-"+r.Verdict)
		case r.Pass != nil:
			passText(h, *r.Pass, "")
		}
		h.raw(`</td><td>`)
		syncBadge(h, r.State, "")
		h.raw(`</td></tr>`)
	}
	h.raw(`</tbody></table></div><p class="buttons">`)
	if f["before"] != "" {
		h.a("/records?"+v.NewestQuery, l.T("records.newest"))
	}
	if v.Next != 0 {
		h.raw(` `)
		h.a("/records?"+v.OlderQuery, l.T("records.older"), "id", "older")
	}
	h.raw(`</p></section>`)
}

// --- one record -------------------------------------------------------------------------

type recordView struct {
	S           buffer.Summary
	Test        *contract.TestBody
	Check       *contract.CheckBody
	Event       *contract.EventBody
	Charts      []string // SVG built by svgChart from escaped parts
	DecodeError string
	Raw         string
}

func viewRecord(h *hw, v recordView) {
	l, s := h.l, v.S
	seq := strconv.FormatInt(s.Seq, 10)
	h.raw(`<section class="card"><h1>`)
	h.f("record.title", seq)
	h.raw(` `)
	h.el("span", l.Or("kind."+string(s.Kind), string(s.Kind)), "class", "muted small")
	h.raw(`</h1>`)
	if s.Simulated {
		h.el("p", l.T("common.simnote"), "class", "warn")
	}
	h.raw(`<dl class="kv">`)
	h.kv(l.T("record.id"), s.ID, "class", "mono", "id", "record-id")
	h.kv(l.T("records.stored"), clock(s.Created))
	h.el("dt", l.T("records.sync"))
	h.raw(`<dd>`)
	syncBadge(h, s.State, "sync")
	h.raw(`</dd>`)
	if !s.Acked.IsZero() {
		h.kv(l.T("record.acked"), clock(s.Acked))
	}
	h.kv(l.T("record.attempts"), strconv.Itoa(s.Attempts))
	if s.Reason != "" {
		h.kv(l.T("record.reason"), s.Reason, "class", "bad")
	}
	h.raw(`</dl><p class="buttons">`)
	h.a(pathOf("/record/", s.ID)+"/export?format=json", l.T("records.exportjson"), "class", "button", "download", "")
	h.raw(` `)
	h.a(pathOf("/record/", s.ID)+"/export?format=csv", l.T("records.exportcsv"), "class", "button", "download", "")
	h.raw(`</p></section>`)

	if b := v.Test; b != nil {
		h.raw(`<section class="card"><h2>`)
		h.or("method."+b.Method, b.Method)
		h.raw(` · `)
		h.el("span", l.Or("verdict."+b.Verdict, b.Verdict), "class", "v-"+b.Verdict, "id", "verdict")
		if b.AbortReason != "" {
			h.raw(` `)
			h.el("span", "("+l.T("record.abort")+": "+b.AbortReason+")", "class", "muted")
		}
		h.raw(`</h2><dl class="kv">`)
		h.kv(l.T("records.insp"), b.InspectionID)
		h.kv(l.T("records.plate"), b.Vehicle.Plate+" "+b.Vehicle.PlateType)
		h.kv(l.T("records.vin"), b.Vehicle.VIN, "class", "mono")
		h.kv(l.T("record.fuel"), l.Or("fuel."+b.Vehicle.Fuel, b.Vehicle.Fuel))
		h.kv(l.T("record.started"), clock(b.Started))
		h.kv(l.T("record.ended"), clock(b.Ended))
		devs := ""
		for _, d := range b.Devices {
			devs += fmt.Sprintf("%s (%s %s) ", d.Name, d.Protocol, d.Model)
		}
		h.kv(l.T("record.devices"), devs)
		h.kv(l.T("record.frames"), l.F("record.framesnote", b.Frames, b.FramesSHA256), "class", "small")
		h.raw(`</dl>`)
		if len(b.Phases) > 0 {
			h.raw(`<h3>`)
			h.t("record.phases")
			h.raw(`</h3><div class="scroll"><table class="list" id="phases"><thead><tr>`)
			for _, k := range []string{"test.phase", "record.quantity", "record.value", "record.limit", "common.result", "record.source"} {
				h.el("th", l.T(k))
			}
			h.raw(`</tr></thead><tbody>`)
			for _, p := range b.Phases {
				for _, j := range p.Judged {
					h.raw(`<tr>`)
					h.el("td", l.Or("ph."+p.Name, p.Name))
					h.el("td", l.Or("q."+j.Quantity, j.Quantity))
					h.el("td", fmtValue(j.Value))
					bound := "≥ "
					if j.Bound == "max" {
						bound = "≤ "
					}
					h.el("td", bound+fmtValue(j.Limit))
					h.raw(`<td>`)
					if j.Pass {
						h.el("span", l.T("verdict.pass"), "class", "v-pass")
					} else {
						h.el("span", l.T("verdict.fail"), "class", "v-fail")
					}
					h.raw(`</td><td class="small">`)
					h.esc(j.Standard + " " + j.Clause)
					if !j.Verified {
						h.raw(` `)
						h.el("span", "?", "class", "tag", "title", l.T("record.unverified"))
					}
					h.raw(`</td></tr>`)
				}
			}
			h.raw(`</tbody></table></div>`)
		}
		h.raw(`</section><section class="card"><h2>`)
		h.t("record.process")
		h.raw(` `)
		h.el("span", l.F("record.rows", len(b.Process.Rows)), "class", "muted small")
		h.raw(`</h2><div class="charts" id="process">`)
		h.raw(v.Charts...)
		h.raw(`</div></section>`)
	}
	if c := v.Check; c != nil {
		h.raw(`<section class="card"><h2>`)
		h.or("check."+c.Check, c.Check)
		h.raw(` · `)
		passText(h, c.Result == contract.VerdictPass, "verdict")
		h.raw(`</h2><dl class="kv">`)
		h.kv(l.T("common.device"), fmt.Sprintf("%s (%s %s)", c.Device.Name, c.Device.Protocol, c.Device.Model))
		h.kv(l.T("record.started"), clock(c.Started))
		h.kv(l.T("record.ended"), clock(c.Ended))
		if d := strings.TrimSpace(c.AbortReason + " " + c.AbortDetail); d != "" {
			h.kv(l.T("common.details"), d)
		}
		for _, it := range c.Items {
			v := fmt.Sprintf("%s (%s %s)", fmtValue(it.Measured), l.Or("q.nominal", "nominal"), fmtValue(it.Nominal))
			if it.ErrorUnit != "" {
				v += fmt.Sprintf(", %+.3g %s", it.Error, it.ErrorUnit)
			}
			if !it.Pass {
				v += " ✗"
			}
			h.kv(l.Or("q."+it.Name, it.Name), v)
		}
		h.raw(`</dl></section>`)
	}
	if e := v.Event; e != nil {
		h.raw(`<section class="card">`)
		h.el("h2", e.Event)
		h.el("p", e.Detail)
		h.raw(`<dl class="kv">`)
		keys := make([]string, 0, len(e.Attrs))
		for k := range e.Attrs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			h.kv(k, e.Attrs[k], "class", "mono small")
		}
		h.raw(`</dl></section>`)
	}
	if v.DecodeError != "" {
		h.el("p", v.DecodeError, "class", "bad")
	}
	if v.Raw != "" {
		h.raw(`<section class="card"><details><summary>`)
		h.t("record.raw")
		h.raw(`</summary>`)
		h.el("pre", v.Raw, "class", "raw")
		h.raw(`</details></section>`)
	}
}
