// Command imagent is the edge agent of a vehicle-emission inspection lane or M-station: it
// reads the lane's instruments over serial, runs the regulated test methods, commits every
// record to a local SQLite outbox and syncs it to the regional platform over MQTT.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "imagent:", err)
		os.Exit(1)
	}
}
