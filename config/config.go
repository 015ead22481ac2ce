package config

import (
	_ "embed"
	"fmt"
	"maps"
	"math"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Config is the station configuration file.
type Config struct {
	Station Station  `toml:"station"`
	Agent   Agent    `toml:"agent"`
	MQTT    MQTT     `toml:"mqtt"`
	Devices []Device `toml:"device"` // [[device]]
	Methods Methods  `toml:"methods"`
	Console Console  `toml:"console"`
	Buffer  Buffer   `toml:"buffer"`
}

// Buffer is the outbox on disk (buffer.Opts).
type Buffer struct {
	QuotaMB   int      `toml:"quota_mb"`    // outbox pages in use + WAL; default 1024
	Retention Duration `toml:"retention"`   // acked records kept, in uptime; default 720h (30 days)
	MinFreeMB int      `toml:"min_free_mb"` // free space kept on the filesystem; default 64
}

// Station identifies the station and lane; ID and Lane make up the MQTT
// topics (im/v1/{station}/{lane}/...).
type Station struct {
	ID     string `toml:"id"`     // e.g. "3201020001"
	Lane   string `toml:"lane"`   // e.g. "L1"
	Kind   string `toml:"kind"`   // "i-station" (inspection, default) or "m-station" (repair)
	Region string `toml:"region"` // names a limits override; "national" (default) means none
}

// Agent holds process-wide settings.
type Agent struct {
	DataDir  string `toml:"data_dir"`  // default "/var/lib/imagent"
	LogLevel string `toml:"log_level"` // debug, info (default), warn, error
}

// MQTT is the uplink to the regional platform's broker.
type MQTT struct {
	Broker         string   `toml:"broker"`    // tcp://, ssl://, tls://, mqtts://, ws:// or wss://host:port
	ClientID       string   `toml:"client_id"` // default "{station}-{lane}"
	Username       string   `toml:"username"`
	Password       string   `toml:"password"`
	TLS            TLS      `toml:"tls"`
	KeepAlive      Duration `toml:"keep_alive"`      // default 30s
	AckTimeout     Duration `toml:"ack_timeout"`     // default 60s
	Window         int      `toml:"window"`          // in-flight QoS 1 messages, default 32
	ConnectTimeout Duration `toml:"connect_timeout"` // default 10s
	BackoffMin     Duration `toml:"backoff_min"`     // default 1s
	BackoffMax     Duration `toml:"backoff_max"`     // default 2m
	AuthBackoff    Duration `toml:"auth_backoff"`    // retry after an auth/TLS refusal; default 10m
	StallAfter     Duration `toml:"stall_after"`     // connected, backlog, no ack → reconnect; default 10m
	RateRecords    float64  `toml:"rate_records"`    // backlog drain, records/s; default 100; 0 = unlimited
	RateBytes      int      `toml:"rate_bytes"`      // backlog drain, wire bytes/s; default 524288; 0 = unlimited
}

// TLS names the PEM files for a TLS connection to the broker.
type TLS struct {
	CA                 string `toml:"ca"`
	Cert               string `toml:"cert"`
	Key                string `toml:"key"`
	InsecureSkipVerify bool   `toml:"insecure_skip_verify"`
}

// Device is one serial instrument of the lane.
type Device struct {
	Name     string         `toml:"name"`     // unique, e.g. "analyzer"
	Role     string         `toml:"role"`     // see Roles
	Protocol string         `toml:"protocol"` // e.g. "gas/nanhua"; checked against LoadOpts.Protocols
	Port     string         `toml:"port"`     // /dev/serial/by-id/..., or "sim:..." for a simulator
	Baud     int            `toml:"baud"`     // 0 = protocol default
	Model    string         `toml:"model"`    // e.g. "NHA-503"
	Poll     Duration       `toml:"poll"`     // default 500ms
	Options  map[string]any `toml:"options"`  // protocol-specific, decoded strictly by the driver registry
}

// Methods selects how the regulated test methods are judged.
type Methods struct {
	Stage             string `toml:"stage"` // limit column: "a" (default) or "b"
	SelfCheckRequired bool   `toml:"self_check_required"`
}

// Console is the technicians' local web console (agent/console).
type Console struct {
	Listen string `toml:"listen"` // host:port, default "127.0.0.1:8080"
	// PasswordHash is printed by `imagent console passwd` (PBKDF2-SHA256). Without it no
	// client from beyond loopback gets in.
	PasswordHash string `toml:"password_hash"`
	// AllowLoopbackWithoutPassword lets clients on this box itself (a browser on the box,
	// an SSH tunnel) in without the password. Off by default.
	AllowLoopbackWithoutPassword bool `toml:"allow_loopback_without_password"`
}

// Roles returns the device roles a configuration may use.
func Roles() []string {
	return []string{"analyzer", "opacimeter", "dyno", "tachometer", "weather", "flowmeter", "display"}
}

// Bauds returns the baud rates a device may be configured with (0 means the
// protocol's default).
func Bauds() []int {
	return []int{1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 230400}
}

// Defaults applied to zero values.
const (
	DefaultDataDir        = "/var/lib/imagent"
	DefaultLogLevel       = "info"
	DefaultKind           = "i-station"
	DefaultRegion         = "national"
	DefaultWindow         = 32
	DefaultKeepAlive      = 30 * time.Second
	DefaultAckTimeout     = 60 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultBackoffMin     = time.Second
	DefaultBackoffMax     = 2 * time.Minute
	DefaultAuthBackoff    = 10 * time.Minute
	DefaultStallAfter     = 10 * time.Minute
	DefaultRateRecords    = 100
	DefaultRateBytes      = 512 << 10
	DefaultQuotaMB        = 1024
	DefaultRetention      = 30 * 24 * time.Hour
	DefaultMinFreeMB      = 64
	DefaultPoll           = 500 * time.Millisecond
	DefaultStage          = "a"
	DefaultListen         = "127.0.0.1:8080"

	// SimPortPrefix marks a port served by a simulator rather than a serial
	// device; the demo replaces it with the path of a pseudo-terminal.
	SimPortPrefix = "sim:"
)

// LoadOpts tunes Load and Parse.
type LoadOpts struct {
	// Protocols lists the known protocol names; nil means don't check.
	Protocols []string
	// Warn, if set, receives things that are allowed but probably wrong,
	// such as a device addressed as /dev/ttyUSB0 (which changes with the
	// order of plugging). Warnings never make loading fail; they are
	// reported whether or not the file has errors.
	Warn func(Problem)
}

//go:embed default.toml
var defaultTOML []byte

// DefaultTOML returns the text of the embedded demo configuration.
func DefaultTOML() []byte { return slices.Clone(defaultTOML) }

// Default returns the embedded demo configuration (station DEMO01, lane L1,
// one simulated NHA-503 analyzer, broker on localhost), validated and with
// defaults applied. Each call returns a new value.
func Default() *Config {
	c, err := Parse("default.toml", defaultTOML, LoadOpts{})
	if err != nil {
		panic("config: the embedded default.toml is invalid: " + err.Error()) // caught by TestDefault
	}
	return c
}

// Load reads and parses the configuration file at path.
func Load(path string, o LoadOpts) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, o)
}

