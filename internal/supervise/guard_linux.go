//go:build linux

package supervise

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The guard: one small process per supervisor that stops its apps when the
// supervisor dies without doing it (SIGKILL, the OOM killer, a crash).
//
// Pdeathsig alone cannot do this: it reaches only the process the supervisor
// forked, and an app is a tree (`sh -c "bun start"` → `bun start` → `bun
// dist/index.js`, the one that listens). Killing the first leaves the others
// running and listening. The guard holds the read end of a pipe whose write
// end only the supervisor holds; the kernel closes it when the supervisor
// dies, however it dies, and the guard then stops every process marked with
// the supervisor's id (see markerEnv), wherever it went in the tree.
//
// The guard is this same program started again (/proc/self/exe, which is
// the running binary even if the file was replaced since) with guardEnv set;
// the init below turns it into the guard before main runs, so every program
// that links this package, test binaries included, can be its own guard.

// guardEnv carries the supervisor id ("PID:START") the guard watches.
const guardEnv = "SHIP_SUPERVISE_GUARD"

// guardArg is the guard's only argument. Were the init below ever skipped,
// the program would stop at it as an unknown flag instead of running a
// second receiver.
const guardArg = "--ship-supervise-guard"

// guardGrace is how long the guard gives an orphaned app after SIGTERM
// before SIGKILL: the receiver's default --stop-timeout.
const guardGrace = 10 * time.Second

func init() {
	if id := os.Getenv(guardEnv); id != "" && len(os.Args) == 2 && os.Args[1] == guardArg {
		os.Exit(runGuard(id, os.Stdin, os.Stderr))
	}
}

// runGuard waits for end of file on in (the supervisor is gone), then stops
// what the supervisor started. Signals that reach it with the supervisor's
// own (a terminal's ^C, a SIGTERM to the group) do not stop it: it must
// outlive the supervisor.
func runGuard(id string, in io.Reader, logw io.Writer) int {
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGPIPE)
	_, _ = io.Copy(io.Discard, in)
	pids := stopMarked(func(m marker) bool { return m.supervisor() == id }, guardGrace)
	if len(pids) > 0 {
		fmt.Fprintf(logw, "receiver guard: supervisor %s is gone; stopped the app processes it left: %s\n",
			strings.SplitN(id, ":", 2)[0], strings.Trim(fmt.Sprint(pids), "[]"))
	}
	return 0
}

// guard is this process's guard, started by the first Start.
var guard struct {
	sync.Mutex
	running bool
	pid     int
}

// ensureGuard starts the guard if none runs (the first Start, or the guard
// died: a new one watches every app already running, since it finds them by
// their marker).
func ensureGuard() error {
	guard.Lock()
	defer guard.Unlock()
	if guard.running {
		return nil
	}
	me, err := self()
	if err != nil {
		return fmt.Errorf("start the orphan guard: %w", err)
	}
	r, w, err := os.Pipe() // close-on-exec: no app inherits the write end
	if err != nil {
		return fmt.Errorf("start the orphan guard: %w", err)
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{os.Args[0], guardArg}
	cmd.Env = append(os.Environ(), guardEnv+"="+me.supervisor())
	cmd.Stdin, cmd.Stderr = r, os.Stderr
	// Its own group: a signal to the supervisor's group does not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return fmt.Errorf("start the orphan guard: %w", err)
	}
	guard.running, guard.pid = true, cmd.Process.Pid
	go func() {
		_ = cmd.Wait()
		// w stays referenced (and open) until the guard is gone: were it
		// collected, its finalizer would close it and the guard would act.
		w.Close()
		guard.Lock()
		guard.running = false
		guard.Unlock()
	}()
	return nil
}
