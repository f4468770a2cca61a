//go:build unix && !linux

package supervise

import (
	"os/exec"
	"syscall"
	"time"
)

// Outside Linux there is no Pdeathsig, no /proc to find an app's processes
// by their marker, and so no guard: an app started here can outlive a
// receiver that is killed. The receiver is meant for Linux servers; these
// keep the package building elsewhere.

func appProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func spawn(cmd *exec.Cmd) error { return cmd.Start() }

func ensureGuard() error { return nil }

func appMarker(string) (string, error) { return "", nil }

// StopLeftovers finds nothing outside Linux.
func StopLeftovers(string, time.Duration) ([]int, error) { return nil, nil }

// listenerIn cannot tell without /proc: the caller trusts its probe.
func listenerIn(port, pgid int) (mine, ok bool) { return false, false }
