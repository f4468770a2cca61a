// Package faulttest holds the fault-injection suite (issue 8): the real
// ship binary deploys the example app, locally and over SSH through a
// testenv.Cutter, to an app root served by a real receiver under HTTP load
// from another process, while a seeded random schedule injects one fault
// per trial: ship SIGKILLed (or interrupted) at a random moment of a random
// stage, the connection reset or frozen, the disk filled (the app root is a
// small tmpfs when the tests run as root), five deploys at once, the
// receiver SIGKILLed and restarted, release numbers pushed past 10 and 100.
//
// After each trial it checks what the design promises: the host ends the
// deploy by itself (lock free, no run folder) within the documented bounds,
// current resolves to a finished release and the receiver serves it, ship
// never claimed an outcome it did not see, the next deploy succeeds without
// `ship unlock` and sweeps every leftover, prune keeps the newest --keep by
// number, and no request of the load failed.
//
// The suite is only tests; go test ./internal/faulttest -v prints the seed,
// one line per trial and a summary table. SHIP_FAULT_SEED=N replays a run's
// choices, SHIP_FAULT_TRIAL=I replays one trial of it, SHIP_FAULT_TRIALS=N
// (or -soak) runs a longer soak, SHIP_FAULT_REPORT=FILE also writes the
// table to FILE.
package faulttest
