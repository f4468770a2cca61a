package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/shell"
)

// A command costs one round trip when a spare session channel is ready: the
// exec request, stdin and the end of input go out together, and the output,
// exit status and close come back together. golang.org/x/crypto's Session
// would add one round trip to open the channel and one to wait for the exec
// reply before sending anything, so Run drives the channel itself: it waits
// for the exec reply only before sending stdin, and keeps one channel opened
// ahead for the next Run.

// session is an opened "session" channel not yet running anything.
type session struct {
	ch   ssh.Channel
	reqs <-chan *ssh.Request
}

// errStale is a pre-opened channel that the server closed before use.
var errStale = errors.New("session channel closed before use")

// Run runs cmd.Script with the remote user's shell. It returns a
// *host.ExitError when the script exits non-zero or is killed, an error
// wrapping ErrConnectionLost when the connection breaks first, and ctx's
// error (after sending KILL to the script) when ctx ends first.
func (c *Client) Run(ctx context.Context, cmd host.Command) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("run on %s: %w", c.name, err)
	}
	s, spare := c.takeSpare()
	if s == nil {
		var err error
		if s, err = c.newSession(ctx); err != nil {
			return err
		}
	}
	err := c.exec(ctx, s, cmd)
	if errors.Is(err, errStale) && spare {
		if s, err = c.newSession(ctx); err != nil {
			return err
		}
		err = c.exec(ctx, s, cmd)
	}
	if errors.Is(err, errStale) {
		if c.connGone() {
			return c.lost()
		}
		return fmt.Errorf("run on %s: %w", c.name, err)
	}
	return err
}

// takeSpare takes the pre-opened channel, if one is ready, and starts
// opening the next.
func (c *Client) takeSpare() (*session, bool) {
	var s *session
	select {
	case s = <-c.spare:
	default:
	}
	go c.refill()
	return s, s != nil
}

// refill opens a spare session channel unless one is there or on its way.
func (c *Client) refill() {
	if !c.refilling.TryLock() {
		return
	}
	defer c.refilling.Unlock()
	if len(c.spare) > 0 || c.isDead() {
		return
	}
	ch, reqs, err := c.conn.OpenChannel("session", nil)
	if err != nil {
		return // the next Run opens its own and reports why
	}
	select {
	case c.spare <- &session{ch, reqs}:
	default:
		ch.Close()
	}
}

// newSession opens a session channel, giving up when ctx ends.
func (c *Client) newSession(ctx context.Context) (*session, error) {
	type opened struct {
		s   *session
		err error
	}
	res := make(chan opened, 1)
	go func() {
		ch, reqs, err := c.conn.OpenChannel("session", nil)
		if err != nil {
			res <- opened{nil, err}
			return
		}
		res <- opened{&session{ch, reqs}, nil}
	}()
	select {
	case r := <-res:
		if r.err == nil {
			return r.s, nil
		}
		if c.connGone() {
			return nil, c.lost()
		}
		return nil, fmt.Errorf("open a session on %s: %w", c.name, r.err)
	case <-ctx.Done():
		go func() {
			if r := <-res; r.s != nil {
				r.s.ch.Close()
			}
		}()
		return nil, fmt.Errorf("run on %s: %w", c.name, ctx.Err())
	}
}

// Killing a command on cancel: sshd refuses "signal" requests in a session
// of root, whose login turns privilege separation off ("session signalling
// requires privilege separation"), and deploys often log in as root. So the
// remote shell first prints its pid (a session leader: sshd calls setsid)
// on stderr, the line is taken out of the stream, and a cancel kills the
// whole process group and session with a second command.
const (
	pidPrefix   = "ship-remote-pid:"
	pidLine     = "echo " + pidPrefix + "$$ >&2\n"
	killTimeout = 5 * time.Second
)

// remoteCommand is what sshd hands to the user's login shell: /bin/sh
// running the script, whatever that shell is (bash forks cost more than
// dash's, and fish or zsh read sh differently), as the same process (exec).
// The script's first line prints that process's pid for kill.
func remoteCommand(script string) string {
	return "exec /bin/sh -c " + shell.Quote(pidLine+script)
}

// startExec asks the server to run script on s; the channel it returns
// says whether it runs. Then stdin (when hasInput) is copied to the
// command and the channel's input closed.
func (c *Client) startExec(s *session, script string, hasInput bool, stdin io.Reader) chan error {
	started := make(chan error, 1)
	go func() {
		ok, err := s.ch.SendRequest("exec", true, ssh.Marshal(struct{ Command string }{remoteCommand(script)}))
		switch {
		case err != nil:
			started <- errStale
			return
		case !ok:
			started <- fmt.Errorf("run on %s: the server refused to run the command", c.name)
			return
		}
		started <- nil
		// Input may go only once the command runs.
		if hasInput {
			io.Copy(s.ch, stdin)
		}
		s.ch.CloseWrite()
	}()
	return started
}

