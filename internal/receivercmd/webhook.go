package receivercmd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	shipdeploy "github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/pull"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/webhook"
)

// Defaults of the webhook flags.
const defaultWebhookPath = "/deploy"

// pullSide is the receiver's part in pull deploys: the GitHub webhook, the
// queue that runs its deploys one at a time, and the first-start deploy.
type pullSide struct {
	hook   *webhook.Handler // nil: no endpoint (no WEBHOOK_SECRET)
	queue  *webhook.Queue
	puller *pull.Deployer
}

// newPullSide reads WEBHOOK_SECRET, GIT_REPO, GIT_SSH_KEY, BRANCH,
// GITHUB_REPOSITORY and WEBHOOK_MAX_BODY. Deploys go through the same
// pipeline and lock as `ship deploy`, on this machine; the receiver's own
// reload loop then switches to the new release.
// privateEnv are the receiver's own variables, read once at start: the app,
// and the installs and builds of webhook deploys, must not inherit them (a
// secret, a deploy key, a repository URL with a token).
var privateEnv = []string{"WEBHOOK_SECRET", "GIT_SSH_KEY", "GIT_REPO", "GIT_KNOWN_HOSTS", "WEBHOOK_MAX_BODY", "GITHUB_REPOSITORY", "BRANCH", "RELEASE_COMMAND"}

// forgetPrivateEnv takes privateEnv out of the process's environment, which
// every child process starts from.
func forgetPrivateEnv() {
	for _, k := range privateEnv {
		_ = os.Unsetenv(k)
	}
}

func newPullSide(opts *options, l release.Layout, fsys release.FS, log *slog.Logger) (*pullSide, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	p := &pullSide{puller: pull.FromEnv(getenv, opts.Root)}
	p.puller.Wait, p.puller.Logger = shipdeploy.DefaultWait, log
	p.puller.Base.Release = opts.ReleaseCommand
	p.puller.Out = io.Discard // outcomes are logged; progress lines would break JSON logs

	p.queue = webhook.NewQueue(func(ctx context.Context, req webhook.Request) (int, error) {
		// A push must not take the app back in time, unless it is a forced
		// push newer than every one before (never a late or replayed one).
		if current, behind := p.puller.Behind(ctx, req.Commit); behind && !req.MayGoBack {
			return 0, fmt.Errorf("%w: %s is an ancestor of %s, which is live (push with --force to deploy it)",
				webhook.ErrSuperseded, req.Commit, current)
		}
		res, err := p.puller.Deploy(ctx, req.Commit, req.Ref, req.By())
		if err != nil {
			return 0, err
		}
		return res.Release, nil
	}, log)
	cfg, err := webhook.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	cfg.Queue, cfg.Logger = p.queue, log
	cfg.DeliveriesFile = filepath.Join(l.ShipDir(), "webhook-deliveries")
	cfg.Log = func(e release.LogEntry) {
		if err := release.AppendLog(fsys, l, e); err != nil {
			log.Warn("cannot append to the audit trail", "err", err)
		}
	}
	if h := webhook.New(cfg); h.Enabled() {
		p.hook = h
	}
	return p, nil
}

// firstStart deploys the branch when nothing was ever deployed and GIT_REPO
// is set (a container's first boot). The deploy leaves releases/RELOAD,
// which the reload loop's boot step then serves.
func (p *pullSide) firstStart(ctx context.Context, log *slog.Logger) {
	if _, err := p.puller.FirstStart(ctx); err != nil {
		log.Error("first start: deploying the branch failed; waiting for a deploy", "err", err)
	}
}
