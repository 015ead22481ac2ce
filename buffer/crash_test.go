package buffer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

const helperEnv = "BUFFER_CRASH_HELPER_DB"

// TestHelperProcess is the child of TestCrashSafety: it appends records to the outbox named
// by $BUFFER_CRASH_HELPER_DB in a loop, acks some, and prints each seq once Append has returned
// (committed). It runs until it is killed.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	ctx := context.Background()
	o, err := Open(ctx, path, Opts{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	epoch := time.Now().UnixNano()
	for i := 0; ; i++ {
		m, err := o.Append(ctx, KindTest, builder("c", 1500))
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(3)
		}
		// One write(2) per line, so a line on the pipe is complete or absent.
		os.Stdout.Write([]byte(strconv.FormatInt(m.Seq, 10) + "\n"))
		switch i % 4 {
		case 1:
			if err := o.MarkSent(ctx, epoch, m.Seq-1, m.Seq); err != nil {
				fmt.Fprintln(os.Stderr, "helper:", err)
				os.Exit(4)
			}
		case 3:
			if _, err := o.Ack(ctx, fmt.Sprintf("c-%d", m.Seq-2)); err != nil {
				fmt.Fprintln(os.Stderr, "helper:", err)
				os.Exit(5)
			}
		}
	}
}

// TestCrashSafety SIGKILLs a process that is appending, at random moments, and checks after
// each kill that every seq it reported as committed is stored, the chain is intact and the
// file passes integrity_check. A kill stops the process, not the kernel, so this covers
// crashes, not power cuts.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 7))
	reported := map[int64]bool{}
	acked := map[int64]bool{} // once acked, a record stays acked
	for round := range 10 {
		// Odd rounds may kill during start-up (Open, migration, requeue); even rounds kill in
		// the append loop.
		var delay time.Duration
		if round%2 == 1 {
			delay = time.Duration(r.IntN(25)) * time.Millisecond
		} else {
			delay = time.Duration(20+r.IntN(200)) * time.Millisecond
		}
		seqs, stderr := runAndKill(t, path, delay, round%2 == 0)
		for _, s := range seqs {
			reported[s] = true
		}

		o, err := Open(context.Background(), path, Opts{})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v (child stderr: %s)", round, err, stderr)
		}
		if q := o.Quarantined(); len(q) != 0 {
			t.Fatalf("round %d: the file was found corrupt after a kill: %v", round, q)
		}
		integrityCheck(t, o.db)
		recs := verifyChain(t, o)
		for s := range reported {
			if s > int64(len(recs)) {
				t.Fatalf("round %d: seq %d was reported committed but only %d records are stored", round, s, len(recs))
			}
		}
		for _, m := range recs {
			if acked[m.Seq] && m.State != Acked {
				t.Fatalf("round %d: seq %d was acked and is now %s", round, m.Seq, m.State)
			}
			if m.State == Acked {
				acked[m.Seq] = true
			}
		}
		st, err := o.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.ByState[Sent] != 0 {
			t.Fatalf("round %d: %d records still sent after reopen", round, st.ByState[Sent])
		}
		t.Logf("round %d: killed after %v, %d seqs reported this round, %d records stored, %d acked",
			round, delay, len(seqs), len(recs), st.ByState[Acked])
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if len(reported) == 0 {
		t.Fatal("no round committed anything before the kill; the test proved nothing")
	}
}

// runAndKill starts the helper on path, SIGKILLs it after delay (counted from its first
// committed seq when afterFirst is set) and returns the seqs it reported.
func runAndKill(t *testing.T, path string, delay time.Duration, afterFirst bool) ([]int64, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	if afterFirst {
		one := make([]byte, 1)
		if _, err := io.ReadFull(out, one); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("helper wrote nothing: %v; stderr: %s", err, stderr.String())
		}
		buf = append(buf, one...)
	}
	time.Sleep(delay)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(out)
	buf = append(buf, rest...)
	cmd.Wait() // "signal: killed" is the expected outcome

	var seqs []int64
	for len(buf) > 0 {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			break // an incomplete last line is not a report
		}
		s, err := strconv.ParseInt(string(buf[:i]), 10, 64)
		if err != nil {
			t.Fatalf("helper printed %q", buf[:i])
		}
		seqs = append(seqs, s)
		buf = buf[i+1:]
	}
	return seqs, stderr.String()
}
