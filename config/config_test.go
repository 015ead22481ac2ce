package config

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the .err golden files of testdata/config")

// fixtureDir holds the configuration fixtures shared with other packages.
const fixtureDir = "../testdata/config"

// testProtocols stands in for the agent's driver registry.
var testOpts = LoadOpts{Protocols: []string{
	"gas/nanhua", "gas/fuli", "opacity/flb100", "dyno/xincheng", "weather/xce100", "flow/flv1000",
}}

// TestFixtures parses every testdata/config/*.toml. Files named invalid-*
// must fail with exactly the text of their .err golden file; all others
// must load.
func TestFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d fixtures in %s, want at least 10", len(files), fixtureDir)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(strings.TrimSuffix(name, ".toml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(name, data, testOpts)
			golden := strings.TrimSuffix(file, ".toml") + ".err"
			if !strings.HasPrefix(name, "invalid-") {
				if err != nil {
					t.Fatalf("valid fixture fails:\n%v", err)
				}
				if _, statErr := os.Stat(golden); statErr == nil {
					t.Errorf("valid fixture has a golden error file %s", golden)
				}
				if c == nil {
					t.Fatal("nil config without error")
				}
				return
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v (%T), want *Errors", err, err)
			}
			if c != nil {
				t.Error("config returned along with an error")
			}
			got := err.Error() + "\n"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./config -run TestFixtures -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("error text differs from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
			for i := 1; i < len(errs.List); i++ {
				if errs.List[i].Line < errs.List[i-1].Line {
					t.Errorf("problems not sorted by line: %v before %v", errs.List[i-1], errs.List[i])
				}
			}
		})
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	if c.Station.ID != "DEMO01" || c.Station.Lane != "L1" {
		t.Errorf("station %q lane %q, want DEMO01 L1", c.Station.ID, c.Station.Lane)
	}
	if c.MQTT.Broker != "tcp://127.0.0.1:1883" {
		t.Errorf("broker %q", c.MQTT.Broker)
	}
	if len(c.Devices) != 1 {
		t.Fatalf("%d devices, want 1", len(c.Devices))
	}
	d := c.Devices[0]
	if d.Role != "analyzer" || d.Protocol != "gas/nanhua" || d.Model != "NHA-503" || d.Port != "sim:nanhua" {
		t.Errorf("device %+v", d)
	}
	// Each call returns a value of its own.
	c.Devices[0].Port = "/dev/pts/7"
	if Default().Devices[0].Port != "sim:nanhua" {
		t.Error("Default shares state between calls")
	}
	// The embedded text is what Default parses, and it passes the strict
	// protocol check against a registry holding gas/nanhua.
	if _, err := Parse("default.toml", DefaultTOML(), testOpts); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultsApplied(t *testing.T) {
	c, err := Load(filepath.Join(fixtureDir, "minimal.toml"), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Station: Station{ID: "3201020002", Lane: "L2", Kind: "i-station", Region: "national"},
		Agent:   Agent{DataDir: "/var/lib/imagent", LogLevel: "info"},
		MQTT: MQTT{
			Broker:         "tcp://10.0.0.5:1883",
			ClientID:       "3201020002-L2",
			KeepAlive:      Duration{30 * time.Second},
			AckTimeout:     Duration{60 * time.Second},
			Window:         32,
			ConnectTimeout: Duration{10 * time.Second},
			BackoffMin:     Duration{time.Second},
			BackoffMax:     Duration{2 * time.Minute},
			AuthBackoff:    Duration{10 * time.Minute},
			StallAfter:     Duration{10 * time.Minute},
			RateRecords:    100,
			RateBytes:      512 << 10,
		},
		Devices: []Device{{
			Name:     "opacimeter",
			Role:     "opacimeter",
			Protocol: "opacity/flb100",
			Port:     "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10K3DEF-if00-port0",
			Poll:     Duration{500 * time.Millisecond},
		}},
		Methods: Methods{Stage: "a"},
		Console: Console{Listen: "127.0.0.1:8080"},
		Buffer:  Buffer{QuotaMB: 1024, Retention: Duration{30 * 24 * time.Hour}, MinFreeMB: 64},
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", *c, want)
	}
}

