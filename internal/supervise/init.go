//go:build unix

package supervise

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// forwarded are the signals RunInit passes on to its child.
var forwarded = []os.Signal{
	syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH,
}

// reapEvery is a safety net for a SIGCHLD that arrived before Notify.
const reapEvery = time.Second

// RunInit is what the receiver does when it is PID 1 (a container's
// entrypoint): it runs argv as its only child, passes signals on to it,
// reaps every process that ends up parented to it, and returns the child's
// exit code (128+signal when killed) once the child has exited.
//
// Why a separate process rather than a wait4(-1) loop inside the receiver:
// the receiver starts processes with os/exec (the app, and git or bun for
// pull deploys), and exec.Cmd.Wait must get each one's exit status. A
// wait4(-1) in the same process could reap one of them first and leave Wait
// with ECHILD. Here the receiver is a child like any other: orphans are
// reparented to this process, never to the receiver, and this process waits
// for nothing else, so it may reap anything (the tini model).
//
// It also sets PR_SET_CHILD_SUBREAPER, so orphans come here even when this
// process is not PID 1 (tests, or a supervisor that does not reap).
func RunInit(path string, argv, env []string, logw io.Writer) int {
	if err := setSubreaper(); err != nil && os.Getpid() != 1 {
		fmt.Fprintf(logw, "receiver init: set child subreaper: %v\n", err)
	}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, append([]os.Signal{syscall.SIGCHLD}, forwarded...)...)
	defer signal.Stop(sigs)

	child, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2},
	})
	if err != nil {
		fmt.Fprintf(logw, "receiver init: start %s: %v\n", path, err)
		return 1
	}
	tick := time.NewTicker(reapEvery)
	defer tick.Stop()
	for {
		select {
		case sig := <-sigs:
			if sig != syscall.SIGCHLD {
				_ = syscall.Kill(child, sig.(syscall.Signal))
				continue
			}
		case <-tick.C:
		}
		if code, exited := reap(child); exited {
			return code
		}
	}
}

// reap waits for every child that has exited, without blocking, and reports
// whether child was one of them and its exit code.
func reap(child int) (code int, exited bool) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return code, exited // ECHILD: no children; 0: none exited yet
		}
		if pid == child {
			exited = true
			code = ws.ExitStatus()
			if ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		}
	}
}
