package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"imagent/config"
	"imagent/drivers/drivertest"
	"imagent/drivers/simport"
)

// startProtoSim runs protocol p's simulator on a fresh pseudo-terminal until the test ends.
func startProtoSim(t *testing.T, p protocol) *simport.PTY {
	t.Helper()
	pty, err := simport.Open()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = p.sim(simSpec{Seed: 1})(ctx, pty.Master) })
	t.Cleanup(func() { cancel(); wg.Wait(); pty.Close() })
	return pty
}

// TestProbeCrossMatrix runs every protocol's simulator and probes it with every protocol:
// only its own protocol may answer, with high confidence. The probes of all simulators run
// at once (they mostly wait on serial timeouts, so the test's -parallel limit would only
// serialise them).
func TestProbeCrossMatrix(t *testing.T) {
	protos := protocols()
	results := make([][]probeResult, len(protos))
	var wg sync.WaitGroup
	for i, sim := range protos {
		pty := startProtoSim(t, sim)
		wg.Go(func() { results[i] = probePort(context.Background(), pty.SlavePath, 2, 400*time.Millisecond) })
	}
	wg.Wait()
	for i, sim := range protos {
		if len(results[i]) != len(protos) {
			t.Fatalf("%s: %d results for %d protocols", sim.name, len(results[i]), len(protos))
		}
		for _, r := range results[i] {
			own := r.Protocol == sim.name
			switch {
			case own && r.Confidence != "high":
				t.Errorf("%s simulator: own probe answered %d/%d (%s)", sim.name, r.Answered, r.Tries, r.Err)
			case !own && r.Answered > 0:
				t.Errorf("%s simulator: false positive from probe %s (%d/%d): %v", sim.name, r.Protocol, r.Answered, r.Tries, r.Sample.Values)
			}
		}
	}
}

func TestProbeSilentPort(t *testing.T) {
	pty, err := simport.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	var out, errOut bytes.Buffer
	err = run(context.Background(), []string{"probe", pty.SlavePath, "--tries", "1", "--timeout", "200ms"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "nothing known answered") {
		t.Fatalf("probe of a silent port: %v\n%s", err, out.String())
	}
}

// TestRecordWritesAReplayableTrace captures a simulator's traffic with `imagent record`
// and replays the file through the same driver, byte for byte.
func TestRecordWritesAReplayableTrace(t *testing.T) {
	p, _ := lookupProtocol("gas/nanhua")
	pty := startProtoSim(t, p)
	file := filepath.Join(t.TempDir(), "captured.trace")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"record", pty.SlavePath, "--proto", "nanhua", "-o", file, "-n", "3"}, &out, &errOut); err != nil {
		t.Fatalf("record: %v\n%s", err, errOut.String())
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := drivertest.ParseTrace(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(tr.Header, "\n"), "captured from a real device by imagent record") {
		t.Errorf("trace header lacks provenance: %q", tr.Header)
	}
	pb := drivertest.NewPlayback(tr)
	dev, err := p.newDev(pb, deviceForTest(p.name))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := dev.Read(context.Background()); err != nil {
			t.Fatalf("replaying reading %d: %v", i+1, err)
		}
	}
	if err := pb.Close(); err != nil {
		t.Fatal(err)
	}
}

func deviceForTest(proto string) config.Device {
	return config.Device{Name: "t", Protocol: proto, Port: "/dev/null"}
}