// Parse decodes and validates a configuration; name is used in error
// messages. Unknown keys, values of the wrong type and invalid values are
// all reported at once in an *Errors.
func Parse(name string, data []byte, o LoadOpts) (*Config, error) {
	var c Config
	r := decodeStrict(data, &c)
	if r.complete {
		c.applyDefaults()
		var warns problems
		r.problems = c.validate(o.Protocols, &warns).keep(r.problems, r)
		if o.Warn != nil {
			for _, w := range r.locate(warns.keep(nil, r)) {
				o.Warn(w)
			}
		}
	}
	if len(r.problems) > 0 {
		return nil, r.errors(name)
	}
	return &c, nil
}

// locate gives each problem the position of its key.
func (r *decodeResult) locate(list []Problem) []Problem {
	for i := range list {
		if list[i].Line == 0 && r.ix != nil {
			list[i].Line, list[i].Col = r.ix.position(list[i].Key)
		}
	}
	sortProblems(list)
	return list
}

// maxProblems bounds the length of an error; a file with more problems than
// this is probably not a configuration file at all.
const maxProblems = 100

func (r *decodeResult) errors(name string) *Errors {
	for i := range r.problems {
		r.problems[i].Msg = strings.TrimPrefix(r.problems[i].Msg, "config: ")
	}
	list := r.locate(r.problems)
	if n := len(list); n > maxProblems {
		list = append(list[:maxProblems:maxProblems], Problem{Msg: fmt.Sprintf("and %d more problems", n-maxProblems)})
	}
	return &Errors{File: name, List: list}
}

