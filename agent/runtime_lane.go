package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"imagent/agent/contract"
	"imagent/agent/lane"
	"imagent/agent/procedure"
	"imagent/agent/promptsink"
	"imagent/agent/record"
	"imagent/agent/selfcheck"
	"imagent/buffer"
	"imagent/config"
)

// regionDir is where a region's limits override is looked for after the directory of the
// configuration file.
const regionDir = "/etc/imagent/regions"

// laneParams returns the regulated numbers for cfg: the embedded defaults, with the
// override of cfg.Station.Region applied. A region other than "national" must have its file,
// regions/<region>.toml beside the configuration file or in /etc/imagent/regions: a lane
// that names a region whose rules it cannot find must not judge anything.
func laneParams(cfg *config.Config, configDir string) (*config.Params, string, error) {
	base := config.DefaultParams()
	region := cfg.Station.Region
	if region == "" || region == config.DefaultRegion {
		return base, "", nil
	}
	var tried []string
	dirs := []string{regionDir}
	if configDir != "" {
		dirs = []string{filepath.Join(configDir, "regions"), regionDir}
	}
	for _, d := range dirs {
		path := filepath.Join(d, region+".toml")
		tried = append(tried, path)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			continue
		}
		over, err := config.LoadParams(path)
		if err != nil {
			return nil, "", fmt.Errorf("region %q: %w", region, err)
		}
		return base.Override(over), path, nil
	}
	return nil, "", fmt.Errorf("region %q: no limits override found (looked for %v)", region, tried)
}

// newLane builds the lane's test runner around its instruments, the self-check gate and
// the prompt sinks. A lane with neither an analyzer nor an opacimeter runs no tests.
func (rt *runtime) newLane(ro runtimeOpts) error {
	params, file, err := laneParams(rt.cfg, ro.configDir)
	if err != nil {
		return err
	}
	if file != "" {
		rt.log.Info("regional limits override", "region", rt.cfg.Station.Region, "file", file)
	}
	if ro.clock == nil {
		ro.clock = procedure.RealClock{}
	}
	env := procedure.Env{Clock: ro.clock, Params: params, Stage: rt.cfg.Methods.Stage, Log: rt.log.With("part", "procedure")}
	var roles []string
	for _, x := range []struct {
		role string
		dst  *procedure.Instrument
	}{
		{"analyzer", &env.Analyzer}, {"dyno", &env.Dyno}, {"opacimeter", &env.Opacimeter},
		{"tachometer", &env.Tach}, {"weather", &env.Weather}, {"flowmeter", &env.Flowmeter},
	} {
		if d, err := rt.device(x.role); err == nil {
			*x.dst = d
			roles = append(roles, x.role)
		}
	}
	sinks := []func(procedure.Prompt){ro.prompt}
	for _, d := range rt.devices {
		if d.Spec().Role == "display" {
			b := promptsink.NewBoard(d, rt.log.With("part", "display", "device", d.Spec().Name))
			rt.boards = append(rt.boards, b)
			sinks = append(sinks, b.Prompt)
		}
	}
	if env.Analyzer == nil && env.Opacimeter == nil {
		return nil
	}
	rt.gate = selfcheck.NewGate(selfcheck.GateOptions{
		Store: rt.outbox, Params: params, Roles: roles, Required: rt.cfg.Methods.SelfCheckRequired,
		Synced: func() bool { return record.ClockQuality() != contract.ClockUnsynced },
		BootID: rt.bootID, MonoMS: record.MonoMS,
	})
	rt.lane = lane.New(lane.Options{
		Env:     env,
		Runners: lane.Runners(),
		Commit:  rt.maker.Commit,
		Lock:    rt.gate.Lock,
		Check:   selfcheck.Run,
		OnCheck: func(ctx context.Context, b *contract.CheckBody, m buffer.Msg) {
			if b.Result != contract.VerdictPass {
				return
			}
			if err := rt.gate.Passed(ctx, b.Check, m.ID); err != nil {
				rt.log.Error("self-check pass not remembered: the lane stays locked for it", "check", b.Check, "err", err)
			}
		},
		Simulated: ro.simulated,
		Prompt:    promptsink.Tee(sinks...),
		Log:       rt.log.With("part", "lane"),
	})
	return nil
}
