package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// UpdateDocsEnv, set to 1, makes DocBlock rewrite the block instead of
// failing: `SHIP_UPDATE_DOCS=1 go test ./internal/shipcmd ./internal/receivercmd -run Readme`.
const UpdateDocsEnv = "SHIP_UPDATE_DOCS"

// DocBlock checks that file (a path from the module's root) holds want
// between the lines "<!-- begin NAME ... -->" and "<!-- end NAME -->", so
// that documentation made from code cannot drift from it.
func DocBlock(t testing.TB, file, name, want string) {
	t.Helper()
	path := filepath.Join(ModuleRoot(t), file)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	begin, end := "<!-- begin "+name, "<!-- end "+name+" -->"
	i := strings.Index(text, begin)
	j := strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no block %q … %q", file, begin, end)
	}
	i += strings.Index(text[i:], "\n") + 1
	if text[i:j] == want {
		return
	}
	if os.Getenv(UpdateDocsEnv) == "1" {
		if err := os.WriteFile(path, []byte(text[:i]+want+text[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s in %s", name, file)
		return
	}
	t.Errorf("%s's %s block differs from the code; run %s=1 go test -run %s ./…\n--- in %s:\n%s--- from the code:\n%s",
		file, name, UpdateDocsEnv, t.Name(), file, text[i:j], want)
}
