// Package promptsink shows the procedures' prompts to the driver: on a console (a line per
// change), on a serial LED board (package ledboard) or on several at once. A sink never
// blocks a procedure: a slow or dead board only misses displays.
package promptsink

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"imagent/agent/procedure"
	"imagent/agent/promptsink/ledboard"
	"imagent/drivers"
)

// Lines turns a prompt into the two lines of a display: the instruction, and the target
// with the countdown.
func Lines(p procedure.Prompt) ledboard.Display {
	var parts []string
	switch {
	case p.TargetRPM > 0:
		parts = append(parts, fmt.Sprintf("%.0f r/min", p.TargetRPM))
	case p.TargetKmh > 0 || p.Drive:
		parts = append(parts, fmt.Sprintf("%.1f km/h", p.TargetKmh))
	}
	if p.Gear != "" {
		parts = append(parts, "gear "+p.Gear)
	}
	switch p.Pedal {
	case procedure.PedalFull:
		parts = append(parts, "PEDAL FULL")
	case procedure.PedalRelease:
		parts = append(parts, "RELEASE")
	}
	if p.Remaining > 0 {
		parts = append(parts, fmt.Sprintf("%d s", p.Remaining))
	}
	return ledboard.Display{Line1: p.Text, Line2: strings.Join(parts, "  ")}
}

// Console writes a line to w each time the prompt's text or target changes (not on every
// countdown second).
func Console(w io.Writer) func(procedure.Prompt) {
	var mu sync.Mutex
	var last string
	return func(p procedure.Prompt) {
		d := Lines(p)
		key := p.Phase + "|" + d.Line1 + "|" + fmt.Sprint(p.TargetRPM, p.TargetKmh, p.Gear, p.Pedal)
		mu.Lock()
		defer mu.Unlock()
		if key == last {
			return
		}
		last = key
		fmt.Fprintf(w, "  prompt   [%s] %s", p.Phase, d.Line1)
		if d.Line2 != "" {
			fmt.Fprintf(w, "  (%s)", d.Line2)
		}
		fmt.Fprintln(w)
	}
}

// Tee sends each prompt to every sink.
func Tee(sinks ...func(procedure.Prompt)) func(procedure.Prompt) {
	return func(p procedure.Prompt) {
		for _, s := range sinks {
			if s != nil {
				s(p)
			}
		}
	}
}

// Device is a supervised instrument as the board sink uses it (station.Device).
type Device interface {
	Do(ctx context.Context, fn func(ctx context.Context, d drivers.Device) error) error
}

// Board shows prompts on an LED board owned by a station supervisor. Prompt hands the
// newest display over without blocking; Run, the board's one writer, shows it.
type Board struct {
	dev  Device
	log  *slog.Logger
	next chan ledboard.Display
}

// NewBoard returns a board sink on dev; nothing is shown until Run.
func NewBoard(dev Device, log *slog.Logger) *Board {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Board{dev: dev, log: log, next: make(chan ledboard.Display, 1)}
}

// Prompt queues p's display, replacing one not yet shown.
func (b *Board) Prompt(p procedure.Prompt) {
	d := Lines(p)
	for {
		select {
		case b.next <- d:
			return
		default:
		}
		select {
		case <-b.next: // drop the stale one
		default:
		}
	}
}

type shower interface {
	Show(ctx context.Context, x ledboard.Display) error
}

// Run shows queued displays until ctx is done.
func (b *Board) Run(ctx context.Context) error {
	var last ledboard.Display
	for {
		select {
		case <-ctx.Done():
			return nil
		case d := <-b.next:
			if d == last {
				continue
			}
			err := b.dev.Do(ctx, func(ctx context.Context, dev drivers.Device) error {
				s, ok := dev.(shower)
				if !ok {
					return fmt.Errorf("promptsink: device %T is not a display", dev)
				}
				return s.Show(ctx, d)
			})
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				b.log.Warn("LED board", "err", err)
				continue
			}
			last = d
		}
	}
}
