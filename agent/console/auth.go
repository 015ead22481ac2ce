package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Session limits.
const (
	sessionIdle    = 30 * time.Minute
	sessionMax     = 12 * time.Hour
	maxSessions    = 128
	sessionCookie  = "imagent_session"
	loginCookie    = "imagent_login" // double-submit token of the login form
	csrfHeader     = "X-CSRF-Token"
	csrfFormField  = "csrf"
	tokenBytes     = 32
	loginBodyLimit = 4 << 10
)

type session struct {
	id, csrf string
	// loopback marks a session created without a password for a loopback client; it is
	// worth nothing from any other address.
	loopback      bool
	created, seen time.Time
}

type sessions struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*session
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, m: map[string]*session{}}
}

func token() string {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on Linux ≥ 3.17; a console without randomness must
		// not hand out guessable sessions.
		panic("console: crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (ss *sessions) create(loopback bool) *session {
	now := ss.now()
	s := &session{id: token(), csrf: token(), loopback: loopback, created: now, seen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.expire(now)
	if len(ss.m) >= maxSessions {
		var oldest *session
		for _, x := range ss.m {
			if oldest == nil || x.seen.Before(oldest.seen) {
				oldest = x
			}
		}
		delete(ss.m, oldest.id)
	}
	ss.m[s.id] = s
	return s
}

// get returns the live session with id, touching it.
func (ss *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	if s == nil {
		return nil
	}
	if now.Sub(s.seen) > sessionIdle || now.Sub(s.created) > sessionMax {
		delete(ss.m, id)
		return nil
	}
	s.seen = now
	c := *s
	return &c
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, id)
}

func (ss *sessions) expire(now time.Time) {
	for id, s := range ss.m {
		if now.Sub(s.seen) > sessionIdle || now.Sub(s.created) > sessionMax {
			delete(ss.m, id)
		}
	}
}

// clientAddr is the address of the TCP peer. Headers such as X-Forwarded-For are ignored
// on purpose: they are whatever the client wants them to be.
func clientAddr(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// fromLoopback reports whether the request came over the loopback interface.
func fromLoopback(r *http.Request) bool {
	a, ok := clientAddr(r)
	return ok && a.IsLoopback()
}

// loopbackHost reports whether the Host header names this box by a loopback name, so a
// page from another site that rebinds its DNS name to 127.0.0.1 gets no password-free
// session.
func loopbackHost(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

type ctxKey int

const (
	keySession ctxKey = iota
	keyTrusted
)

func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(keySession).(*session)
	return s
}

func trusted(r *http.Request) bool {
	t, _ := r.Context().Value(keyTrusted).(bool)
	return t
}

// access is what a client may do without logging in.
type access int

const (
	accessPassword access = iota // must log in with the password
	accessFree                   // loopback, password-free allowed: gets a session at once
	accessNone                   // cannot get in at all (beyond loopback, no password configured)
)

func (s *Server) accessFor(r *http.Request) access {
	loop := fromLoopback(r)
	switch {
	case loop && s.o.AllowLoopbackWithoutPassword && loopbackHost(r.Host):
		return accessFree
	case s.hash.Iterations == 0:
		return accessNone
	}
	return accessPassword
}

func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// guard admits a request with a session valid for its client, or creates one where no
// password is needed, and checks the CSRF token on every state-changing request.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if trusted(r) {
			next.ServeHTTP(w, r)
			return
		}
		var sess *session
		if c, err := r.Cookie(sessionCookie); err == nil {
			sess = s.sessions.get(c.Value)
			if sess != nil && sess.loopback && (!fromLoopback(r) || s.accessFor(r) != accessFree) {
				sess = nil // a password-free session is worth nothing elsewhere
			}
		}
		if sess == nil {
			if s.accessFor(r) != accessFree || !safeMethod(r.Method) {
				s.denied(w, r)
				return
			}
			sess = s.sessions.create(true)
			setSessionCookie(w, sess.id)
		}
		if !safeMethod(r.Method) {
			if !sameOrigin(r) {
				s.apiError(w, r, http.StatusForbidden, "error.origin")
				return
			}
			got := r.Header.Get(csrfHeader)
			if got == "" {
				got = r.PostFormValue(csrfFormField)
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) != 1 {
				s.apiError(w, r, http.StatusForbidden, "error.csrf")
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keySession, sess)))
	})
}

// sameOrigin rejects a request whose Origin (sent by browsers on cross-site and on
// state-changing requests) is not this console; a missing Origin passes (CLI tools), the
// CSRF token still has to match.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return r.Header.Get("Sec-Fetch-Site") == "" || r.Header.Get("Sec-Fetch-Site") == "same-origin" || r.Header.Get("Sec-Fetch-Site") == "none"
	}
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, r.Host)
}

func (s *Server) denied(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") || !safeMethod(r.Method) {
		s.apiError(w, r, http.StatusUnauthorized, "error.login")
		return
	}
	http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

func setSessionCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// loginPage shows the password form, or says why this client cannot log in.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	a := s.accessFor(r)
	if a == accessFree {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	tok := token()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: tok, Path: "/login", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	v := loginView{CanLogin: a == accessPassword, Loopback: fromLoopback(r), Next: safeNext(r.URL.Query().Get("next")),
		Token: tok, Error: r.URL.Query().Get("e")}
	s.render(w, r, http.StatusOK, "login", langOf(nil, r).T("login.title"), func(h *hw) { viewLogin(h, v) })
}

// login checks the password: rate limit first, then the double-submitted form token, then
// PBKDF2 (one at a time).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, loginBodyLimit)
	next := safeNext(r.PostFormValue("next"))
	if s.accessFor(r) == accessNone {
		s.apiError(w, r, http.StatusForbidden, "login.nopassword")
		return
	}
	if !sameOrigin(r) {
		s.apiError(w, r, http.StatusForbidden, "error.origin")
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue(csrfFormField))) != 1 || c.Value == "" {
		s.apiError(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	ip, _ := clientAddr(r)
	if ok, wait := s.limiter.allow(ip); !ok {
		secs := int(wait/time.Second) + 1
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.log.Warn("console login rate-limited", "client", ip.String())
		http.Redirect(w, r, "/login?e=ratelimited&next="+url.QueryEscape(next), http.StatusSeeOther)
		return
	}
	select {
	case s.verify <- struct{}{}:
	case <-r.Context().Done():
		return
	}
	ok, err := checkPassword(s.hash, r.PostFormValue("password"))
	<-s.verify
	if err != nil {
		s.log.Error("console login", "err", err)
	}
	if !ok {
		s.log.Warn("console login failed", "client", ip.String())
		http.Redirect(w, r, "/login?e=wrong&next="+url.QueryEscape(next), http.StatusSeeOther)
		return
	}
	s.limiter.succeeded(ip)
	sess := s.sessions.create(false)
	setSessionCookie(w, sess.id)
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/login", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	s.log.Info("console login", "client", ip.String())
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if sess := sessionOf(r); sess != nil {
		s.sessions.remove(sess.id)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this site.
func safeNext(n string) string {
	if n == "" || !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.ContainsAny(n, "\\\r\n") {
		return "/"
	}
	return n
}
