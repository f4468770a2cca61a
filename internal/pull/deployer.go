package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
)

// DefaultLockWait is how long a pull deploy waits for another deploy's lock
// (a push deploy, a rollback): long enough for a build to finish.
const DefaultLockWait = 5 * time.Minute

// DefaultNice lowers the priority of a pull deploy's git, install and
// build, so that the app and the receiver (the webhook's answers, the
// proxy) keep their share of a small server's CPU while it builds.
const DefaultNice = 10

// ErrNoRepo means GIT_REPO is not set: there is nothing to pull from.
var ErrNoRepo = errors.New("GIT_REPO is not set: the server has no repository to deploy from")

// Deployer deploys from the app's repository on this machine.
type Deployer struct {
	Root   string // APP_ROOT
	Repo   string // GIT_REPO: a URL git can fetch, or a local path
	Branch string // BRANCH, deployed by FirstStart (default main)

	// KeyText is a private key's text (GIT_SSH_KEY) for git over SSH;
	// literal "\n" sequences mean newlines. Empty: git's own defaults.
	KeyText string
	// KnownHosts is known_hosts text for the SSH server (GIT_KNOWN_HOSTS).
	// Empty: GitHubKnownHosts.
	KnownHosts string

	Wait     time.Duration // for the receiver's answer after the switch; 0: do not wait
	LockWait time.Duration // default DefaultLockWait
	// Nice is the CPU niceness of the deploy's commands (default
	// DefaultNice; negative: unchanged). The server builds while it serves.
	Nice int

	// Base holds the other deploy settings (Keep, Install, Build, Shared);
	// the fields above and the per-deploy values override it.
	Base deploy.Options

	Out    io.Writer    // the pipeline's progress lines; default: discard
	Logger *slog.Logger // default: discard
}

// FromEnv reads GIT_REPO, BRANCH, GIT_SSH_KEY and GIT_KNOWN_HOSTS.
func FromEnv(getenv func(string) string, root string) *Deployer {
	return &Deployer{
		Root:       root,
		Repo:       strings.TrimSpace(getenv("GIT_REPO")),
		Branch:     strings.TrimPrefix(strings.TrimSpace(getenv("BRANCH")), "refs/heads/"),
		KeyText:    getenv("GIT_SSH_KEY"),
		KnownHosts: getenv("GIT_KNOWN_HOSTS"),
	}
}

// Deploy builds a release of exactly commit (a full commit id) and switches
// to it. ref is the pushed ref, for the log; by is who asked, for
// release.json and the audit trail.
func (d *Deployer) Deploy(ctx context.Context, commit, ref, by string) (*deploy.Result, error) {
	if !release.IsCommitID(commit) {
		return nil, fmt.Errorf("%w: %q is not a full commit id", deploy.ErrBadInput, commit)
	}
	return d.run(ctx, commit, ref, by, d.Wait)
}

// FirstStart deploys the branch when the root has no current release yet and
// GIT_REPO is set: the container's first boot. It returns nil, nil when
// there is nothing to do. The receiver calls it before it starts the app,
// so it does not wait for a reload answer.
func (d *Deployer) FirstStart(ctx context.Context) (*deploy.Result, error) {
	if d.Repo == "" {
		return nil, nil
	}
	cur := release.Layout{Root: d.root()}.Current()
	if _, err := os.Lstat(cur); err == nil {
		return nil, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("first start: %w", err)
	}
	branch := d.branch()
	d.logger().Info("first start: no release yet, deploying the branch", "branch", branch, "repo", deploy.RedactURL(d.Repo))
	return d.run(ctx, branch, "refs/heads/"+branch, "receiver (first start)", 0)
}

