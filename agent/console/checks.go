package console

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"imagent/agent/contract"
	"imagent/agent/station"
	"imagent/buffer"
	"imagent/drivers"
)

// Checker is one kind of daily device self-check. Run drives the device (through
// station.Device.Do and the drivers' capability interfaces) and commits the outcome as a
// check record whose body names the check (ID) and the device, and says whether it passed
// (contract.CheckBody), so today's status can be read back from the outbox.
type Checker interface {
	ID() string                     // stable; the record's body.check, e.g. contract.CheckAnalyzerLeak
	Applies(spec station.Spec) bool // whether the check is for this device
	Run(ctx context.Context, dev *station.Device, by string) (CheckResult, error)
}

// CheckResult is the outcome of one run. A run that could not reach the device returns an
// error and no record; a run that reached it is recorded, pass or fail.
type CheckResult struct {
	Check     string             `json:"check"`
	Device    string             `json:"device"`
	Pass      bool               `json:"pass"`
	Detail    string             `json:"detail,omitempty"`
	Values    map[string]float64 `json:"values,omitempty"`
	Started   time.Time          `json:"started"`
	Ended     time.Time          `json:"ended"`
	RecordID  string             `json:"record_id"`
	RecordSeq int64              `json:"record_seq"`
}

// ErrUnsupported is wrapped by a Checker whose device's driver lacks the capability.
var ErrUnsupported = errors.New("console: the device's driver does not support this")

// LeakCheck is the analyzer leak check: drivers.LeakChecker reports whether the sample
// path holds tight.
type LeakCheck struct {
	Commit    Committer
	Simulated bool             // flag records as simulated (simulators)
	Now       func() time.Time // default time.Now
	Timeout   time.Duration    // default 3 minutes
}

// ID implements Checker.
func (c *LeakCheck) ID() string { return contract.CheckAnalyzerLeak }

// Applies implements Checker: analyzers only.
func (c *LeakCheck) Applies(s station.Spec) bool { return s.Role == "analyzer" }

// Run implements Checker.
func (c *LeakCheck) Run(ctx context.Context, dev *station.Device, by string) (CheckResult, error) {
	now := c.Now
	if now == nil {
		now = time.Now
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	sp := dev.Spec()
	res := CheckResult{Check: c.ID(), Device: sp.Name, Started: now()}
	var tight, started bool
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := dev.Do(ctx, func(ctx context.Context, d drivers.Device) error {
		lc, ok := d.(drivers.LeakChecker)
		if !ok {
			return fmt.Errorf("%s: leak check: %w", sp.Name, ErrUnsupported)
		}
		started = true
		var err error
		tight, err = lc.LeakCheck(ctx)
		return err
	})
	res.Ended = now()
	if !started {
		// Nothing happened on the instrument: not connected, unsupported, cancelled.
		return res, err
	}
	res.Pass = err == nil && tight
	switch {
	case err != nil:
		res.Detail = "leak check could not be completed: " + err.Error()
	case !tight:
		res.Detail = "the analyzer found a leak in the sample path"
	}
	body := contract.CheckBody{Check: res.Check, Device: contract.DeviceRef{Name: sp.Name, Protocol: sp.Protocol,
		Model: sp.Model, Port: sp.Port}, Started: res.Started.UTC(), Ended: res.Ended.UTC(), Operator: by,
		Result: contract.VerdictFail}
	switch {
	case err != nil:
		body.Result, body.AbortReason, body.AbortDetail = contract.VerdictAbort, "device_command_failed", res.Detail
	default:
		body.Items = []contract.CheckItem{{Name: "leak_tight", Nominal: 1, Measured: b2f(tight), Pass: tight}}
		if tight {
			body.Result = contract.VerdictPass
		}
	}
	// The record is committed even if the caller has gone: the check happened.
	m, cerr := c.Commit(context.WithoutCancel(ctx), contract.KindCheck, body, c.Simulated)
	if cerr != nil {
		return res, fmt.Errorf("console: leak check ran (pass=%v) but its record was not stored: %w", res.Pass, cerr)
	}
	res.RecordID, res.RecordSeq = m.ID, m.Seq
	return res, nil
}

// checkStatus is today's latest result of one check on one device.
type checkStatus struct {
	Check, Device string
	Ran           bool
	Pass          bool
	At            time.Time
	RecordID      string
}

// todayChecks reads today's check records (local time) from the outbox and returns, for
// every device and every check that applies to it, the latest result.
func (s *Server) todayChecks(ctx context.Context) ([]checkStatus, error) {
	var out []checkStatus
	idx := map[[2]string]int{}
	for _, d := range s.o.Devices {
		for _, c := range s.o.Checkers {
			if c.Applies(d.Spec()) {
				idx[[2]string{d.Spec().Name, c.ID()}] = len(out)
				out = append(out, checkStatus{Check: c.ID(), Device: d.Spec().Name})
			}
		}
	}
	if len(out) == 0 || s.o.Records == nil {
		return out, nil
	}
	now := s.now()
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	q := buffer.Query{Kind: buffer.KindCheck, Since: midnight, Limit: buffer.MaxSearchLimit}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	recs, _, err := s.o.Records.Search(qctx, q)
	if err != nil {
		return out, err
	}
	// Newest first: the first record seen for a pair is the latest.
	for _, r := range recs {
		i, ok := idx[[2]string{r.Device, r.Check}]
		if !ok || out[i].Ran {
			continue
		}
		out[i].Ran, out[i].At, out[i].RecordID = true, r.Created, r.ID
		out[i].Pass = r.Pass != nil && *r.Pass
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out, nil
}

// runCheck runs the checker id on the named device, one check at a time and never during
// a test. It outlives the request: a leak check left half done is worse than a late answer.
func (s *Server) runCheck(id, device, by string) (CheckResult, error) {
	var c Checker
	for _, x := range s.o.Checkers {
		if x.ID() == id {
			c = x
		}
	}
	d := s.device(device)
	if c == nil || d == nil || !c.Applies(d.Spec()) {
		return CheckResult{}, fmt.Errorf("%w: check %q on device %q", errNotFound, id, device)
	}
	if s.o.Lane != nil && s.o.Lane.Progress().Running {
		return CheckResult{}, errLaneBusy
	}
	if !s.checkMu.TryLock() {
		return CheckResult{}, errCheckBusy
	}
	defer s.checkMu.Unlock()
	s.log.Info("self-check started", "check", id, "device", device, "by", by)
	// The agent's context, not the request's: if the client goes away the check still
	// finishes and is recorded; only the answer is lost.
	res, err := c.Run(s.agentCtx(), d, by)
	if err != nil {
		s.log.Warn("self-check not run", "check", id, "device", device, "err", err)
	} else {
		s.log.Info("self-check done", "check", id, "device", device, "pass", res.Pass, "record", res.RecordID)
	}
	return res, err
}

var (
	errNotFound  = errors.New("not found")
	errLaneBusy  = errors.New("a test is running")
	errCheckBusy = errors.New("another self-check is running")
)

func (s *Server) device(name string) *station.Device {
	for _, d := range s.o.Devices {
		if d.Spec().Name == name {
			return d
		}
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
