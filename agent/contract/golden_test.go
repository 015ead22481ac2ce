package contract

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json and the examples in docs/platform-contract.md from the Go values")

const (
	goldenDir = "../../testdata/golden"
	docPath   = "../../docs/platform-contract.md"
)

// golden is one example payload: the Go value it is generated from and the real decoder
// that must accept it.
type golden struct {
	name   string
	value  any
	decode func([]byte) (any, error)
}

func goldens(t *testing.T) []golden {
	cst := time.FixedZone("CST", 8*3600)
	body := TestBody{
		Method:       MethodTSI,
		InspectionID: "4403002025060300017",
		Vehicle: Vehicle{
			Plate: "粤B12345", PlateType: "02", VIN: "LSVAB2BR5KN012345", Fuel: "gasoline",
			GVWkg: 1850, RMkg: 1420, Catalyst: true,
		},
		Started:    time.Date(2025, 6, 3, 9, 10, 2, 0, cst),
		Ended:      time.Date(2025, 6, 3, 9, 14, 4, 0, cst),
		Verdict:    VerdictPass,
		LimitStage: "b",
		Phases: []PhaseResult{
			{
				Name:  "high_idle",
				Means: map[string]float64{"rpm": 2512, "co_pct": 0.05, "hc_ppm": 12, "co2_pct": 14.6, "o2_pct": 0.21, "lambda": 1.01},
				Judged: []Judged{
					{Quantity: "co_pct", Value: 0.05, Limit: 0.3, Bound: "max", Standard: "GB 18285-2018", Clause: "two-speed idle limits, high idle", Pass: true},
					{Quantity: "hc_ppm", Value: 12, Limit: 30, Bound: "max", Standard: "GB 18285-2018", Clause: "two-speed idle limits, high idle", Pass: true},
					{Quantity: "lambda", Value: 1.01, Limit: 1.05, Bound: "max", Standard: "GB 18285-2018", Clause: "two-speed idle, lambda at high idle", Pass: true},
					{Quantity: "lambda", Value: 1.01, Limit: 0.95, Bound: "min", Standard: "GB 18285-2018", Clause: "two-speed idle, lambda at high idle", Pass: true},
				},
				Pass: true,
			},
			{
				Name:  "low_idle",
				Means: map[string]float64{"rpm": 812, "co_pct": 0.08, "hc_ppm": 21, "co2_pct": 14.4, "o2_pct": 0.3, "lambda": 1.0},
				Judged: []Judged{
					{Quantity: "co_pct", Value: 0.08, Limit: 0.4, Bound: "max", Standard: "GB 18285-2018", Clause: "two-speed idle limits, idle", Pass: true},
					{Quantity: "hc_ppm", Value: 21, Limit: 40, Bound: "max", Standard: "GB 18285-2018", Clause: "two-speed idle limits, idle", Pass: true},
				},
				Pass: true,
			},
		},
		Process: Process{
			Columns: []string{"rpm", "co_pct", "hc_ppm", "co2_pct", "o2_pct", "lambda", "oil_temp_c"},
			Phase:   []string{"high_idle", "high_idle", "low_idle"},
			Rows: [][]float64{
				{2508, 0.05, 12, 14.6, 0.2, 1.01, 86},
				{2515, 0.05, 13, 14.6, 0.22, 1.01, 86},
				{811, 0.08, 21, 14.4, 0.3, 1, 87},
			},
		},
		Devices: []DeviceRef{
			{Name: "analyzer", Protocol: "gas/nanhua", Model: "NHA-506", Port: "/dev/serial/by-id/usb-FTDI_FT232R_A10K3XYZ-if00-port0"},
			{Name: "weather", Protocol: "weather/nanhua", Model: "NHQX-01"},
		},
		FramesSHA256: "9f2c4a6e0b1d3c5e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6",
		Frames:       241,
	}
	rawBody, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	env := Envelope{
		V: Version, ID: "3f0d5a8e-6c1b-4f7a-9d2e-8b4c1a7e5f60", Seq: 42, Kind: KindTest,
		Station: "4403001", Lane: "L2",
		Agent:    AgentInfo{Version: "0.3.0", BootID: "c0a4b3f2-1e5d-4a6b-8c7d-9e0f1a2b3c4d"},
		Time:     Time{Wall: time.Date(2025, 6, 3, 9, 14, 5, 120e6, cst), MonoMS: 86412345, Clock: ClockNTP},
		PrevHash: "5d41402abc4b2a76b9719d911017c592ae2f6f8b5b7e3d1c0a9f8e7d6c5b4a39",
		Body:     rawBody,
	}
	return append([]golden{
		{"envelope-test-tsi.json", &env, func(b []byte) (any, error) {
			_, e, err := Decode(b)
			if err != nil {
				return nil, err
			}
			var tb TestBody // the body too must decode strictly into its Go type
			dec := json.NewDecoder(bytes.NewReader(e.Body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&tb); err != nil {
				return nil, fmt.Errorf("body: %w", err)
			}
			return e, nil
		}},
		{"acks.json", &Acks{V: Version, Acks: []Ack{
			{ID: "3f0d5a8e-6c1b-4f7a-9d2e-8b4c1a7e5f60", Seq: 42, Status: AckStored},
			{ID: "a81c7f3d-02b4-4e59-b6a1-7c3e9d0f2b18", Seq: 41, Status: AckDuplicate},
			{ID: "e5b9c2d1-7a3f-4b8e-9c6d-1f0a2e3b4c5d", Seq: 43, Status: AckRejected, Reason: "contract: invalid envelope: unknown kind \"tset\""},
		}}, func(b []byte) (any, error) { return DecodeAcks(b) }},
		{"status-online.json", &Status{
			V: Version, State: StateOnline, Version: "0.3.0", BootID: "c0a4b3f2-1e5d-4a6b-8c7d-9e0f1a2b3c4d",
			Time: time.Date(2025, 6, 3, 9, 15, 0, 0, cst), Clock: ClockNTP,
			Backlog: &Backlog{Pending: 3, Sent: 1, OldestUnackedSeq: 40, OldestUnackedAgeS: 95, Bytes: 243712,
				ByKind: map[string]KindBacklog{
					"test":      {Pending: 2, Sent: 1, Bytes: 241408},
					"telemetry": {Pending: 1, Bytes: 2304},
				},
				UsedBytes: 48234496, QuotaBytes: 268435456},
			LastAck: time.Date(2025, 6, 3, 9, 14, 6, 0, cst),
			Devices: []Device{
				{Name: "analyzer", State: "ok", LastFrameAgeS: 0.4},
				{Name: "weather", State: "error", LastFrameAgeS: 31.5, Error: "no reply for 30 s"},
			},
		}, func(b []byte) (any, error) { return DecodeStatus(b) }},
		{"envelope-event-clock-sync.json", &Envelope{
			V: Version, ID: "9b2e4c71-5d3a-4f08-a6c2-3e1d7f9b0a54", Seq: 57, Kind: KindEvent,
			Station: "4403001", Lane: "L2",
			Agent:    AgentInfo{Version: "0.3.0", BootID: "c0a4b3f2-1e5d-4a6b-8c7d-9e0f1a2b3c4d"},
			Time:     Time{Wall: time.Date(2025, 6, 3, 9, 2, 11, 480e6, cst), MonoMS: 731480, Clock: ClockNTP},
			PrevHash: "0c7d1e5f9a3b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d",
			Body: []byte(`{"event":"clock_sync","detail":"the clock is synchronised (ntp); records of this boot made before are corrected by this event",` +
				`"attrs":{"boot_id":"c0a4b3f2-1e5d-4a6b-8c7d-9e0f1a2b3c4d","mono_ms":"731480","wall":"2025-06-03T01:02:11.48Z","wall_before":"1970-01-01T00:12:11.48Z"}}`),
		}, func(b []byte) (any, error) {
			_, e, err := Decode(b)
			return e, err
		}},
		{"time-corrected.json", &Time{
			Wall: time.Date(1970, 1, 1, 0, 3, 2, 0, time.UTC), MonoMS: 182000, Clock: ClockUnsynced,
			WallCorrected: time.Date(2025, 6, 3, 0, 53, 2, 0, time.UTC), CorrectedBy: "9b2e4c71-5d3a-4f08-a6c2-3e1d7f9b0a54",
		}, func(b []byte) (any, error) {
			var tm Time
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			return &tm, dec.Decode(&tm)
		}},
		{"status-offline.json", &Status{V: Version, State: StateOffline},
			func(b []byte) (any, error) { return DecodeStatus(b) }},
	}, bodyGoldens(t)...)
}

func encodeGolden(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// TestGolden keeps the example payloads honest: each golden file is exactly the encoding of
// its Go value, the real decoder accepts it, decoding and re-encoding gives the same bytes,
// and docs/platform-contract.md shows each file verbatim.
func TestGolden(t *testing.T) {
	gs := goldens(t)
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, g := range gs {
			b, err := encodeGolden(g.value)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(goldenDir, g.name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files := map[string][]byte{}
	for _, g := range gs {
		t.Run(g.name, func(t *testing.T) {
			file, err := os.ReadFile(filepath.Join(goldenDir, g.name))
			if err != nil {
				t.Fatalf("%v (run go test ./agent/contract -run TestGolden -update)", err)
			}
			files[g.name] = file
			want, err := encodeGolden(g.value)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(file, want) {
				t.Errorf("%s differs from its Go value (run with -update if the change is intended):\n%s", g.name, file)
			}
			got, err := g.decode(file)
			if err != nil {
				t.Fatalf("decoder rejects %s: %v", g.name, err)
			}
			again, err := encodeGolden(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, file) {
				t.Errorf("decode+encode of %s changes it:\n%s", g.name, again)
			}
		})
	}

	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	newDoc, err := replaceDocExamples(string(doc), files)
	if err != nil {
		t.Fatal(err)
	}
	if newDoc != string(doc) {
		if *update {
			if err := os.WriteFile(docPath, []byte(newDoc), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Errorf("examples in %s differ from testdata/golden (run with -update)", docPath)
		}
	}
}

// replaceDocExamples replaces the fenced block after each "<!-- golden:NAME -->" marker with
// the golden file NAME. Every golden file must have a marker, and every marker a file.
func replaceDocExamples(doc string, files map[string][]byte) (string, error) {
	const marker = "<!-- golden:"
	var out strings.Builder
	seen := map[string]bool{}
	for {
		i := strings.Index(doc, marker)
		if i < 0 {
			out.WriteString(doc)
			break
		}
		j := strings.Index(doc[i:], "-->")
		if j < 0 {
			return "", fmt.Errorf("unterminated golden marker")
		}
		name := strings.TrimSpace(doc[i+len(marker) : i+j])
		file, ok := files[name]
		if !ok {
			return "", fmt.Errorf("doc marker names unknown golden file %q", name)
		}
		seen[name] = true
		head := doc[:i+j+3]
		rest := doc[i+j+3:]
		open := strings.Index(rest, "```json\n")
		if open < 0 {
			return "", fmt.Errorf("no ```json block after marker %q", name)
		}
		end := strings.Index(rest[open+8:], "```")
		if end < 0 {
			return "", fmt.Errorf("unterminated block after marker %q", name)
		}
		out.WriteString(head)
		out.WriteString(rest[:open+8])
		out.Write(file)
		doc = rest[open+8+end:]
	}
	for name := range files {
		if !seen[name] {
			return "", fmt.Errorf("docs/platform-contract.md has no <!-- golden:%s --> example", name)
		}
	}
	return out.String(), nil
}
