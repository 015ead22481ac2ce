package buffer

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// mountTmpfs mounts a tmpfs of the given size (mount(8) option syntax) on a fresh directory and
// unmounts it at cleanup. It skips the test where mounting is not allowed.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func TestDiskFull(t *testing.T) {
	ctx := context.Background()
	dir := mountTmpfs(t, "512k")
	path := filepath.Join(dir, "o.db")
	// SQLite's own behaviour on a full disk: no free-space reserve (the default keeps 1 MiB
	// free, more than this whole filesystem).
	noReserve := Opts{MinFreeBytes: 1}
	o := openOpts(t, path, noReserve)

	var committed []Msg
	var fullErr error
	for i := 0; i < 2000; i++ {
		m, err := o.Append(ctx, KindTest, builder("t", 2000))
		if err != nil {
			fullErr = err
			break
		}
		committed = append(committed, m)
	}
	if fullErr == nil {
		t.Fatal("2000 appends of 2 KB fitted in a 512 KiB tmpfs")
	}
	if !errors.Is(fullErr, ErrDiskFull) {
		t.Fatalf("append on a full disk: %v, want ErrDiskFull", fullErr)
	}
	t.Logf("%d records committed before: %v", len(committed), fullErr)
	if len(committed) < 10 {
		t.Fatalf("only %d records fitted", len(committed))
	}

	// The open outbox still reads everything, and keeps refusing cleanly.
	got, err := o.Pending(ctx, 0, len(committed)+10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(committed) {
		t.Fatalf("pending after disk full: %d records, want %d", len(got), len(committed))
	}
	if _, err := o.Append(ctx, KindTest, builder("t", 2000)); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("second append on a full disk: %v", err)
	}
	o.Close() // may fail to checkpoint; the WAL keeps the data

	// More room (as after pruning), reopen: every committed record is there, in one chain.
	if out, err := exec.Command("mount", "-o", "remount,size=4m", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	o = openOpts(t, path, noReserve)
	defer o.Close()
	if q := o.Quarantined(); len(q) != 0 {
		t.Fatalf("file quarantined after disk full: %v", q)
	}
	integrityCheck(t, o.db)
	recs := verifyChain(t, o)
	if len(recs) != len(committed) {
		t.Fatalf("after reopen: %d records, want %d", len(recs), len(committed))
	}
	for i, m := range recs {
		if m.ID != committed[i].ID {
			t.Fatalf("record %d is %q, want %q", i, m.ID, committed[i].ID)
		}
	}
	m, err := o.Append(ctx, KindTest, builder("t", 2000))
	if err != nil {
		t.Fatalf("append after making room: %v", err)
	}
	if m.Seq != int64(len(committed)+1) {
		t.Fatalf("seq after disk full = %d, want %d", m.Seq, len(committed)+1)
	}
}
