// imagent console: a little vanilla JavaScript on top of server-rendered pages.
// Live data arrives over server-sent events from /api/events; every state-changing call
// carries the session's CSRF token.
"use strict";
(function () {
  const $ = (s, r) => (r || document).querySelector(s);
  const $$ = (s, r) => Array.from((r || document).querySelectorAll(s));
  const I18N = JSON.parse(($("#i18n") || {}).textContent || "{}");
  const t = (k) => (k in I18N ? I18N[k] : k);
  const f = (k, ...a) => { let i = 0; return t(k).replace(/%[ds]/g, () => String(a[i++])); };
  const csrf = ($('meta[name="csrf"]') || {}).content || "";
  const page = document.body.dataset.page;
  const SVGNS = "http://www.w3.org/2000/svg";

  function fmtv(v) {
    const a = Math.abs(v);
    if (a === 0) return "0";
    if (a >= 1000) return v.toFixed(0);
    if (a >= 100) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    return v.toFixed(3);
  }
  function ago(ms) {
    if (ms < 0) return t("js.never");
    if (ms < 120000) return f("js.agoS", Math.floor(ms / 1000));
    return f("js.agoM", Math.floor(ms / 60000));
  }
  function qname(q) { return ("q." + q) in I18N ? t("q." + q) : q; }
  const ORDER = ["rpm", "hc_ppm", "co_pct", "co2_pct", "o2_pct", "no_ppm", "nox_ppm", "lambda", "lambda_analyzer",
    "oil_temp_c", "opacity_pct", "k_m1", "speed_kmh", "force_n", "power_kw", "temp_c", "rh_pct", "pressure_kpa"];
  function sortQ(qs) {
    const r = (q) => { const i = ORDER.indexOf(q); return i < 0 ? 1000 : i; };
    return qs.sort((a, b) => r(a) - r(b) || (a < b ? -1 : 1));
  }
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  async function call(url, body, text) {
    const opts = { method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
    if (body !== undefined) {
      opts.body = text ? body : JSON.stringify(body);
      opts.headers["Content-Type"] = text ? "text/plain; charset=utf-8" : "application/json";
    }
    const r = await fetch(url, opts);
    let j = {};
    try { j = await r.json(); } catch (e) { j = { ok: false, message: r.status + " " + r.statusText }; }
    if (j.ok === undefined) j.ok = r.ok;
    j.status = r.status;
    return j;
  }
  function say(node, msg, ok) {
    if (!node) return;
    node.textContent = msg || "";
    node.className = ok === false ? "bad" : ok === true ? "ok" : "";
  }

  // ---- live values -------------------------------------------------------------------
  function setState(node, state) {
    if (!node) return;
    node.textContent = t("state." + state);
    node.className = "state s-" + state;
  }
  function setValues(dl, values) {
    if (!dl || !values) return;
    const qs = sortQ(Object.keys(values));
    const ex = $$("div", dl);
    if (ex.length !== qs.length) {
      dl.textContent = "";
      for (const q of qs) {
        const d = el("div");
        d.append(el("dt", {}, qname(q)), el("dd", { "data-q": q }));
        dl.append(d);
      }
    }
    $$("div", dl).forEach((d, i) => {
      const dd = $("dd", d);
      dd.dataset.q = qs[i];
      $("dt", d).textContent = qname(qs[i]);
      dd.textContent = fmtv(values[qs[i]]);
    });
  }
  function showDevice(v) {
    for (const box of $$('[data-device="' + CSS.escape(v.name) + '"]')) {
      setState($('[data-f="state"]', box), v.state);
      const age = $('[data-f="age"]', box);
      if (age) age.textContent = ago(v.age_ms);
      const err = $('[data-f="err"]', box);
      if (err) { err.textContent = v.err || ""; err.hidden = !v.err; }
      const opens = $('[data-f="opens"]', box);
      if (opens) opens.textContent = v.opens;
      const st = $('[data-f="status"]', box);
      if (st) st.textContent = (v.status || []).map((s) => t("status." + s)).join(" ") || "–";
    }
    for (const dl of $$('[data-device="' + CSS.escape(v.name) + '"] [data-f="values"]')) setValues(dl, v.values);
    if (page === "device" && $("#device") && $("#device").dataset.device === v.name) {
      for (const b of $$("#commands button")) b.disabled = busy || !(v.commands || []).includes(b.dataset.cmd);
    }
  }
  function showStatus(s) {
    const set = (k, v) => { const n = $('[data-s="' + k + '"]'); if (n) n.textContent = v; };
    const c = $('[data-s="connected"]');
    if (c) { c.textContent = t(s.connected ? "js.up" : "js.down"); c.className = "state " + (s.connected ? "s-ok" : "s-error"); }
    set("pending", s.pending); set("sent", s.sent); set("rejected", s.rejected);
    const kinds = ["test", "check", "repair", "event", "telemetry"].filter((k) => (s.by_kind || {})[k] > 0);
    set("bykind", kinds.length ? kinds.map((k) => t("kind." + k) + " " + s.by_kind[k]).join(" · ") : t("js.none"));
    set("oldest", s.oldest_ms < 0 ? t("js.none") : ago(s.oldest_ms));
    set("lastack", s.last_ack_ms < 0 ? t("js.neverAck") : ago(s.last_ack_ms));
    const le = $('[data-s="lasterror"]');
    if (le) { le.textContent = s.last_error || ""; le.hidden = !s.last_error; }
    const now = $('[data-s="now"]');
    if (now) now.textContent = new Date(s.now).toLocaleString("zh-CN", { hour12: false });
  }
  let busy = false;

  function connect(handlers) {
    const banner = $("#live");
    let es;
    const open = () => {
      es = new EventSource("/api/events");
      es.onopen = () => { banner.hidden = true; };
      es.onerror = () => { banner.textContent = t("js.disconnected"); banner.hidden = false; };
      for (const ev in handlers) es.addEventListener(ev, (e) => handlers[ev](JSON.parse(e.data)));
    };
    open();
    window.addEventListener("beforeunload", () => es.close());
  }

  // ---- device chart ------------------------------------------------------------------
  const chart = { samples: [], windowMs: 300000, now: 0, boxes: {} };
  function drawCharts() {
    const root = $("#charts");
    if (!root) return;
    const qs = sortQ(Array.from(new Set(chart.samples.flatMap((s) => Object.keys(s.v)))));
    if (!qs.length) return;
    if ($("p", root)) root.textContent = "";
    const end = chart.now || (chart.samples.length ? chart.samples[chart.samples.length - 1].t : Date.now());
    // The last five minutes, or since the first sample if that is more recent.
    const first = chart.samples.length ? chart.samples[0].t : end;
    const start = Math.max(end - chart.windowMs, Math.min(first, end - 10000));
    const span = end - start;
    for (const q of qs) {
      let box = chart.boxes[q];
      if (!box) {
        const svg = document.createElementNS(SVGNS, "svg");
        svg.setAttribute("viewBox", "0 0 640 150");
        svg.setAttribute("class", "chart");
        svg.dataset.q = q;
        const mk = (tag, a) => { const e = document.createElementNS(SVGNS, tag); for (const k in a) e.setAttribute(k, a[k]); svg.append(e); return e; };
        mk("text", { class: "ct", x: 52, y: 14 }).textContent = qname(q);
        mk("rect", { class: "cf", x: 52, y: 22, width: 580, height: 108 });
        box = { svg, hi: mk("text", { class: "ca", x: 48, y: 30, "text-anchor": "end" }),
          lo: mk("text", { class: "ca", x: 48, y: 130, "text-anchor": "end" }),
          xl: mk("text", { class: "ca", x: 52, y: 146 }), xr: mk("text", { class: "ca", x: 632, y: 146, "text-anchor": "end" }),
          line: mk("polyline", { class: "cp", points: "" }) };
        box.xr.textContent = "0";
        chart.boxes[q] = box;
        root.append(svg);
      }
      box.xl.textContent = span >= 120000 ? "-" + Math.round(span / 60000) + " min" : "-" + Math.round(span / 1000) + " s";
      const pts = chart.samples.filter((s) => s.t >= start && q in s.v);
      if (!pts.length) { box.line.setAttribute("points", ""); continue; }
      let lo = Infinity, hi = -Infinity;
      for (const p of pts) { lo = Math.min(lo, p.v[q]); hi = Math.max(hi, p.v[q]); }
      box.hi.textContent = fmtv(hi); box.lo.textContent = fmtv(lo);
      if (hi === lo) { hi += 1; lo -= 1; }
      const pad = (hi - lo) * 0.08; hi += pad; lo -= pad;
      box.line.setAttribute("points", pts.map((p) =>
        (52 + (p.t - start) / span * 580).toFixed(1) + "," + (22 + (hi - p.v[q]) / (hi - lo) * 108).toFixed(1)).join(" "));
    }
  }
  function addFrame(v) {
    const ol = $("#frames");
    if (!ol || !v.raw) return;
    const first = ol.firstElementChild;
    if (first && first.dataset.hex === v.raw) return;
    const li = el("li");
    li.dataset.hex = v.raw;
    const at = new Date(Date.now() - v.age_ms);
    li.append(el("time", {}, at.toLocaleTimeString("zh-CN", { hour12: false }) + "." + String(at.getMilliseconds()).padStart(3, "0")), document.createTextNode(" " + v.raw));
    ol.prepend(li);
    while (ol.children.length > 40) ol.lastElementChild.remove();
  }

  // ---- pages -------------------------------------------------------------------------
  function overview() {
    connect({
      tick: (d) => { d.devices.forEach(showDevice); showStatus(d.status); },
      device: showDevice,
      lane: (p) => {
        const s = $('[data-lane="summary"]');
        if (s) s.textContent = p.running ? f("js.laneRunning", p.phase_text) : t("js.laneIdle");
      },
    });
  }

  function device() {
    const box = $("#device");
    const name = box.dataset.device;
    const hist = $("#charts").dataset.history;
    fetch(hist, { credentials: "same-origin" }).then((r) => r.json()).then((h) => {
      chart.samples = h.samples || [];
      chart.windowMs = h.window_ms || 300000;
      chart.now = h.now;
      drawCharts();
    });
    let lastT = 0;
    connect({
      tick: (d) => {
        busy = d.status.lane_running;
        d.devices.forEach(showDevice);
        chart.now = d.status.now;
        drawCharts();
      },
      device: (v) => {
        showDevice(v);
        if (v.name !== name) return;
        addFrame(v);
        if (!v.values) return;
        const at = Date.now() - v.age_ms;
        if (at - lastT >= 500) {
          lastT = at;
          chart.samples.push({ t: at, v: v.values });
          const cut = at - chart.windowMs;
          while (chart.samples.length && chart.samples[0].t < cut) chart.samples.shift();
          chart.now = at;
          drawCharts();
        }
      },
    });
    for (const b of $$("#commands button")) {
      b.addEventListener("click", async () => {
        if (!confirm(f("js.confirm", b.textContent))) return;
        const out = $("#cmd-result");
        $$("#commands button").forEach((x) => { x.disabled = true; });
        say(out, t("js.running"));
        try {
          const r = await call("/api/device/" + encodeURIComponent(name) + "/command", { command: b.dataset.cmd });
          say(out, r.message, r.ok && (!r.result || r.result.pass));
        } catch (e) { say(out, t("js.failed") + e, false); }
      });
    }
  }

  function checks() {
    for (const b of $$("button[data-run]")) {
      b.addEventListener("click", async () => {
        const out = $("#check-result");
        $$("button[data-run]").forEach((x) => { x.disabled = true; });
        say(out, t("js.checkRunning"));
        try {
          const r = await call("/api/checks/run", { check: b.dataset.run, device: b.dataset.device });
          say(out, r.message, r.ok && r.result && r.result.pass);
          if (r.ok && r.result) {
            const row = b.closest("tr");
            const s = $('[data-f="today"]', row);
            s.textContent = t(r.result.pass ? "js.passed" : "js.failedCheck");
            s.className = "state " + (r.result.pass ? "s-ok" : "s-error");
            const link = el("a", { href: "/record/" + encodeURIComponent(r.result.record_id) }, new Date(r.result.ended).toLocaleTimeString("zh-CN", { hour12: false, hour: "2-digit", minute: "2-digit" }));
            const cell = row.children[3];
            cell.textContent = "";
            cell.append(link);
          }
        } catch (e) { say(out, t("js.failed") + e, false); }
        $$("button[data-run]").forEach((x) => { x.disabled = false; });
      });
    }
  }

  function config() {
    const ta = $("#toml");
    if (!ta) return;
    const gutter = $("#gutter");
    const lines = () => {
      const n = ta.value.split("\n").length;
      let s = "";
      for (let i = 1; i <= n; i++) s += i + "\n";
      gutter.textContent = s;
      gutter.scrollTop = ta.scrollTop;
    };
    ta.addEventListener("input", lines);
    ta.addEventListener("scroll", () => { gutter.scrollTop = ta.scrollTop; });
    lines();
    const out = $("#cfg-result");
    const goLine = (n) => {
      const ls = ta.value.split("\n");
      let a = 0;
      for (let i = 0; i < n - 1 && i < ls.length; i++) a += ls[i].length + 1;
      ta.focus();
      ta.setSelectionRange(a, a + (ls[n - 1] || "").length);
      ta.scrollTop = Math.max(0, (n - 5) * parseFloat(getComputedStyle(ta).lineHeight));
    };
    const list = (title, items, cls) => {
      if (!items || !items.length) return;
      out.append(el("p", { class: cls }, title));
      const ul = el("ul", { class: "problems" });
      for (const p of items) {
        const li = el("li", { class: cls });
        if (p.line > 0) {
          const a = el("a", { "data-line": p.line }, f("js.line", p.line));
          a.addEventListener("click", () => goLine(p.line));
          li.append(a, document.createTextNode(": "));
        }
        li.append(document.createTextNode((p.key ? p.key + ": " : "") + p.msg));
        ul.append(li);
      }
      out.append(ul);
    };
    const show = (r) => {
      out.textContent = "";
      if (r.problems && r.problems.length) list(f("js.problems", r.problems.length), r.problems, "bad");
      else if (r.message) out.append(el("p", { class: r.ok ? "ok" : "bad", id: "cfg-message" }, r.message));
      list(t("js.warnings"), r.warnings, "muted");
      const firstLine = (r.problems || []).find((p) => p.line > 0);
      if (firstLine) goLine(firstLine.line);
      if (r.applied) {
        const rb = $("#cfg-rollback");
        if (rb) rb.disabled = false;
      }
    };
    $("#cfg-validate").addEventListener("click", async () => show(await call("/api/config/validate", ta.value, true)));
    $("#cfg-apply").addEventListener("click", async () => {
      const v = await call("/api/config/validate", ta.value, true);
      show(v);
      if (!v.ok || !confirm(t("js.confirmApply"))) return;
      show(await call("/api/config/apply", ta.value, true));
    });
    $("#cfg-rollback").addEventListener("click", async () => {
      if (!confirm(t("js.confirmRollback"))) return;
      const r = await call("/api/config/rollback");
      show(r);
      if (r.ok) setTimeout(() => location.reload(), 800);
    });
    const rs = $("#cfg-restart");
    if (rs) rs.addEventListener("click", async () => {
      if (!confirm(t("js.confirmRestart"))) return;
      const r = await call("/api/agent/restart");
      show(r);
      if (r.ok) setTimeout(() => location.reload(), 4000);
    });

    $("#probe").addEventListener("submit", async (e) => {
      e.preventDefault();
      const port = e.target.port.value.trim();
      const ul = $("#probe-result");
      ul.textContent = "";
      ul.append(el("li", {}, t("js.probing")));
      const r = await call("/api/probe", { port });
      ul.textContent = "";
      if (r.message) ul.append(el("li", { class: r.ok ? "" : "bad" }, r.message));
      for (const p of r.results || []) {
        const li = el("li", { class: p.found ? "ok" : "muted" }, p.protocol + " @" + p.baud + ": " + (p.found ? f("js.found", p.detail || "") : t("js.notfound") + (p.detail ? " (" + p.detail + ")" : "")));
        if (p.found) {
          const b = el("button", { type: "button" }, t("js.use"));
          b.addEventListener("click", () => { const fm = $("#adddev"); fm.protocol.value = p.protocol; fm.port.value = port; fm.name.focus(); });
          li.append(document.createTextNode(" "), b);
        }
        ul.append(li);
      }
    });
    $("#adddev").addEventListener("submit", (e) => {
      e.preventDefault();
      const fm = e.target;
      const q = (s) => JSON.stringify(s);
      let block = "\n[[device]]\nname = " + q(fm.name.value.trim()) + "\nrole = " + q(fm.role.value) +
        "\nprotocol = " + q(fm.protocol.value) + "\nport = " + q(fm.port.value.trim()) + "\n";
      if (fm.model.value.trim()) block += "model = " + q(fm.model.value.trim()) + "\n";
      if (+fm.baud.value > 0) block += "baud = " + (+fm.baud.value) + "\n";
      // A [[device]] block must come before any later table, or its keys would land there.
      const m = /^\[(?!\[)(methods|console)\]/m.exec(ta.value);
      if (m) ta.value = ta.value.slice(0, m.index) + block.slice(1) + "\n" + ta.value.slice(m.index);
      else ta.value += block;
      lines();
      goLine(ta.value.slice(0, m ? m.index : ta.value.length - block.length + 1).split("\n").length + 1);
    });
  }

  function test() {
    const form = $("#test-form");
    if (!form) return;
    const start = $("#test-start"), cancel = $("#test-cancel"), msg = $("#test-msg");
    const analyzer = $("#runner").dataset.analyzer;
    let lastRun = 0;
    const show = (p) => {
      start.disabled = p.running;
      cancel.disabled = !p.running;
      $("#t-phase").textContent = p.phase ? (("ph." + p.phase) in I18N ? t("ph." + p.phase) : p.phase) : "";
      $("#t-prompt").textContent = p.running ? (p.phase_text || p.prompt || t("js.running")) : t("js.laneIdle");
      $("#t-remaining").textContent = p.running && p.remaining ? f("js.seconds", p.remaining) : "–";
      $("#t-target").textContent = p.running && p.target_rpm ? fmtv(p.target_rpm) : "–";
      $("#t-raw").textContent = p.prompt || "";
      const res = $("#t-result");
      res.textContent = "";
      res.hidden = p.running || (!p.verdict && !p.err);
      if (!p.running && p.verdict) {
        res.append(el("strong", { class: "v-" + p.verdict, id: "t-verdict" }, f("js.testResult", p.verdict_text)));
        if (p.abort_reason) res.append(document.createTextNode(" (" + p.abort_reason + ")"));
        res.append(document.createTextNode(" "), el("a", { href: "/record/" + encodeURIComponent(p.record_id), id: "t-record" }, t("js.openRecord")));
      } else if (!p.running && p.err) {
        res.append(el("span", { class: "bad" }, f("js.notStored", p.err)));
      }
      if (!p.running && p.run_id && p.run_id !== lastRun) {
        // A finished test: the next vehicle gets a new inspection number.
        lastRun = p.run_id;
        const d = new Date(), z = (n) => String(n).padStart(2, "0");
        form.inspection_id.value = "T" + d.getFullYear() + z(d.getMonth() + 1) + z(d.getDate()) + z(d.getHours()) + z(d.getMinutes()) + z(d.getSeconds());
      }
    };
    connect({
      lane: show,
      device: (v) => { if (v.name === analyzer && v.values && "rpm" in v.values) $("#t-rpm").textContent = fmtv(v.values.rpm); },
      tick: () => {},
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = {
        method: form.method.value, inspection_id: form.inspection_id.value.trim(), plate: form.plate.value.trim(),
        plate_type: form.plate_type.value.trim(), vin: form.vin.value.trim(), fuel: form.fuel.value,
        gvw_kg: +form.gvw_kg.value || 0, rm_kg: +form.rm_kg.value || 0, catalyst: form.catalyst.checked,
      };
      start.disabled = true;
      const r = await call("/api/test/start", body);
      say(msg, r.ok ? "" : r.message, r.ok ? undefined : false);
      if (!r.ok) start.disabled = false;
    });
    cancel.addEventListener("click", async () => {
      if (!confirm(t("js.confirmCancel"))) return;
      cancel.disabled = true;
      const r = await call("/api/test/cancel");
      if (r.test) show(r.test);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    ({ overview, device, checks, config, test }[page] || (() => {}))();
  });
})();
