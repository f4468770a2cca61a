package shell

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestQuoteRoundTrip(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	cases := map[string]string{
		"empty":       "",
		"plain":       "releases/7",
		"space":       "my app/dir",
		"single":      "it's",
		"double":      `say "hi"`,
		"subshell":    "$(touch " + marker + ")",
		"backticks":   "`touch " + marker + "`",
		"semicolon":   "main; touch " + marker,
		"newline":     "a\ntouch " + marker,
		"glob":        "*",
		"tilde":       "~root",
		"dollar":      "$HOME",
		"backslash":   `a\b\'c`,
		"only quotes": "'''",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command("sh", "-c", "printf %s "+Quote(in)).Output()
			if err != nil {
				t.Fatalf("sh: %v", err)
			}
			if string(out) != in {
				t.Errorf("Quote(%q) read back as %q", in, out)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatalf("Quote(%q) let the shell run a command", in)
			}
		})
	}
}

func TestJoin(t *testing.T) {
	got := Join("git", "--git-dir", "/app/.ship/repo.git", "fetch", "a b")
	want := "git --git-dir /app/.ship/repo.git fetch 'a b'"
	if got != want {
		t.Errorf("Join = %q, want %q", got, want)
	}
}
