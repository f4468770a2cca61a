// Package supervise runs one app instance as a child process: started with
// `sh -c` in a release folder with PORT and a host (HOST=127.0.0.1 by
// default) set, in its own process group so that whatever `bun start` spawns
// stops with it, its output kept whole-line to a writer and to a short tail
// for error messages, stopped with SIGTERM and then SIGKILL after a grace
// period.
//
// An app never outlives its supervisor (Linux): every process of it carries a
// marker naming the supervisor (markerEnv), a guard process stops the marked
// processes when the supervisor dies however it dies (guard_linux.go), the
// app's first process also gets Pdeathsig, forked from a thread that lives as
// long as the process (spawn_linux.go), and StopLeftovers stops what a dead
// supervisor left when its guard died too.
//
// Around that: WaitHealthy (a TCP connect or an HTTP GET that answers 2xx,
// failing early when the process exits), FreePort (a loopback port for the
// next instance), Backoff (restart delays and crash-loop detection for an app
// that exits on its own), RotatingFile (the app log with size-based rotation)
// and RunInit (what the receiver does as PID 1 in a container: reap orphans).
//
// The package owns no loop: the receiver decides when to start, switch,
// restart and stop. Tests use real child processes.
package supervise
