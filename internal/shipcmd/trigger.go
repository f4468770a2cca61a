package shipcmd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/settings"
	"github.com/shipdeploy/ship/internal/webhook"
)

const (
	defaultTriggerTimeout = 30 * time.Second
	maxTriggerAnswer      = 64 << 10
)

// triggerTable is trigger's settings. trigger reads no ship.yml and
// connects to no host, so they are a table of their own, under the same
// rules as ship's (internal/settings).
var triggerTable settings.Table

var (
	trigSecret = settings.Add(&triggerTable, settings.Setting{Name: "secret", Flag: "secret", Env: "WEBHOOK_SECRET", Secret: true,
		Help: "the webhook secret (prefer the variable: a flag shows in process lists)", Commands: triggerCommand}, "")
	trigRef = settings.Add(&triggerTable, settings.Setting{Name: "ref", Flag: "ref",
		Help: "the branch to deploy, as the server's BRANCH names it", Commands: triggerCommand}, "main")
	trigCommit = settings.Add(&triggerTable, settings.Setting{Name: "commit", Flag: "commit", DefaultText: "what --ref points to in --remote now",
		Help: "the commit to deploy", Commands: triggerCommand}, "")
	trigRepository = settings.Add(&triggerTable, settings.Setting{Name: "repository", Flag: "repository", Env: "GITHUB_REPOSITORY",
		DefaultText: "from the remote's URL", Help: "owner/name the server expects", Commands: triggerCommand}, "")
	trigRemote = settings.Add(&triggerTable, settings.Setting{Name: "remote", Flag: "remote",
		Help: "git remote (name or URL) asked for the branch's commit, and for the repository", Commands: triggerCommand}, "origin")
	trigTimeout = settings.Add(&triggerTable, settings.Setting{Name: "timeout", Flag: "timeout",
		Help: "how long to wait for the receiver's answer", Commands: triggerCommand}, defaultTriggerTimeout)
)

var triggerCommand = []string{"trigger"}

// triggerOptions is one `ship trigger`, settled: runTrigger reads nothing else.
type triggerOptions struct {
	url        *url.URL
	secret     string
	ref        string // refs/heads/NAME
	commit     string // full id
	repository string // owner/name, or ""
	pusher     string
	timeout    time.Duration
	out        io.Writer
}

func (a *app) newTriggerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trigger [flags] URL",
		Short: "Ask a server's receiver to deploy now, with a signed webhook request",
		Long: `Send the receiver's webhook a push request signed like GitHub's, so the server
deploys a commit now: the manual form of a GitHub push.

URL is the webhook address, for example https://shop.example.com/deploy; a URL
without a path gets /deploy.

The commit: --commit (a full id, or an abbreviation this folder's git checkout
knows). Without it, ship asks the repository which commit the branch points to
now (git ls-remote REMOTE refs/heads/REF in this folder, REMOTE being --remote):
the commit the server can fetch, never an unpushed local one. The server
deploys exactly that commit, even if the branch moves on before it starts.

The secret is the server's WEBHOOK_SECRET. Prefer the environment variable:
a --secret flag shows in process lists and shell history. It only signs the
request (HMAC-SHA256); it is never sent or printed.

The receiver refuses pushes from another repository: --repository owner/name,
by default GITHUB_REPOSITORY, else derived from the remote's GitHub URL.

Prints the receiver's answer; exits non-zero unless it accepted the request.`,
		Example: `  WEBHOOK_SECRET=... ship trigger https://shop.example.com/deploy
  ship trigger https://shop.example.com --ref main --commit 3e5a1c0
  ship trigger http://127.0.0.1:3000/deploy --commit $(git rev-parse HEAD) --repository acme/shop`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{cmd: "trigger", err: errors.New("give the webhook URL, for example https://shop.example.com/deploy")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := triggerTable.EnvLayer(a.getenv)
			if err != nil {
				return configError{err}
			}
			o, err := a.triggerOptions(cmd.Context(), triggerTable.Resolve(triggerTable.FlagLayer(cmd.Flags()), env), args[0])
			if err != nil {
				return err
			}
			return runTrigger(cmd.Context(), o)
		},
	}
	triggerTable.AddFlags(cmd.Flags(), func(s *settings.Setting) bool { return s.Takes("trigger") })
	return cmd
}