// options are the deploy's: Base with the repository, the target, and the
// live release's ship.yml env: carried over.
func (d *Deployer) options(target, ref, by string, wait time.Duration) (deploy.Options, error) {
	opts := d.Base
	opts.Root = d.root()
	opts.Repo = d.Repo
	// A commit id is deployed exactly; the branch names it in release.json.
	opts.Ref, opts.Commit = target, ""
	if release.IsCommitID(target) {
		opts.Ref, opts.Commit = strings.TrimPrefix(ref, "refs/heads/"), target
	}
	opts.Upload = ""
	opts.By = by
	opts.Command = "receiver: deploy " + ref + " " + target
	opts.Wait = wait
	opts.LockWait = d.LockWait
	if opts.LockWait == 0 {
		opts.LockWait = DefaultLockWait
	}
	opts.Out = d.Out
	opts.Env = append([]string(nil), d.Base.Env...)
	if len(opts.AppEnv) == 0 {
		// ship.yml env: reaches a pulled release as the live one had it:
		// its secrets came from ship's environment, which is not here.
		var err error
		opts.CarriedEnv, opts.CarriedFrom, err = release.LiveShipEnv(release.LocalFS{}, release.Layout{Root: opts.Root})
		if err != nil {
			return opts, err
		}
	}
	return opts, nil
}

func (d *Deployer) run(ctx context.Context, target, ref, by string, wait time.Duration) (*deploy.Result, error) {
	if d.Repo == "" {
		return nil, ErrNoRepo
	}
	opts, err := d.options(target, ref, by, wait)
	if err != nil {
		return nil, err
	}
	if key := NormalizeKey(d.KeyText); key != "" {
		kh := d.KnownHosts
		if strings.TrimSpace(kh) == "" {
			kh = GitHubKnownHosts
		}
		s, err := newSSHFiles(key, kh)
		if err != nil {
			return nil, err
		}
		defer s.remove()
		opts.Env = append(opts.Env, "GIT_SSH_COMMAND="+s.command())
	}

	log := d.logger().With("ref", ref, "target", target, "by", by)
	log.Info("deploy started", "repo", deploy.RedactURL(d.Repo))
	start := time.Now()
	var h host.Host = host.Local{}
	if nice := d.nice(); nice > 0 {
		h = lowPriority{nice: nice}
	}
	res, err := deploy.Deploy(ctx, h, opts)
	if err != nil {
		err = redacted(err, d.Repo)
		log.Error("deploy failed", "err", err, "seconds", time.Since(start).Seconds())
		return nil, err
	}
	log.Info("deploy done", "release", res.Release, "commit", res.Commit, "seconds", time.Since(start).Seconds())
	return res, nil
}

func (d *Deployer) root() string {
	if d.Root == "" {
		return deploy.DefaultRoot
	}
	return d.Root
}

func (d *Deployer) branch() string {
	if d.Branch == "" {
		return deploy.DefaultRef
	}
	return d.Branch
}

func (d *Deployer) nice() int {
	if d.Nice == 0 {
		return DefaultNice
	}
	return d.Nice
}

// lowPriority is this machine, running each script (and so everything it
// starts) at a lower CPU priority. Without renice the script runs as is.
type lowPriority struct {
	host.Local
	nice int
}

func (h lowPriority) Run(ctx context.Context, c host.Command) error {
	c.Script = fmt.Sprintf("renice -n %d -p $$ >/dev/null 2>&1\n", h.nice) + c.Script
	return h.Local.Run(ctx, c)
}

func (d *Deployer) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

// redactedError is an error whose text had a secret URL replaced.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func redacted(err error, repo string) error {
	safe := deploy.RedactURL(repo)
	if safe == repo || !strings.Contains(err.Error(), repo) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), repo, safe), err: err}
}

// Behind reports whether commit is an ancestor of the commit current serves
// (and not that commit itself): a push delivered after a newer one. The
// mirror holds current's history, so a commit it does not know is not
// behind. Any doubt answers false: deploying is the safe default.
func (d *Deployer) Behind(ctx context.Context, commit string) (current string, behind bool) {
	l := release.Layout{Root: d.root()}
	snap, err := release.Read(release.LocalFS{}, l)
	if err != nil || snap.Current == 0 {
		return "", false
	}
	r, ok := snap.Find(snap.Current)
	if !ok || r.Info == nil || r.Info.Commit == "" || r.Info.Commit == commit || !release.IsCommitID(commit) {
		return "", false
	}
	cmd := exec.CommandContext(ctx, "git", "--git-dir="+l.Mirror(), "merge-base", "--is-ancestor", commit, r.Info.Commit)
	return r.Info.Commit, cmd.Run() == nil
}
