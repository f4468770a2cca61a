package receivercmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/shipdeploy/ship/internal/supervise"
)

// initEnv turns off the PID 1 init when set to "off" (someone already runs an
// init, or a test wants to see what happens without one).
const initEnv = "SHIP_RECEIVER_INIT"

// Main runs the receiver with the process's arguments and environment and
// returns its exit code: 0 after a clean stop (SIGTERM, SIGINT), 1 on an
// error, 2 on a usage mistake.
func Main() int {
	if os.Getpid() == 1 && os.Getenv(initEnv) != "off" {
		// As a container's PID 1 the receiver would inherit every orphan;
		// a small init in front of it reaps them (see supervise.RunInit).
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintf(os.Stderr, "receiver: find own executable for init: %v\n", err)
			return 1
		}
		return supervise.RunInit(self, os.Args, os.Environ(), os.Stderr)
	}

	// A closed stdout or stderr (`receiver | head`, a log collector that
	// went away) must not kill the receiver: Go dies of SIGPIPE on such a
	// write unless the signal is caught; caught, the write fails with EPIPE
	// and the app's output still reaches .ship/logs/app.log. Caught, not
	// ignored: an ignored SIGPIPE would be inherited by the app.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	cmd := newRootCmd(deps{
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.Getenv,
		hup:    hup,
	})
	cmd.SetArgs(os.Args[1:])
	err := cmd.ExecuteContext(ctx)
	return exitCode(err, os.Stderr)
}

// usageError is a mistake in the command line: usage was printed.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "receiver: %v\n", err)
	if errors.As(err, new(usageError)) {
		return 2
	}
	return 1
}
