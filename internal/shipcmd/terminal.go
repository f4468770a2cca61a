package shipcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/remote"
	"github.com/shipdeploy/ship/internal/shell"
)

// ptyRunner runs a script on a terminal of its own (remote.Client).
type ptyRunner interface {
	RunPTY(ctx context.Context, script string, stdin io.Reader, stdout io.Writer, t remote.Terminal) error
}

// runTerminal runs script on h on a terminal, with the person's input:
// over SSH on a pseudo-terminal that mirrors theirs (raw, the same size);
// on this machine on their terminal itself; in a container through the
// engine's exec -it on the machine's terminal.
func (a *app) runTerminal(ctx context.Context, h host.Host, script string) error {
	switch x := h.(type) {
	case host.Local:
		cmd := exec.CommandContext(ctx, "sh", "-c", script)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = a.stdin, a.stdout, a.stderr
		var ee *exec.ExitError
		if err := cmd.Run(); errors.As(err, &ee) {
			return &host.ExitError{Status: ee.ExitCode()}
		} else if err != nil {
			return err
		}
		return nil
	case *host.Container:
		return a.runTerminal(ctx, x.On, shell.Join(x.Engine, "exec", "-i", "-t", x.Name, "sh", "-c", script))
	}
	p, ok := h.(ptyRunner)
	if !ok {
		return fmt.Errorf("-i: %s cannot give a terminal", h)
	}
	t, restore := a.rawTerminal()
	defer restore()
	return p.RunPTY(ctx, script, a.stdin, a.stdout, t)
}

// rawTerminal puts ship's input terminal in raw mode (every key, Ctrl-C
// too, goes to the remote terminal) and follows its size; restore undoes
// it. Input that is not a terminal is passed on as it is.
func (a *app) rawTerminal() (remote.Terminal, func()) {
	t := remote.Terminal{Term: a.getenv("TERM")}
	f, ok := a.stdin.(*os.File)
	if !ok {
		return t, func() {}
	}
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return t, func() {}
	}
	raw := *old
	// cfmakeraw(3)
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return t, func() {}
	}
	size := func() (int, int) {
		ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
		if err != nil {
			return 0, 0
		}
		return int(ws.Col), int(ws.Row)
	}
	t.Width, t.Height = size()
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	resize := make(chan [2]int, 1)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-winch:
				w, h := size()
				select {
				case resize <- [2]int{w, h}:
				default: // the one waiting is older: this one follows
				}
			}
		}
	}()
	t.Resize = resize
	return t, func() {
		signal.Stop(winch)
		close(stop)
		_ = unix.IoctlSetTermios(fd, unix.TCSETS, old)
	}
}
