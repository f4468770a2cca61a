package shipcmd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/remote"
	"github.com/shipdeploy/ship/internal/settings"
)

// releaseFlags pick where exec and env look: a release (0: current) and
// one host of the target ("": every host).
type releaseFlags struct {
	release int
	host    string
}

func (f *releaseFlags) add(cmd *cobra.Command) {
	cmd.Flags().IntVar(&f.release, "release", 0, "this release instead of the current one")
	cmd.Flags().StringVar(&f.host, "host", "", "only this host of the target (as ship.yml names it, or its address)")
}

type execFlags struct {
	releaseFlags
	interactive bool
}

func (a *app) newExecCmd() *cobra.Command {
	f := &execFlags{}
	cmd := &cobra.Command{
		Use:   "exec TARGET [flags] -- COMMAND...",
		Short: "Run a command in the live release, with the app's environment",
		Long: `Run COMMAND with sh in the folder of the current release (or --release N)
on every host of TARGET, one host after the other, with the release's
environment: what Bun reads from the release's .env files is exported, so a
command that is not Bun sees it too.

With several hosts every line of output starts with the host's name; --host
picks one. -i runs the command on a terminal (for consoles: bun repl, psql),
on one host, with your input; without -i the command gets no input.

ship exits with the command's exit status (on several hosts, the first
host's that failed); 1 or 2 are also ship's own (cannot connect, usage).`,
		Example: `  ship exec prod -- bun run scripts/report.ts
  ship exec prod --host web1 -i -- bun repl
  ship exec prod --release 41 -- 'ls -la && cat package.json'
  ship exec prod -- 'psql "$DATABASE_URL" -c "select 1"'`,
		Args: commandAfterDash,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runExec(cmd.Context(), cmd, f, args[0], args[1:])
		},
	}
	f.releaseFlags.add(cmd)
	cmd.Flags().BoolVarP(&f.interactive, "interactive", "i", false, "run on a terminal, with your input (one host)")
	return a.addSettingFlags(cmd)
}

// commandAfterDash wants TARGET, then -- and the command.
func commandAfterDash(cmd *cobra.Command, args []string) error {
	if err := needTarget(1)(cmd, args); err != nil {
		return err
	}
	if cmd.ArgsLenAtDash() != 1 || len(args) < 2 {
		return &usageError{cmd: cmd.Name(), err: errors.New("give TARGET, then -- and the command: ship exec prod -- bun run migrate.ts")}
	}
	return nil
}

// exitStatus is the exit status of a command ship ran for the person:
// ship exits with it.
type exitStatus struct{ code int }

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func (a *app) runExec(ctx context.Context, cmd *cobra.Command, f *execFlags, target string, words []string) error {
	s, hosts, err := a.settle(cmd, target)
	if err != nil {
		return err
	}
	if hosts, err = pickHost(hosts, f.host); err != nil {
		return &usageError{cmd: "exec", err: err}
	}
	if f.interactive && len(hosts) > 1 {
		return &usageError{cmd: "exec", err: fmt.Errorf("-i runs on one host, and %s has %d: add --host (one of %s)", target, len(hosts), strings.Join(hosts, ", "))}
	}
	command := strings.Join(words, " ") // as ssh joins its words
	l := release.Layout{Root: optPath.From(s)}
	var failed []string
	first := 0
	for _, hs := range hosts {
		status, err := a.execOn(ctx, hs, s, l, f, command, len(hosts) > 1)
		if err != nil {
			return err
		}
		if status != 0 {
			failed = append(failed, fmt.Sprintf("%s (exit status %d)", hs, status))
			if first == 0 {
				first = status
			}
		}
	}
	if first == 0 {
		return nil
	}
	if len(hosts) > 1 {
		fmt.Fprintf(a.stderr, "✗ the command failed on %s\n", strings.Join(failed, ", "))
	}
	return exitStatus{first}
}

// execOn runs command on one host and returns its exit status.
func (a *app) execOn(ctx context.Context, hs string, s *settings.Values, l release.Layout, f *execFlags, command string, prefix bool) (int, error) {
	h, err := a.dial(ctx, hs, s)
	if err != nil {
		return 0, err
	}
	defer h.Close()
	dir, err := releaseDir(h, l, f.release)
	if err != nil {
		return 0, err
	}
	script := deploy.ExecScript(l.Root, dir, command)
	if f.interactive {
		err = a.runTerminal(ctx, h, script)
	} else {
		stdout, stderr := a.stdout, a.stderr
		if prefix {
			pw := newPrefixWriter(a.stdout, hs)
			defer pw.Flush()
			stdout, stderr = pw, pw
		}
		err = h.Run(ctx, host.Command{Script: script, Stdout: stdout, Stderr: stderr})
	}
	var ee *host.ExitError
	switch {
	case err == nil:
		return 0, nil
	case ctx.Err() != nil:
		return 0, fmt.Errorf("%w: %v", deploy.ErrInterrupted, err)
	case errors.As(err, &ee) && ee.Status > 0:
		return ee.Status, nil
	case errors.As(err, &ee):
		return 0, fmt.Errorf("the command on %s was %v", hs, err)
	}
	return 0, fmt.Errorf("run on %s: %w", hs, err)
}

// releaseDir is the folder of release n (0: the current one) under the
// root, relative to it, once checked to be a finished release.
func releaseDir(h host.Host, l release.Layout, n int) (string, error) {
	if n == 0 {
		target, err := h.Readlink(l.Current())
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("no release is current on %s yet (nothing in %s): ship deploy first", h, l.Current())
		}
		if err != nil {
			return "", fmt.Errorf("read %s on %s: %w", l.Current(), h, err)
		}
		var ok bool
		if n, ok = release.ParseCurrentTarget(target); !ok {
			return "", fmt.Errorf("%s on %s points at %s, not a release: ship releases TARGET, then ship rollback TARGET N", l.Current(), h, target)
		}
	}
	if _, err := h.Lstat(l.InfoFile(n)); err != nil {
		return "", fmt.Errorf("release %d is not a finished release on %s (ship releases TARGET lists them)", n, h)
	}
	return release.CurrentTarget(n), nil
}

// pickHost is the one host --host names among hosts, or hosts when it is "".
func pickHost(hosts []string, want string) ([]string, error) {
	if want == "" {
		return hosts, nil
	}
	for _, h := range hosts {
		if h == want || hostPart(h) == want {
			return []string{h}, nil
		}
	}
	return nil, fmt.Errorf("--host %s is not a host of the target; its hosts: %s", want, strings.Join(hosts, ", "))
}

// hostPart is the host of [user@]host[:port] (target itself when it
// does not parse).
func hostPart(target string) string {
	if _, h, _, err := remote.SplitTarget(target); err == nil {
		return h
	}
	return target
}

// prefixWriter starts every line with a host's name, as a fleet's output
// does elsewhere; the command's stdout and stderr share it, line by line.
type prefixWriter struct {
	mu     sync.Mutex
	w      *bufio.Writer
	prefix string
	mid    bool // in the middle of a line
}

func newPrefixWriter(w io.Writer, name string) *prefixWriter {
	return &prefixWriter{w: bufio.NewWriter(w), prefix: name + " │ "}
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		if !p.mid {
			p.w.WriteString(p.prefix)
			p.mid = true
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.w.Write(b)
			break
		}
		p.w.Write(b[:i+1])
		p.mid = false
		b = b[i+1:]
	}
	return n, p.w.Flush()
}

// Flush ends a last line without a newline.
func (p *prefixWriter) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mid {
		p.w.WriteString("\n")
		p.mid = false
	}
	p.w.Flush()
}
