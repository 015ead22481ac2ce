// Package lane runs vehicle tests and device self-checks on one lane, one at a time: it
// starts a method for a vehicle (or a check of an instrument), publishes its progress
// (phase, countdown, prompt) to whoever watches (console, CLI, LED board), commits the
// result as a record, and refuses to start a test while the lane is locked (e.g. today's
// device self-checks have not passed). On an M-station a test may carry the repair it
// follows; it is then committed as a "repair" record that links to the failed inspection.
package lane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"imagent/agent/contract"
	"imagent/agent/procedure"
	"imagent/agent/selfcheck"
	"imagent/buffer"
)

// Request starts a test.
type Request struct {
	Method       string // contract.Method*
	InspectionID string
	Vehicle      contract.Vehicle
	// Repair, on an M-station, is the repair this test follows: the test is then committed
	// as a "repair" record carrying the link to the failed inspection, the repair and the
	// test. Its Test field is ignored.
	Repair *contract.RepairBody
}

// Kinds of job a lane runs.
const (
	JobTest  = "test"
	JobCheck = "check"
)

// Progress is what a watcher sees of the running (or last) test.
type Progress struct {
	RunID     int64
	Kind      string // JobTest or JobCheck
	Method    string // the test method, or the check for a check
	Running   bool
	Phase     string
	Prompt    string
	TargetRPM float64
	TargetKmh float64
	Pedal     string
	Remaining int // seconds left in the phase, when counting down
	Started   time.Time
	// Set when the test has ended:
	Verdict     string
	AbortReason string
	RecordID    string
	RecordSeq   int64
	Err         string
}

// Runner runs one method (TSI, ASM… below).
type Runner func(ctx context.Context, env procedure.Env, req Request) (*contract.TestBody, error)

// CheckRunner runs one self-check (selfcheck.Run).
type CheckRunner func(ctx context.Context, env procedure.Env, req selfcheck.Request) (*contract.CheckBody, error)

// Committer stores a record durably (record.Maker.Commit).
type Committer func(ctx context.Context, kind string, body any, simulated bool) (buffer.Msg, error)

// Lock says whether the lane may start a test, and if not, why.
type Lock func(ctx context.Context) (locked bool, reason string)

// Options wire a lane.
type Options struct {
	Env     procedure.Env // Clock, Analyzer, Params, Stage, Log; Prompt is set by the lane
	Runners map[string]Runner
	Commit  Committer
	Lock    Lock        // nil: never locked
	Check   CheckRunner // nil: the lane runs no self-checks
	// OnCheck is told of every committed check record (the self-check gate's Passed).
	OnCheck   func(ctx context.Context, body *contract.CheckBody, msg buffer.Msg)
	Simulated bool                   // records are flagged simulated (simulators or a sped-up clock)
	Prompt    func(procedure.Prompt) // also receives every prompt (e.g. the demo's simulated driver)
	Log       *slog.Logger
}

// Lane runs one test at a time.
type Lane struct {
	o Options

	mu     sync.Mutex
	cur    Progress
	cancel context.CancelFunc
	done   chan struct{}
	subs   map[chan Progress]struct{}
	nextID int64
}

// Errors of Start.
var (
	ErrBusy          = errors.New("lane: a test is already running")
	ErrLocked        = errors.New("lane: locked")
	ErrUnknownMethod = errors.New("lane: unknown method")
	ErrNoChecks      = errors.New("lane: this lane runs no self-checks")
)

// New returns a lane; nothing runs until Start.
func New(o Options) *Lane {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Lane{o: o, subs: map[chan Progress]struct{}{}}
}

// Methods lists the methods this lane can run.
func (l *Lane) Methods() []string {
	var m []string
	for k := range l.o.Runners {
		m = append(m, k)
	}
	slices.Sort(m)
	return m
}

// Progress returns the running or last test's progress.
func (l *Lane) Progress() Progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

// Subscribe returns a channel of progress updates (slow readers miss intermediate ones).
func (l *Lane) Subscribe() (<-chan Progress, func()) {
	ch := make(chan Progress, 8)
	l.mu.Lock()
	l.subs[ch] = struct{}{}
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		delete(l.subs, ch)
		l.mu.Unlock()
	}
}

func (l *Lane) publish(f func(p *Progress)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(&l.cur)
	for ch := range l.subs {
		select {
		case ch <- l.cur:
		default:
		}
	}
}

// Start begins a test in the background; ctx bounds its whole run (the agent's lifetime,
// not a request's). It fails at once if a test is running, the lane is locked or the
// method is unknown.
func (l *Lane) Start(ctx context.Context, req Request) (int64, error) {
	run, ok := l.o.Runners[req.Method]
	if !ok {
		return 0, fmt.Errorf("%w %q", ErrUnknownMethod, req.Method)
	}
	if req.Repair != nil {
		rb := *req.Repair
		rb.Test = &contract.TestBody{Vehicle: req.Vehicle}
		if err := rb.Validate(); err != nil {
			return 0, fmt.Errorf("lane: %w", err)
		}
	}
	if l.o.Lock != nil {
		if locked, why := l.o.Lock(ctx); locked {
			return 0, fmt.Errorf("%w: %s", ErrLocked, why)
		}
	}
	return l.begin(ctx, JobTest, req.Method, func(rctx context.Context) { l.run(rctx, ctx, run, req) })
}

// StartCheck begins a self-check in the background. The lock does not apply: the checks
// are what unlocks the lane.
func (l *Lane) StartCheck(ctx context.Context, req selfcheck.Request) (int64, error) {
	if l.o.Check == nil {
		return 0, ErrNoChecks
	}
	return l.begin(ctx, JobCheck, req.Check, func(rctx context.Context) { l.runCheck(rctx, ctx, req) })
}

