package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"imagent/agent/contract"
	"imagent/agent/internal/brokertest"
	"imagent/buffer"
)

// asmBody builds the body of one ASM test (GB 18285-2018 steady-state loaded mode) as the
// agent would store it: two modes with results, and the second-by-second process data of
// about 200 seconds with the quantities an ASM lane records (analyzer, dyno, tachometer,
// weather station, flowmeter), at the instruments' resolution. domain.md §4 estimates
// ≈80 kB of JSON per ASM test; rows are added until the envelope reaches that.
func asmBody(r *rand.Rand, targetBytes int) contract.TestBody {
	cols := []string{"co_pct", "hc_ppm", "no_ppm", "co2_pct", "o2_pct", "lambda", "rpm", "oil_temp_c",
		"speed_kmh", "power_kw", "load_kw", "torque_nm", "accel_ms2", "temp_c", "rh_pct", "pressure_kpa",
		"flow_m3min", "dilution_ratio", "hc_corr_ppm", "co_corr_pct", "no_corr_ppm", "kh_factor", "df_factor",
		"exhaust_temp_c", "tank_pressure_kpa"}
	noisy := func(base, spread float64, decimals int) float64 {
		p := math.Pow(10, float64(decimals))
		return math.Round((base+(r.Float64()-0.5)*spread)*p) / p
	}
	row := func(mode string) []float64 {
		speed := 25.0
		if mode == "asm2540" {
			speed = 40
		}
		return []float64{noisy(0.12, 0.06, 2), noisy(45, 12, 0), noisy(380, 120, 0), noisy(14.3, 0.4, 2),
			noisy(0.6, 0.3, 2), noisy(1.01, 0.02, 3), noisy(2150, 140, 0), noisy(88, 3, 1),
			noisy(speed, 1.2, 1), noisy(9.6, 1.1, 2), noisy(8.9, 0.8, 2), noisy(152, 12, 1), noisy(0, 0.2, 2),
			noisy(24.5, 0.4, 1), noisy(61, 3, 1), noisy(101.2, 0.2, 2), noisy(9.8, 0.3, 2), noisy(1.12, 0.05, 3),
			noisy(52, 12, 0), noisy(0.14, 0.06, 2), noisy(410, 120, 0), noisy(0.97, 0.01, 3), noisy(1.08, 0.02, 3),
			noisy(312, 18, 1), noisy(2.4, 0.6, 2)}
	}
	b := contract.TestBody{Method: contract.MethodASM, InspectionID: "4403002025060300042",
		Vehicle: contract.Vehicle{Plate: "粤B67890", PlateType: "02", VIN: "LSVAB2BR5KN067890", Fuel: "gasoline", GVWkg: 1850, RMkg: 1420, Catalyst: true},
		Started: time.Date(2025, 6, 3, 9, 20, 0, 0, time.UTC), Ended: time.Date(2025, 6, 3, 9, 27, 40, 0, time.UTC),
		Verdict: contract.VerdictPass, LimitStage: "b", Process: contract.Process{Columns: cols},
		Devices: []contract.DeviceRef{{Name: "analyzer", Protocol: "gas/nanhua", Model: "NHA-506"},
			{Name: "dyno", Protocol: "dyno/xincheng"}, {Name: "weather", Protocol: "weather/nanhua"}},
		FramesSHA256: strings.Repeat("ab", 32), Frames: 1630}
	for _, mode := range []string{"asm5025", "asm2540"} {
		b.Phases = append(b.Phases, contract.PhaseResult{Name: mode, Pass: true,
			Means: map[string]float64{"co_pct": 0.12, "hc_ppm": 45, "no_ppm": 380, "lambda": 1.01},
			Judged: []contract.Judged{
				{Quantity: "co_pct", Value: 0.12, Limit: 0.5, Bound: "max", Standard: "GB 18285-2018", Clause: "ASM limits", Pass: true},
				{Quantity: "hc_ppm", Value: 45, Limit: 90, Bound: "max", Standard: "GB 18285-2018", Clause: "ASM limits", Pass: true},
				{Quantity: "no_ppm", Value: 380, Limit: 700, Bound: "max", Standard: "GB 18285-2018", Clause: "ASM limits", Pass: true},
			}})
	}
	for i := 0; ; i++ {
		mode := "asm5025"
		if i%2 == 1 {
			mode = "asm2540"
		}
		b.Process.Rows = append(b.Process.Rows, row(mode))
		b.Process.Phase = append(b.Process.Phase, mode)
		if i%10 == 9 {
			if raw, _ := json.Marshal(b); len(raw) >= targetBytes-800 {
				return b
			}
		}
	}
}

// vm reads VmHWM and VmRSS (kB) of a process.
func vm(pid int) (hwm, rss int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmHWM":
			hwm = n
		case "VmRSS":
			rss = n
		}
	}
	return hwm, rss
}

