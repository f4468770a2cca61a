package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/shipdeploy/ship/internal/release"
)

// apiTimeout bounds each API call: a slow API must not hold a deploy up.
const apiTimeout = 20 * time.Second

// DefaultAPIURL is github.com's API, used when GITHUB_API_URL is not set.
const DefaultAPIURL = "https://api.github.com"

// DefaultEnvironment is the environment GitHub itself assumes.
const DefaultEnvironment = "production"

// maxDescription is the API's limit for a status description.
const maxDescription = 140

// States of a deployment status, as the API names them.
const (
	StateInProgress = "in_progress"
	StateSuccess    = "success"
	StateFailure    = "failure"
)

// ErrNoRepository means a token was given but no repository to report to.
var ErrNoRepository = errors.New("no repository to report to: GITHUB_REPOSITORY is not owner/name")

// Config is one deployment to record.
type Config struct {
	Token      string
	Repository string // "owner/name"
	APIURL     string // default DefaultAPIURL

	Ref            string // the commit (or branch or tag) deployed
	Environment    string // default DefaultEnvironment
	EnvironmentURL string // where the deployed app answers; may be empty
	LogURL         string // the Actions run; may be empty
	Description    string

	HTTPClient *http.Client // default: http.DefaultClient's settings
}

// FromEnv fills the repository, API URL and log URL from GitHub Actions'
// variables.
func FromEnv(getenv func(string) string) Config {
	return Config{
		Repository: getenv("GITHUB_REPOSITORY"),
		APIURL:     getenv("GITHUB_API_URL"),
		LogURL:     RunURL(getenv),
	}
}

// RunURL is the Actions run's page: $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/
// actions/runs/$GITHUB_RUN_ID, or "" outside a run.
func RunURL(getenv func(string) string) string {
	server, repo, run := getenv("GITHUB_SERVER_URL"), getenv("GITHUB_REPOSITORY"), getenv("GITHUB_RUN_ID")
	if server == "" || repo == "" || run == "" {
		return ""
	}
	return strings.TrimSuffix(server, "/") + "/" + repo + "/actions/runs/" + run
}

// Enabled reports whether there is a token: without one nothing is tried.
func (c Config) Enabled() bool { return c.Token != "" }

// Deployment is a deployment created on GitHub, whose status can move on.
type Deployment struct {
	ID int64

	client      *gh.Client
	owner, repo string
	cfg         Config
}

// Start creates the deployment for cfg.Ref and sets it in progress. A
// deployment that was created but could not be set in progress is returned
// with the error, so that Finish can still close it.
func Start(ctx context.Context, cfg Config) (*Deployment, error) {
	owner, repo, ok := strings.Cut(cfg.Repository, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return nil, fmt.Errorf("%w (got %q)", ErrNoRepository, cfg.Repository)
	}
	if cfg.Ref == "" {
		return nil, errors.New("no commit to record a deployment for")
	}
	if cfg.Environment == "" {
		cfg.Environment = DefaultEnvironment
	}
	client, err := newClient(cfg)
	if err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	req := &gh.DeploymentRequest{
		Ref:         gh.String(cfg.Ref),
		Environment: gh.String(cfg.Environment),
		// The commit was chosen by the workflow: GitHub must not merge the
		// default branch into it, nor wait for status checks.
		AutoMerge:        gh.Bool(false),
		RequiredContexts: &[]string{},
		Description:      gh.String(truncate(cfg.Description, maxDescription)),
	}
	if cfg.Environment == DefaultEnvironment {
		req.ProductionEnvironment = gh.Bool(true)
	}
	created, _, err := client.Repositories.CreateDeployment(ctx, owner, repo, req)
	if err != nil {
		return nil, fmt.Errorf("create a deployment of %s to %s in %s: %w", release.ShortCommit(cfg.Ref), cfg.Environment, cfg.Repository, explain(err))
	}
	d := &Deployment{ID: created.GetID(), client: client, owner: owner, repo: repo, cfg: cfg}
	if err := d.status(ctx, StateInProgress, cfg.Description); err != nil {
		return d, err
	}
	return d, nil
}

// Finish sets the deployment's final status: success or failure, with a
// description for people (cut to the API's 140 characters).
func (d *Deployment) Finish(ctx context.Context, ok bool, description string) error {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	state := StateFailure
	if ok {
		state = StateSuccess
	}
	return d.status(ctx, state, description)
}

func (d *Deployment) status(ctx context.Context, state, description string) error {
	req := &gh.DeploymentStatusRequest{
		State:       gh.String(state),
		Description: gh.String(truncate(description, maxDescription)),
		Environment: gh.String(d.cfg.Environment),
	}
	if d.cfg.EnvironmentURL != "" {
		req.EnvironmentURL = gh.String(d.cfg.EnvironmentURL)
	}
	if d.cfg.LogURL != "" {
		req.LogURL = gh.String(d.cfg.LogURL)
	}
	if _, _, err := d.client.Repositories.CreateDeploymentStatus(ctx, d.owner, d.repo, d.ID, req); err != nil {
		return fmt.Errorf("set deployment %d to %s: %w", d.ID, state, explain(err))
	}
	return nil
}

func newClient(cfg Config) (*gh.Client, error) {
	api := cfg.APIURL
	if api == "" {
		api = DefaultAPIURL
	}
	base, err := url.Parse(api)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("GITHUB_API_URL %q is not a URL", api)
	}
	// Relative API paths resolve against the base only with a trailing
	// slash. GITHUB_API_URL is used as given (github.com's has no /api/v3,
	// GHES's already has it), unlike go-github's WithEnterpriseURLs.
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	client := gh.NewClient(cfg.HTTPClient).WithAuthToken(cfg.Token)
	client.BaseURL = base
	client.UserAgent = "ship-deploy"
	return client, nil
}

// explain adds what to do to the errors a workflow can fix itself.
func explain(err error) error {
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		switch er.Response.StatusCode {
		case http.StatusForbidden, http.StatusNotFound:
			return fmt.Errorf("%w (the token needs `permissions: deployments: write` in the workflow)", err)
		case http.StatusUnauthorized:
			return fmt.Errorf("%w (the token was refused: pass github-token: ${{ github.token }})", err)
		}
	}
	return err
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
