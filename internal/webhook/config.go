package webhook

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shipdeploy/ship/internal/release"
)

// Defaults for Config fields left empty.
const (
	DefaultBranch = "main"
	// DefaultMaxBody is small: a push payload is a few KiB, a push of
	// thousands of commits a few hundred. GitHub's own cap is 25 MB
	// (WEBHOOK_MAX_BODY raises it).
	DefaultMaxBody = 1 << 20
	// DefaultBodyBudget bounds the bytes of all bodies being read at
	// once (at least twice MaxBody).
	DefaultBodyBudget = 8 << 20
	// DefaultBodyTimeout bounds reading one body: GitHub gives up on an
	// answer after 10 s.
	DefaultBodyTimeout = 10 * time.Second
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
	// MaxBody caps the request body (default 1 MiB, WEBHOOK_MAX_BODY);
	// larger is a 413, announced or not.
	MaxBody int64
	// BodyBudget bounds the memory of all bodies being read at once; a
	// request that cannot get its share within a quarter of BodyTimeout
	// is a 503.
	// Default 8 MiB or twice MaxBody; never less than MaxBody.
	BodyBudget int64
	// BodyTimeout bounds reading one body (default 10 s); slower is a 408.
	BodyTimeout time.Duration
	// Queue runs the deploys. Without one the endpoint is off.
	Queue *Queue
	// DeliveriesFile, when set, keeps the recent delivery ids across
	// restarts, so a redelivery after a restart still deploys nothing.
	DeliveriesFile string

	Logger *slog.Logger           // default: discard
	Log    func(release.LogEntry) // the audit trail; default: none
	Now    func() time.Time       // default: time.Now (tests move it)
}

// ConfigFromEnv reads WEBHOOK_SECRET, BRANCH, GITHUB_REPOSITORY, GIT_REPO
// (for the repository when GITHUB_REPOSITORY is unset) and
// WEBHOOK_MAX_BODY.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Secret:     getenv("WEBHOOK_SECRET"),
		Branch:     strings.TrimSpace(getenv("BRANCH")),
		Repository: strings.TrimSpace(getenv("GITHUB_REPOSITORY")),
	}
	if c.Repository == "" {
		c.Repository = RepositoryFromURL(getenv("GIT_REPO"))
	}
	if v := strings.TrimSpace(getenv("WEBHOOK_MAX_BODY")); v != "" {
		n, err := parseSize(v)
		if err != nil || n < 1<<10 || n > 25<<20 {
			return c, fmt.Errorf("WEBHOOK_MAX_BODY=%q: want a size from 1KiB to 25MiB (GitHub's cap), such as 4MiB", v)
		}
		c.MaxBody = n
	}
	return c, nil
}

// parseSize reads a byte count: digits, then nothing or a binary unit (K,
// KB, KiB, M, MB, MiB; any case).
func parseSize(s string) (int64, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || n > 1<<40 {
		return 0, fmt.Errorf("size %q: not a number of bytes", s)
	}
	switch strings.ToLower(strings.TrimSpace(s[i:])) {
	case "", "b":
		return n, nil
	case "k", "kb", "kib":
		return n << 10, nil
	case "m", "mb", "mib":
		return n << 20, nil
	}
	return 0, fmt.Errorf("size %q: the unit is none, KiB or MiB", s)
}

func (c *Config) setDefaults() {
	if c.Branch == "" {
		c.Branch = DefaultBranch
	}
	c.Branch = strings.TrimPrefix(c.Branch, "refs/heads/")
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.BodyBudget <= 0 {
		c.BodyBudget = max(DefaultBodyBudget, 2*c.MaxBody)
	}
	if c.BodyBudget < c.MaxBody {
		c.BodyBudget = c.MaxBody
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = DefaultBodyTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Log == nil {
		c.Log = func(release.LogEntry) {}
	}
	if c.Now == nil {
		c.Now = time.Now
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