// triggerOptions settles the settings and git into one request.
func (a *app) triggerOptions(ctx context.Context, v *settings.Values, rawURL string) (triggerOptions, error) {
	usage := func(format string, args ...any) error {
		return &usageError{cmd: "trigger", err: fmt.Errorf(format, args...)}
	}
	o := triggerOptions{timeout: trigTimeout.From(v), out: a.stdout, pusher: a.who(), secret: trigSecret.From(v)}
	if o.pusher == "" {
		o.pusher = "ship trigger"
	}
	if o.secret == "" {
		return o, usage("no secret: set WEBHOOK_SECRET (the server's webhook secret) or pass --secret; unsigned requests are refused")
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, usage("%q is not an http(s) URL: give the webhook address, for example https://shop.example.com/deploy", rawURL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/deploy"
	}
	o.url = u

	ref, remote := trigRef.From(v), trigRemote.From(v)
	branch := strings.TrimPrefix(ref, "refs/heads/")
	if strings.HasPrefix(branch, "refs/") || !validBranch(branch) {
		return o, usage("--ref %q is not a branch name (tags and other refs do not deploy)", ref)
	}
	o.ref = "refs/heads/" + branch
	if strings.HasPrefix(remote, "-") || remote == "" {
		return o, usage("--remote %q is not a remote name or URL", remote)
	}

	if o.commit, err = triggerCommit(ctx, trigCommit.From(v), remote, o.ref); err != nil {
		return o, err
	}

	o.repository = trigRepository.From(v)
	if o.repository == "" {
		remoteURL := remote
		if out, err := gitOutput(ctx, "remote", "get-url", "--", remote); err == nil {
			remoteURL = out
		}
		o.repository = webhook.RepositoryFromURL(remoteURL)
	}
	if o.repository != "" && strings.Count(o.repository, "/") != 1 {
		return o, usage("--repository %q is not owner/name", o.repository)
	}
	return o, nil
}

// triggerCommit is the commit a trigger names: --commit c (a full id, or
// an abbreviation this folder's git knows), else the head of ref in remote.
func triggerCommit(ctx context.Context, c, remote, ref string) (string, error) {
	switch {
	case release.IsCommitID(c):
		return c, nil
	case c != "":
		if !isHexAbbrev(c) {
			return "", &usageError{cmd: "trigger", err: fmt.Errorf("--commit %q is not a commit id", c)}
		}
		out, err := gitOutput(ctx, "rev-parse", "--verify", "--quiet", "--end-of-options", c+"^{commit}")
		if err != nil || !release.IsCommitID(out) {
			return "", fmt.Errorf("--commit %s is not a commit this folder's git checkout knows: give the full id", c)
		}
		return out, nil
	}
	branch := strings.TrimPrefix(ref, "refs/heads/")
	out, err := gitOutput(ctx, "ls-remote", "--exit-code", remote, ref)
	if err != nil {
		return "", fmt.Errorf("find the commit of %s in %s: %v; pass --commit ID", branch, remote, err)
	}
	id, _, _ := strings.Cut(out, "\t")
	if !release.IsCommitID(id) {
		return "", fmt.Errorf("find the commit of %s in %s: unexpected answer %q; pass --commit ID", branch, remote, out)
	}
	return id, nil
}

// runTrigger sends the signed push and prints the answer.
func runTrigger(ctx context.Context, o triggerOptions) error {
	delivery := newDeliveryID()
	body, err := json.Marshal(pushPayload(o, delivery))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ship-trigger/"+Version)
	req.Header.Set(webhook.HeaderEvent, "push")
	req.Header.Set(webhook.HeaderDelivery, delivery)
	req.Header.Set(webhook.HeaderSignature256, webhook.Sign([]byte(o.secret), body))

	shown := *o.url
	shown.User = nil
	repo := ""
	if o.repository != "" {
		repo = " from " + o.repository
	}
	fmt.Fprintf(o.out, "→ POST %s  push %s %s%s (delivery %s)\n", shown.String(), o.ref, o.commit[:12], repo, delivery)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error // its text repeats the URL, which may hold a password
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("send to %s: %w", shown.Host, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxTriggerAnswer))
	return o.decided(resp, bytes.TrimSpace(answer))
}