// begin starts job unless something runs already.
func (l *Lane) begin(ctx context.Context, kind, name string, job func(rctx context.Context)) (int64, error) {
	l.mu.Lock()
	if l.cur.Running {
		l.mu.Unlock()
		return 0, ErrBusy
	}
	l.nextID++
	id := l.nextID
	rctx, cancel := context.WithCancel(ctx)
	l.cancel = cancel
	l.done = make(chan struct{})
	done := l.done
	l.mu.Unlock()
	l.publish(func(p *Progress) {
		*p = Progress{RunID: id, Kind: kind, Method: name, Running: true, Started: time.Now()}
	})
	go func() {
		defer close(done)
		defer cancel()
		job(rctx)
	}()
	return id, nil
}

// Cancel stops the running test (it is recorded as aborted by the operator) and waits
// for its record to be committed.
func (l *Lane) Cancel() {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Wait blocks until the current test (if any) has ended and returns its progress.
func (l *Lane) Wait(ctx context.Context) (Progress, error) {
	l.mu.Lock()
	done := l.done
	l.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return Progress{}, ctx.Err()
		}
	}
	return l.Progress(), nil
}

// env is the lane's procedure environment with prompts going to the watchers.
func (l *Lane) env() procedure.Env {
	env := l.o.Env
	env.Prompt = func(p procedure.Prompt) {
		l.publish(func(g *Progress) {
			g.Phase, g.Prompt, g.TargetRPM, g.Remaining = p.Phase, p.Text, p.TargetRPM, p.Remaining
			g.TargetKmh, g.Pedal = p.TargetKmh, p.Pedal
		})
		if l.o.Prompt != nil {
			l.o.Prompt(p)
		}
	}
	return env
}

func (l *Lane) run(rctx, agentCtx context.Context, run Runner, req Request) {
	body, err := run(rctx, l.env(), req)
	if err != nil {
		l.o.Log.Error("test could not be judged", "method", req.Method, "err", err)
		l.publish(func(g *Progress) { g.Running = false; g.Err = err.Error() })
		return
	}
	simulated := l.o.Simulated || body.ClockScale != 0
	kind, rec := contract.KindTest, any(body)
	if req.Repair != nil {
		rb := *req.Repair
		rb.Test = body
		kind, rec = contract.KindRepair, &rb
	}
	// The record is committed even when the test was cancelled: an aborted test is a record.
	msg, err := l.o.Commit(context.WithoutCancel(agentCtx), kind, rec, simulated)
	if err != nil {
		l.o.Log.Error("test record not stored", "method", req.Method, "err", err)
		l.publish(func(g *Progress) { g.Running = false; g.Err = "not stored: " + err.Error() })
		return
	}
	l.o.Log.Info("test finished", "method", req.Method, "verdict", body.Verdict, "abort", body.AbortReason, "record", msg.ID)
	l.publish(func(g *Progress) {
		g.Running = false
		g.Verdict, g.AbortReason, g.RecordID, g.RecordSeq = body.Verdict, body.AbortReason, msg.ID, msg.Seq
	})
}

func (l *Lane) runCheck(rctx, agentCtx context.Context, req selfcheck.Request) {
	body, err := l.o.Check(rctx, l.env(), req)
	if err != nil {
		l.o.Log.Error("self-check could not be run", "check", req.Check, "err", err)
		l.publish(func(g *Progress) { g.Running = false; g.Err = err.Error() })
		return
	}
	ctx := context.WithoutCancel(agentCtx)
	msg, err := l.o.Commit(ctx, contract.KindCheck, body, l.o.Simulated || body.ClockScale != 0)
	if err != nil {
		l.o.Log.Error("check record not stored", "check", req.Check, "err", err)
		l.publish(func(g *Progress) { g.Running = false; g.Err = "not stored: " + err.Error() })
		return
	}
	if l.o.OnCheck != nil {
		l.o.OnCheck(ctx, body, msg)
	}
	l.o.Log.Info("self-check finished", "check", req.Check, "result", body.Result, "abort", body.AbortReason, "record", msg.ID)
	l.publish(func(g *Progress) {
		g.Running = false
		g.Verdict, g.AbortReason, g.RecordID, g.RecordSeq = body.Result, body.AbortReason, msg.ID, msg.Seq
	})
}

// Runners returns a Runner for every method procedure implements.
func Runners() map[string]Runner {
	adapt := func(run func(context.Context, procedure.Env, procedure.TestRequest) (*contract.TestBody, error)) Runner {
		return func(ctx context.Context, env procedure.Env, req Request) (*contract.TestBody, error) {
			return run(ctx, env, procedure.TestRequest{InspectionID: req.InspectionID, Vehicle: req.Vehicle})
		}
	}
	return map[string]Runner{
		contract.MethodTSI:       TSI,
		contract.MethodASM:       adapt(procedure.RunASM),
		contract.MethodVMAS:      adapt(procedure.RunVMAS),
		contract.MethodFreeAccel: adapt(procedure.RunFreeAccel),
		contract.MethodLugDown:   adapt(procedure.RunLugDown),
	}
}

// TSI adapts procedure.RunTSI to a Runner.
func TSI(ctx context.Context, env procedure.Env, req Request) (*contract.TestBody, error) {
	return procedure.RunTSI(ctx, env, procedure.TSIRequest{InspectionID: req.InspectionID, Vehicle: req.Vehicle})
}
