package webhook

import (
	"log/slog"
	"net/url"
	"strings"

	"github.com/shipdeploy/ship/internal/release"
)

// Defaults for Config fields left empty.
const (
	DefaultBranch  = "main"
	DefaultMaxBody = 25 << 20 // GitHub caps payloads at 25 MB
)

// Config is one webhook endpoint.
type Config struct {
	// Secret is the webhook's shared secret (WEBHOOK_SECRET). Empty turns
	// the endpoint off: it answers 503 and accepts nothing.
	Secret string
	// Branch is the branch whose pushes deploy (BRANCH, default main).
	Branch string
	// Repository is the expected "owner/name"; a push from another
	// repository is refused. Empty: no check (GIT_REPO is not on GitHub).
	Repository string
	// MaxBody caps the request body (default 25 MB); larger is a 413.
	MaxBody int64
	// Queue runs the deploys. Without one the endpoint is off.
	Queue *Queue
	// DeliveriesFile, when set, keeps the recent delivery ids across
	// restarts, so a redelivery after a restart still deploys nothing.
	DeliveriesFile string

	Logger *slog.Logger           // default: discard
	Log    func(release.LogEntry) // the audit trail; default: none
}

// ConfigFromEnv reads WEBHOOK_SECRET, BRANCH, GITHUB_REPOSITORY and GIT_REPO
// (for the repository when GITHUB_REPOSITORY is unset).
func ConfigFromEnv(getenv func(string) string) Config {
	c := Config{
		Secret:     getenv("WEBHOOK_SECRET"),
		Branch:     strings.TrimSpace(getenv("BRANCH")),
		Repository: strings.TrimSpace(getenv("GITHUB_REPOSITORY")),
	}
	if c.Repository == "" {
		c.Repository = RepositoryFromURL(getenv("GIT_REPO"))
	}
	return c
}

func (c *Config) setDefaults() {
	if c.Branch == "" {
		c.Branch = DefaultBranch
	}
	c.Branch = strings.TrimPrefix(c.Branch, "refs/heads/")
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Log == nil {
		c.Log = func(release.LogEntry) {}
	}
}

// RepositoryFromURL returns "owner/name" for a GitHub repository URL in any
// of the forms git accepts, and "" for anything else:
//
//	https://github.com/owner/name(.git)
//	git@github.com:owner/name.git
//	ssh://git@github.com/owner/name.git
//	ssh://git@ssh.github.com:443/owner/name.git
func RepositoryFromURL(repo string) string {
	repo = strings.TrimSpace(repo)
	var host, p string
	if i := strings.Index(repo, "://"); i > 0 {
		u, err := url.Parse(repo)
		if err != nil {
			return ""
		}
		switch u.Scheme {
		case "https", "http", "ssh", "git", "git+ssh", "ssh+git":
		default:
			return ""
		}
		host, p = u.Hostname(), u.Path
	} else {
		// scp-like: [user@]host:path. A local path has no colon before
		// its first slash.
		hostPart, pathPart, ok := strings.Cut(repo, ":")
		if !ok || strings.Contains(hostPart, "/") {
			return ""
		}
		if _, h, ok := strings.Cut(hostPart, "@"); ok {
			hostPart = h
		}
		host, p = hostPart, pathPart
	}
	switch strings.ToLower(host) {
	case "github.com", "www.github.com", "ssh.github.com":
	default:
		return ""
	}
	p = strings.Trim(p, "/")
	p = strings.TrimSuffix(p, ".git")
	owner, name, ok := strings.Cut(p, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return ""
	}
	return owner + "/" + name
}