// decided says what the receiver did with the push, from its answer. An
// answer without the webhook's mark is not the receiver's (the app's page
// answered on that path): nothing was deployed.
func (o triggerOptions) decided(resp *http.Response, answer []byte) error {
	fmt.Fprintf(o.out, "← %s\n", resp.Status)
	var r webhook.Response
	if resp.Header.Get(webhook.HeaderAnswer) == "" || json.Unmarshal(answer, &r) != nil || r.Status == "" {
		return fmt.Errorf("%s answered %s, but not as ship's webhook: nothing was deployed. Is WEBHOOK_SECRET set on the receiver, and is the path right (--webhook-path, default %s)?",
			resp.Request.URL.Host, resp.Status, "/deploy")
	}
	switch {
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("the receiver refused the push (%s): %s", resp.Status, orText(r.Reason, r.Status))
	case r.Status == "queued":
		note := ""
		if r.Replaced != "" {
			note = fmt.Sprintf(" (replacing %s, which was waiting)", release.ShortCommit(r.Replaced))
		}
		fmt.Fprintf(o.out, "✓ the receiver queued a deploy of %s on %s%s\n", release.ShortCommit(r.Commit), r.Ref, note)
		return nil
	}
	return fmt.Errorf("the receiver did not deploy it (%s): %s", r.Status, orText(r.Reason, "no reason given"))
}

// pushPayload is a push event in GitHub's shape, with what the receiver
// reads. The delivery id in the message makes each body unique: the
// receiver takes a repeated body for a replay.
func pushPayload(o triggerOptions, delivery string) webhook.PushEvent {
	ev := webhook.PushEvent{
		Ref:        o.ref,
		Before:     o.commit,
		After:      o.commit,
		Commits:    []webhook.Commit{},
		HeadCommit: &webhook.Commit{ID: o.commit, Message: "ship trigger (delivery " + delivery + ")", Timestamp: time.Now().Format(time.RFC3339)},
		Pusher:     &webhook.Person{Name: o.pusher},
		Sender:     &webhook.Account{Login: o.pusher},
	}
	if o.repository != "" {
		owner, name, _ := strings.Cut(o.repository, "/")
		ev.Repository = &webhook.Repository{Name: name, FullName: o.repository, Owner: &webhook.Account{Login: owner}}
	}
	return ev
}

// newDeliveryID is a random UUID (version 4), the form GitHub's ids have.
func newDeliveryID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func gitOutput(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", fmt.Errorf("git %s: %s", args[0], msg)
		}
		return "", fmt.Errorf("git %s: %w", args[0], err)
	}
	return strings.TrimSpace(string(out)), nil
}

func isHexAbbrev(s string) bool {
	if len(s) < 4 || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// validBranch keeps to names git accepts and no shell or option tricks.
func validBranch(b string) bool {
	if b == "" || strings.HasPrefix(b, "-") || strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") ||
		strings.HasSuffix(b, ".lock") || strings.Contains(b, "..") || strings.Contains(b, "//") || strings.Contains(b, "@{") {
		return false
	}
	for _, r := range b {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("~^:?*[\\", r) {
			return false
		}
	}
	return true
}
