package lane_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"imagent/agent/contract"
	"imagent/agent/lane"
	"imagent/agent/procedure"
	"imagent/agent/record"
	"imagent/agent/selfcheck"
	"imagent/agent/simlane"
	"imagent/buffer"
	"imagent/config"
	"imagent/drivers/gas/nanhua/nanhuasim"
)

// fixture is a lane on a simulated analyzer with a real outbox behind it.
type fixture struct {
	sim    *simlane.Lane
	outbox *buffer.Outbox
	lane   *lane.Lane
	locked bool
	checks []*contract.CheckBody
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sl, err := simlane.Start(simlane.Options{Speed: 25, Analyzer: nanhuasim.Options{ZeroTime: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sl.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	ob, err := buffer.Open(context.Background(), filepath.Join(t.TempDir(), "outbox.db"), buffer.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	f := &fixture{sim: sl, outbox: ob}
	maker := &record.Maker{Outbox: ob, Station: "T01", Lane: "L1", Version: "test", BootID: "boot"}
	env := sl.Env(config.DefaultParams(), "a")
	env.Prompt = nil // the lane sets it
	f.lane = lane.New(lane.Options{
		Env:     env,
		Runners: lane.Runners(),
		Commit:  maker.Commit,
		Lock: func(ctx context.Context) (bool, string) {
			if f.locked {
				return true, "self-checks not passed"
			}
			return false, ""
		},
		Check:   selfcheck.Run,
		OnCheck: func(_ context.Context, b *contract.CheckBody, _ buffer.Msg) { f.checks = append(f.checks, b) },
		Prompt:  sl.Driver.Follow,
	})
	return f
}

var car = contract.Vehicle{Plate: "苏A00001", VIN: "LTEST000000000009", Fuel: "gasoline", GVWkg: 1500, Catalyst: true}

// stored decodes the committed record with the id a progress names.
func (f *fixture) stored(t *testing.T, p lane.Progress) (buffer.Msg, *contract.Envelope) {
	t.Helper()
	m, err := f.outbox.Get(context.Background(), p.RecordID)
	if err != nil {
		t.Fatalf("record %q: %v", p.RecordID, err)
	}
	_, e, err := contract.Decode(m.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return m, e
}

func wait(t *testing.T, l *lane.Lane) lane.Progress {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := l.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBusyUnknownAndLocked(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.lane.Start(ctx, lane.Request{Method: "ringelmann", Vehicle: car}); !errors.Is(err, lane.ErrUnknownMethod) {
		t.Errorf("unknown method: %v", err)
	}
	f.locked = true
	if _, err := f.lane.Start(ctx, lane.Request{Method: contract.MethodTSI, Vehicle: car}); !errors.Is(err, lane.ErrLocked) {
		t.Errorf("locked lane started a test: %v", err)
	}
	if p := f.lane.Progress(); p.RunID != 0 || p.Running {
		t.Errorf("a refused start left progress %+v", p)
	}
	f.locked = false
	id, err := f.lane.Start(ctx, lane.Request{Method: contract.MethodTSI, InspectionID: "I1", Vehicle: car})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.lane.Start(ctx, lane.Request{Method: contract.MethodTSI, Vehicle: car}); !errors.Is(err, lane.ErrBusy) {
		t.Errorf("second test while one runs: %v", err)
	}
	if _, err := f.lane.StartCheck(ctx, selfcheck.Request{Check: contract.CheckAnalyzerLeak}); !errors.Is(err, lane.ErrBusy) {
		t.Errorf("a check while a test runs: %v", err)
	}
	p := wait(t, f.lane)
	if p.RunID != id || p.Running || p.Verdict != contract.VerdictPass || p.RecordSeq != 1 {
		t.Fatalf("progress %+v", p)
	}
	m, e := f.stored(t, p)
	var b contract.TestBody
	if err := json.Unmarshal(e.Body, &b); err != nil {
		t.Fatal(err)
	}
	if m.Kind != buffer.Kind(contract.KindTest) || b.Method != contract.MethodTSI || b.InspectionID != "I1" || !e.Simulated {
		t.Errorf("stored %s %+v simulated=%v", m.Kind, b.Method, e.Simulated)
	}
}

func TestCancelRecordsOperatorAbort(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cancelled := make(chan struct{})
	f.sim.Driver.Misbehave(func(p procedure.Prompt) bool {
		if p.Phase == "high_idle_hold" {
			select {
			case <-cancelled:
			default:
				close(cancelled)
				go f.lane.Cancel()
			}
		}
		return false
	})
	if _, err := f.lane.Start(context.Background(), lane.Request{Method: contract.MethodTSI, Vehicle: car}); err != nil {
		t.Fatal(err)
	}
	p := wait(t, f.lane)
	if p.Verdict != contract.VerdictAbort || p.AbortReason != procedure.AbortOperator || p.RecordID == "" {
		t.Fatalf("progress %+v, want an operator abort that is stored", p)
	}
	_, e := f.stored(t, p)
	var b contract.TestBody
	if err := json.Unmarshal(e.Body, &b); err != nil {
		t.Fatal(err)
	}
	if b.AbortReason != procedure.AbortOperator || len(b.Process.Rows) == 0 {
		t.Errorf("stored abort %q with %d rows", b.AbortReason, len(b.Process.Rows))
	}
}

func TestChecksUnlockAndRepairRecord(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.locked = true
	if _, err := f.lane.StartCheck(ctx, selfcheck.Request{Check: contract.CheckAnalyzerLeak}); err != nil {
		t.Fatalf("a check must run on a locked lane: %v", err)
	}
	p := wait(t, f.lane)
	if p.Kind != lane.JobCheck || p.Verdict != contract.VerdictPass || len(f.checks) != 1 {
		t.Fatalf("check progress %+v, %d checks reported", p, len(f.checks))
	}
	if m, _ := f.stored(t, p); m.Kind != buffer.Kind(contract.KindCheck) {
		t.Errorf("check stored as %s", m.Kind)
	}
	f.locked = false

	rep := &contract.RepairBody{
		FailedInspection: contract.InspectionRef{InspectionID: "3205002025060100042", Plate: car.Plate, VIN: car.VIN},
		Repair: contract.Repair{Diagnosis: "catalyst", Items: []contract.RepairItem{{Description: "replace catalyst"}},
			Technician: contract.Technician{Name: "Li"}, Completed: true},
	}
	other := car
	other.VIN = "LOTHER00000000000"
	if _, err := f.lane.Start(ctx, lane.Request{Method: contract.MethodTSI, Vehicle: other, Repair: rep}); err == nil {
		t.Error("a post-repair test of another vehicle must be refused")
	}
	f.sim.Vehicle.SetDirty(true)
	if _, err := f.lane.Start(ctx, lane.Request{Method: contract.MethodTSI, Vehicle: car, Repair: rep}); err != nil {
		t.Fatal(err)
	}
	p = wait(t, f.lane)
	m, e := f.stored(t, p)
	if m.Kind != buffer.Kind(contract.KindRepair) {
		t.Fatalf("post-repair test stored as %s", m.Kind)
	}
	var rb contract.RepairBody
	if err := json.Unmarshal(e.Body, &rb); err != nil {
		t.Fatal(err)
	}
	if err := rb.Validate(); err != nil {
		t.Error(err)
	}
	if rb.Test == nil || rb.Test.Verdict != contract.VerdictFail || rb.FailedInspection.InspectionID != "3205002025060100042" {
		t.Errorf("repair record %+v", rb)
	}
}
