// Package shipcmd is the `ship` command line: cobra commands that parse
// flags, settle settings (the table of settings.go: flags > SHIP_* >
// ship.yml target > ship.yml top level > defaults), connect, call
// internal/deploy and print. Only Main turns errors into exit codes.
package shipcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/settings"
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
// buffers, a fake environment and a working folder of their own.
type app struct {
	stdin          io.Reader // the person's input: ship exec -i passes it on
	stdout, stderr io.Writer
	tty            *os.File // a terminal to ask on; nil when there is none
	getenv         func(string) string
	wd             string // the working folder; "" is the process's

	// fleet and rollback run what deploy and rollback settled; nil is the
	// deploy package's. Tests catch the settled options here, with no host.
	fleet    func(context.Context, []deploy.Target, deploy.Options) (*deploy.FleetResult, error)
	rollback func(context.Context, []deploy.Target, deploy.RollbackOptions) (*deploy.FleetResult, error)
}

// Main runs ship with os.Args and returns the exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, tty: terminalInput(os.Getenv)}
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
	var ce configError
	var xs exitStatus
	switch {
	case errors.As(err, &xs):
		return xs.code // the command's own: it said why
	case errors.As(err, &ue):
		fmt.Fprintf(a.stderr, "ship: %v\nRun 'ship %s --help' for usage.\n", err, ue.cmd)
		return exitUsage
	case errors.As(err, &ce):
		// One line per mistake, each grep-able: "ship: ship.yml:3: keeep: did you mean keep?".
		fmt.Fprintf(a.stderr, "ship: %s\n", strings.ReplaceAll(ce.Error(), "\n", "\nship: "))
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

// configError is a mistake in ship.yml, a SHIP_* variable or a TARGET:
// exit 2 like a usage mistake, but said without the usage hint.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

func (a *app) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "ship",
		Short: "Deploy Bun apps over SSH with zero downtime",
		Long: `ship builds a new release of a Bun app on a server (or this machine), switches
the current symlink to it atomically, asks the receiver to reload with zero
dropped requests, and rolls back by itself when the new release is unhealthy.

TARGET is [user@]host[:port] (SSH), a target name from ship.yml, or "local"
for this machine without SSH.

Settings come from flags, then SHIP_* environment variables, then the
target's section of ship.yml, then ship.yml's top level, then defaults.
ship.yml is looked for from the current folder up to the repository's root
(or named by --config or SHIP_CONFIG). ship config shows what each setting
is and where it came from.`,
		Example: `  ship deploy prod
  ship config prod       # the settings a deploy to prod would use
  ship help deploy`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionText(),
	}
	root.SetVersionTemplate("{{.Version}}")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{cmd: c.Name(), err: settings.FlagError(err)}
	})
	root.AddCommand(
		a.newDeployCmd(),
		a.newRollbackCmd(),
		a.newReleasesCmd(),
		a.newStatusCmd(),
		a.newUnlockCmd(),
		a.newLogsCmd(),
		a.newExecCmd(),
		a.newEnvCmd(),
		a.newMaintenanceCmd(),
		a.newTriggerCmd(),
		a.newConfigCmd(),
		a.newInitCmd(),
		a.newVersionCmd(),
	)
	finishCommands(root)
	return root
}

// addSettingFlags adds the flags of the table (settings.go) that cmd
// takes, and completes its TARGET arguments from ship.yml.
func (a *app) addSettingFlags(cmd *cobra.Command) *cobra.Command {
	table.AddFlags(cmd.Flags(), func(s *settings.Setting) bool { return s.Takes(cmd.Name()) })
	cmd.Flags().SortFlags = false // the command's own flags, then the table's in its order
	if cmd.ValidArgsFunction == nil {
		cmd.ValidArgsFunction = a.completeTargets
	}
	return cmd
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
