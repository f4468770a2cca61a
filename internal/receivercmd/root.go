package receivercmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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

// envFlags are the flags an environment variable can set; a flag given on
// the command line wins.
var envFlags = map[string]string{"root": "APP_ROOT", "listen": "LISTEN"}

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
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionText(),
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyEnv(cmd, d.getenv)
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
	f := cmd.Flags()
	cmd.PersistentFlags().StringVar(&opts.Root, "root", defaultRoot, "the app's folder: current, releases/, .ship/ [APP_ROOT]")
	// Persistent, so that an image's ENTRYPOINT ["receiver", "--create"]
	// still runs `docker run IMAGE health` and `… version`.
	cmd.PersistentFlags().BoolVar(&opts.Create, "create", false, "create the --root folder when it does not exist (the container image does)")
	f.StringVar(&opts.Listen, "listen", defaultListen, "public address (proxy mode), or the port the app binds (restart mode) [LISTEN]")
	f.StringVar(&opts.Start, "start", supervise.DefaultCommand, "the command that starts the app, run with sh -c in the release folder")
	f.StringVar(&opts.HealthPath, "health-path", "", "a path that must answer 2xx before the app takes traffic (empty: a TCP connect is enough)")
	f.StringVar(&opts.Mode, "mode", modeProxy, "proxy (zero downtime) or restart (stop, then start; the app owns the port)")
	f.DurationVar(&opts.StartTimeout, "start-timeout", defaultStartTimeout, "how long a new release may take to become healthy")
	f.DurationVar(&opts.DrainTimeout, "drain-timeout", defaultDrainTimeout, "how long the old release may take to finish its requests")
	f.DurationVar(&opts.StopTimeout, "stop-timeout", defaultStopTimeout, "how long after SIGTERM before SIGKILL")
	f.DurationVar(&opts.StageTimeout, "stage-timeout", defaultStageTimeout, "how long a staged release (healthy, out of traffic) waits for ship's commit before it is stopped")
	f.StringVar(&opts.LogFormat, "log-format", "text", "text or json")
	f.StringVar(&opts.WebhookPath, "webhook-path", defaultWebhookPath, "path of the GitHub webhook on the public listener (on when WEBHOOK_SECRET is set)")
	f.StringVar(&opts.WebhookListen, "webhook-listen", "", "serve the webhook on its own address instead (needed in restart mode, where the app owns the port)")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{flagError(err)} })
	cmd.SetVersionTemplate("{{.Version}}")
	cmd.CompletionOptions.DisableDefaultCmd = true
	cmd.SetOut(d.stdout)
	cmd.SetErr(d.stderr)
	cmd.AddCommand(newHealthCmd(d, &opts.Root), newVersionCmd(d))
	return cmd
}

// flagError says in one line which flag was wrong, why, and what the flag is
// for, instead of the library's wording after a page of usage.
func flagError(err error) error {
	var bad *pflag.InvalidValueError
	var missing *pflag.ValueRequiredError
	var unknown *pflag.NotExistError
	switch {
	case errors.As(err, &bad):
		f, v := bad.GetFlag(), bad.GetValue()
		why := strings.TrimSuffix(strings.TrimPrefix(errors.Unwrap(bad).Error(), "time: "), " "+strconv.Quote(v))
		if f.Value.Type() == "duration" {
			why += ": give a number with a unit, like 30s or 2m"
		}
		return fmt.Errorf("--%s %s: %s (--%s: %s)", f.Name, v, why, f.Name, f.Usage)
	case errors.As(err, &missing):
		f := missing.GetFlag()
		return fmt.Errorf("--%s needs a value (--%s: %s)", f.Name, f.Name, f.Usage)
	case errors.As(err, &unknown):
		return fmt.Errorf("%w; 'receiver --help' lists the flags", err)
	}
	return err
}

// applyEnv fills flags not given on the command line from the environment.
func applyEnv(cmd *cobra.Command, getenv func(string) string) error {
	for name, env := range envFlags {
		f := cmd.Flags().Lookup(name)
		if f == nil || f.Changed {
			continue
		}
		if v := getenv(env); v != "" {
			if err := f.Value.Set(v); err != nil {
				return usageError{fmt.Errorf("%s=%q: %w", env, v, err)}
			}
		}
	}
	return nil
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