// applyDefaults fills zero values.
func (c *Config) applyDefaults() {
	setDefault(&c.Station.Kind, DefaultKind)
	setDefault(&c.Station.Region, DefaultRegion)
	setDefault(&c.Agent.DataDir, DefaultDataDir)
	setDefault(&c.Agent.LogLevel, DefaultLogLevel)
	if c.MQTT.ClientID == "" && c.Station.ID != "" && c.Station.Lane != "" {
		c.MQTT.ClientID = c.Station.ID + "-" + c.Station.Lane
	}
	if c.MQTT.Window == 0 {
		c.MQTT.Window = DefaultWindow
	}
	setDuration(&c.MQTT.KeepAlive, DefaultKeepAlive)
	setDuration(&c.MQTT.AckTimeout, DefaultAckTimeout)
	setDuration(&c.MQTT.ConnectTimeout, DefaultConnectTimeout)
	setDuration(&c.MQTT.BackoffMin, DefaultBackoffMin)
	setDuration(&c.MQTT.BackoffMax, DefaultBackoffMax)
	setDuration(&c.MQTT.AuthBackoff, DefaultAuthBackoff)
	setDuration(&c.MQTT.StallAfter, DefaultStallAfter)
	if c.MQTT.RateRecords == 0 && c.MQTT.RateBytes == 0 {
		// Both unset: the defaults. One set alone means the other is unlimited.
		c.MQTT.RateRecords, c.MQTT.RateBytes = DefaultRateRecords, DefaultRateBytes
	}
	if c.Buffer.QuotaMB == 0 {
		c.Buffer.QuotaMB = DefaultQuotaMB
	}
	setDuration(&c.Buffer.Retention, DefaultRetention)
	if c.Buffer.MinFreeMB == 0 {
		c.Buffer.MinFreeMB = DefaultMinFreeMB
	}
	if len(c.Devices) == 0 {
		c.Devices = nil // "device = []" and no devices at all mean the same
	}
	for i := range c.Devices {
		d := &c.Devices[i]
		setDuration(&d.Poll, DefaultPoll)
		if len(d.Options) == 0 {
			d.Options = nil
		}
	}
	setDefault(&c.Methods.Stage, DefaultStage)
	setDefault(&c.Console.Listen, DefaultListen)
}

