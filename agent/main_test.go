package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets a test start this very binary as the agent (a real process that can be
// SIGKILLed), without a separate build: with IMAGENT_AS_MAIN=1 it runs main instead of
// the tests.
func TestMain(m *testing.M) {
	if os.Getenv("IMAGENT_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestConfigErrorRefusesToStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "station.toml")
	cfg := strings.Replace(string(defaultConfigForTest(t)), "[mqtt]\n", "[mqtt]\nbrokr = \"tcp://x:1883\"\n", 1)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	line := 0
	for i, l := range strings.Split(cfg, "\n") {
		if strings.HasPrefix(l, "brokr") {
			line = i + 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"run", "--config", path}, &out, &errOut)
	if err == nil {
		t.Fatal("the agent started with an unknown key in its configuration")
	}
	want := path + ":" + strconv.Itoa(line) + ":"
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "brokr") {
		t.Fatalf("error %q does not name %s and the key", err, want)
	}
	if ctx.Err() != nil {
		t.Fatal("run did not return at once on a bad configuration")
	}
	err = run(ctx, []string{"config", "validate", path}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("config validate: %v", err)
	}
}

func defaultConfigForTest(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../config/default.toml")
	if err != nil {
		t.Fatal(err)
	}
	// The demo port placeholder is only valid with a simulator; name a real-looking path.
	return bytes.Replace(b, []byte(`"sim:nanhua"`), []byte(`"/dev/serial/by-id/usb-test-if00-port0"`), 1)
}

func TestUnknownCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"frobnicate"}, &out, &errOut); err == nil {
		t.Fatal("unknown command accepted")
	}
	if !strings.Contains(errOut.String(), "usage: imagent") {
		t.Fatal("no usage printed for an unknown command")
	}
}

// TestDemo runs the README's first command in process (faster clock) and checks what it
// prints is the record as the platform stored it.
func TestDemo(t *testing.T) {
	for _, c := range []struct {
		args    []string
		verdict string
	}{
		{[]string{"demo", "-speed", "25"}, "pass"},
		{[]string{"demo", "-speed", "25", "-dirty"}, "fail"},
	} {
		t.Run(c.verdict, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			if err := run(ctx, c.args, &out, &errOut); err != nil {
				t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
			}
			s := out.String()
			stored := regexp.MustCompile(`stored\s+seq (\d+), id (\S+) `).FindStringSubmatch(s)
			platID := regexp.MustCompile(`(?m)^\s+id\s+(\S+)$`).FindStringSubmatch(s)
			if stored == nil || platID == nil || stored[2] != platID[1] {
				t.Fatalf("the platform's copy is not the stored record:\n%s", s)
			}
			for _, want := range []string{"method     tsi", "simulated  true", "verdict    " + c.verdict, "high_idle", "low_idle"} {
				if !strings.Contains(s, want) {
					t.Errorf("output lacks %q:\n%s", want, s)
				}
			}
			rows := regexp.MustCompile(`process\s+(\d+) rows`).FindStringSubmatch(s)
			if rows == nil {
				t.Fatalf("no process rows line:\n%s", s)
			}
			// 30 s preconditioning + 2×(15 + 30) s, plus the ramps.
			if n, _ := strconv.Atoi(rows[1]); n < 120 {
				t.Errorf("%d process rows, want at least 120", n)
			}
		})
	}
}