// TestBenchDrain is the drain benchmark (`make bench-drain`): figures, not a timed test.
// It commits a 10,000-record backlog of ASM-size test records to an outbox (the commit rate
// with synchronous=FULL is one figure), then starts the agent binary on it against local
// mosquitto and the reference platform (acks on), and measures how fast the backlog drains
// and the agent's peak RSS (VmHWM, read from /proc as a separate process).
func TestBenchDrain(t *testing.T) {
	if os.Getenv("IMAGENT_BENCH_DRAIN") != "1" {
		t.Skip("a benchmark: make bench-drain (IMAGENT_BENCH_DRAIN=1)")
	}
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("IMAGENT_BENCH_RECORDS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	body := asmBody(r, 80<<10)
	rawBody, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	ob, err := buffer.Open(ctx, filepath.Join(data, "outbox.db"), buffer.Opts{QuotaBytes: 4 << 30})
	if err != nil {
		t.Fatal(err)
	}
	var rawBytes, wireBytes int64
	start := time.Now()
	for i := range n {
		if i%500 == 0 { // vary the data, so not every record compresses the same
			body = asmBody(r, 80<<10)
			rawBody, _ = json.Marshal(body)
		}
		e := contract.Envelope{V: contract.Version, ID: contract.NewID(), Kind: contract.KindTest, Station: "SOAK01", Lane: "L1",
			Agent: contract.AgentInfo{Version: "bench", BootID: "bench"}, Time: contract.Time{Wall: time.Now(), MonoMS: int64(i), Clock: contract.ClockNTP},
			Body: rawBody}
		m, err := ob.Append(ctx, buffer.KindTest, func(seq int64, prev []byte) (string, []byte, error) {
			raw, err := e.Seal(seq, prev)
			return e.ID, raw, err
		})
		if err != nil {
			t.Fatal(err)
		}
		if i < 200 {
			rawBytes += int64(len(m.Payload))
			wireBytes += int64(len(contract.Compress(m.Payload)))
		}
	}
	commit := time.Since(start)
	st, _ := ob.Stats(ctx)
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
	sample := int64(min(n, 200))
	fmt.Fprintf(os.Stderr, "bench outbox commit: %d ASM-size records (%d B JSON each) in %v: %.0f records/s, synchronous=FULL, one transaction each; outbox %d MB\n",
		n, rawBytes/sample, commit.Round(time.Millisecond), float64(n)/commit.Seconds(), st.FileBytes>>20)
	small, _ := json.Marshal(contract.Envelope{V: 1, ID: contract.NewID(), Kind: contract.KindEvent, Station: "SOAK01", Lane: "L1",
		Body: []byte(`{"event":"device_fault","detail":"analyzer: no reply for 5 s"}`)})
	gzStart := time.Now()
	for range 50 {
		contract.Compress(rawBodyEnvelope(rawBody))
	}
	gzTime := time.Since(gzStart) / 50
	fmt.Fprintf(os.Stderr, "bench wire bytes per record: ASM test %d B JSON → %d B gzip (%.1f×, %v to compress); small event %d B (under %d B: sent as is)\n",
		rawBytes/sample, wireBytes/sample, float64(rawBytes)/float64(wireBytes), gzTime.Round(time.Microsecond), len(small), contract.GzipThreshold)

	broker := brokertest.StartMosquitto(t)
	p, _ := startPlatform(t, broker.URL, false)
	waitUntil(t, 10*time.Second, "the platform", p.Connected)
	tl := newTally()
	start = time.Now()
	args := []string{"--broker", broker.URL, "--count", "-1", "--rate-records", "0", "--rate-bytes", "0", "--ack-timeout", "60s"}
	if prof := os.Getenv("IMAGENT_BENCH_CPUPROFILE"); prof != "" {
		args = append(args, "--cpuprofile", prof)
	}
	cpu0 := cpuSeconds(os.Getpid())
	a := startAgent(t, tl, data, nil, args...)
	pid := a.cmd.Process.Pid
	var peakRSS int64
	trace := os.Getenv("IMAGENT_BENCH_TRACE") == "1"
	for i := 0; ; i++ {
		_, rss := vm(pid)
		peakRSS = max(peakRSS, rss)
		if trace && (i%10 == 0 || rss > 36<<10) {
			fmt.Fprintf(os.Stderr, "bench trace: %5.1fs rss %5.1f MB stored %d\n", time.Since(start).Seconds(), float64(rss)/1024, p.Counts().Stored)
		}
		// Cheap while the backlog drains (the platform's counter); the outbox is read only
		// at the end, so the measurement costs the agent nothing.
		if p.Counts().Stored >= int64(n) {
			s, err := buffer.Inspect(ctx, filepath.Join(data, "outbox.db"))
			if err == nil && s.ByState[buffer.Pending]+s.ByState[buffer.Sent] == 0 {
				break
			}
		}
		if time.Since(start) > 20*time.Minute {
			t.Fatalf("not drained after 20 min: the platform stored %d of %d", p.Counts().Stored, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	drain := time.Since(start)
	hwm, rss := vm(pid)
	agentCPU, testCPU, brokerCPU := cpuSeconds(pid), cpuSeconds(os.Getpid())-cpu0, cpuSeconds(broker.Pid())
	a.signal(syscall.SIGTERM)
	c := p.Counts()
	fmt.Fprintf(os.Stderr, "bench drain: %d records in %v: %.0f records/s with platform acks (window 32, no pacing); "+
		"agent VmHWM %.1f MB, VmRSS at the end %.1f MB (peak sampled %.1f MB); platform stored %d, duplicates %d\n",
		n, drain.Round(time.Millisecond), float64(n)/drain.Seconds(), float64(hwm)/1024, float64(rss)/1024, float64(peakRSS)/1024,
		c.Stored, c.Duplicates)
	fmt.Fprintf(os.Stderr, "bench drain CPU: agent %.1f s, reference platform (the test process) %.1f s, mosquitto %.1f s, over %.1f s on %d cores\n",
		agentCPU, testCPU, brokerCPU, drain.Seconds(), runtime.NumCPU())
	if c.Stored != int64(n) {
		t.Errorf("platform stored %d of %d", c.Stored, n)
	}
}

// cpuSeconds is the user+system CPU time of a process so far (0 if unknown).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// rawBodyEnvelope wraps a body in a typical envelope, for timing gzip on a real payload.
func rawBodyEnvelope(body []byte) []byte {
	raw, _ := json.Marshal(contract.Envelope{V: 1, ID: contract.NewID(), Kind: contract.KindTest, Station: "SOAK01", Lane: "L1", Body: body})
	return raw
}
