package receivercmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shipdeploy/ship/internal/settings"
	"github.com/shipdeploy/ship/internal/supervise"
)

// Defaults for the flags.
const (
	defaultRoot         = "/app"
	defaultListen       = ":3000"
	defaultStartTimeout = 30 * time.Second
	defaultDrainTimeout = 30 * time.Second
	defaultStopTimeout  = 10 * time.Second
)

// Modes.
const (
	modeProxy   = "proxy"
	modeRestart = "restart"
)

// deps are what the commands need from the outside world.
type deps struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	hup            <-chan os.Signal // SIGHUP: reload
	// run runs the receiver; nil is runReceiver (tests catch the options).
	run func(context.Context, *options) error
}

// options are the receiver's flags plus its dependencies; runReceiver reads
// nothing else.
type options struct {
	Root         string
	Create       bool // make Root when it does not exist
	Listen       string
	Start        string
	HealthPath   string
	Mode         string
	StartTimeout time.Duration
	DrainTimeout time.Duration
	StopTimeout  time.Duration
	StageTimeout time.Duration
	LogFormat    string
	// The GitHub webhook for pull deploys (on with WEBHOOK_SECRET).
	WebhookPath   string
	WebhookListen string // its own address; needed in restart mode
	// ReleaseCommand runs in a pull deploy's release before it starts.
	ReleaseCommand string

	Getenv func(string) string // WEBHOOK_SECRET, GIT_REPO, GIT_SSH_KEY, BRANCH
	Stdout io.Writer           // the app's output, and the receiver's when LogTo is nil
	LogTo  io.Writer           // the receiver's own log lines; Stderr in Main
	Hup    <-chan os.Signal

	// Knobs for tests; zero means the production value.
	PollEvery    time.Duration // safety-net poll of releases/RELOAD
	Heartbeat    time.Duration // state.json refresh
	Backoff      supervise.Backoff
	NoAppLogFile bool
}

func newRootCmd(d deps) *cobra.Command {
	opts := &options{Stdout: d.stdout, LogTo: d.stderr, Hup: d.hup, Getenv: d.getenv}
	cmd := &cobra.Command{
		Use:   "receiver",
		Short: "Run the app, proxy to it, and switch releases with no downtime",
		Long: `receiver runs on the server. It starts the app ("bun start") in the release
folder APP_ROOT/current points to and, in proxy mode, reverse-proxies the
public address to it. When ship writes APP_ROOT/releases/RELOAD (or on
SIGHUP) it starts the new release, waits until it is healthy, switches
traffic, drains and stops the old one, and records the outcome in
APP_ROOT/.ship/state.json.`,
		Example: `  receiver --root /srv/app --listen :3000 --health-path /healthz
  APP_ROOT=/srv/app receiver --mode restart --listen 3000
  WEBHOOK_SECRET=... GIT_REPO=git@github.com:acme/shop.git receiver --create   # pull deploys`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionText(),
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			env, err := table.EnvLayer(d.getenv)
			if err != nil {
				return usageError{err}
			}
			opts.apply(table.Resolve(table.FlagLayer(cmd.Flags()), env))
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.validate(); err != nil {
				return usageError{err}
			}
			run := d.run
			if run == nil {
				run = runReceiver
			}
			return run(cmd.Context(), opts)
		},
	}
	addFlags(cmd)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{flagError(err)} })
	cmd.SetVersionTemplate("{{.Version}}")
	cmd.CompletionOptions.DisableDefaultCmd = true
	cmd.SetOut(d.stdout)
	cmd.SetErr(d.stderr)
	cmd.AddCommand(addFlags(newHealthCmd(d, &opts.Root)), addFlags(newVersionCmd(d)))
	return cmd
}

// addFlags adds the flags of the table that cmd takes.
func addFlags(cmd *cobra.Command) *cobra.Command {
	table.AddFlags(cmd.Flags(), func(s *settings.Setting) bool { return s.Takes(cmd.Name()) })
	return cmd
}

// flagError says in one line which flag was wrong, why, and what the flag is
// for, instead of the library's wording after a page of usage.
func flagError(err error) error {
	var unknown *pflag.NotExistError
	if errors.As(err, &unknown) {
		return fmt.Errorf("%w; 'receiver --help' lists the flags", err)
	}
	return settings.FlagError(err)
}

func (o *options) validate() error {
	switch o.Mode {
	case modeProxy, modeRestart:
	default:
		return fmt.Errorf("--mode %q: want proxy or restart", o.Mode)
	}
	switch o.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format %q: want text or json", o.LogFormat)
	}
	for name, d := range map[string]time.Duration{
		"--start-timeout": o.StartTimeout, "--drain-timeout": o.DrainTimeout, "--stop-timeout": o.StopTimeout,
		"--stage-timeout": o.StageTimeout,
	} {
		if d <= 0 {
			return fmt.Errorf("%s %s: must be positive", name, d)
		}
	}
	if o.Root == "" {
		return fmt.Errorf("--root is empty")
	}
	return nil
}
