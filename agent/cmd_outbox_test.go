package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"imagent/buffer"
)

// TestStatusBesideRunningAgent runs `imagent status` on an outbox another Outbox (the
// running agent) holds open, with records in flight: it reports them and changes nothing.
func TestStatusBesideRunningAgent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ob, err := buffer.Open(ctx, filepath.Join(dir, "outbox.db"), buffer.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	for i, kind := range []buffer.Kind{buffer.KindTest, buffer.KindTest, buffer.KindTelemetry, buffer.KindEvent} {
		if _, err := ob.Append(ctx, kind, func(seq int64, prev []byte) (string, []byte, error) {
			return fmt.Sprintf("r%d", i), []byte(`{"x":"` + strings.Repeat("y", 100*(i+1)) + `"}`), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ob.MarkSent(ctx, 1, 1, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := ob.Ack(ctx, "r3"); err != nil {
		t.Fatal(err)
	}
	if err := ob.SetMeta(ctx, "uplink.state", `{"connected":false,"broker":"ssl://x:8883","last_error":"refused","error_class":"auth","retry_in_s":600}`); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"status", "--data", dir, "--json"}, &out, &errOut); err != nil {
		t.Fatalf("status: %v\n%s", err, errOut.String())
	}
	var r statusReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out.String())
	}
	if r.Records[buffer.Sent] != 2 || r.Records[buffer.Pending] != 1 || r.Records[buffer.Acked] != 1 ||
		r.Backlog[buffer.KindTest].Sent != 2 || r.Backlog[buffer.KindTelemetry].Pending != 1 || r.Backlog[buffer.KindTest].Bytes == 0 ||
		r.OldestUnacked != 1 || r.OldestAgeS == nil || r.LastAck.IsZero() || r.Uplink == nil || r.Uplink.ErrorClass != "auth" {
		t.Fatalf("status report %+v", r)
	}
	st, err := ob.Stats(ctx)
	if err != nil || st.ByState[buffer.Sent] != 2 {
		t.Fatalf("status changed the running agent's outbox: %+v %v", st.ByState, err)
	}
	out.Reset()
	if err := run(ctx, []string{"status", "--data", dir}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3 un-acked (1 pending, 2 sent)", "AUTH ERROR", "telemetry", "last ack"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status text lacks %q:\n%s", want, out.String())
		}
	}
	if err := run(ctx, []string{"status", "--data", t.TempDir()}, &out, &errOut); err == nil {
		t.Error("status of a directory without an outbox succeeded")
	}
	if err := run(ctx, []string{"outbox", "salvage"}, &out, &errOut); err == nil {
		t.Error("outbox salvage without a file succeeded")
	}
}
