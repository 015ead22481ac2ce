package console

import (
	"bytes"
	"html"
	"net/http"
	"time"
)

// The pages are written by Go functions on hw rather than with html/template: the
// template package makes the linker keep every exported method of every type in the
// binary (it calls methods by name through reflect), which costs the agent about 1.6 MB.
//
// hw escapes everything it is given except the markup passed to raw, which must be a
// literal or markup this package built from escaped parts (the SVG charts).

// hw writes one HTML page in one language.
type hw struct {
	b bytes.Buffer
	l lang
}

// raw writes trusted markup.
func (h *hw) raw(s ...string) {
	for _, x := range s {
		h.b.WriteString(x)
	}
}

// esc writes text, escaped for element content and quoted attribute values alike.
func (h *hw) esc(s string) { h.b.WriteString(html.EscapeString(s)) }

// t writes the text of a catalog key, escaped.
func (h *hw) t(key string) { h.esc(h.l.T(key)) }

// f writes the formatted text of a catalog key, escaped.
func (h *hw) f(key string, args ...any) { h.esc(h.l.F(key, args...)) }

// or writes the text of key, or fallback if the catalog lacks it.
func (h *hw) or(key, fallback string) { h.esc(h.l.Or(key, fallback)) }

// attr writes ` name="value"` with value escaped.
func (h *hw) attr(name, value string) {
	h.b.WriteString(" " + name + `="`)
	h.esc(value)
	h.b.WriteString(`"`)
}

// attrIf writes a boolean attribute when on.
func (h *hw) attrIf(on bool, name string) {
	if on {
		h.b.WriteString(" " + name)
	}
}

// a writes a link with escaped href and text.
func (h *hw) a(href, text string, attrs ...string) {
	h.raw("<a")
	h.attr("href", href)
	for i := 0; i+1 < len(attrs); i += 2 {
		h.attr(attrs[i], attrs[i+1])
	}
	h.raw(">")
	h.esc(text)
	h.raw("</a>")
}

// el writes <tag attrs>text</tag> with the text escaped.
func (h *hw) el(tag, text string, attrs ...string) {
	h.raw("<", tag)
	for i := 0; i+1 < len(attrs); i += 2 {
		h.attr(attrs[i], attrs[i+1])
	}
	h.raw(">")
	h.esc(text)
	h.raw("</", tag, ">")
}

// kv writes one term and its description of a <dl class="kv">.
func (h *hw) kv(term, value string, ddAttrs ...string) {
	h.el("dt", term)
	h.el("dd", value, ddAttrs...)
}

// state writes a state badge.
func (h *hw) state(class, text string, attrs ...string) {
	h.el("span", text, append([]string{"class", "state " + class}, attrs...)...)
}

// page is what the layout shows around a page's content.
type page struct {
	nav, title string
	csrf       string
	free       bool   // a password-free loopback session: no logout
	path       string // this page's URL with its query, ready for "lang=" to be added
}

// render writes a whole page: the layout around body.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, nav, title string, body func(h *hw)) {
	l := langOf(w, r)
	p := page{nav: nav, title: title}
	q := r.URL.Query()
	q.Del("lang")
	p.path = r.URL.Path + "?"
	if enc := q.Encode(); enc != "" {
		p.path += enc + "&"
	}
	if sess := sessionOf(r); sess != nil {
		p.csrf, p.free = sess.csrf, sess.loopback
	}
	h := &hw{l: l}
	s.layout(h, p, body)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(h.b.Bytes())
}

func (s *Server) layout(h *hw, p page, body func(h *hw)) {
	l := h.l
	h.raw(`<!doctype html>`, "\n", `<html`)
	h.attr("lang", l.Code())
	h.raw(`><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`)
	h.raw(`<meta name="csrf"`)
	h.attr("content", p.csrf)
	h.raw(`><title>`)
	h.esc(p.title + " · imagent")
	h.raw(`</title><link rel="icon" href="data:,"><link rel="stylesheet"`)
	h.attr("href", s.assetURLs["app.css"])
	h.raw(`><script`)
	h.attr("src", s.assetURLs["app.js"])
	h.raw(` defer></script><script type="application/json" id="i18n">`)
	h.raw(l.JSON())
	h.raw(`</script></head>`, "\n", `<body`)
	h.attr("data-page", p.nav)
	h.raw(`><a class="skip" href="#main">`)
	h.t("nav.skip")
	h.raw(`</a><header class="top"><div class="brand"><strong>imagent</strong>`)
	if s.o.Station != "" {
		h.raw(` <span class="muted">`)
		h.f("app.station", s.o.Station, s.o.LaneName)
		h.raw(`</span>`)
	}
	h.raw(`</div>`)
	if p.csrf != "" {
		h.raw(`<nav>`)
		for _, n := range []struct{ href, key string }{{"/", "nav.overview"}, {"/test", "nav.test"},
			{"/records", "nav.records"}, {"/checks", "nav.checks"}, {"/config", "nav.config"}} {
			cur := map[string][]string{"nav.overview": {"overview", "device"}, "nav.test": {"test"},
				"nav.records": {"records", "record"}, "nav.checks": {"checks"}, "nav.config": {"config"}}[n.key]
			h.raw(`<a`)
			h.attr("href", n.href)
			for _, c := range cur {
				if c == p.nav {
					h.raw(` aria-current="page"`)
				}
			}
			h.raw(`>`)
			h.t(n.key)
			h.raw(`</a>`)
		}
		h.raw(`</nav>`)
	}
	h.raw(`<div class="tools">`)
	h.a(p.path+"lang="+l.Other(), l.T("nav.lang"), "id", "lang")
	if p.csrf != "" && !p.free {
		h.raw(`<form method="post" action="/logout"><input type="hidden" name="csrf"`)
		h.attr("value", p.csrf)
		h.raw(`><button class="link" type="submit">`)
		h.t("nav.logout")
		h.raw(`</button></form>`)
	}
	h.raw(`</div></header>`, "\n", `<p id="live" class="live" hidden></p>`, "\n", `<main id="main">`, "\n")
	body(h)
	h.raw("\n", `</main><footer class="muted">imagent `)
	h.esc(s.o.Version)
	h.raw(`</footer></body></html>`, "\n")
}

func clock(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") }
func hhmm(t time.Time) string  { return t.Local().Format("15:04") }
func msTime(ms int64) string   { return time.UnixMilli(ms).Local().Format("15:04:05.000") }
