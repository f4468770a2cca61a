package shipcmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/testenv"
)

func TestUploadDeploysTheLocalTree(t *testing.T) {
	w := newWorld(t)
	commit := testenv.CommitVersion(t, w.repo, "uploaded")
	// Something that must not travel: dependencies and history stay here.
	os.MkdirAll(filepath.Join(w.repo, "node_modules", "junk"), 0o755)
	code, out := w.ship("deploy", "TARGET", "--path", w.root, "--upload", w.repo)
	if code != 0 {
		t.Fatalf("upload deploy: %d\n%s", code, out)
	}
	rel := filepath.Join(w.root, "releases", "1")
	if _, err := os.Stat(filepath.Join(rel, "dist", "index.js")); err != nil {
		t.Errorf("uploaded release not built: %v", err)
	}
	if _, err := os.Stat(filepath.Join(rel, ".git")); err == nil {
		t.Error(".git was uploaded")
	}
	if _, err := os.Stat(filepath.Join(rel, "node_modules", "junk")); err == nil {
		t.Error("local node_modules was uploaded")
	}
	var info release.Info
	data, _ := os.ReadFile(filepath.Join(rel, ".ship", "release.json"))
	json.Unmarshal(data, &info)
	if info.Commit != commit || info.Source != "upload" || info.Ref != "main" {
		t.Errorf("release.json = %+v, want commit %s from upload on main", info, commit)
	}
	if _, err := os.Stat(filepath.Join(w.root, ".ship", "repo.git")); err == nil {
		t.Error("an upload made a mirror: the server should need no repository")
	}
	if info.Dirty {
		t.Error("a clean tree's upload is marked dirty")
	}
	// An uncommitted change travels, and says so: release.json, releases.
	os.WriteFile(filepath.Join(w.repo, "src", "version.ts"), []byte("export const version = \"local edit\";\n"), 0o644)
	if code, out = w.ship("deploy", "TARGET", "--path", w.root, "--upload", w.repo); code != 0 || !strings.Contains(out, "+ 1 uncommitted changes") {
		t.Fatalf("dirty upload deploy: %d\n%s", code, out)
	}
	data, _ = os.ReadFile(filepath.Join(w.root, "releases", "2", ".ship", "release.json"))
	info = release.Info{}
	json.Unmarshal(data, &info)
	if !info.Dirty || info.DirtyFiles != 1 || info.Commit != commit {
		t.Errorf("release.json of the dirty upload = %+v", info)
	}
	if _, out := w.ship("releases", "TARGET", "--path", w.root); !strings.Contains(out, "dirty") {
		t.Errorf("releases does not show the dirty upload:\n%s", out)
	}
}

