package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// DefaultCommand is what runs when Spec.Command is empty.
const DefaultCommand = "bun start"

// outputGrace is how long a process that exited may keep its output pipe
// open (a child that outlived it) before Done closes anyway: long enough to
// read the last lines it wrote, short enough not to delay a restart.
const outputGrace = 250 * time.Millisecond

// killWait bounds the wait for a process group after SIGKILL. The kernel
// delivers SIGKILL at once; this only guards against a process stuck in
// uninterruptible sleep (a hung disk), which nothing can kill.
const killWait = 5 * time.Second

// ErrKilled means a process did not exit within its grace period after
// SIGTERM and was killed with SIGKILL.
var ErrKilled = errors.New("did not stop after SIGTERM: killed")

// Spec says how to run one app instance.
type Spec struct {
	Dir     string // working directory: the release folder
	Command string // shell text run with `sh -c`; DefaultCommand when empty
	// Env is added to the receiver's own environment; later entries win.
	Env  []string
	Port int // when > 0, PORT is set to it, after Env
	// Host is the address the app is asked to listen on, set as HOST,
	// NITRO_HOST and HOSTNAME after Env: empty means LoopbackHost;
	// KeepHost sets none of them.
	Host string
	// Output receives the app's stdout and stderr, in whole lines. Nil
	// discards (the tail is kept either way).
	Output    io.Writer
	TailLines int // lines kept for Tail; DefaultTailLines when zero
}

// Process is one running (or finished) app instance.
type Process struct {
	spec    Spec
	cmd     *exec.Cmd
	pid     int
	started time.Time
	tail    *tail

	done     chan struct{}
	exit     ExitStatus // set before done closes
	exitedAt time.Time

	stopMu sync.Mutex // one Stop at a time
}

// Start runs spec.Command in spec.Dir with `sh -c`, in a new process group.
// ctx bounds only the start itself: the process runs until it exits or Stop
// is called, so that a reload's context ending never kills what serves.
func Start(ctx context.Context, spec Spec) (*Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if spec.Command == "" {
		spec.Command = DefaultCommand
	}
	if _, err := os.Stat(spec.Dir); err != nil {
		return nil, fmt.Errorf("start %q: %w", spec.Command, err)
	}
	env, err := appEnv(spec)
	if err != nil {
		return nil, fmt.Errorf("start %q in %s: %w", spec.Command, spec.Dir, err)
	}
	if err := ensureGuard(); err != nil {
		return nil, fmt.Errorf("start %q in %s: %w", spec.Command, spec.Dir, err)
	}
	cmd := exec.Command("/bin/sh", "-c", spec.Command)
	cmd.Dir = spec.Dir
	cmd.Env = env
	cmd.SysProcAttr = appProcAttr()

	// Our own pipe instead of exec's copying goroutine: Wait then returns
	// when the process exits, not when the last grandchild holding the pipe
	// closes it.
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %q in %s: %w", spec.Command, spec.Dir, err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = spawn(cmd)
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("start %q in %s: %w", spec.Command, spec.Dir, err)
	}

	p := &Process{
		spec:    spec,
		cmd:     cmd,
		pid:     cmd.Process.Pid,
		started: time.Now(),
		tail:    newTail(spec.TailLines),
		done:    make(chan struct{}),
	}
	go p.watch(r)
	return p, nil
}

// watch copies the process's output from r until it ends, then waits for
// the process, stops what it left in its group, and closes done.
func (p *Process) watch(r *os.File) {
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		defer r.Close()
		copyLines(r, p.spec.Output, p.tail)
	}()
	err := p.cmd.Wait()
	p.exit = exitStatus(p.cmd.ProcessState, err)
	p.exitedAt = time.Now()
	// The app's own children (bun's workers, a forgotten background job)
	// go with it: they would hold ports, files and the output pipe.
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	t := time.NewTimer(outputGrace)
	select {
	case <-outDone:
	case <-t.C:
	}
	t.Stop()
	close(p.done)
}

// appEnv is the app's environment: the receiver's, then spec.Env, the host,
// PORT, and the marker that lets the guard and StopLeftovers find it.
func appEnv(spec Spec) ([]string, error) {
	env := append(os.Environ(), spec.Env...)
	env = append(env, hostEnv(spec.Host)...)
	if spec.Port > 0 {
		env = append(env, "PORT="+strconv.Itoa(spec.Port))
	}
	mark, err := appMarker(spec.Dir)
	if err != nil {
		return nil, err
	}
	if mark != "" {
		env = append(env, mark)
	}
	return env, nil
}

func (p *Process) PID() int           { return p.pid }
func (p *Process) Dir() string        { return p.spec.Dir }
func (p *Process) Port() int          { return p.spec.Port }
func (p *Process) Started() time.Time { return p.started }

// Done is closed once the process has exited and its output is read.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and returns how it ended.
func (p *Process) Wait() ExitStatus {
	<-p.done
	return p.exit
}

// Exited reports how the process ended, without waiting; ok is false while
// it runs.
func (p *Process) Exited() (st ExitStatus, at time.Time, ok bool) {
	select {
	case <-p.done:
		return p.exit, p.exitedAt, true
	default:
		return ExitStatus{}, time.Time{}, false
	}
}

// Uptime is how long the process ran, or has run so far.
func (p *Process) Uptime() time.Duration {
	if _, at, ok := p.Exited(); ok {
		return at.Sub(p.started)
	}
	return time.Since(p.started)
}

// Tail returns the last lines the process wrote, oldest first.
func (p *Process) Tail() []string { return p.tail.Lines() }

// Signal sends sig to the process group.
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := syscall.Kill(-p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal pid %d: %w", p.pid, err)
	}
	return nil
}

// Stop sends SIGTERM to the process group and waits up to grace (or until ctx
// ends) for the process to exit, then sends SIGKILL. It returns nil when the
// process exited on SIGTERM (or had already exited), and an error matching
// ErrKilled when SIGKILL was needed.
func (p *Process) Stop(ctx context.Context, grace time.Duration) error {
	p.stopMu.Lock()
	defer p.stopMu.Unlock()
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	k := time.NewTimer(killWait)
	defer k.Stop()
	select {
	case <-p.done:
		return fmt.Errorf("pid %d %w after %s", p.pid, ErrKilled, grace)
	case <-k.C:
		return fmt.Errorf("pid %d still running %s after SIGKILL", p.pid, killWait)
	}
}

// ExitStatus is how a process ended.
type ExitStatus struct {
	Code   int    // exit code; -1 when killed by a signal
	Signal string // the signal's name when killed by one: "terminated", "killed"
	Err    string // waiting failed (should not happen)
}

func (s ExitStatus) String() string {
	switch {
	case s.Err != "":
		return "wait failed: " + s.Err
	case s.Signal != "":
		return "killed by signal: " + s.Signal
	default:
		return "exit status " + strconv.Itoa(s.Code)
	}
}

func exitStatus(ps *os.ProcessState, err error) ExitStatus {
	if ps == nil {
		if err == nil {
			err = errors.New("no process state")
		}
		return ExitStatus{Code: -1, Err: err.Error()}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ExitStatus{Code: -1, Signal: ws.Signal().String()}
	}
	return ExitStatus{Code: ps.ExitCode()}
}
