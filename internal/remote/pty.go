package remote

import (
	"context"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/ssh"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/shell"
)

// Terminal is the person's terminal, which a PTY session mirrors.
type Terminal struct {
	Term          string // $TERM; "" is xterm-256color
	Width, Height int    // in characters; 0 is 80×24
	// Resize carries the terminal's new sizes (width, height) while the
	// command runs; nil when it does not change.
	Resize <-chan [2]int
}

// RunPTY runs script on a pseudo-terminal, as `ssh -t` does: for consoles
// and anything that asks whether it talks to a person. Standard error is
// the terminal too. Unlike Run, the script is the exec request's command
// (the session's input is the person's typing), so it must hold nothing
// secret. It returns a *host.ExitError when the script exits non-zero;
// when ctx ends the session is closed, which hangs up the terminal (the
// processes on it get SIGHUP).
func (c *Client) RunPTY(ctx context.Context, script string, stdin io.Reader, stdout io.Writer, t Terminal) error {
	s, err := c.conn.NewSession()
	if err != nil {
		if c.connGone() {
			return c.lost()
		}
		return fmt.Errorf("open a session on %s: %w", c.name, err)
	}
	defer s.Close()
	if t.Term == "" {
		t.Term = "xterm-256color"
	}
	if t.Width <= 0 || t.Height <= 0 {
		t.Width, t.Height = 80, 24
	}
	modes := ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
	if err := s.RequestPty(t.Term, t.Height, t.Width, modes); err != nil {
		return fmt.Errorf("ask %s for a terminal: %w", c.name, err)
	}
	s.Stdin, s.Stdout, s.Stderr = stdin, stdout, stdout
	if err := s.Start("exec /bin/sh -c " + shell.Quote(script)); err != nil {
		return fmt.Errorf("run on %s: %w", c.name, err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	for {
		select {
		case err := <-done:
			return c.ptyExit(err)
		case size := <-t.Resize:
			_ = s.WindowChange(size[1], size[0])
		case <-ctx.Done():
			return fmt.Errorf("run on %s: %w", c.name, ctx.Err())
		}
	}
}

// ptyExit turns a session's end into Run's errors.
func (c *Client) ptyExit(err error) error {
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee) && ee.Signal() != "":
		return &host.ExitError{Status: -1, Signal: ee.Signal()}
	case errors.As(err, &ee):
		return &host.ExitError{Status: ee.ExitStatus()}
	case errors.As(err, &missing) && c.connGone():
		return c.lost()
	}
	return fmt.Errorf("run on %s: %w", c.name, err)
}
