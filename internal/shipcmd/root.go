// Package shipcmd is the `ship` command line: cobra commands that parse
// flags, settle settings (flags > SHIP_* > ship.yml > defaults), connect, call
// internal/deploy and print. Only Main turns errors into exit codes.
package shipcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/release"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
	exitLocked = 3
	// exitUnknown: ship lost a host and could not learn how the run ended
	// there; `ship status` tells.
	exitUnknown = 4
	// exitInterrupted: Ctrl-C or SIGTERM (128 + SIGINT, as shells do).
	exitInterrupted = 130
)

// Version is set at build time with -ldflags "-X ...shipcmd.Version=v1.2.3";
// without it, `ship version` says what Go recorded (see internal/buildinfo).
var Version = "dev"

// app holds what commands need from the world, so tests run them with
// buffers and a fake environment.
type app struct {
	stdout, stderr io.Writer
	tty            *os.File // a terminal to ask on; nil when there is none
	getenv         func(string) string
	global         globalFlags
}

type globalFlags struct {
	configFile string
	path       string
	user       string
	port       int
	key        string
	knownHosts string
	insecure   bool
	jump       string
	timeout    string
	verbose    bool
	container  string
	engine     string
}

// Main runs ship with os.Args and returns the exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, tty: terminalInput(os.Getenv)}
	return a.run(ctx, os.Args[1:])
}

func (a *app) run(ctx context.Context, args []string) int {
	root := a.newRootCmd()
	root.SetArgs(args)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(a.stderr, "ship: %v\nRun 'ship %s --help' for usage.\n", err, ue.cmd)
		return exitUsage
	case errors.Is(err, release.ErrLocked):
		if !errors.Is(err, errReported) {
			fmt.Fprintf(a.stderr, "✗ %v\n", err)
		}
		return exitLocked
	case errors.Is(err, deploy.ErrUnknown) && errors.Is(err, errReported):
		return exitUnknown
	case errors.Is(err, deploy.ErrInterrupted) && errors.Is(err, errReported):
		return exitInterrupted
	case errors.Is(err, errReported):
		return exitFailed
	default:
		fmt.Fprintf(a.stderr, "✗ %v\n", err)
		return exitFailed
	}
}

// errReported marks an error already explained to the person; it still
// unwraps to the cause, which picks the exit code.
var errReported = errors.New("reported")

type reportedError struct{ err error }

func (e reportedError) Error() string   { return e.err.Error() }
func (e reportedError) Unwrap() []error { return []error{errReported, e.err} }

type usageError struct {
	cmd string
	err error
}

func (e *usageError) Error() string { return e.err.Error() }

func (a *app) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "ship",
		Short: "Deploy Bun apps over SSH with zero downtime",
		Long: `ship builds a new release of a Bun app on a server (or this machine), switches
the current symlink to it atomically, asks the receiver to reload with zero
dropped requests, and rolls back by itself when the new release is unhealthy.

TARGET is [user@]host[:port] (SSH), a target name from ship.yml, or "local"
for this machine without SSH.

Settings come from flags, then SHIP_* environment variables, then ship.yml in
the current folder, then defaults.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionText(),
	}
	root.SetVersionTemplate("{{.Version}}")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{cmd: c.Name(), err: err}
	})
	g := &a.global
	pf := root.PersistentFlags()
	pf.StringVar(&g.configFile, "config", "ship.yml", "settings file (missing is fine unless given)")
	pf.StringVar(&g.path, "path", "", "APP_ROOT on the target (default /app) [SHIP_PATH]")
	pf.StringVar(&g.user, "user", "", "SSH user when TARGET names none [SHIP_USER]")
	pf.IntVar(&g.port, "port", 0, "SSH port when TARGET names none (default 22) [SHIP_PORT]")
	pf.StringVar(&g.key, "key", "", "private key file; or the key's text in SHIP_SSH_KEY; default: ssh-agent")
	pf.StringVar(&g.knownHosts, "known-hosts", "", "known_hosts file (default ~/.ssh/known_hosts); or its text in SHIP_KNOWN_HOSTS")
	pf.BoolVar(&g.insecure, "insecure-ignore-host-key", false, "do not check the server's host key (warns every time; never in production)")
	pf.StringVar(&g.jump, "jump", "", "bastion host, [user@]host[:port] [SHIP_JUMP]")
	pf.StringVar(&g.timeout, "timeout", "", "bound for connecting and the SSH handshake (default 15s) [SHIP_TIMEOUT]")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "show the target's output as it comes")
	pf.StringVar(&g.container, "container", "", "run everything inside this running container on the target (docker/podman exec) [SHIP_CONTAINER]")
	pf.StringVar(&g.engine, "engine", "", "the container engine on the target: docker or podman (default docker) [SHIP_ENGINE]")

	root.AddCommand(
		a.newDeployCmd(),
		a.newRollbackCmd(),
		a.newReleasesCmd(),
		a.newStatusCmd(),
		a.newUnlockCmd(),
		a.newLogsCmd(),
		a.newTriggerCmd(),
		a.newVersionCmd(),
	)
	return root
}

// needTarget is cobra.MinimumNArgs with a message that says what TARGET is.
func needTarget(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return &usageError{cmd: cmd.Name(), err: fmt.Errorf("missing TARGET: give [user@]host[:port], a target from ship.yml, or local")}
		}
		return nil
	}
}
