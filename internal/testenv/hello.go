package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BuiltHello copies the example app (examples/hello) into a temporary folder
// and runs `bun install` and `bun run build` there: the folder then holds
// what a finished release of it holds, ready for `bun start`. It returns the
// folder and a PATH that finds the bun it used. Without bun it skips (fails
// in strict mode).
func BuiltHello(t testing.TB) (dir, path string) {
	t.Helper()
	bun := Bun(t)
	path = filepath.Dir(bun) + string(os.PathListSeparator) + os.Getenv("PATH")
	dir = filepath.Join(t.TempDir(), "hello")
	if err := CopyTree(filepath.Join(ModuleRoot(t), "examples", "hello"), dir); err != nil {
		t.Fatalf("copy example app: %v", err)
	}
	for _, args := range [][]string{{"install", "--frozen-lockfile"}, {"run", "build"}} {
		cmd := exec.Command(bun, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+path)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("bun %s in the example app: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return dir, path
}