// exec runs cmd on the fresh channel s and closes it.
func (c *Client) exec(ctx context.Context, s *session, cmd host.Command) error {
	// After exec returns, late output is dropped and stdin is no longer
	// read, so that callers may reuse their buffers at once.
	stdout, stderr, stdin := guardWriter(cmd.Stdout), guardWriter(cmd.Stderr), guardReader(cmd.Stdin)
	defer stdout.stop()
	defer stderr.stop()
	defer stdin.stop()
	pid := newPidFilter(stderr)
	var copies sync.WaitGroup
	copies.Add(2)
	go func() { defer copies.Done(); io.Copy(stdout, s.ch) }()
	go func() { defer copies.Done(); io.Copy(pid, s.ch.Stderr()); pid.flush() }()
	outputDone := make(chan struct{})
	go func() { copies.Wait(); close(outputDone) }()

	started := c.startExec(s, cmd.Script, cmd.Stdin != nil, stdin)
	var exit *host.ExitError
	reqs := s.reqs
	for reqs != nil || started != nil {
		select {
		case err := <-started:
			started = nil
			if err != nil {
				s.ch.Close()
				return err
			}
		case req, ok := <-reqs:
			if !ok {
				reqs = nil // the channel is closed
				continue
			}
			if e := parseExit(req); e != nil {
				exit = e
			}
			if req.WantReply {
				req.Reply(false, nil)
			}
		case <-ctx.Done():
			c.kill(s, started, pid, outputDone)
			return fmt.Errorf("run on %s: %w", c.name, ctx.Err())
		}
	}
	<-outputDone // the rest of the output, already received
	switch {
	case exit == nil:
		if c.connGone() {
			return c.lost()
		}
		return fmt.Errorf("run on %s: the command ended without an exit status", c.name)
	case exit.Status == 0 && exit.Signal == "":
		return nil
	}
	return exit
}

// kill ends a cancelled command and closes its channel. It waits, within
// killTimeout, for the kill to reach the server: a caller that cancels and
// then closes the client must not leave the command running. started
// carries the exec request's outcome; it is nil once that was a success.
func (c *Client) kill(s *session, started <-chan error, pid *pidFilter, outputDone <-chan struct{}) {
	defer s.ch.Close()
	// Enough for sessions of other users; sshd logs an error for root's.
	s.ch.SendRequest("signal", false, ssh.Marshal(struct{ Signal string }{"KILL"}))
	timer := time.NewTimer(killTimeout)
	defer timer.Stop()
	for waiting := true; waiting; {
		select {
		case <-pid.known: // the line comes first: at most a round trip away
			waiting = false
		case err := <-started:
			if err != nil {
				return // nothing runs
			}
			started = nil
		case <-outputDone: // the command ended
			return
		case <-timer.C:
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
	defer cancel()
	p := pid.get()
	c.Run(ctx, host.Command{Script: fmt.Sprintf("kill -KILL -%d 2>/dev/null; pkill -KILL -s %d 2>/dev/null; true", p, p)})
}

// pidFilter passes stderr through, taking out the line with the remote
// shell's pid.
type pidFilter struct {
	w     io.Writer
	mu    sync.Mutex
	line  []byte // a partial line, while the pid is not known
	pid   int
	known chan struct{} // closed once pid is set
}

func newPidFilter(w io.Writer) *pidFilter {
	return &pidFilter{w: w, known: make(chan struct{})}
}

func (f *pidFilter) Write(p []byte) (int, error) {
	n := len(p)
	f.mu.Lock()
	defer f.mu.Unlock()
	// Lines before ours (a login script's noise) pass through.
	for f.pid == 0 && len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			f.line = append(f.line, p...)
			return n, nil
		}
		f.line, p = append(f.line, p[:i+1]...), p[i+1:]
		if rest, ok := bytes.CutPrefix(f.line, []byte(pidPrefix)); ok {
			if pid, err := strconv.Atoi(string(bytes.TrimSpace(rest))); err == nil && pid > 0 {
				f.pid, f.line = pid, nil
				close(f.known)
				continue
			}
		}
		if _, err := f.w.Write(f.line); err != nil {
			return 0, err
		}
		f.line = f.line[:0]
	}
	if len(p) > 0 {
		if _, err := f.w.Write(p); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// flush passes on a last partial line.
func (f *pidFilter) flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.line) > 0 {
		f.w.Write(f.line)
		f.line = nil
	}
}

func (f *pidFilter) get() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pid
}

// parseExit reads an exit-status or exit-signal request (RFC 4254 6.10).
func parseExit(req *ssh.Request) *host.ExitError {
	switch req.Type {
	case "exit-status":
		var m struct{ Status uint32 }
		if ssh.Unmarshal(req.Payload, &m) == nil {
			return &host.ExitError{Status: int(m.Status)}
		}
	case "exit-signal":
		var m struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}
		if ssh.Unmarshal(req.Payload, &m) == nil {
			return &host.ExitError{Status: -1, Signal: m.Signal}
		}
	}
	return nil
}

// connGone reports whether the connection is gone, asking the server when
// that is not known yet: a channel closed without an exit status is either
// a dead connection or a server that ended the session.
func (c *Client) connGone() bool {
	if c.isDead() {
		return true
	}
	probe := make(chan error, 1)
	go func() {
		_, _, err := c.conn.SendRequest("keepalive@openssh.com", true, nil)
		probe <- err
	}()
	select {
	case <-c.dead:
		return true
	case err := <-probe:
		if err == nil {
			return false
		}
		// The connection failed: let watch record why before lost reads it.
		select {
		case <-c.dead:
		case <-time.After(time.Second):
		}
		return true
	}
}

// guard passes writes (or reads) through until stop; after it, writes are
// dropped and reads see EOF. A nil stream is empty input or discarded output.
type guard struct {
	mu      sync.Mutex
	w       io.Writer
	r       io.Reader
	stopped bool
}

func guardWriter(w io.Writer) *guard {
	if w == nil {
		w = io.Discard
	}
	return &guard{w: w}
}

func guardReader(r io.Reader) *guard { return &guard{r: r} }

func (g *guard) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *guard) Read(p []byte) (int, error) {
	g.mu.Lock()
	stopped := g.stopped
	g.mu.Unlock()
	if stopped || g.r == nil {
		return 0, io.EOF
	}
	return g.r.Read(p)
}

func (g *guard) stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
}
