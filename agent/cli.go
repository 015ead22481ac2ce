package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `imagent — emission-lane edge agent

usage: imagent <command> [flags]

commands:
  run        run the agent on a station (--config FILE)
  demo       simulated lane, in-process broker and reference platform; runs a test and prints the stored record (-method tsi|asm|vmas|free_accel|lugdown)
  test       run one test: imagent test run --method asm --vehicle vehicle.toml [--config FILE] [--repair FILE]
  sim        expose a device simulator on a pseudo-terminal (imagent sim nanhua)
  ports      list serial ports with USB VID/PID/serial and their /dev/serial/by-id paths
  probe      find out which known instrument answers on a port (imagent probe PORT)
  monitor    live values of a device in the terminal (imagent monitor DEVICE)
  record     capture real traffic as a trace (imagent record PORT --proto P -o FILE.trace)
  platform   run the reference platform receiver (--broker URL --db FILE)
  config     validate a configuration file (imagent config validate FILE), apply one (config apply FILE) or roll back (config rollback)
  console    the technicians' web console: console passwd (make a password hash), console demo (a simulated lane with its console)
  records    list, show and export stored records (records list|show|export)
  check      run the daily device self-checks (check run)
  selftest   check this build on this box: SQLite, formulas, pseudo-terminals
  soak       produce records continuously and sync them (fault-injection tests)
  status     the outbox's backlog, last ack, uplink and clock state (read-only; --data DIR or --config FILE)
  outbox     outbox tools: imagent outbox salvage QUARANTINED_FILE copies its readable rows back
  version    print the version
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr)
	case "test":
		return cmdTest(ctx, rest, stdout, stderr)
	case "sim":
		return cmdSim(ctx, rest, stdout, stderr)
	case "ports":
		return cmdPorts(ctx, rest, stdout, stderr)
	case "probe":
		return cmdProbe(ctx, rest, stdout, stderr)
	case "monitor":
		return cmdMonitor(ctx, rest, stdout, stderr)
	case "record":
		return cmdRecord(ctx, rest, stdout, stderr)
	case "platform":
		return cmdPlatform(ctx, rest, stdout, stderr)
	case "config":
		return cmdConfig(ctx, rest, stdout, stderr)
	case "console":
		return cmdConsole(ctx, rest, stdout, stderr)
	case "records":
		return cmdRecords(ctx, rest, stdout, stderr)
	case "check":
		return cmdCheck(ctx, rest, stdout, stderr)
	case "selftest":
		return cmdSelftest(ctx, rest, stdout, stderr)
	case "soak":
		return cmdSoak(ctx, rest, stdout, stderr)
	case "status":
		return cmdStatus(ctx, rest, stdout, stderr)
	case "outbox":
		return cmdOutbox(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "imagent", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("imagent "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// newLogger logs text to w at the named level.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// parseMixed parses flags that may come before or after positional arguments
// ("imagent record PORT --proto P" as well as "imagent record --proto P PORT") and returns
// the positional ones.
func parseMixed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
