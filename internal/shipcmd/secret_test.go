package shipcmd

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/testenv"
)

// gitHTTPServer serves the bare repositories under dir over smart HTTP
// (git http-backend) to a client that gives user:pass, slowly enough that a
// fetch's processes can be looked at.
func gitHTTPServer(t *testing.T, dir, user, pass string) string {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	backend := &cgi.Handler{Path: filepath.Join(strings.TrimSpace(string(out)), "git-http-backend"),
		Env: []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		time.Sleep(300 * time.Millisecond)
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// A token in the repository URL: the deploy works, and the token shows in no
// process's arguments on the server, in no file the app can read
// (release.json), in no log and not in ship's output.
func TestRepositoryTokenStaysSecret(t *testing.T) {
	w := newWorld(t)
	bare := filepath.Join(t.TempDir(), "git")
	testenv.GitRun(t, "", "clone", "-q", "--bare", w.repo, filepath.Join(bare, "app.git"))
	const token = "ghs_S3cretT0kenForTheTest"
	base := gitHTTPServer(t, bare, "x-access-token", token)
	repo := strings.Replace(base, "http://", "http://x-access-token:"+token+"@", 1) + "/app.git"

	var seen atomic.Value
	stop := make(chan struct{})
	go func() { // every process's arguments, as any user can read them
		for {
			select {
			case <-stop:
				return
			default:
			}
			procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
			for _, p := range procs {
				if data, err := os.ReadFile(p); err == nil && strings.Contains(string(data), token) {
					seen.Store(strings.ReplaceAll(string(data), "\x00", " "))
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	code, out := w.ship("deploy", "TARGET", "--path", w.root, "--repo", repo)
	close(stop)
	if code != 0 {
		t.Fatalf("deploy with a token: %d\n%s", code, out)
	}
	if s := seen.Load(); s != nil {
		t.Errorf("the token was in a process's arguments: %s", s)
	}
	if strings.Contains(out, token) {
		t.Errorf("ship printed the token:\n%s", out)
	}
	for _, f := range []string{"releases/1/.ship/release.json", ".ship/log.jsonl"} {
		if data, _ := os.ReadFile(filepath.Join(w.root, f)); strings.Contains(string(data), token) {
			t.Errorf("%s holds the token: %s", f, data)
		}
	}
	// A wrong token fails with git's own words, and still shows no token.
	wrong := strings.Replace(repo, token, "nope", 1)
	testenv.CommitVersion(t, w.repo, "two")
	code, out = w.ship("deploy", "TARGET", "--path", w.root, "--repo", wrong)
	if code == 0 || !strings.Contains(out, "git fetch from http://x-access-token:xxxxx@") || strings.Contains(out, "nope") {
		t.Errorf("deploy with a wrong token: %d\n%s", code, out)
	}
}
