package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// ModuleRoot is the repository's top folder (where go.mod is).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the testenv package")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AppRepo makes a git repository holding the example app (examples/hello)
// on branch main with one commit, and returns its folder.
func AppRepo(t testing.TB) string {
	t.Helper()
	RequireGit(t)
	src := filepath.Join(ModuleRoot(t), "examples", "hello")
	dir := filepath.Join(t.TempDir(), "app")
	if err := CopyTree(src, dir); err != nil {
		t.Fatalf("copy example app: %v", err)
	}
	GitRun(t, dir, "init", "-q", "-b", "main")
	GitRun(t, dir, "add", "-A")
	GitRun(t, dir, "commit", "-q", "-m", "example app")
	return dir
}

// CommitVersion changes the app's version string and commits; it returns the
// new commit id. Each deploy of a new version then serves different text.
func CommitVersion(t testing.TB, repo, version string) string {
	t.Helper()
	file := filepath.Join(repo, "src", "version.ts")
	if err := os.WriteFile(file, []byte("export const version = \""+version+"\";\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	GitRun(t, repo, "commit", "-q", "-am", "version "+version)
	return strings.TrimSpace(GitRun(t, repo, "rev-parse", "HEAD"))
}

// GitRun runs git in dir with a fixed identity and returns its output.
func GitRun(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=ship test", "GIT_AUTHOR_EMAIL=test@ship.invalid",
		"GIT_COMMITTER_NAME=ship test", "GIT_COMMITTER_EMAIL=test@ship.invalid",
		"GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// RequireGit skips (or fails, in strict mode) when git is missing.
func RequireGit(t testing.TB) { t.Helper(); Git(t) }

// CopyTree copies the folder src to dst, leaving out node_modules and dist
// folders (what a build makes).
func CopyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "dist") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
