package shipcmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipdeploy/ship/internal/testenv"
)

// secret is a value of ship's environment that must reach the app whole
// and never be shown.
const secret = `p@ss$word 'x' "y"`

// addEnvRoute gives the app a page that shows what it sees of its
// environment, and commits it.
func addEnvRoute(t *testing.T, repo string) {
	t.Helper()
	file := filepath.Join(repo, "src", "index.ts")
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	route := "app.get(\"/env\", (c) => c.text(`${process.env.GREETING}|${process.env.SHIP_TEST_SECRET}|${process.env.ONLY_SHARED}`));\n"
	out := strings.Replace(string(src), "const delay =", route+"const delay =", 1)
	if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.GitRun(t, repo, "commit", "-qam", "an /env page")
}

func (w *world) writeShipYML(greeting string) {
	w.t.Helper()
	yml := "env:\n  clear:\n    GREETING: " + greeting + "\n  secret: [SHIP_TEST_SECRET]\n" +
		"release: echo \"migrating with $GREETING\" && echo \"$GREETING\" >> ../../migrations.log && " +
		// once the release's .env is written, no other copy of the secrets is left
		"{ ls ../../.ship/runs/*/env >> ../../env-copies 2>/dev/null || true; }\n"
	if err := os.WriteFile(filepath.Join(w.wd, "ship.yml"), []byte(yml), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// TestAppEnvTravelsWithTheRelease: ship.yml's env: reaches the app through
// the release's .env (over shared/.env), the release command runs before
// the release starts, a rollback brings the old environment back, `ship
// releases` says the environment changed, `ship env` and `ship exec` see
// it; the secret is never printed.
func TestAppEnvTravelsWithTheRelease(t *testing.T) {
	w := newWorld(t)
	w.wd = t.TempDir()
	w.env["SHIP_TEST_SECRET"] = secret
	addEnvRoute(t, w.repo)
	os.MkdirAll(filepath.Join(w.root, "shared"), 0o755)
	os.WriteFile(filepath.Join(w.root, "shared", ".env"), []byte("GREETING=from-shared\nONLY_SHARED=yes\n"), 0o600)
	w.writeShipYML("hello")
	var all strings.Builder // the output of every command but exec and env --reveal
	ship := func(want int, args ...string) string {
		t.Helper()
		code, out := w.ship(args...)
		if args[0] != "exec" && !strings.Contains(strings.Join(args, " "), "--reveal") {
			all.WriteString(out)
		}
		if code != want {
			t.Fatalf("ship %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
		}
		return out
	}
	out := ship(0, "deploy", "TARGET", "--path", w.root, "--repo", w.repo)
	for _, want := range []string{"[6/9] release", "[3/9] shared", ".env (2 from ship.yml env: over the lines it had)"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, out)
		}
	}
	if copies, err := os.ReadFile(filepath.Join(w.root, "env-copies")); err != nil || len(copies) > 0 {
		t.Errorf("copies of the secrets beside the release's .env while the release command ran: %q (%v)", copies, err)
	}
	url := w.startReceiver()
	if body, err := get(url + "env"); err != nil || body != "hello|"+secret+"|yes" {
		t.Fatalf("the app sees %q (%v)", body, err)
	}

	testenv.CommitVersion(t, w.repo, "two")
	w.writeShipYML("hi")
	ship(0, "deploy", "TARGET", "--path", w.root, "--repo", w.repo)
	if body, _ := get(url + "env"); body != "hi|"+secret+"|yes" {
		t.Errorf("after the second deploy the app sees %q", body)
	}
	out = ship(0, "releases", "TARGET", "--path", w.root, "--json")
	var views []releaseView
	if err := json.Unmarshal([]byte(out), &views); err != nil || len(views) != 2 {
		t.Fatalf("releases --json: %v\n%s", err, out)
	}
	if !views[0].EnvChanged || views[1].EnvChanged || views[0].EnvDigest == "" {
		t.Errorf("env_changed: release 2 %v, release 1 %v; want true, false", views[0].EnvChanged, views[1].EnvChanged)
	}
	if out := ship(0, "releases", "TARGET", "--path", w.root); !strings.Contains(out, "env changed") {
		t.Errorf("ship releases does not mark the change:\n%s", out)
	}

	ship(0, "rollback", "TARGET", "--path", w.root)
	if body, _ := get(url + "env"); body != "hello|"+secret+"|yes" {
		t.Errorf("after the rollback the app sees %q: the configuration did not come back with the code", body)
	}
	if log, _ := os.ReadFile(filepath.Join(w.root, "migrations.log")); string(log) != "hello\nhi\n" {
		t.Errorf("the release command ran %q: want once per deploy, none for the rollback", log)
	}

	out = ship(0, "env", "TARGET", "--path", w.root)
	for _, want := range []string{"release 1", "GREETING", "ONLY_SHARED", "SHIP_TEST_SECRET", "(hidden"} {
		if !strings.Contains(out, want) {
			t.Errorf("ship env lacks %q:\n%s", want, out)
		}
	}
	if out := ship(0, "env", "TARGET", "--path", w.root, "--release", "2", "--reveal"); !strings.Contains(out, "hi") || !strings.Contains(out, `"p@ss$word 'x' \"y\""`) {
		t.Errorf("ship env --reveal:\n%s", out)
	}

	out = ship(0, "exec", "TARGET", "--path", w.root, "--", `echo "$GREETING|$SHIP_TEST_SECRET|$ONLY_SHARED"; pwd`)
	if !strings.Contains(out, "hello|"+secret+"|yes") || !strings.Contains(out, "/releases/1\n") {
		t.Errorf("ship exec in the current release:\n%s", out)
	}
	if out := ship(0, "exec", "TARGET", "--path", w.root, "--release", "2", "--", "echo $GREETING"); !strings.Contains(out, "hi\n") {
		t.Errorf("ship exec --release 2:\n%s", out)
	}
	ship(7, "exec", "TARGET", "--path", w.root, "--", "echo on stderr >&2; exit 7")
	if out := ship(1, "exec", "TARGET", "--path", w.root, "--release", "9", "--", "true"); !strings.Contains(out, "release 9 is not a finished release") {
		t.Errorf("exec --release 9:\n%s", out)
	}
	if out := ship(2, "exec", "TARGET", "--path", w.root, "echo", "no dash"); !strings.Contains(out, "-- and the command") {
		t.Errorf("exec without --:\n%s", out)
	}

	// A secret that is not set stops the deploy before any server is touched.
	delete(w.env, "SHIP_TEST_SECRET")
	before := w.releaseDirs()
	out = ship(2, "deploy", "TARGET", "--path", w.root, "--repo", w.repo)
	if !strings.Contains(out, "env: secret SHIP_TEST_SECRET not set") {
		t.Errorf("missing secret:\n%s", out)
	}
	if after := w.releaseDirs(); len(after) != len(before) {
		t.Errorf("releases %v after a refused deploy, before %v", after, before)
	}
	if strings.Contains(all.String(), "p@ss") {
		t.Errorf("the secret was printed:\n%s", all.String())
	}
}

// TestAppEnvSettles: env: reaches the deploy options with the secrets read
// from ship's environment (marked secret, masked in GitHub Actions), a
// target's env: replaces the top level's, and --release-command wins over
// release:. No SSH: the options are caught at the deploy package's door.
func TestAppEnvSettles(t *testing.T) {
	dir := project(t, "repo: /r\nrelease: bun run migrate\nenv:\n  clear:\n    A: top\n  secret: [TOKEN]\n"+
		"targets:\n  prod:\n    hosts: [a.example]\n    env:\n      clear:\n        A: prod\n")
	env := map[string]string{"TOKEN": "tok-3141", "GITHUB_ACTIONS": "true"}
	c := runCaught(t, dir, env, "deploy", "a.example")
	if c.code != 0 {
		t.Fatalf("exit %d\n%s%s", c.code, c.stdout, c.stderr)
	}
	if got := c.opts.AppEnv; len(got) != 2 || got[0].Value != "top" || got[1].Name != "TOKEN" || got[1].Value != "tok-3141" || !got[1].Secret || got[0].Secret {
		t.Errorf("AppEnv = %+v", got)
	}
	if c.opts.Release != "bun run migrate" {
		t.Errorf("Release = %q", c.opts.Release)
	}
	if !strings.Contains(c.stdout, "::add-mask::tok-3141") || strings.Contains(c.stdout, "::add-mask::top") {
		t.Errorf("in Actions the secret, and only it, is masked:\n%s", c.stdout)
	}
	c = runCaught(t, dir, env, "deploy", "prod", "--release-command", "-")
	if got := c.opts.AppEnv; c.code != 0 || len(got) != 1 || got[0].Value != "prod" {
		t.Errorf("prod's env: exit %d, AppEnv %+v", c.code, got)
	}
	if c.opts.Release != "-" {
		t.Errorf("--release-command -: Release = %q (the deploy package reads - as none)", c.opts.Release)
	}
}
