// Package console is the technicians' local web console, served by the agent itself: the
// lane's devices with live values, the uplink and backlog, the clock, the daily
// self-checks, the configuration (validate, apply, roll back, probe a port), the stored
// records with their process data, and a test runner.
//
// Everything it needs is embedded in the binary (HTML templates, one stylesheet, one
// script, no framework, no web fonts, no CDN), so it works on a lane with no internet.
// The UI speaks Simplified Chinese by default and English on request.
//
// # Access
//
// Clients are told apart by the address their TCP connection comes from; forwarding
// headers are never trusted. A client from beyond loopback must log in with the password
// whose hash is console.password_hash; without a hash configured, such clients are refused.
// A client on loopback (a browser on the box, or an SSH tunnel) gets in without the
// password only if console.allow_loopback_without_password is set, and then only with a
// loopback Host header (against DNS rebinding). Sessions are random 256-bit tokens in an
// HttpOnly, SameSite=Strict cookie, kept in memory (a restart logs everybody out). Every
// state-changing request must carry the session's CSRF token and, if the browser sends
// one, a same-origin Origin. Logins are rate-limited per client address and overall, and
// the limit is checked before the password is hashed.
//
// The agent may also serve the console's API on a Unix socket in its data directory
// (mode 0600); requests on it are trusted, since only root (or the agent's user) can
// connect. The CLI (`imagent check run`, `imagent config apply`) uses it to reach a running
// agent that owns the serial ports.
package console

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"imagent/agent/lane"
	"imagent/agent/station"
	"imagent/agent/uplink"
	"imagent/buffer"
	"imagent/config"
)

// Committer stores a record durably (record.Maker.Commit).
type Committer func(ctx context.Context, kind string, body any, simulated bool) (buffer.Msg, error)

// Options wire the console to a running agent. Listen and the config's password settings
// decide who gets in; everything else is what the pages show and drive. Nil parts are
// shown as absent.
type Options struct {
	Listen                       string // host:port; "" serves no TCP listener
	Socket                       string // path of the trusted Unix socket; "" for none
	PasswordHash                 string // console.password_hash
	AllowLoopbackWithoutPassword bool

	Station, LaneName, Version, BootID string

	Devices []*station.Device
	Uplink  interface{ State() uplink.State }
	Broker  string         // shown with the uplink state
	Outbox  *buffer.Outbox // the agent's outbox, for stats
	// Records is a read-only handle on the same outbox for searches and exports
	// (buffer.OpenReadOnly), so a long search never delays a commit. Default: Outbox.
	Records  *buffer.Outbox
	Lane     *lane.Lane // nil: the lane runs no tests
	Commit   Committer
	Checkers []Checker
	Prober   Prober
	Clock    func() string // clock quality (contract.Clock*)

	ConfigPath string   // the station configuration file; "" hides the editor
	Protocols  []string // protocol names the agent knows, for validation
	// CheckConfig, if set, runs the agent's own checks on a configuration that parsed
	// (unknown protocols, TLS files…) before it is applied.
	CheckConfig func(c *config.Config) error
	// Restart, if set, restarts the agent on the applied configuration. It returns an error
	// when the agent cannot restart now.
	Restart func() error
	// Simulated flags every record the console makes (checks) as simulated.
	Simulated bool

	Log *slog.Logger
	Now func() time.Time // default time.Now
}

// Server is the console. Create it with New; Run serves it.
type Server struct {
	o         Options
	hash      config.PasswordHash
	log       *slog.Logger
	now       func() time.Time
	static    http.Handler
	assets    fs.FS
	assetURLs map[string]string

	sessions *sessions
	limiter  *loginLimiter
	verify   chan struct{} // one PBKDF2 verification at a time
	live     *liveState
	stats    *statsCache

	mu      sync.Mutex
	addr    net.Addr      // the TCP listener's address once Run listens
	ready   chan struct{} // closed once Run has listened (or failed to)
	agent   context.Context
	applied bool // a configuration was applied since start: a restart is needed
	checkMu sync.Mutex
}

