// Package supervise runs one app instance as a child process: started with
// `sh -c` in a release folder with PORT set, in its own process group so that
// whatever `bun start` spawns stops with it, its output kept whole-line to a
// writer and to a short tail for error messages, stopped with SIGTERM and then
// SIGKILL after a grace period.
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