func TestFullFixture(t *testing.T) {
	c, err := Load(filepath.Join(fixtureDir, "station-full.toml"), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(c.Devices); got != 4 {
		t.Fatalf("%d devices, want 4", got)
	}
	if c.MQTT.TLS.Cert == "" || c.MQTT.BackoffMax.Duration != 5*time.Minute || c.Methods.Stage != "b" {
		t.Errorf("mqtt/methods not decoded: %+v %+v", c.MQTT, c.Methods)
	}
	if got := c.Devices[0].Options["co_resolution"]; got != 0.01 {
		t.Errorf("analyzer option co_resolution = %v (%T)", got, got)
	}
	if got := c.Devices[3].Options["pipes"]; !reflect.DeepEqual(got, []any{"a", "b"}) {
		t.Errorf("flowmeter option pipes = %#v", got)
	}
	if c.Devices[1].Options != nil {
		t.Errorf("dyno has options %v, want nil", c.Devices[1].Options)
	}
}

func TestWarnings(t *testing.T) {
	var got []string
	o := testOpts
	o.Warn = func(p Problem) { got = append(got, p.String()) }
	src := `[station]
id = "S1"
lane = "L1"
[mqtt]
broker = "tcp://127.0.0.1:1883"
tls = { ca = "/etc/ca.pem" }
[[device]]
name = "analyzer"
role = "analyzer"
protocol = "gas/nanhua"
port = "/dev/ttyUSB0"
[console]
listen = ":8080"
`
	if _, err := Parse("w.toml", []byte(src), o); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"6:1: mqtt.tls: is ignored with a tcp:// broker",
		"11:1: device[0].port: /dev/ttyUSB0 depends on the order devices were plugged in; prefer /dev/serial/by-id/...",
		"13:1: console.listen: :8080 is reachable from the LAN but console.password_hash is not set: only this box can use the console (imagent console passwd)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings\n%q\nwant\n%q", got, want)
	}
}

func TestProtocolsNotChecked(t *testing.T) {
	src := DefaultTOML()
	if _, err := Parse("d.toml", src, LoadOpts{Protocols: []string{"gas/fuli"}}); err == nil {
		t.Fatal("gas/nanhua accepted by a registry that lacks it")
	}
	if _, err := Parse("d.toml", src, LoadOpts{}); err != nil {
		t.Fatalf("nil Protocols must skip the check: %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.toml"), testOpts)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want an error wrapping fs.ErrNotExist", err)
	}
	if !strings.HasPrefix(err.Error(), "config: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
}

func TestErrorsFormat(t *testing.T) {
	e := &Errors{File: "s.toml", List: []Problem{
		{Line: 3, Col: 1, Key: "mqtt.window", Msg: "bad"},
		{Line: 4, Key: "station.id", Msg: "no column"},
		{Key: "mqtt.broker", Msg: "no line"},
		{Line: 1, Col: 9, Msg: "syntax"},
	}}
	want := "s.toml:3:1: mqtt.window: bad\ns.toml:4: station.id: no column\ns.toml: mqtt.broker: no line\ns.toml:1:9: syntax"
	if got := e.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestByteOrderMark(t *testing.T) {
	src := append([]byte("\uFEFF"), DefaultTOML()...)
	if _, err := Parse("bom.toml", src, testOpts); err != nil {
		t.Fatal(err)
	}
	_, err := Parse("bom.toml", []byte("\uFEFF[station]\nid = 1\n"), testOpts)
	if err == nil || !strings.Contains(err.Error(), "bom.toml:2:1: station.id: expected a string") {
		t.Fatalf("position after a byte-order mark: %v", err)
	}
}

func TestDuration(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1m30s")); err != nil || d.Duration != 90*time.Second {
		t.Fatalf("got %v, %v", d, err)
	}
	b, err := d.MarshalText()
	if err != nil || string(b) != "1m30s" {
		t.Fatalf("marshal: %q, %v", b, err)
	}
	if err := d.UnmarshalText([]byte("90")); err == nil {
		t.Fatal("a duration without unit was accepted")
	}
}

func TestParentKey(t *testing.T) {
	for k, want := range map[string]string{
		"device[1].port":               "device[1]",
		"device[1]":                    "device",
		"device":                       "",
		`device[0].options."a.b"`:      "device[0].options",
		`device[0].options."a.b".c`:    `device[0].options."a.b"`,
		`device[0].options."a\".b"[2]`: `device[0].options."a\".b"`,
	} {
		if got := parentKey(k); got != want {
			t.Errorf("parentKey(%q) = %q, want %q", k, got, want)
		}
	}
}
