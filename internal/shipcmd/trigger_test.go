package shipcmd

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/testenv"
	"github.com/shipdeploy/ship/internal/webhook"
)

const triggerSecret = "trigger-secret-Zx81"

// receiverStub is the real webhook endpoint with a queue that records what
// it would deploy.
type receiverStub struct {
	srv      *httptest.Server
	q        *webhook.Queue
	requests atomic.Int32
	mu       sync.Mutex
	deployed []webhook.Request
}

func newReceiverStub(t *testing.T, repository string) *receiverStub {
	t.Helper()
	s := &receiverStub{}
	s.q = webhook.NewQueue(func(ctx context.Context, r webhook.Request) (int, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.deployed = append(s.deployed, r)
		return len(s.deployed), nil
	}, nil)
	h := webhook.New(webhook.Config{Secret: triggerSecret, Branch: "main", Repository: repository, Queue: s.q})
	mux := http.NewServeMux()
	mux.HandleFunc("/deploy", func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		h.ServeHTTP(w, r)
	})
	// The app behind the receiver answers every other path, 200 and all.
	mux.HandleFunc("/app", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello from release 3") })
	s.srv = httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.q.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; s.srv.Close() })
	return s
}

func (s *receiverStub) commits(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.q.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.deployed {
		out = append(out, r.Commit)
	}
	return out
}

func runShip(env map[string]string, args ...string) (int, string) {
	var out bytes.Buffer
	a := &app{stdout: &out, stderr: &out, getenv: func(k string) string { return env[k] }}
	code := a.run(context.Background(), args)
	return code, out.String()
}

func TestTrigger(t *testing.T) {
	const commit = "3e5a1c0f9d2b4a6e8c7f1b0a9d8e7c6b5a4f3e2d"
	for _, tc := range []struct {
		name       string
		env        map[string]string
		args       []string // after the URL
		url        string   // appended to the server's address; default /deploy
		code       int
		out        string // a substring of the output
		deployed   int
		noRequests bool
	}{
		{name: "secret from the environment", env: map[string]string{"WEBHOOK_SECRET": triggerSecret, "USER": "alice"},
			args: []string{"--commit", commit, "--repository", "acme/shop"}, code: 0, out: "202 Accepted", deployed: 1},
		{name: "secret flag", args: []string{"--secret", triggerSecret, "--commit", commit, "--repository", "acme/shop"}, code: 0, out: "✓ the receiver queued a deploy of 3e5a1c0 on refs/heads/main", deployed: 1},
		{name: "repository from GITHUB_REPOSITORY", env: map[string]string{"WEBHOOK_SECRET": triggerSecret, "GITHUB_REPOSITORY": "acme/shop"},
			args: []string{"--commit", commit}, code: 0, deployed: 1},
		{name: "URL without a path", url: "/", env: map[string]string{"WEBHOOK_SECRET": triggerSecret},
			args: []string{"--commit", commit, "--repository", "acme/shop"}, code: 0, out: "/deploy", deployed: 1},
		{name: "refs/heads/ form", env: map[string]string{"WEBHOOK_SECRET": triggerSecret},
			args: []string{"--commit", commit, "--repository", "acme/shop", "--ref", "refs/heads/main"}, code: 0, deployed: 1},
		{name: "wrong secret", env: map[string]string{"WEBHOOK_SECRET": "guess"},
			args: []string{"--commit", commit, "--repository", "acme/shop"}, code: 1, out: "401 Unauthorized"},
		{name: "wrong repository", env: map[string]string{"WEBHOOK_SECRET": triggerSecret},
			args: []string{"--commit", commit, "--repository", "mallory/shop"}, code: 1, out: "403 Forbidden"},
		{name: "another branch", env: map[string]string{"WEBHOOK_SECRET": triggerSecret},
			args: []string{"--commit", commit, "--repository", "acme/shop", "--ref", "feature"}, code: 1, out: "did not deploy it (ignored)"},
		{name: "the app's page answers, not the webhook", url: "/app", env: map[string]string{"WEBHOOK_SECRET": triggerSecret},
			args: []string{"--commit", commit, "--repository", "acme/shop"}, code: 1, out: "not as ship's webhook: nothing was deployed"},
		{name: "no secret", args: []string{"--commit", commit}, code: 2, out: "no secret", noRequests: true},
		{name: "a tag", env: map[string]string{"WEBHOOK_SECRET": triggerSecret}, args: []string{"--commit", commit, "--ref", "refs/tags/v1"}, code: 2, out: "not a branch", noRequests: true},
		{name: "a ref with a command", env: map[string]string{"WEBHOOK_SECRET": triggerSecret}, args: []string{"--commit", commit, "--ref", "main;touch x"}, code: 2, noRequests: true},
		{name: "not a commit", env: map[string]string{"WEBHOOK_SECRET": triggerSecret}, args: []string{"--commit", "HEAD~1"}, code: 2, noRequests: true},
		{name: "not a URL", url: "::", env: map[string]string{"WEBHOOK_SECRET": triggerSecret}, args: []string{"--commit", commit}, code: 2, noRequests: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newReceiverStub(t, "acme/shop")
			target := s.srv.URL + "/deploy"
			switch tc.url {
			case "":
			case "::":
				target = "ftp://example.com/deploy"
			default:
				target = s.srv.URL + tc.url
			}
			code, out := runShip(tc.env, append([]string{"trigger", target}, tc.args...)...)
			if code != tc.code || !strings.Contains(out, tc.out) {
				t.Errorf("exit %d, want %d; output (want %q):\n%s", code, tc.code, tc.out, out)
			}
			if strings.Contains(out, triggerSecret) {
				t.Errorf("the secret is in the output:\n%s", out)
			}
			if got := s.commits(t); len(got) != tc.deployed || (tc.deployed > 0 && got[0] != commit) {
				t.Errorf("deployed %v, want %d of %s", got, tc.deployed, commit)
			}
			if tc.noRequests && s.requests.Load() != 0 {
				t.Errorf("%d requests were sent", s.requests.Load())
			}
		})
	}
}

