package console

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed assets
var embedded embed.FS

// handler routes the console. Pages and the API sit behind guard; the login form and the
// static assets (which hold nothing private) do not.
func (s *Server) handler(trustedListener bool) http.Handler {
	mux := http.NewServeMux()
	g := func(h http.HandlerFunc) http.Handler { return s.guard(h) }
	mux.Handle("GET /static/", s.static)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.Handle("POST /logout", g(s.logout))

	mux.Handle("GET /{$}", g(s.pageOverview))
	mux.Handle("GET /device/{name}", g(s.pageDevice))
	mux.Handle("GET /test", g(s.pageTest))
	mux.Handle("GET /records", g(s.pageRecords))
	mux.Handle("GET /records/export", g(s.exportRecords))
	mux.Handle("GET /record/{id}", g(s.pageRecord))
	mux.Handle("GET /record/{id}/export", g(s.exportRecord))
	mux.Handle("GET /checks", g(s.pageChecks))
	mux.Handle("GET /config", g(s.pageConfig))

	mux.Handle("GET /api/events", g(s.events))
	mux.Handle("GET /api/status", g(s.apiStatus))
	mux.Handle("GET /api/device/{name}/history", g(s.apiHistory))
	mux.Handle("POST /api/device/{name}/command", g(s.apiCommand))
	mux.Handle("GET /api/checks", g(s.apiChecks))
	mux.Handle("POST /api/checks/run", g(s.apiCheckRun))
	mux.Handle("POST /api/config/validate", g(s.apiConfigValidate))
	mux.Handle("POST /api/config/apply", g(s.apiConfigApply))
	mux.Handle("POST /api/config/rollback", g(s.apiConfigRollback))
	mux.Handle("POST /api/agent/restart", g(s.apiRestart))
	mux.Handle("POST /api/probe", g(s.apiProbe))
	mux.Handle("POST /api/test/start", g(s.apiTestStart))
	mux.Handle("POST /api/test/cancel", g(s.apiTestCancel))
	mux.Handle("/", g(s.notFound))

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Everything comes from this box: the policy forbids loading anything from elsewhere,
		// inline scripts, and framing.
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin") // "no-referrer" would make browsers send "Origin: null"
		if trustedListener {
			r = r.WithContext(context.WithValue(r.Context(), keyTrusted, true))
		}
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.apiError(w, r, http.StatusNotFound, "error.notfound")
}

// apiError answers with a JSON error for the API and script calls, and with an error page
// for a browser navigating.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, status int, key string, args ...any) {
	l := langOf(nil, r)
	msg := l.T(key)
	if len(args) > 0 {
		if strings.Contains(msg, "%") {
			msg = fmt.Sprintf(msg, args...)
		} else {
			msg += " " + fmt.Sprint(args...)
		}
	}
	if !strings.HasPrefix(r.URL.Path, "/api/") && strings.Contains(r.Header.Get("Accept"), "text/html") {
		s.render(w, r, status, "error", strconv.Itoa(status), func(h *hw) { viewError(h, status, msg) })
		return
	}
	writeJSON(w, status, map[string]any{"ok": false, "error": key, "message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// readJSON decodes a small JSON request body strictly.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("console: request body: %w", err)
	}
	if dec.More() {
		return errors.New("console: request body: trailing data")
	}
	return nil
}

// assetURLs maps each static file to a URL carrying its content hash, so browsers may
// cache it for good and still get a new version after an upgrade.
func assetURLs() (map[string]string, error) {
	m := map[string]string{}
	err := fs.WalkDir(embedded, "assets/static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := embedded.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		name := path.Base(p)
		m[name] = "/static/" + name + "?v=" + hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: assets: %w", err)
	}
	return m, nil
}

func staticHandler(assets fs.FS) http.Handler {
	sub, _ := fs.Sub(assets, "static")
	files := http.FileServerFS(sub)
	return http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") != "" {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	}))
}

// AssetBytes is the total size of the console's static files (the page-weight budget is
// 300 KB).
func AssetBytes() (int64, error) {
	var n int64
	err := fs.WalkDir(embedded, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := embedded.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		c, err := io.Copy(io.Discard, f)
		n += c
		return err
	})
	return n, err
}

func fmtValue(v float64) string {
	switch a := abs(v); {
	case a == 0:
		return "0"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func humanBytes(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 10<<10:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// agoOr is ago, with the text of key when there is nothing to date.
func agoOr(l lang, ms int64, key string) string {
	if ms < 0 {
		return l.T(key)
	}
	return ago(l, ms)
}

// ago formats a millisecond age for the page's first paint (the script keeps it current).
func ago(l lang, ms int64) string {
	switch {
	case ms < 0:
		return l.T("js.never")
	case ms < 120_000:
		return fmt.Sprintf(l.T("js.agoS"), ms/1000)
	}
	return fmt.Sprintf(l.T("js.agoM"), ms/60_000)
}
