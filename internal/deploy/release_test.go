package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/shipdeploy/ship/internal/dotenv"
	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/testenv"
)

// secretValue is a value no quoting should garble and no output show.
const secretValue = `s3cr$t 'with' "quotes"`

// TestReleaseCommandSeesTheAppEnv: ship.yml's env: becomes the release's
// .env (mode 0600) on top of shared/.env, the release command runs in the
// release with that environment before the stage, and the secret appears
// nowhere but in the .env: not in the output, the script, release.json or
// the log.
func TestReleaseCommandSeesTheAppEnv(t *testing.T) {
	bun := testenv.Bun(t)
	testenv.RequireGit(t)
	repo := testenv.AppRepo(t)
	root := filepath.Join(t.TempDir(), "app")
	if err := os.MkdirAll(filepath.Join(root, "shared"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "shared", ".env"), []byte("A=from-shared\nB=from-shared\n"), 0o600)
	env := []dotenv.Var{{Name: "A", Value: "from-ship"}, {Name: "SECRET_X", Value: secretValue, Secret: true}}
	var out bytes.Buffer
	opts := Options{Root: root, Repo: repo, Ref: "main", By: "test", Out: &out, Verbose: true, AppEnv: env,
		// Not Bun: load_env gives a plain shell the app's environment.
		Release: `echo "migrating on $A"; printf '%s|%s|%s' "$A" "$B" "$SECRET_X" >../../migrated`}
	if _, err := Deploy(context.Background(), host.Local{}, opts); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	if got, _ := os.ReadFile(filepath.Join(root, "migrated")); string(got) != "from-ship|from-shared|"+secretValue {
		t.Errorf("the release command saw %q", got)
	}
	for _, want := range []string{"release …", "migrating on from-ship", ".env (2 from ship.yml env: over the lines it had)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	envFile := filepath.Join(root, "releases", "1", ".env")
	if st, err := os.Lstat(envFile); err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
		t.Fatalf(".env: %v %v, want a regular file of mode 0600", st.Mode(), err)
	}
	cmd := exec.Command(bun, "-e", "console.log(JSON.stringify(process.env))")
	cmd.Dir, cmd.Env = filepath.Join(root, "releases", "1"), []string{}
	js, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var seen map[string]string
	json.Unmarshal(js, &seen)
	if seen["A"] != "from-ship" || seen["B"] != "from-shared" || seen["SECRET_X"] != secretValue {
		t.Errorf("bun reads %v from the release's .env", seen)
	}
	info := readInfo(t, root, 1)
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(info.EnvDigest) {
		t.Errorf("env_digest = %q", info.EnvDigest)
	}
	p := newPlan(opts, "deploy")
	p.id = newID()
	p.setID(opts)
	for name, text := range map[string]string{"output": out.String(), "script": script(p), "release.json": string(readFile(t, root, "releases/1/.ship/release.json")),
		"log": string(readFile(t, root, ".ship/log.jsonl"))} {
		if strings.Contains(text, "s3cr") {
			t.Errorf("the secret is in the %s", name)
		}
	}

	// The same environment: the same digest; another value: another.
	opts.Release = ""
	Deploy(context.Background(), host.Local{}, opts)
	opts.AppEnv = []dotenv.Var{{Name: "A", Value: "from-ship"}, {Name: "SECRET_X", Value: secretValue + "2", Secret: true}}
	Deploy(context.Background(), host.Local{}, opts)
	if d2, d3 := readInfo(t, root, 2).EnvDigest, readInfo(t, root, 3).EnvDigest; d2 != info.EnvDigest || d3 == d2 || d3 == "" {
		t.Errorf("digests %s %s %s: want the first two equal, the third different", info.EnvDigest, d2, d3)
	}
}

// TestReleaseCommandFails: a failing release command switches nothing; the
// release it ran in is never a rollback target, and the lock is free.
func TestReleaseCommandFails(t *testing.T) {
	testenv.RequireGit(t)
	repo := testenv.AppRepo(t)
	root := filepath.Join(t.TempDir(), "app")
	var out bytes.Buffer
	opts := Options{Root: root, Repo: repo, Ref: "main", By: "test", Out: &out}
	if _, err := Deploy(context.Background(), host.Local{}, opts); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	out.Reset()
	opts.Release = "echo cannot reach the database; exit 3"
	_, err := Deploy(context.Background(), host.Local{}, opts)
	if err == nil {
		t.Fatalf("a failing release command deployed:\n%s", out.String())
	}
	for _, want := range []string{"[6/9] release  failed", "exit status 3", "cannot reach the database"} {
		if !strings.Contains(out.String()+err.Error(), want) {
			t.Errorf("lacks %q: %v\n%s", want, err, out.String())
		}
	}
	if link, _ := os.Readlink(filepath.Join(root, "current")); link != "releases/1" {
		t.Errorf("current -> %q", link)
	}
	snap, _ := release.Read(release.LocalFS{}, release.Layout{Root: root})
	if r, ok := snap.Find(2); ok && r.Finished() {
		t.Error("release 2 is finished: a rollback could pick it")
	}
	if _, err := os.Stat(filepath.Join(root, "releases", "2", ".ship", "aborted.json")); err != nil {
		t.Errorf("release 2 not marked aborted: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root, ".ship", "lock")); err == nil {
		t.Error("the lock was left behind")
	}
	if log := string(readFile(t, root, ".ship/log.jsonl")); !strings.Contains(log, `"step":"release"`) {
		t.Errorf("the log does not say the release step failed:\n%s", log)
	}
}

func readFile(t *testing.T, root, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func readInfo(t *testing.T, root string, n int) release.Info {
	t.Helper()
	var info release.Info
	if err := json.Unmarshal(readFile(t, root, "releases/"+string(rune('0'+n))+"/.ship/release.json"), &info); err != nil {
		t.Fatal(err)
	}
	return info
}