// A relative --repo is a folder where ship runs: fine for local (made
// absolute), an error with advice for an SSH target.
func TestRelativeRepo(t *testing.T) {
	w := newWorld(t)
	rel, _ := filepath.Rel(mustGetwd(t), w.repo)
	code, out := w.ship("deploy", "TARGET", "--path", w.root, "--repo", rel)
	if code != exitUsage || !strings.Contains(out, "--upload "+rel) {
		t.Errorf("relative --repo over SSH: exit %d\n%s", code, out)
	}
	code, out = w.ship("deploy", "local", "--path", w.root, "--repo", rel)
	if code != 0 {
		t.Errorf("relative --repo on local: exit %d\n%s", code, out)
	}
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func TestSettingsPrecedence(t *testing.T) {
	w := newWorld(t)
	cfg := filepath.Join(t.TempDir(), "ship.yml")
	yml := "repo: " + w.repo + "\npath: /nonexistent/from-top-level\nkeep: 1\ntargets:\n  prod:\n    hosts: [" + w.sshd.Target() + "]\n    path: " + w.root + "\n    build: echo built-by-yml > yml.txt && bun run build\n"
	os.WriteFile(cfg, []byte(yml), 0o644)

	// ship.yml: the target's path wins over the top level; its build is used.
	code, out := w.ship("deploy", "prod", "--config", cfg)
	if code != 0 {
		t.Fatalf("deploy prod: %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(w.root, "releases", "1", "yml.txt")); err != nil {
		t.Errorf("build from ship.yml not used: %v", err)
	}
	// SHIP_BUILD beats ship.yml; a flag beats SHIP_BUILD.
	w.env["SHIP_BUILD"] = "echo env > env.txt && bun run build"
	if code, out := w.ship("deploy", "prod", "--config", cfg); code != 0 {
		t.Fatalf("deploy with env: %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(w.root, "releases", "2", "env.txt")); err != nil {
		t.Errorf("SHIP_BUILD not used over ship.yml: %v", err)
	}
	if code, out := w.ship("deploy", "prod", "--config", cfg, "--build", "echo flag > flag.txt && bun run build"); code != 0 {
		t.Fatalf("deploy with flag: %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(w.root, "releases", "3", "flag.txt")); err != nil {
		t.Errorf("--build not used over SHIP_BUILD: %v", err)
	}
	// keep: 1 from the top level applies to the target; the previous
	// release stays as the rollback target.
	if got := strings.Join(w.releaseDirs(), " "); got != "2 3" {
		t.Errorf("releases = %q, want 2 3 (keep: 1, plus the rollback target)", got)
	}
	// A named config that does not exist, or holds an unknown field, is an error.
	if code, _ := w.ship("deploy", "prod", "--config", filepath.Join(t.TempDir(), "missing.yml")); code == 0 {
		t.Error("a missing --config was accepted")
	}
	os.WriteFile(cfg, []byte("reop: typo\n"), 0o644)
	if code, out := w.ship("deploy", "prod", "--config", cfg); code == 0 || !strings.Contains(out, "reop") {
		t.Errorf("a typo in ship.yml was accepted (%d):\n%s", code, out)
	}
}

func TestUnlockAndLockWait(t *testing.T) {
	w := newWorld(t)
	if code, out := w.deploy(); code != 0 {
		t.Fatalf("deploy: %d\n%s", code, out)
	}
	// A lock left by a deploy that died.
	l := release.Layout{Root: w.root}
	if err := release.Lock(release.LocalFS{}, l, release.LockInfo{ID: "dead", Who: "bob", From: "laptop", PID: 4242, Command: "ship deploy prod", Since: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	code, out := w.deploy()
	if code != exitLocked || !strings.Contains(out, "bob") || !strings.Contains(out, "ship unlock") {
		t.Errorf("deploy against a held lock: %d\n%s", code, out)
	}
	code, out = w.ship("unlock", "TARGET", "--path", w.root)
	if code != 0 || !strings.Contains(out, "held by bob on laptop (pid 4242)") {
		t.Errorf("unlock: %d\n%s", code, out)
	}
	if !w.lockFree() {
		t.Fatal("unlock left the lock")
	}
	// --lock-wait: a lock released while we wait lets the deploy through.
	release.Lock(release.LocalFS{}, l, release.LockInfo{ID: "brief", Who: "carol"})
	go func() {
		time.Sleep(1500 * time.Millisecond)
		release.Unlock(release.LocalFS{}, l, "brief")
	}()
	code, out = w.deploy("--lock-wait", "20s")
	if code != 0 || !strings.Contains(out, "waiting for the lock") {
		t.Errorf("deploy with --lock-wait: %d\n%s", code, out)
	}
}

func TestStatusAndReleasesOutput(t *testing.T) {
	w := newWorld(t)
	code, out := w.ship("releases", "TARGET", "--path", w.root)
	if code != 0 || !strings.Contains(out, "no releases") {
		t.Errorf("releases before any deploy: %d\n%s", code, out)
	}
	w.deploy()
	code, out = w.ship("releases", "TARGET", "--path", w.root)
	if code != 0 || !strings.Contains(out, "REL") || !strings.Contains(out, "current") {
		t.Errorf("releases: %d\n%s", code, out)
	}
	code, out = w.ship("status", "TARGET", "--path", w.root)
	for _, want := range []string{"current   release 1", "receiver  not running", "lock      free"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q (%d):\n%s", want, code, out)
		}
	}
	code, out = w.ship("status", "TARGET", "--path", w.root, "--json")
	var vs []statusView
	if err := json.Unmarshal([]byte(out), &vs); err != nil || len(vs) != 1 || vs[0].Current != 1 || vs[0].Alive {
		t.Errorf("status --json (%d): %v %+v\n%s", code, err, vs, out)
	}
}

func TestUsageErrors(t *testing.T) {
	w := &world{t: t, env: map[string]string{}}
	a := func(args ...string) (int, string) {
		var out strings.Builder
		ap := &app{stdout: &out, stderr: &out, getenv: func(k string) string { return w.env[k] }}
		return ap.run(t.Context(), args), out.String()
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy"}, "missing TARGET"},
		{[]string{"deploy", "local", "--bogus"}, "unknown flag"},
		{[]string{"deploy", "local", "--config", "/dev/null"}, "nothing to deploy"},
		{[]string{"rollback", "local", "x"}, "not a release number"},
		{[]string{"deploy", "local", "--repo", "r", "--wait", "soon", "--config", "/dev/null"}, "--wait soon: want a duration such as 30s, 2m or 0"},
	} {
		code, out := a(tc.args...)
		if code != exitUsage || !strings.Contains(out, tc.want) {
			t.Errorf("ship %v = %d\n%s\nwant exit %d and %q", tc.args, code, out, exitUsage, tc.want)
		}
	}
}

func TestSharedEntriesAreLinked(t *testing.T) {
	w := newWorld(t)
	shared := filepath.Join(w.root, "shared")
	os.MkdirAll(filepath.Join(shared, "config"), 0o755)
	os.WriteFile(filepath.Join(shared, ".env"), []byte("SECRET=1\n"), 0o600)
	os.WriteFile(filepath.Join(shared, "config", "app.json"), []byte("{}"), 0o644)

	// Default: every entry of shared/ is linked.
	if code, out := w.deploy(); code != 0 {
		t.Fatalf("deploy: %d\n%s", code, out)
	}
	for _, name := range []string{".env", "config"} {
		link, err := os.Readlink(filepath.Join(w.root, "releases", "1", name))
		if err != nil || link != filepath.Join(w.root, "shared", name) {
			t.Errorf("releases/1/%s -> %q, %v", name, link, err)
		}
	}
	// Configured: a nested file and a folder made when missing.
	code, out := w.deploy("--shared", ".env,config/app.json,uploads/")
	if code != 0 {
		t.Fatalf("deploy with --shared: %d\n%s", code, out)
	}
	if _, err := os.Readlink(filepath.Join(w.root, "releases", "2", "config", "app.json")); err != nil {
		t.Errorf("config/app.json not linked: %v", err)
	}
	if st, err := os.Stat(filepath.Join(w.root, "shared", "uploads")); err != nil || !st.IsDir() {
		t.Errorf("shared/uploads/ not made: %v", err)
	}
	// A configured file that is missing fails the deploy and says what to do.
	code, out = w.deploy("--shared", ".env.production")
	if code == 0 || !strings.Contains(out, "shared/.env.production is missing") || w.current() != "releases/2" {
		t.Errorf("missing shared file: %d, current %s\n%s", code, w.current(), out)
	}
}

// Text from the server (release.json, the lock) reaches the terminal with
// its control characters escaped: a ref or a name cannot drive it.
func TestServerTextCannotDriveTheTerminal(t *testing.T) {
	w := newWorld(t)
	if code, out := w.deploy(); code != 0 {
		t.Fatalf("deploy: %d\n%s", code, out)
	}
	l := release.Layout{Root: w.root}
	evil := "main\x1b[2J\x1b]0;owned\x07\r"
	info := release.Info{Number: 1, Commit: "abc1234def", Ref: evil, By: "mallory\x1b[31m", BuiltAt: time.Now()}
	if err := release.WriteJSON(release.LocalFS{}, l.InfoFile(1), info); err != nil {
		t.Fatal(err)
	}
	if err := release.Lock(release.LocalFS{}, l, release.LockInfo{ID: "x", Who: "eve\x1b[1A", Command: "ship deploy\x1b]52;c;aGk=\x07", Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"releases", "TARGET", "--path", w.root}, {"status", "TARGET", "--path", w.root}, {"unlock", "TARGET", "--path", w.root}} {
		_, out := w.ship(args...)
		if strings.ContainsAny(out, "\x1b\x07\r") {
			t.Errorf("ship %s printed control characters: %q", args[0], out)
		}
		if args[0] == "releases" && !strings.Contains(out, `main\x1b[2J`) {
			t.Errorf("ship releases hides what the ref is: %q", out)
		}
	}
}

// Scripts get one JSON document from deploy --json whatever happens, and
// `ship logs` with no log says so once.
func TestJSONAndLogsOnFailure(t *testing.T) {
	w := newWorld(t)
	w.env["SHIP_WAIT"] = "soon"
	code, out := w.ship("deploy", "TARGET", "--path", w.root, "--json")
	delete(w.env, "SHIP_WAIT")
	var doc resultDoc
	i, j := strings.Index(out, "{"), strings.LastIndex(out, "}")
	if i < 0 || j < i {
		t.Fatalf("deploy --json with a bad SHIP_WAIT printed no document: exit %d\n%s", code, out)
	}
	if err := json.Unmarshal([]byte(out[i:j+1]), &doc); err != nil || code != exitUsage || doc.OK || doc.Error == nil || doc.Error.Kind != "usage" || doc.Hosts == nil {
		t.Errorf("deploy --json with a bad SHIP_WAIT: exit %d, %v, %+v\n%s", code, err, doc, out)
	}
	code, out = w.ship("logs", "TARGET", "--path", w.root)
	if code != exitFailed || !strings.Contains(out, "no app log at") || strings.Contains(out, "exit status") {
		t.Errorf("logs without a log: exit %d\n%s", code, out)
	}
}