// Without --commit, the commit is the one the remote's branch points to
// now (what the server can fetch), not the local checkout's HEAD; an
// abbreviated --commit is resolved in the checkout.
func TestTriggerResolvesTheCommit(t *testing.T) {
	origin := testenv.AppRepo(t)
	clone := filepath.Join(t.TempDir(), "clone")
	testenv.GitRun(t, t.TempDir(), "clone", "-q", origin, clone)
	local := testenv.CommitVersion(t, clone, "local, not pushed")
	pushed := testenv.CommitVersion(t, origin, "pushed")
	t.Chdir(clone)

	s := newReceiverStub(t, "")
	env := map[string]string{"WEBHOOK_SECRET": triggerSecret}
	if code, out := runShip(env, "trigger", s.srv.URL+"/deploy"); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if code, out := runShip(env, "trigger", s.srv.URL+"/deploy", "--commit", local[:9]); code != 0 {
		t.Fatalf("abbreviated --commit: exit %d:\n%s", code, out)
	}
	if got := s.commits(t); len(got) != 2 || got[0] != pushed || got[1] != local {
		t.Errorf("deployed %v, want the remote's %s, then the local %s", got, pushed, local)
	}
	if code, out := runShip(env, "trigger", s.srv.URL+"/deploy", "--ref", "no-such-branch"); code != 1 || !strings.Contains(out, "--commit") {
		t.Errorf("a branch the remote lacks: exit %d, output:\n%s", code, out)
	}
}

// Two triggers of the same commit are two deliveries, not a replay.
func TestTriggerTwice(t *testing.T) {
	const commit = "3e5a1c0f9d2b4a6e8c7f1b0a9d8e7c6b5a4f3e2d"
	s := newReceiverStub(t, "acme/shop")
	env := map[string]string{"WEBHOOK_SECRET": triggerSecret}
	for i := 0; i < 2; i++ {
		if code, out := runShip(env, "trigger", s.srv.URL+"/deploy", "--commit", commit, "--repository", "acme/shop"); code != 0 {
			t.Fatalf("trigger %d: exit %d\n%s", i, code, out)
		}
		s.commits(t) // one at a time: the second is not coalesced into the first
	}
	if got := s.commits(t); len(got) != 2 {
		t.Errorf("deployed %v, want two deploys", got)
	}
}
