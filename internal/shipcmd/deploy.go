package shipcmd

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"os/user"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/release"
)

type deployFlags struct {
	repo, ref, upload string
	keep              int
	install, build    string
	shared            []string
	wait, lockWait    string
	jsonOut           bool
}

func (a *app) newDeployCmd() *cobra.Command {
	f := &deployFlags{}
	cmd := &cobra.Command{
		Use:   "deploy [flags] TARGET...",
		Short: "Build a new release on each target, switch to it, reload",
		Long: `Build a new release on each target and switch to it with zero downtime.

Each target runs: lock → source (fetch the commit into releases/N, or unpack
the upload) → shared (link shared/ entries such as .env) → install → build →
switch (current → releases/N, atomically) → reload (the receiver starts the new
release, checks its health, moves traffic) → prune (keep the newest --keep).

A failure at any step leaves current on the old release, which keeps serving;
the lock is released and the output of the failing step is shown. When the
receiver refuses the new release, ship switches current back by itself.
Several targets are deployed one after another; the first failure stops the
rest.`,
		Example: `  ship deploy deploy@203.0.113.10 --repo git@github.com:acme/shop.git --ref main
  ship deploy prod                       # a target from ship.yml
  ship deploy local --repo ./shop        # this machine, no SSH
  ship deploy web1 web2 --upload .       # send this checkout; the server needs no repo access`,
		Args: needTarget(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDeploy(cmd.Context(), cmd, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.repo, "repo", "", "repository URL the target fetches from [SHIP_REPO]")
	fl.StringVar(&f.ref, "ref", "", "branch, tag or commit to deploy (default main) [SHIP_REF]")
	fl.StringVar(&f.upload, "upload", "", "send this local folder instead of fetching (skips .git and node_modules)")
	fl.IntVar(&f.keep, "keep", 0, "finished releases to keep (default 4) [SHIP_KEEP]")
	fl.StringVar(&f.install, "install", "", `install command, run in the release ("-" skips; default "bun install") [SHIP_INSTALL]`)
	fl.StringVar(&f.build, "build", "", `build command ("-" skips; default "bun run build") [SHIP_BUILD]`)
	fl.StringSliceVar(&f.shared, "shared", nil, "entries of shared/ to link into each release (folders end in /; default: all) [SHIP_SHARED]")
	fl.StringVar(&f.wait, "wait", "", "how long to wait for the receiver's answer; 0 does not wait (default 60s) [SHIP_WAIT]")
	fl.StringVar(&f.lockWait, "lock-wait", "", "how long to wait for another deploy's lock (default 0: fail at once) [SHIP_LOCK_WAIT]")
	fl.BoolVar(&f.jsonOut, "json", false, "print the results as JSON on stdout (progress goes to stderr)")
	addGitHubFlags(fl) // actions.go
	return cmd
}

func (a *app) deploySettings(cmd *cobra.Command, f *deployFlags, target string) (Settings, []string, error) {
	s, hosts, err := a.resolve(cmd, target)
	if err != nil {
		return s, nil, err
	}
	fl := cmd.Flags()
	var o Settings
	if fl.Changed("repo") {
		o.Repo = &f.repo
	}
	if fl.Changed("ref") {
		o.Ref = &f.ref
	}
	if fl.Changed("keep") {
		o.Keep = &f.keep
	}
	if fl.Changed("install") {
		o.Install = &f.install
	}
	if fl.Changed("build") {
		o.Build = &f.build
	}
	if fl.Changed("shared") {
		o.Shared = &f.shared
	}
	if fl.Changed("wait") {
		o.Wait = &f.wait
	}
	if fl.Changed("lock-wait") {
		o.LockWait = &f.lockWait
	}
	return s.overlay(o), hosts, nil
}

func (a *app) runDeploy(ctx context.Context, cmd *cobra.Command, f *deployFlags, args []string) (err error) {
	progress := a.stdout
	if f.jsonOut {
		progress = a.stderr
	}
	ci, progress := a.startCI(cmd, progress) // GitHub Actions and Deployments (actions.go); inert elsewhere
	var results []*deploy.Result
	defer func() { ci.finish(ctx, results, err) }()
	for _, target := range args {
		s, hosts, err := a.deploySettings(cmd, f, target)
		if err != nil {
			return err
		}
		opts, err := a.deployOptions(s, f, progress)
		opts.Command = commandLine(cmd, args)
		if err != nil {
			return &usageError{cmd: "deploy", err: err}
		}
		opts.Report = ci.reporter(ctx, opts)
		for _, hs := range hosts {
			h, err := a.dial(ctx, hs, s)
			if err != nil {
				return err
			}
			res, err := deploy.Deploy(ctx, h, opts)
			h.Close()
			if err != nil {
				a.explainDeployFailure(progress, target, hs, err)
				return reportedError{err}
			}
			results = append(results, res)
		}
	}
	if f.jsonOut {
		return a.writeJSON(results)
	}
	return nil
}

func (a *app) deployOptions(s Settings, f *deployFlags, progress interface{ Write([]byte) (int, error) }) (deploy.Options, error) {
	wait, err := durOr(s.Wait, deploy.DefaultWait, "--wait")
	if err != nil {
		return deploy.Options{}, err
	}
	lockWait, err := durOr(s.LockWait, 0, "--lock-wait")
	if err != nil {
		return deploy.Options{}, err
	}
	o := deploy.Options{
		Root:     strOr(s.Path, deploy.DefaultRoot),
		Repo:     strOr(s.Repo, ""),
		Ref:      strOr(s.Ref, ""),
		Upload:   f.upload,
		Keep:     intOr(s.Keep, deploy.DefaultKeep),
		Install:  strOr(s.Install, ""),
		Build:    strOr(s.Build, ""),
		Wait:     wait,
		LockWait: lockWait,
		By:       a.who(),
		Out:      progress,
		Verbose:  a.global.verbose,
	}
	if s.Shared != nil {
		o.Shared = *s.Shared
	}
	if o.Upload != "" {
		o.Repo = "" // an upload wins over a configured repository
		o.Commit, o.Ref = a.uploadIdentity(o.Upload, o.Ref)
	}
	if o.Repo == "" && o.Upload == "" {
		return o, errors.New("nothing to deploy: give --repo URL (the target fetches it) or --upload DIR (ship sends it), or set repo in ship.yml")
	}
	return o, nil
}

// uploadIdentity names the commit and ref of an uploaded tree: from
// GitHub Actions' variables, else from the tree's own git checkout.
func (a *app) uploadIdentity(dir, ref string) (commit, outRef string) {
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
	return commit, outRef
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

// explainDeployFailure prints the closing lines of a failed deploy: what
// failed, what state the target is in, what to do.
func (a *app) explainDeployFailure(w interface{ Write([]byte) (int, error) }, target, hs string, err error) {
	var se *deploy.StepError
	if !errors.As(err, &se) {
		fmt.Fprintf(w, "✗ deploy to %s failed: %v\n", hs, err)
		return
	}
	var locked *release.LockedError
	if errors.As(err, &locked) {
		fmt.Fprintf(w, "✗ %s is locked by another deploy: %v\n", hs, locked)
		fmt.Fprintf(w, "  Nothing was changed. Wait for it, pass --lock-wait 5m, or if that deploy is dead: ship unlock %s\n", target)
		return
	}
	cur := "there is no current release"
	if se.Current > 0 {
		cur = fmt.Sprintf("current is release %d", se.Current)
	}
	switch {
	case errors.Is(err, deploy.ErrUnhealthy):
		fmt.Fprintf(w, "✗ release %d never took traffic on %s: %v\n", se.Release, hs, se.Err)
		if se.Current > 0 && se.Current != se.Release {
			cur = fmt.Sprintf("release %d kept serving and current is back on it", se.Current)
		}
		fmt.Fprintf(w, "  %s; release %d is marked bad. The lock is released.\n", cur, se.Release)
	default:
		rel := "the deploy"
		if se.Release > 0 {
			rel = fmt.Sprintf("release %d", se.Release)
		}
		fmt.Fprintf(w, "✗ %s failed at %s on %s: %v\n", rel, se.Step, hs, se.Err)
		fmt.Fprintf(w, "  %s; nothing was reloaded. The lock is released.\n", cur)
		fmt.Fprintf(w, "  Full output: ship deploy -v, or .ship/log.jsonl on the server.\n")
	}
}

// commandLine is the command as a person would retype it, for the lock info.
func commandLine(cmd *cobra.Command, args []string) string {
	return cmd.CommandPath() + " " + strings.Join(args, " ")
}
