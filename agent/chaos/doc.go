// Package chaos is the fault-injection suite of the store-and-forward path: it runs the
// imagent binary as a child process (`imagent soak`) against real brokers and the reference
// platform, breaks things — SIGKILL, broker crashes, silent and slow lossy links, a full
// disk, a corrupt outbox, clock steps, a platform that stops acking — and checks that every
// record the agent reported committed reaches the platform (or, for expendable telemetry,
// is accounted for by the agent's own eviction events).
//
// Each scenario prints one figure line to stderr:
//
//	chaos: NAME produced=N delivered=N lost=0 duplicates=N drain=S.Ss ...
//
// `go test ./agent/chaos` (part of `make test`) runs the bounded form; `make chaos` sets
// CHAOS_LONG=1 for the long form. Scenarios that need root (tmpfs, network namespaces)
// skip with a message elsewhere. `make bench-drain` runs the drain benchmark
// (IMAGENT_BENCH_DRAIN=1).
package chaos
