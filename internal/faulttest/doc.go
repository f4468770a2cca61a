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
// (or -soak) runs a longer soak (with faults too slow for the default run:
// host-kill), SHIP_FAULT_KINDS=disk,cut keeps only those faults,
// SHIP_FAULT_VERBOSE=1 logs ship's output of every trial (not only of those
// that broke a promise), SHIP_FAULT_REPORT=FILE also writes the table to
// FILE. The trials' deploys use --wait 20s, a build that sleeps up to 0.4s
// and an app that takes 250ms to listen, so that faults find every stage
// under way. regress_test.go holds the bugs the suite found, each made
// deterministic.
package faulttest
