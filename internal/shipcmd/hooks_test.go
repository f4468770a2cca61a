package shipcmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipdeploy/ship/internal/testenv"
)

// writeHook puts an executable hook into the project's .ship/hooks.
func writeHook(t *testing.T, project, name, body string) {
	t.Helper()
	dir := filepath.Join(project, ".ship", "hooks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// hookEnv reads what a hook wrote with `env > FILE` into a map of its
// SHIP_* variables.
func hookEnv(t *testing.T, file string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the hook did not run: %v", err)
	}
	vars := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && strings.HasPrefix(k, "SHIP_") {
			vars[k] = v
		}
	}
	return vars
}

// TestHooks: a failing pre-deploy hook stops ship before any server is
// touched; the post hooks learn how the command ended, even when it
// failed; a failing post hook makes ship exit 1 and says what is live.
func TestHooks(t *testing.T) {
	w := newWorld(t)
	w.wd = t.TempDir()
	os.WriteFile(filepath.Join(w.wd, "ship.yml"), []byte("keep: 4\n"), 0o644)
	logs := t.TempDir()
	writeHook(t, w.wd, "pre-deploy", "echo checking the release notes; exit 3")
	code, out := w.deploy()
	if code != 1 || !strings.Contains(out, "pre-deploy hook failed (exit status 3)") || !strings.Contains(out, "no server was touched") ||
		!strings.Contains(out, "checking the release notes") {
		t.Fatalf("a failing pre-deploy hook: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(w.root); !os.IsNotExist(err) {
		t.Fatalf("the server was touched: %v", err)
	}

	writeHook(t, w.wd, "pre-deploy", "env > "+filepath.Join(logs, "pre")+"; pwd > "+filepath.Join(logs, "pwd"))
	writeHook(t, w.wd, "post-deploy", "env > "+filepath.Join(logs, "post"))
	if code, out := w.deploy(); code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	pre, post := hookEnv(t, filepath.Join(logs, "pre")), hookEnv(t, filepath.Join(logs, "post"))
	target := w.sshd.Target()
	commit := strings.TrimSpace(testenv.GitRun(t, w.repo, "rev-parse", "HEAD"))
	for name, c := range map[string]struct{ got, want map[string]string }{
		"pre-deploy":  {pre, map[string]string{"SHIP_TARGET": target, "SHIP_HOSTS": target, "SHIP_REF": "main", "SHIP_RELEASE": "", "SHIP_COMMIT": ""}},
		"post-deploy": {post, map[string]string{"SHIP_TARGET": target, "SHIP_RELEASE": "1", "SHIP_COMMIT": commit, "SHIP_STATUS": "ok", "SHIP_REF": "main"}},
	} {
		for k, v := range c.want {
			if got, ok := c.got[k]; !ok || got != v {
				t.Errorf("%s: %s=%q, want %q", name, k, got, v)
			}
		}
	}
	if _, ok := post["SHIP_RUNTIME"]; !ok {
		t.Error("post-deploy: no SHIP_RUNTIME")
	}
	if pwd, _ := os.ReadFile(filepath.Join(logs, "pwd")); strings.TrimSpace(string(pwd)) != w.wd {
		t.Errorf("the hook ran in %q, want the project's folder %s", pwd, w.wd)
	}

	// A failed deploy: the post hook is told.
	code, out = w.deploy("--build", "exit 9")
	if code != 1 {
		t.Fatalf("a failing build: exit %d\n%s", code, out)
	}
	if st := hookEnv(t, filepath.Join(logs, "post"))["SHIP_STATUS"]; st != "failed" {
		t.Errorf("post-deploy after a failed build: SHIP_STATUS=%q", st)
	}

	// A failing post hook: exit 1, and the release is live all the same.
	writeHook(t, w.wd, "post-deploy", "echo cannot notify; exit 4")
	code, out = w.deploy()
	if code != 1 || !strings.Contains(out, "post-deploy hook failed (exit status 4); release 3 is live all the same") {
		t.Errorf("a failing post-deploy hook: exit %d\n%s", code, out)
	}
	if w.current() != "releases/3" {
		t.Errorf("current -> %s", w.current())
	}

	// Rollback hooks, with the release asked for.
	writeHook(t, w.wd, "pre-rollback", "env > "+filepath.Join(logs, "pre-rollback"))
	writeHook(t, w.wd, "post-rollback", "env > "+filepath.Join(logs, "post-rollback"))
	if code, out := w.ship("rollback", "TARGET", "1", "--path", w.root); code != 0 {
		t.Fatalf("rollback: exit %d\n%s", code, out)
	}
	if got := hookEnv(t, filepath.Join(logs, "pre-rollback"))["SHIP_RELEASE"]; got != "1" {
		t.Errorf("pre-rollback: SHIP_RELEASE=%q, want 1", got)
	}
	if got := hookEnv(t, filepath.Join(logs, "post-rollback")); got["SHIP_STATUS"] != "ok" || got["SHIP_RELEASE"] != "1" {
		t.Errorf("post-rollback: %v", got)
	}

	// A hook that is not executable is a mistake, said before anything runs.
	os.Chmod(filepath.Join(w.wd, ".ship", "hooks", "pre-deploy"), 0o644)
	if code, out := w.deploy(); code != 1 || !strings.Contains(out, "is not an executable file: chmod +x") {
		t.Errorf("a pre-deploy hook without x: exit %d\n%s", code, out)
	}
}
