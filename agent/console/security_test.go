package console

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// testHash is a password hash with the fewest iterations config accepts, to keep tests fast.
const testPassword = "lane-3 technician"

var testHashOnce = sync.OnceValues(func() (string, error) { return HashPassword(testPassword, 100_000) })

func testHash(t *testing.T) string {
	t.Helper()
	h, err := testHashOnce()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// fakeClock is a settable clock for the rate limiter and sessions.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newServer(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// request runs one request through the handler as if it came from remote.
func request(h http.Handler, method, target, remote string, body io.Reader, hdr map[string]string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, body)
	// A stream (/api/events) let in by mistake must end the test, not hang it.
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	r = r.WithContext(ctx)
	r.RemoteAddr = remote
	// A client may send any Host; a loopback one proves the peer's address decides.
	r.Host = "localhost:8080"
	for k, v := range hdr {
		if k == "Host" {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	for _, c := range cookies {
		if c != nil {
			r.AddCookie(c)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func cookie(w *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf" content="([^"]+)">`)
var loginToken = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login logs in from remote and returns the session cookie and its CSRF token.
func login(t *testing.T, h http.Handler, remote, password string) (*httptest.ResponseRecorder, *http.Cookie, string) {
	t.Helper()
	page := request(h, "GET", "/login", remote, nil, nil)
	m := loginToken.FindStringSubmatch(page.Body.String())
	lc := cookie(page, loginCookie)
	if m == nil || lc == nil {
		t.Fatalf("login page has no form token (status %d)", page.Code)
	}
	form := url.Values{"password": {password}, "csrf": {m[1]}, "next": {"/"}}
	w := request(h, "POST", "/login", remote, strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, lc)
	sc := cookie(w, sessionCookie)
	if sc == nil || sc.Value == "" {
		return w, nil, ""
	}
	home := request(h, "GET", "/", remote, nil, nil, sc)
	mm := csrfMeta.FindStringSubmatch(home.Body.String())
	if mm == nil {
		t.Fatalf("no CSRF token on the overview after login (status %d)", home.Code)
	}
	return w, sc, mm[1]
}

const lan = "192.168.10.23:51000"
const local = "127.0.0.1:51000"

// TestBeyondLoopbackNeedsPassword: a client from beyond loopback gets nothing without the
// password, even when loopback clients need none; with no password configured it cannot
// get in at all.
func TestBeyondLoopbackNeedsPassword(t *testing.T) {
	free := newServer(t, Options{AllowLoopbackWithoutPassword: true}).Handler()
	for _, p := range []string{"/", "/config", "/records", "/device/analyzer", "/record/x", "/records/export?format=json", "/record/x/export"} {
		if w := request(free, "GET", p, lan, nil, nil); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login") {
			t.Errorf("LAN GET %s without a password configured: %d %s", p, w.Code, w.Header().Get("Location"))
		}
	}
	for _, p := range []string{"/api/status", "/api/events", "/api/device/analyzer/history", "/api/checks"} {
		if w := request(free, "GET", p, lan, nil, nil); w.Code != http.StatusUnauthorized {
			t.Errorf("LAN GET %s: %d", p, w.Code)
		}
	}
	if w := request(free, "GET", "/login", lan, nil, nil); !strings.Contains(w.Body.String(), `id="nologin"`) || strings.Contains(w.Body.String(), `type="password"`) {
		t.Error("the LAN login page offers a login although no password is configured")
	}
	if w := request(free, "POST", "/login", lan, strings.NewReader("password=x"), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); w.Code != http.StatusForbidden {
		t.Errorf("LAN login without a configured password: %d", w.Code)
	}
	// The same server lets a loopback client in without a password…
	w := request(free, "GET", "/", local, nil, map[string]string{"Host": "127.0.0.1:8080"})
	sc := cookie(w, sessionCookie)
	if w.Code != http.StatusOK || sc == nil {
		t.Fatalf("loopback client, password-free allowed: %d", w.Code)
	}
	// …but that session is worth nothing from the LAN.
	if w := request(free, "GET", "/api/status", lan, nil, nil, sc); w.Code != http.StatusUnauthorized {
		t.Errorf("a password-free loopback session replayed from the LAN: %d", w.Code)
	}
	// A page from elsewhere that rebinds its DNS name to 127.0.0.1 gets no free session.
	if w := request(free, "GET", "/api/status", local, nil, map[string]string{"Host": "evil.example:8080"}); w.Code != http.StatusUnauthorized {
		t.Errorf("loopback client with a foreign Host: %d", w.Code)
	}
	// Forwarding headers are not believed.
	if w := request(free, "GET", "/api/status", lan, nil, map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"}); w.Code != http.StatusUnauthorized {
		t.Errorf("LAN client claiming loopback in headers: %d", w.Code)
	}

	// With a password: the LAN client must log in, and then gets in.
	locked := newServer(t, Options{PasswordHash: testHash(t)}).Handler()
	if w := request(locked, "GET", "/api/status", lan, nil, nil); w.Code != http.StatusUnauthorized {
		t.Errorf("LAN before login: %d", w.Code)
	}
	if _, sc, _ := login(t, locked, lan, "wrong password"); sc != nil {
		t.Error("a wrong password gave a session")
	}
	_, sc, _ = login(t, locked, lan, testPassword)
	if sc == nil {
		t.Fatal("the right password gave no session")
	}
	if w := request(locked, "GET", "/api/status", lan, nil, nil, sc); w.Code != http.StatusOK {
		t.Errorf("LAN after login: %d", w.Code)
	}
	// Loopback needs the password too unless the configuration says otherwise.
	if w := request(locked, "GET", "/api/status", local, nil, nil); w.Code != http.StatusUnauthorized {
		t.Errorf("loopback without allow_loopback_without_password: %d", w.Code)
	}
}

// TestBeyondLoopbackOverTCP checks the same over real sockets: the console is served on a
// non-loopback address of this machine and the client connects from that address, so the
// server sees a peer beyond loopback exactly as it would a laptop on the LAN. 127.0.0.2
// (loopback, though not 127.0.0.1) is let in password-free.
func TestBeyondLoopbackOverTCP(t *testing.T) {
	h := newServer(t, Options{AllowLoopbackWithoutPassword: true}).Handler()
	get := func(t *testing.T, ip netip.Addr, path string) int {
		t.Helper()
		ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
		if err != nil {
			t.Skipf("cannot listen on %s: %v", ip, err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln) //nolint:errcheck // ends with Close
		defer srv.Close()
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport:     &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: ip.AsSlice()}}).DialContext}}
		req, err := http.NewRequest("GET", "http://"+ln.Addr().String()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "127.0.0.1:8080" // claims loopback; the peer's address decides
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("loopback", func(t *testing.T) {
		for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
			if code := get(t, netip.MustParseAddr(ip), "/api/status"); code != http.StatusOK {
				t.Errorf("from %s: %d, want 200", ip, code)
			}
		}
	})
	t.Run("lan", func(t *testing.T) {
		ip, ok := lanAddr()
		if !ok {
			t.Skip("this machine has no non-loopback IPv4 address to serve on; TestBeyondLoopbackNeedsPassword covers the rule")
		}
		if code := get(t, ip, "/api/status"); code != http.StatusUnauthorized {
			t.Errorf("from %s (beyond loopback): %d, want 401", ip, code)
		}
		if code := get(t, ip, "/"); code != http.StatusSeeOther {
			t.Errorf("page from %s: %d, want a redirect to the login", ip, code)
		}
	})
}

func lanAddr() (netip.Addr, bool) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, false
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			ip := p.Addr()
			if ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
				return ip, true
			}
		}
	}
	return netip.Addr{}, false
}

// TestLoginRateLimited: wrong passwords are limited per client (the right password is
// refused too while limited), other clients are not, and a global ceiling holds across
// addresses. Time is a fake clock.
func TestLoginRateLimited(t *testing.T) {
	clk := &fakeClock{t: time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)}
	h := newServer(t, Options{PasswordHash: testHash(t), Now: clk.Now}).Handler()
	outcome := func(w *httptest.ResponseRecorder) string {
		if cookie(w, sessionCookie) != nil {
			return "ok"
		}
		loc := w.Header().Get("Location")
		switch {
		case strings.Contains(loc, "e=wrong"):
			return "wrong"
		case strings.Contains(loc, "e=ratelimited"):
			return "limited"
		}
		return "other " + w.Result().Status
	}
	a := "192.168.10.30:40000"
	for i := range ipBurst {
		if w, _, _ := login(t, h, a, "guess"); outcome(w) != "wrong" {
			t.Fatalf("attempt %d: %s", i+1, outcome(w))
		}
	}
	w, _, _ := login(t, h, a, "guess")
	if outcome(w) != "limited" {
		t.Fatalf("attempt %d: %s, want limited", ipBurst+1, outcome(w))
	}
	if ra := w.Header().Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After %q", ra)
	}
	if w, _, _ := login(t, h, a, testPassword); outcome(w) != "limited" {
		t.Errorf("right password while limited: %s", outcome(w))
	}
	if w, _, _ := login(t, h, "192.168.10.31:40000", testPassword); outcome(w) != "ok" {
		t.Errorf("another client: %s", outcome(w))
	}
	clk.Add(ipEvery)
	if w, _, _ := login(t, h, a, testPassword); outcome(w) != "ok" {
		t.Errorf("after waiting: %s", outcome(w))
	}

	// The global ceiling: attempts from many addresses run out too.
	clk.Add(time.Hour)
	h = newServer(t, Options{PasswordHash: testHash(t), Now: clk.Now}).Handler()
	limited := 0
	for i := range globalBurst + 5 {
		w, _, _ := login(t, h, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(i + 1)}), 5000).String(), "guess")
		if outcome(w) == "limited" {
			limited++
		}
	}
	if limited != 5 {
		t.Errorf("%d of %d attempts from distinct addresses limited, want 5", limited, globalBurst+5)
	}
}

// TestCSRF: a state-changing call needs the session's token, and a same-origin Origin.
func TestCSRF(t *testing.T) {
	h := newServer(t, Options{PasswordHash: testHash(t)}).Handler()
	w, sc, tok := login(t, h, lan, testPassword)
	if sc == nil {
		t.Fatal("no session")
	}
	if !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode {
		t.Errorf("session cookie flags: HttpOnly=%v SameSite=%v", sc.HttpOnly, sc.SameSite)
	}
	if !strings.Contains(w.Header().Get("Set-Cookie"), "HttpOnly") {
		t.Error("Set-Cookie lacks HttpOnly")
	}
	body := func() io.Reader { return strings.NewReader("[station]\n") }
	ct := map[string]string{"Content-Type": "text/plain"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{"Content-Type": "text/plain"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, c := range []struct {
		name string
		path string
		hdr  map[string]string
		want int
	}{
		{"no token", "/api/config/validate", ct, http.StatusForbidden},
		{"wrong token", "/api/config/validate", with(map[string]string{csrfHeader: "x" + tok}), http.StatusForbidden},
		{"token, foreign origin", "/api/config/validate", with(map[string]string{csrfHeader: tok, "Origin": "http://evil.example"}), http.StatusForbidden},
		{"token, cross-site fetch", "/api/config/validate", with(map[string]string{csrfHeader: tok, "Sec-Fetch-Site": "cross-site"}), http.StatusForbidden},
		{"no token: start a test", "/api/test/start", ct, http.StatusForbidden},
		{"no token: run a check", "/api/checks/run", ct, http.StatusForbidden},
		{"no token: device command", "/api/device/analyzer/command", ct, http.StatusForbidden},
		{"no token: apply", "/api/config/apply", ct, http.StatusForbidden},
		{"no token: rollback", "/api/config/rollback", ct, http.StatusForbidden},
		{"no token: restart", "/api/agent/restart", ct, http.StatusForbidden},
		{"no token: probe", "/api/probe", ct, http.StatusForbidden},
		{"no token: logout", "/logout", ct, http.StatusForbidden},
		{"token", "/api/config/validate", with(map[string]string{csrfHeader: tok, "Origin": "http://example.com"}), http.StatusOK},
	} {
		r := httptest.NewRequest("POST", "http://example.com"+c.path, body())
		r.RemoteAddr = lan
		for k, v := range c.hdr {
			r.Header.Set(k, v)
		}
		r.AddCookie(sc)
		rw := httptest.NewRecorder()
		h.ServeHTTP(rw, r)
		if rw.Code != c.want {
			t.Errorf("%s: %d, want %d (%s)", c.name, rw.Code, c.want, strings.TrimSpace(rw.Body.String()))
		}
	}
	// The login form has its own token (double-submitted in a cookie).
	form := url.Values{"password": {testPassword}, "next": {"/"}}
	if w := request(h, "POST", "/login", "192.168.10.77:1", strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); w.Code != http.StatusForbidden || cookie(w, sessionCookie) != nil {
		t.Errorf("login without its form token: %d", w.Code)
	}
	// Even a password-free loopback session needs the token.
	free := newServer(t, Options{AllowLoopbackWithoutPassword: true}).Handler()
	first := request(free, "GET", "/", local, nil, map[string]string{"Host": "127.0.0.1:8080"})
	if w := request(free, "POST", "/api/config/validate", local, body(), map[string]string{"Host": "127.0.0.1:8080", "Content-Type": "text/plain"}, cookie(first, sessionCookie)); w.Code != http.StatusForbidden {
		t.Errorf("password-free session without a token: %d", w.Code)
	}
	if w := request(free, "POST", "/api/config/validate", local, body(), map[string]string{"Host": "127.0.0.1:8080", "Content-Type": "text/plain"}); w.Code != http.StatusUnauthorized {
		t.Errorf("loopback POST without any session: %d", w.Code)
	}
}

func TestSessionsExpire(t *testing.T) {
	clk := &fakeClock{t: time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)}
	h := newServer(t, Options{PasswordHash: testHash(t), Now: clk.Now}).Handler()
	_, sc, _ := login(t, h, lan, testPassword)
	if sc == nil {
		t.Fatal("no session")
	}
	clk.Add(sessionIdle - time.Minute)
	if w := request(h, "GET", "/api/status", lan, nil, nil, sc); w.Code != http.StatusOK {
		t.Fatalf("session before the idle limit: %d", w.Code)
	}
	clk.Add(sessionIdle + time.Second)
	if w := request(h, "GET", "/api/status", lan, nil, nil, sc); w.Code != http.StatusUnauthorized {
		t.Errorf("session after the idle limit: %d", w.Code)
	}
	// Logout ends a session.
	_, sc, tok := login(t, h, lan, testPassword)
	form := url.Values{"csrf": {tok}}
	request(h, "POST", "/logout", lan, strings.NewReader(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, sc)
	if w := request(h, "GET", "/api/status", lan, nil, nil, sc); w.Code != http.StatusUnauthorized {
		t.Errorf("session after logout: %d", w.Code)
	}
}

func TestPasswordHashing(t *testing.T) {
	h := testHash(t)
	if !strings.HasPrefix(h, "$pbkdf2-sha256$i=100000$") {
		t.Fatalf("hash %q", h)
	}
	h2, err := HashPassword(testPassword, 100_000)
	if err != nil || h2 == h {
		t.Fatalf("two hashes of one password are equal (no random salt?): %v", err)
	}
	for _, c := range []struct {
		pw   string
		want bool
	}{{testPassword, true}, {testPassword + " ", false}, {"", false}, {strings.ToUpper(testPassword), false}} {
		s := newServer(t, Options{PasswordHash: h})
		if ok, err := checkPassword(s.hash, c.pw); ok != c.want || err != nil {
			t.Errorf("check %q: %v %v", c.pw, ok, err)
		}
	}
	if _, err := HashPassword("short", DefaultIterations); err == nil {
		t.Error("a 5-character password was accepted")
	}
	if _, err := HashPassword(testPassword, 1000); err == nil {
		t.Error("1000 iterations accepted")
	}
	if _, err := New(Options{PasswordHash: "plain-text-password"}); err == nil {
		t.Error("a plain-text password_hash was accepted")
	}
}

// BenchmarkPasswordCheck measures one login's PBKDF2 at the default work factor.
func BenchmarkPasswordCheck(b *testing.B) {
	h, err := HashPassword(testPassword, DefaultIterations)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{PasswordHash: h})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _ := checkPassword(s.hash, testPassword); !ok {
			b.Fatal("mismatch")
		}
	}
}

// TestTrustedSocket: the Unix socket serves the API without session or token; the TCP
// listener of the same server does not.
func TestTrustedSocket(t *testing.T) {
	dir := t.TempDir()
	sock := dir + "/console.sock"
	s := newServer(t, Options{Socket: sock, Listen: "127.0.0.1:0", PasswordHash: testHash(t)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	addr := s.Addr(ctx)
	if addr == nil {
		t.Fatal("no TCP listener")
	}
	uc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := uc.Post("http://imagent/api/config/validate", "text/plain", strings.NewReader("[station]\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("socket POST without token: %d", resp.StatusCode)
	}
	resp, err = http.Post("http://"+addr.String()+"/api/config/validate", "text/plain", strings.NewReader("[station]\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("TCP POST without session: %d", resp.StatusCode)
	}
	// A second console on the same socket is refused while the first serves.
	s2 := newServer(t, Options{Socket: sock})
	if err := s2.Run(ctx); err == nil || !strings.Contains(err.Error(), "already serving") {
		t.Errorf("second console on a live socket: %v", err)
	}
}
