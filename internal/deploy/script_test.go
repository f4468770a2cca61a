package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/shipdeploy/ship/internal/dotenv"
	"github.com/shipdeploy/ship/internal/testenv"
)

func TestPlainBunInstall(t *testing.T) {
	for cmd, want := range map[string]bool{
		"bun install": true, "bun install --frozen-lockfile": true, "bun i": true, "bun ci": true,
		"bun install && bun run codegen": false, "npm ci": false, "bun install foo": false,
		"bun install --x;rm": false, "": false, "bun": false,
	} {
		if got := plainBunInstall(cmd); got != want {
			t.Errorf("plainBunInstall(%q) = %v, want %v", cmd, got, want)
		}
	}
}

func TestLooksLikeCommit(t *testing.T) {
	for ref, want := range map[string]bool{"3f9c2ab": true, "3f9c2ab5d1e0f4aa77aa210c4d9e13f9c2ab5d1e": true, "main": false, "3f9c2a": false, "3F9C2AB": false, "3f9c2ab;": false} {
		if got := looksLikeCommit(ref); got != want {
			t.Errorf("looksLikeCommit(%q) = %v, want %v", ref, got, want)
		}
	}
}

// TestScriptPassesShellcheck: the host program as it is sent (prologue and
// host.sh) is clean POSIX sh by shellcheck, for a deploy and a rollback,
// from a repository and from an upload.
func TestScriptPassesShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		testenv.SkipOrFail(t, "shellcheck is not installed: run scripts/setup")
	}
	for _, o := range []Options{
		{Root: "/srv/app root", Repo: "git@github.com:acme/shop.git", Ref: "main", Shared: []string{".env", "uploads/"},
			Env: []string{"GIT_SSH_COMMAND=ssh -i 'k'"}, By: "alice \"x\""},
		{Root: "/app", Upload: "/tmp/x", Commit: "3f9c2ab5d1e0f4aa77aa210c4d9e13f9c2ab5d1e", Install: "-", Build: "-",
			Release: "bun run migrate && echo 'done'", AppEnv: []dotenv.Var{{Name: "A", Value: "it's $x"}}},
	} {
		for _, mode := range []string{"deploy", "rollback"} {
			o.setDefaults()
			p := newPlan(o, mode)
			p.id = newID()
			p.setID(o)
			file := filepath.Join(t.TempDir(), "host.sh")
			if err := os.WriteFile(file, []byte(script(p)), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(sc, "-s", "sh", "-S", "style", file).CombinedOutput()
			if err != nil {
				t.Errorf("shellcheck (%s, upload %v): %v\n%s", mode, p.upload, err, out)
			}
		}
	}
	for _, s := range []string{ExecScript("/srv/app root", "releases/3", "echo '$x'"), EnvScript("/app", "releases/3")} {
		file := filepath.Join(t.TempDir(), "exec.sh")
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(sc, "-s", "sh", "-S", "style", file).CombinedOutput(); err != nil {
			t.Errorf("shellcheck of the exec script: %v\n%s", err, out)
		}
	}
}