// New checks o and builds the console; nothing listens until Run.
func New(o Options) (*Server, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Records == nil {
		o.Records = o.Outbox
	}
	s := &Server{o: o, log: o.Log, now: o.Now, ready: make(chan struct{}), verify: make(chan struct{}, 1)}
	if o.PasswordHash != "" {
		h, err := config.ParsePasswordHash(o.PasswordHash)
		if err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
		s.hash = h
	}
	if o.Listen != "" {
		if _, _, err := net.SplitHostPort(o.Listen); err != nil {
			return nil, fmt.Errorf("console: listen %q: %w", o.Listen, err)
		}
	}
	var err error
	if s.assets, err = fs.Sub(embedded, "assets"); err != nil {
		return nil, fmt.Errorf("console: assets: %w", err)
	}
	if s.assetURLs, err = assetURLs(); err != nil {
		return nil, err
	}
	s.static = staticHandler(s.assets)
	s.sessions = newSessions(o.Now)
	s.limiter = newLoginLimiter(o.Now)
	s.live = newLiveState(o.Devices)
	s.stats = &statsCache{ob: o.Records, now: o.Now}
	return s, nil
}

// Addr returns the address the console listens on, once Run has started listening (nil if
// it has no TCP listener or could not listen). It waits for Run to get that far or ctx.
func (s *Server) Addr(ctx context.Context) net.Addr {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Run serves the console until ctx is done. A listener that cannot be opened is logged at
// once and left out; Run returns those errors when it ends. ctx is also the lifetime of what the console
// starts (a test, a check): they outlive the request that started them.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	s.agent = ctx
	s.mu.Unlock()
	var lns []struct {
		ln      net.Listener
		trusted bool
	}
	var errs []error
	if s.o.Listen != "" {
		ln, err := net.Listen("tcp", s.o.Listen)
		if err != nil {
			err = fmt.Errorf("console: listen %s: %w", s.o.Listen, err)
			s.log.Error("console not served on TCP", "err", err)
			errs = append(errs, err)
		} else {
			ln = limitListener(ln, maxConns)
			lns = append(lns, struct {
				ln      net.Listener
				trusted bool
			}{ln, false})
			s.mu.Lock()
			s.addr = ln.Addr()
			s.mu.Unlock()
			s.log.Info("console listening", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String()+"/")
		}
	}
	if s.o.Socket != "" {
		ln, err := listenSocket(s.o.Socket)
		if err != nil {
			s.log.Error("console not served on its socket", "err", err)
			errs = append(errs, err)
		} else {
			lns = append(lns, struct {
				ln      net.Listener
				trusted bool
			}{ln, true})
		}
	}
	close(s.ready)
	if len(lns) == 0 {
		return errors.Join(errs...)
	}

	var wg sync.WaitGroup
	wg.Go(func() { s.live.run(ctx) })
	for _, l := range lns {
		srv := &http.Server{
			Handler:           s.handler(l.trusted),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			BaseContext:       func(net.Listener) context.Context { return ctx },
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		}
		wg.Go(func() {
			err := srv.Serve(l.ln)
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("console stopped serving", "err", err)
			}
		})
		wg.Go(func() {
			<-ctx.Done()
			// Request contexts derive from ctx, so live streams end at once; Shutdown then
			// only waits for requests that are finishing.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				srv.Close()
			}
		})
	}
	wg.Wait()
	if s.o.Socket != "" {
		_ = os.Remove(s.o.Socket)
	}
	return errors.Join(errs...)
}

// Handler returns the console's HTTP handler for clients on the TCP listener (tests
// serve it themselves).
func (s *Server) Handler() http.Handler { return s.handler(false) }

// agentCtx is the lifetime of things the console starts.
func (s *Server) agentCtx() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.agent == nil {
		return context.Background()
	}
	return s.agent
}

// listenSocket listens on the trusted Unix socket, mode 0600. A socket file left by a
// dead agent is replaced; one a live agent answers on is not.
func listenSocket(path string) (net.Listener, error) {
	if len(path) > 104 {
		return nil, fmt.Errorf("console: socket path %s is too long for a Unix socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("console: %s: another agent is already serving on it", path)
	}
	_ = os.Remove(path)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("console: socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("console: socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("console: socket: %w", err)
	}
	return ln, nil
}

// maxConns bounds the console's open TCP connections: it is for a few technicians.
const maxConns = 64

type limitedListener struct {
	net.Listener
	sem chan struct{}
}

func limitListener(ln net.Listener, n int) net.Listener {
	return &limitedListener{Listener: ln, sem: make(chan struct{}, n)}
}

func (l *limitedListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: sync.OnceFunc(func() { <-l.sem })}, nil
}

type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
