package shipcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/dotenv"
	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/settings"
)

// deployFlags are deploy's flags outside the settings table: what this
// one run sends and how it prints.
type deployFlags struct {
	upload  string
	jsonOut bool
	verbose bool
}

func (a *app) newDeployCmd() *cobra.Command {
	f := &deployFlags{}
	cmd := &cobra.Command{
		Use:   "deploy [flags] TARGET...",
		Short: "Build a new release on every host, then switch them all at once",
		Long: `Build a new release on every host of the targets and switch to it with zero
downtime.

All the hosts are one deploy, in two phases. Prepare, on every host at once
(at most --parallel): lock → source (fetch the commit into releases/N, or
unpack the upload) → shared (link shared/ entries such as .env; write
ship.yml's env: into the release's .env) → install → build → release (the
release command, once: on the first host, when every host is built) →
stage (the receiver starts release N next to the serving one and checks its
health, out of traffic). Only when every host has N staged and healthy does
any host switch: current → releases/N and the traffic moves, on every host
at once. Then prune keeps the newest --keep.

Hooks in .ship/hooks/ of the project run before (pre-deploy: it can stop the
deploy) and after (post-deploy).

A failure on any host before that stops every host: current is untouched
everywhere, the staged processes are stopped, the locks are freed, and the
failing hosts are named with their output. The release number is the same on
every host. With --canary the first host goes through both phases alone, and
the others follow only if it is healthy.`,
		Example: `  ship deploy deploy@203.0.113.10 --repo git@github.com:acme/shop.git --ref main
  ship deploy prod                       # every host of a target from ship.yml
  ship deploy prod --canary              # the first host first, then the rest
  ship deploy local --repo ./shop        # this machine, no SSH
  ship deploy web1 web2 --upload .       # send this checkout; the servers need no repo access`,
		Args: needTarget(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDeploy(cmd.Context(), cmd, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.upload, "upload", "", "send this local folder instead of fetching (skips .git and node_modules)")
	fl.BoolVar(&f.jsonOut, "json", false, "print one JSON document with the result on stdout (progress goes to stderr)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "show the target's output as it comes")
	return a.addSettingFlags(cmd)
}

func (a *app) runDeploy(ctx context.Context, cmd *cobra.Command, f *deployFlags, args []string) (err error) {
	progress := a.stdout
	if f.jsonOut {
		progress = a.stderr
	}
	ci, progress := a.startCI(cmd, progress) // GitHub Actions and Deployments (actions.go); inert elsewhere
	var res *deploy.FleetResult
	defer func() { ci.finish(ctx, res, err) }()
	targets, opts, err := a.fleetPlan(cmd, f, args, progress)
	if err != nil {
		if f.jsonOut { // one document, whatever happened
			_ = a.writeJSON(resultDocument(nil, err))
		}
		return err
	}
	hk := a.hooksFor(cmd, "deploy", args, targetNames(targets), progress)
	ref := opts.Ref
	if ref == "" && opts.Upload == "" {
		ref = deploy.DefaultRef
	}
	if err := hk.pre(ctx, 0, opts.Commit, ref); err != nil {
		fmt.Fprintf(a.stderr, "✗ %v\n", err)
		return reportedError{err}
	}
	opts.Command = commandLine(cmd, args)
	ci.mask(envSecrets(opts.AppEnv)) // a build or a release command may print one
	opts.Report = ci.reporter(ctx, opts)
	run := deploy.Fleet
	if a.fleet != nil {
		run = a.fleet
	}
	res, err = run(ctx, targets, opts)
	if err == nil && optMaintenanceOff.From(table.Resolve(table.FlagLayer(cmd.Flags()))) {
		err = a.endMaintenance(ctx, targets, opts.Root, res)
	}
	hookErr := hk.post(ctx, res, ref, err)
	if f.jsonOut {
		if jerr := a.writeJSON(resultDocument(res, err)); jerr != nil && err == nil {
			err = jerr
		}
	}
	if err != nil {
		a.explainFailure(printable{a.stderr}, "deploy", args, res, err)
		if hookErr != nil {
			fmt.Fprintf(a.stderr, "✗ %v\n", hookErr)
		}
		return reportedError{err}
	}
	return a.postHookFailed(hookErr, res)
}

// endMaintenance turns maintenance off on every host once the new
// release serves everywhere (deploy --maintenance-off).
func (a *app) endMaintenance(ctx context.Context, targets []deploy.Target, root string, res *deploy.FleetResult) error {
	for _, t := range targets {
		h, err := t.Dial(ctx)
		if err == nil {
			err = a.setMaintenance(ctx, h, release.Layout{Root: root}, false, 0)
			h.Close()
		}
		if err != nil {
			return fmt.Errorf("release %d is live, but maintenance could not be turned off: %w (ship maintenance TARGET off)", res.Release, err)
		}
	}
	return nil
}

// postHookFailed reports a post hook that failed after the command
// itself worked: ship exits 1, and says what is live all the same.
func (a *app) postHookFailed(err error, res *deploy.FleetResult) error {
	if err == nil {
		return nil
	}
	fmt.Fprintf(a.stderr, "✗ %v; release %d is live all the same\n", err, res.Release)
	return reportedError{err}
}

func targetNames(targets []deploy.Target) []string {
	out := make([]string, len(targets))
	for i, t := range targets {
		out[i] = t.Name
	}
	return out
}

// fleetPlan settles the hosts of every TARGET argument into one fleet. The
// arguments must agree on what to deploy and where.
func (a *app) fleetPlan(cmd *cobra.Command, f *deployFlags, args []string, progress io.Writer) ([]deploy.Target, deploy.Options, error) {
	var targets []deploy.Target
	var first deploy.Options
	seen := map[string]bool{}
	for i, arg := range args {
		s, hosts, err := a.settle(cmd, arg)
		if err != nil {
			return nil, first, err
		}
		opts, err := a.deployOptions(s, f, progress)
		if err != nil {
			return nil, first, &usageError{cmd: "deploy", err: err}
		}
		if i == 0 {
			first = opts
		} else if !sameDeploy(first, opts) {
			return nil, first, &usageError{cmd: "deploy", err: fmt.Errorf("%s and %s have different settings (path, source or commands): deploy them one at a time", args[0], arg)}
		}
		for _, hs := range hosts {
			if seen[hs] {
				return nil, first, &usageError{cmd: "deploy", err: fmt.Errorf("host %s is named twice", hs)}
			}
			seen[hs] = true
			targets = append(targets, a.target(hs, s))
		}
	}
	repo, err := localRepo(first.Repo, a.workDir(), targets)
	if err != nil {
		return nil, first, &usageError{cmd: "deploy", err: err}
	}
	first.Repo = repo
	return targets, first, nil
}

// localRepo settles a --repo that is a relative path: a folder where ship
// runs. For `local` it is made absolute (the deploy runs elsewhere); the
// servers of an SSH target cannot see it: that is an error that says what
// to do. A URL, an scp-like host:path, and an absolute path (a folder on
// the servers) are left as they are.
func localRepo(repo, wd string, targets []deploy.Target) (string, error) {
	if repo == "" || filepath.IsAbs(repo) || strings.Contains(repo, "://") {
		return repo, nil
	}
	if i := strings.IndexByte(repo, ':'); i > 0 && !strings.Contains(repo[:i], "/") {
		return repo, nil // user@host:path, host:path
	}
	for _, t := range targets {
		if t.Name != "local" {
			return "", fmt.Errorf("--repo %s is a folder on this machine, which the servers cannot fetch from: send it with --upload %s, or give a URL the servers can reach (git@github.com:you/app.git)", repo, repo)
		}
	}
	return filepath.Join(wd, repo), nil
}

// target is one host as the deploy package reaches it.
func (a *app) target(hs string, s *settings.Values) deploy.Target {
	return deploy.Target{Name: hs, Dial: func(ctx context.Context) (host.Host, error) { return a.dial(ctx, hs, s) }}
}

// sameDeploy reports whether two arguments' options deploy the same thing
// the same way (the output settings aside).
func sameDeploy(x, y deploy.Options) bool {
	x.Out, y.Out, x.Report, y.Report = nil, nil, nil, nil
	return reflect.DeepEqual(x, y)
}

func (a *app) deployOptions(s *settings.Values, f *deployFlags, progress io.Writer) (deploy.Options, error) {
	o := deploy.Options{
		Root:     optPath.From(s),
		Repo:     optRepo.From(s),
		Ref:      optRef.From(s),
		Upload:   f.upload,
		Keep:     optKeep.From(s),
		Install:  optInstall.From(s),
		Build:    optBuild.From(s),
		Shared:   optShared.From(s),
		Release:  optRelease.From(s),
		Wait:     optWait.From(s),
		LockWait: optLockWait.From(s),
		Parallel: optParallel.From(s),
		Canary:   optCanary.From(s),
		By:       a.who(),
		Out:      progress,
		Verbose:  f.verbose,
	}
	if o.Upload != "" {
		o.Repo = "" // an upload wins over a configured repository
		if !filepath.IsAbs(o.Upload) {
			o.Upload = filepath.Join(a.workDir(), o.Upload) // a relative folder is where ship runs
		}
		o.Commit, o.Ref, o.DirtyFiles = a.uploadIdentity(o.Upload, o.Ref)
	}
	if o.Repo == "" && o.Upload == "" {
		return o, errors.New("nothing to deploy: give --repo URL (the target fetches it) or --upload DIR (ship sends it), or set repo in ship.yml")
	}
	env, err := a.appEnv(optEnv.From(s))
	if err != nil {
		return o, err
	}
	o.AppEnv = env
	return o, nil
}

// appEnv is ship.yml's env: with each secret's value read from ship's own
// environment (in GitHub Actions, the step's env: from secrets). A secret
// that is not set stops the deploy before any server is touched.
func (a *app) appEnv(entries []string) ([]dotenv.Var, error) {
	var vars []dotenv.Var
	var missing []string
	for _, e := range entries {
		name, value, clear := strings.Cut(e, "=")
		if !clear {
			value = a.getenv(name)
			if value == "" {
				missing = append(missing, name)
				continue
			}
		}
		vars = append(vars, dotenv.Var{Name: name, Value: value, Secret: !clear})
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("env: secret %s not set in ship's environment: export %s=… before ship deploy (in GitHub Actions: env: %s: ${{ secrets.%s }} on the step)",
			strings.Join(missing, ", "), missing[0], missing[0], missing[0])
	}
	return vars, nil
}

// uploadIdentity names the commit and ref of an uploaded tree: from
// GitHub Actions' variables, else from the tree's own git checkout; dirty
// counts the tree's uncommitted changes (git status), which the commit
// alone would hide.
func (a *app) uploadIdentity(dir, ref string) (commit, outRef string, dirty int) {
	if out, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--", ".", ":!node_modules").Output(); err == nil {
		dirty = strings.Count(string(out), "\n")
	}
	commit, outRef = a.getenv("GITHUB_SHA"), ref
	if outRef == "" {
		outRef = a.getenv("GITHUB_REF_NAME")
	}
	if commit == "" {
		if out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output(); err == nil {
			commit = strings.TrimSpace(string(out))
		}
	}
	if outRef == "" {
		if out, err := exec.Command("git", "-C", dir, "rev-parse", "--abbrev-ref", "HEAD").Output(); err == nil {
			outRef = strings.TrimSpace(string(out))
		}
	}
	return commit, outRef, dirty
}

// envSecrets are the values of the app's secret variables.
func envSecrets(vars []dotenv.Var) []string {
	var out []string
	for _, v := range vars {
		if v.Secret {
			out = append(out, v.Value)
		}
	}
	return out
}

// who is recorded in release.json, the lock and the log.
func (a *app) who() string {
	if a.getenv("GITHUB_ACTIONS") == "true" {
		return fmt.Sprintf("ci (%s, run %s)", a.getenv("GITHUB_ACTOR"), a.getenv("GITHUB_RUN_ID"))
	}
	name := a.getenv("USER")
	if u, err := user.Current(); err == nil && name == "" {
		name = u.Username
	}
	return name
}

// commandLine is the command as a person would retype it, for the lock info.
func commandLine(cmd *cobra.Command, args []string) string {
	return cmd.CommandPath() + " " + strings.Join(args, " ")
}
