package buffer

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkAppend commits one ~2 KB record per transaction with synchronous=FULL, as the
// procedure does. On the development VM fsync is cheap; on SD/eMMC it dominates.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	o := openT(b, filepath.Join(b.TempDir(), "bench.db"))
	defer o.Close()
	pad := strings.Repeat("x", 2000)
	build := func(seq int64, prev []byte) (string, []byte, error) {
		return fmt.Sprintf("b-%d", seq), fmt.Appendf(nil, `{"seq":%d,"prev_hash":"%x","pad":"%s"}`, seq, prev, pad), nil
	}
	b.SetBytes(2048)
	for b.Loop() {
		if _, err := o.Append(ctx, KindTest, build); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkPending pages 100 records at a time through a backlog of 10,000, as the uplink
// drains it.
func BenchmarkPending(b *testing.B) {
	ctx := context.Background()
	o := openT(b, filepath.Join(b.TempDir(), "bench.db"))
	defer o.Close()
	const backlog = 10000
	pad := strings.Repeat("x", 2000)
	tx, err := o.db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for seq := int64(1); seq <= backlog; seq++ {
		if _, err := tx.Exec(`INSERT INTO records(seq, id, kind, payload, hash, state, epoch, attempts, created_unix_ms, reason)
			VALUES (?, ?, 'test', ?, x'00', 'pending', 0, 0, 0, '')`, seq, fmt.Sprintf("b-%d", seq), pad); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	var after, read int64
	for b.Loop() {
		ms, err := o.Pending(ctx, after, 100)
		if err != nil {
			b.Fatal(err)
		}
		if len(ms) == 0 {
			after = 0
			continue
		}
		read += int64(len(ms))
		after = ms[len(ms)-1].Seq
	}
	b.ReportMetric(float64(read)/b.Elapsed().Seconds(), "records/s")
}
