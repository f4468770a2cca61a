// Package host is where a deploy happens: a filesystem (release.FS) and a way
// to run shell commands, on this machine (Local), over SSH (remote.Client),
// or inside a running container on either (Container). The deploy pipeline
// sees only Host, so `ship deploy local`, `ship deploy user@server` and
// `ship deploy user@server --container app` run the same code.
package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/shipdeploy/ship/internal/release"
)

// Host is a machine to deploy on.
type Host interface {
	release.FS
	// Run runs script with `sh -c` on the host. The script is shell text:
	// every value in it was quoted with shell.Quote by whoever built it.
	// It returns an *ExitError when the script ran and exited non-zero.
	Run(ctx context.Context, cmd Command) error
	// String names the host for people: "local", "deploy@203.0.113.10:22".
	String() string
	Close() error
}

// Command is one script to run, with its streams. Nil streams are empty
// input and discarded output.
type Command struct {
	Script string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// ExitError is a script that ran and failed.
type ExitError struct {
	Status int // exit status; -1 when killed by a signal or the connection dropped
	Signal string
}

func (e *ExitError) Error() string {
	if e.Signal != "" {
		return "killed by signal " + e.Signal
	}
	return fmt.Sprintf("exit status %d", e.Status)
}

// Output runs script and returns its stdout; on failure the error includes
// the script's stderr.
func Output(ctx context.Context, h Host, script string) ([]byte, error) {
	var out, errb bytes.Buffer
	err := h.Run(ctx, Command{Script: script, Stdout: &out, Stderr: &errb})
	if err != nil {
		if msg := strings.TrimSpace(errb.String()); msg != "" {
			return out.Bytes(), fmt.Errorf("%w: %s", err, msg)
		}
		return out.Bytes(), err
	}
	return out.Bytes(), nil
}

// Local is this machine, without SSH.
type Local struct{ release.LocalFS }

func (Local) String() string { return "local" }
func (Local) Close() error   { return nil }

func (Local) Run(ctx context.Context, c Command) error {
	cmd := exec.CommandContext(ctx, "sh", "-c", c.Script)
	cmd.Stdout, cmd.Stderr = c.Stdout, c.Stderr
	// Kill the whole script, not only sh, when ctx ends.
	cmd.SysProcAttr = newProcessGroup()
	cmd.Cancel = func() error { return killGroup(cmd) }
	// Output pipes held by a stray background process must not hang us.
	cmd.WaitDelay = 5 * time.Second
	// Standard input goes through a pipe we close when the script exits,
	// as sshd does: a reader that never ends (a deploy's keep-open input)
	// must not keep Wait from returning.
	var stdinW *os.File
	if c.Stdin != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		cmd.Stdin, stdinW = r, w
		// The end of the input is passed on, as over SSH.
		go func() { _, _ = io.Copy(w, c.Stdin); w.Close() }()
		defer r.Close()
	}
	err := cmd.Start()
	if err == nil {
		err = cmd.Wait()
	}
	if stdinW != nil {
		stdinW.Close()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if st := ee.ExitCode(); st >= 0 {
			return &ExitError{Status: st}
		}
		return &ExitError{Status: -1, Signal: ee.String()}
	}
	return err
}
