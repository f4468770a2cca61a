package shipcmd

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipdeploy/ship/internal/testenv"
)

// runIn runs ship in dir with an empty environment.
func runIn(dir string, args ...string) (int, string) {
	var out bytes.Buffer
	a := &app{stdout: &out, stderr: &out, wd: dir, getenv: func(string) string { return "" }}
	return a.run(context.Background(), args), out.String()
}

// TestInit: ship init writes a ship.yml that ship reads (its commented
// examples too, once uncommented) and a workflow actionlint accepts, says
// what to do next, and writes over nothing.
func TestInit(t *testing.T) {
	repo := testenv.AppRepo(t)
	testenv.GitRun(t, repo, "remote", "add", "origin", "git@github.com:acme/shop.git")
	sub := filepath.Join(repo, "src")
	code, out := runIn(sub, "init", "--host", "deploy@10.0.0.5:2222", "--host", "deploy@10.0.0.6")
	if code != 0 {
		t.Fatalf("init: exit %d\n%s", code, out)
	}
	for _, want := range []string{"wrote ../ship.yml", "wrote ../.github/workflows/deploy.yml", "ssh-keyscan -p 2222 10.0.0.5",
		"SHIP_SSH_KEY", "ship deploy prod"} {
		if !strings.Contains(out, want) {
			t.Errorf("init output lacks %q:\n%s", want, out)
		}
	}
	yml, err := os.ReadFile(filepath.Join(repo, "ship.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if code, out := runIn(sub, "config", "--check"); code != 0 {
		t.Errorf("config --check of the written ship.yml: exit %d\n%s", code, out)
	}
	code, out = runIn(sub, "config", "prod", "--json")
	if code != 0 || !strings.Contains(out, `"deploy@10.0.0.5:2222"`) || !strings.Contains(out, "git@github.com:acme/shop.git") {
		t.Errorf("config prod: exit %d\n%s", code, out)
	}

	// The commented examples are right once uncommented.
	uncommented := string(yml)
	for _, l := range []string{"# install:", "# build:", "# release:", "# env:", "#   clear:", "#     NODE_ENV:", "#   secret:"} {
		uncommented = strings.Replace(uncommented, "\n"+l, "\n"+strings.TrimPrefix(l, "# "), 1)
	}
	if uncommented == string(yml) {
		t.Fatal("nothing was uncommented")
	}
	os.WriteFile(filepath.Join(repo, "ship.yml"), []byte(uncommented), 0o644)
	if code, out := runIn(sub, "config", "prod"); code != 0 || !strings.Contains(out, "bun run db:migrate") || !strings.Contains(out, "DATABASE_URL (secret") {
		t.Errorf("config of the uncommented examples: exit %d\n%s\n%s", code, out, uncommented)
	}

	lint := exec.Command(testenv.Actionlint(t), "-oneline", "-no-color", ".github/workflows/deploy.yml")
	lint.Dir = repo
	if out, err := lint.CombinedOutput(); err != nil {
		t.Errorf("actionlint: %v\n%s", err, out)
	}

	// A second init writes nothing.
	before, _ := os.ReadFile(filepath.Join(repo, "ship.yml"))
	if code, out := runIn(repo, "init", "--host", "other@host"); code != 1 || !strings.Contains(out, "already exists: ship init writes nothing over a file") {
		t.Errorf("init again: exit %d\n%s", code, out)
	}
	if after, _ := os.ReadFile(filepath.Join(repo, "ship.yml")); !bytes.Equal(before, after) {
		t.Error("ship.yml was changed")
	}
}

// TestInitLeavesTokensOut: an origin URL with a token is not written, and a
// bad host is refused before anything is.
func TestInitLeavesTokensOut(t *testing.T) {
	repo := testenv.AppRepo(t)
	testenv.GitRun(t, repo, "remote", "add", "origin", "https://x-access-token:ghs_secret@github.com/acme/shop.git")
	if code, out := runIn(repo, "init", "--host", "bad host"); code != 2 || !strings.Contains(out, `--host "bad host"`) {
		t.Errorf("a bad host: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(repo, "ship.yml")); err == nil {
		t.Error("ship.yml written after a mistake")
	}
	if code, out := runIn(repo, "init"); code != 0 || !strings.Contains(out, "placeholder") {
		t.Fatalf("init: exit %d\n%s", code, out)
	}
	yml, _ := os.ReadFile(filepath.Join(repo, "ship.yml"))
	if strings.Contains(string(yml), "ghs_secret") || !strings.Contains(string(yml), "# repo:") {
		t.Errorf("ship.yml:\n%s", yml)
	}
}