func setDefault(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

func setDuration(d *Duration, v time.Duration) {
	if d.Duration == 0 {
		d.Duration = v
	}
}

// problem is a validation problem plus the other keys it depends on: a
// problem about a key, or relating to a key, that was dropped for having the
// wrong type is not reported (it would be a consequence of that error).
type problem struct {
	Problem
	rel []string
}

// problems collects validation problems; keys are canonical key paths.
type problems []problem

func (ps *problems) add(key, format string, args ...any) {
	*ps = append(*ps, problem{Problem: Problem{Key: key, Msg: fmt.Sprintf(format, args...)}})
}

// addRel is add for a problem that also involves the keys in rel.
func (ps *problems) addRel(key string, rel []string, format string, args ...any) {
	*ps = append(*ps, problem{Problem: Problem{Key: key, Msg: fmt.Sprintf(format, args...)}, rel: rel})
}

// keep appends to dst the problems that involve no dropped key.
func (ps problems) keep(dst []Problem, r *decodeResult) []Problem {
	for _, p := range ps {
		if r.isDropped(p.Key) || slices.ContainsFunc(p.rel, r.isDropped) {
			continue
		}
		dst = append(dst, p.Problem)
	}
	return dst
}

// validate checks a decoded configuration with defaults applied. Warnings
// are appended to warns.
func (c *Config) validate(protocols []string, warns *problems) problems {
	var ps, ws problems
	checkName(&ps, "station.id", c.Station.ID)
	checkName(&ps, "station.lane", c.Station.Lane)
	oneOf(&ps, "station.kind", c.Station.Kind, "i-station", "m-station")
	if !regionRE.MatchString(c.Station.Region) {
		ps.add("station.region", "%q is not a region name (lower-case letters, digits, '-' and '_')", c.Station.Region)
	}

	if !path.IsAbs(c.Agent.DataDir) {
		ps.add("agent.data_dir", "must be an absolute path, got %q", c.Agent.DataDir)
	}
	oneOf(&ps, "agent.log_level", c.Agent.LogLevel, "debug", "info", "warn", "error")

	c.MQTT.validate(&ps, &ws)
	c.Buffer.validate(&ps)

	names := map[string]int{}
	ports := map[string]int{}
	for i, d := range c.Devices {
		k := func(f string) string { return "device[" + strconv.Itoa(i) + "]." + f }
		switch {
		case d.Name == "":
			ps.add(k("name"), "is required")
		case !deviceNameRE.MatchString(d.Name):
			ps.add(k("name"), "%q: use letters, digits, '-' and '_' only", d.Name)
		default:
			if j, dup := names[d.Name]; dup {
				ps.addRel(k("name"), []string{fmt.Sprintf("device[%d].name", j)}, "%q is already used by device[%d]", d.Name, j)
			} else {
				names[d.Name] = i
			}
		}
		oneOf(&ps, k("role"), d.Role, Roles()...)
		switch {
		case d.Protocol == "":
			ps.add(k("protocol"), "is required")
		case protocols != nil && !slices.Contains(protocols, d.Protocol):
			ps.add(k("protocol"), "unknown protocol %q (known: %s)", d.Protocol, strings.Join(protocols, ", "))
		}
		switch {
		case d.Port == "":
			ps.add(k("port"), "is required (use a stable path such as /dev/serial/by-id/...)")
		case strings.HasPrefix(d.Port, SimPortPrefix):
			if len(d.Port) == len(SimPortPrefix) {
				ps.add(k("port"), "%q names no simulator", d.Port)
			}
		case !path.IsAbs(d.Port) || strings.ContainsFunc(d.Port, unicode.IsControl):
			ps.add(k("port"), "%q is not a device path (use /dev/serial/by-id/...)", d.Port)
		case unstableTTY.MatchString(d.Port):
			ws.add(k("port"), "%s depends on the order devices were plugged in; prefer /dev/serial/by-id/...", d.Port)
		}
		if d.Port != "" {
			if j, dup := ports[d.Port]; dup {
				ps.addRel(k("port"), []string{fmt.Sprintf("device[%d].port", j)}, "%s is already used by device[%d] (%s)", d.Port, j, c.Devices[j].Name)
			} else {
				ports[d.Port] = i
			}
		}
		if bauds := Bauds(); d.Baud != 0 && !slices.Contains(bauds, d.Baud) {
			ps.add(k("baud"), "%d is not a standard rate (%s, or 0 for the protocol default)", d.Baud, joinInts(bauds))
		}
		if d.Poll.Duration < 10*time.Millisecond {
			ps.add(k("poll"), "must be at least 10ms, got %s", d.Poll)
		}
		checkOptions(&ps, k("options"), d.Options)
	}
	if len(c.Devices) == 0 {
		ws.add("device", "no [[device]] configured")
	}

	oneOf(&ps, "methods.stage", c.Methods.Stage, "a", "b")

	if host, port, err := net.SplitHostPort(c.Console.Listen); err != nil {
		ps.add("console.listen", "%q is not host:port", c.Console.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		ps.add("console.listen", "%q: port must be a number 0-65535", c.Console.Listen)
	} else if ip := net.ParseIP(host); c.Console.PasswordHash == "" && (host == "" || ip != nil && !ip.IsLoopback()) {
		ws.add("console.listen", "%s is reachable from the LAN but console.password_hash is not set: only this box can use the console (imagent console passwd)", c.Console.Listen)
	}
	if h := c.Console.PasswordHash; h != "" {
		if msg := checkPasswordHash(h); msg != "" {
			ps.add("console.password_hash", "%s (make one with: imagent console passwd)", msg)
		}
	}

	*warns = append(*warns, ws...)
	return ps
}

func (m *MQTT) validate(ps, ws *problems) {
	u, err := url.Parse(m.Broker)
	switch {
	case m.Broker == "":
		ps.add("mqtt.broker", "is required, e.g. \"tcp://127.0.0.1:1883\"")
	case err != nil || u.Host == "":
		ps.add("mqtt.broker", "%q is not a URL such as tcp://host:1883", m.Broker)
	case !slices.Contains([]string{"tcp", "ssl", "tls", "mqtts", "ws", "wss"}, u.Scheme):
		ps.add("mqtt.broker", "scheme %q is not one of tcp, ssl, tls, mqtts, ws, wss", u.Scheme)
	case u.Port() == "":
		ps.add("mqtt.broker", "%q has no port", m.Broker)
	default:
		if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
			ps.add("mqtt.broker", "%q: port must be 1-65535", m.Broker)
		}
		secure := u.Scheme != "tcp" && u.Scheme != "ws"
		if !secure && (m.TLS != TLS{}) {
			ws.add("mqtt.tls", "is ignored with a %s:// broker", u.Scheme)
		}
		if secure && m.TLS.InsecureSkipVerify {
			ws.add("mqtt.tls.insecure_skip_verify", "the broker's certificate is not checked")
		}
	}
	// An empty client id is the default "{station}-{lane}" that could not be
	// formed; the missing station id or lane is reported already.
	if strings.ContainsFunc(m.ClientID, unicode.IsControl) {
		ps.add("mqtt.client_id", "must be printable text")
	}
	if (m.TLS.Cert == "") != (m.TLS.Key == "") {
		if m.TLS.Cert == "" {
			ps.addRel("mqtt.tls.key", []string{"mqtt.tls.cert"}, "is set but mqtt.tls.cert is not; give both or neither")
		} else {
			ps.addRel("mqtt.tls.cert", []string{"mqtt.tls.key"}, "is set but mqtt.tls.key is not; give both or neither")
		}
	}
	for _, d := range []struct {
		key string
		d   Duration
	}{
		{"mqtt.keep_alive", m.KeepAlive},
		{"mqtt.ack_timeout", m.AckTimeout},
		{"mqtt.connect_timeout", m.ConnectTimeout},
		{"mqtt.backoff_min", m.BackoffMin},
		{"mqtt.backoff_max", m.BackoffMax},
		{"mqtt.auth_backoff", m.AuthBackoff},
		{"mqtt.stall_after", m.StallAfter},
	} {
		if d.d.Duration < 0 {
			ps.add(d.key, "must be positive, got %s", d.d)
		}
	}
	if k := m.KeepAlive.Duration; k > 0 && (k < time.Second || k > math.MaxUint16*time.Second) {
		ps.add("mqtt.keep_alive", "must be between 1s and 65535s, got %s", m.KeepAlive)
	}
	if m.BackoffMin.Duration > 0 && m.BackoffMax.Duration > 0 && m.BackoffMax.Duration < m.BackoffMin.Duration {
		ps.addRel("mqtt.backoff_max", []string{"mqtt.backoff_min"}, "%s is less than mqtt.backoff_min (%s)", m.BackoffMax, m.BackoffMin)
	}
	if m.Window < 1 || m.Window > 1024 {
		ps.add("mqtt.window", "must be between 1 and 1024, got %d", m.Window)
	}
	if m.RateRecords < 0 || math.IsNaN(m.RateRecords) || math.IsInf(m.RateRecords, 0) {
		ps.add("mqtt.rate_records", "must be a number of records per second, 0 or more, got %v", m.RateRecords)
	}
	if m.RateBytes < 0 {
		ps.add("mqtt.rate_bytes", "must be 0 (unlimited) or more, got %d", m.RateBytes)
	}
	if m.StallAfter.Duration > 0 && m.StallAfter.Duration < 10*time.Second {
		ps.add("mqtt.stall_after", "must be at least 10s, got %s", m.StallAfter)
	}
}

func (b *Buffer) validate(ps *problems) {
	if b.QuotaMB < 1 {
		ps.add("buffer.quota_mb", "must be at least 1, got %d", b.QuotaMB)
	}
	if b.MinFreeMB < 1 {
		ps.add("buffer.min_free_mb", "must be at least 1, got %d", b.MinFreeMB)
	}
	if b.Retention.Duration < time.Hour {
		ps.add("buffer.retention", "must be at least 1h, got %s", b.Retention)
	}
}

var (
	regionRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	deviceNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	unstableTTY  = regexp.MustCompile(`^/dev/tty(USB|ACM)[0-9]+$`)
)

// checkName checks a value used as an MQTT topic level.
func checkName(ps *problems, key, v string) {
	switch {
	case v == "":
		ps.add(key, "is required")
	case len(v) > 64:
		ps.add(key, "is longer than 64 bytes")
	case strings.ContainsAny(v, "+#/") || strings.ContainsFunc(v, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
	}):
		ps.add(key, "%q cannot be used in an MQTT topic (no '+', '#', '/', spaces or control characters)", v)
	case strings.HasPrefix(v, "$"):
		ps.add(key, "%q cannot start with '$' (reserved in MQTT topics)", v)
	}
}

func oneOf(ps *problems, key, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		if v == "" {
			ps.add(key, "is required (one of %s)", strings.Join(allowed, ", "))
			return
		}
		ps.add(key, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}

// checkOptions allows strings, numbers, booleans, arrays and tables in
// driver options; date-times and non-finite numbers are rejected.
func checkOptions(ps *problems, key string, v any) {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			checkOptions(ps, key+"."+quoteKey(k), v[k])
		}
	case []any:
		for i, e := range v {
			checkOptions(ps, key+"["+strconv.Itoa(i)+"]", e)
		}
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			ps.add(key, "must be a finite number")
		}
	case nil, string, int64, bool:
	default:
		ps.add(key, "options hold strings, numbers, booleans, arrays and tables, not dates or times")
	}
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
