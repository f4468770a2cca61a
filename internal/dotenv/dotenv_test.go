package dotenv

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipdeploy/ship/internal/testenv"
)

// values that a careless quoting would change on the way to the app.
var values = []string{
	"", "plain", "with space", "  padded  ", "a$b", "$HOME", "${HOME}", "$$", "a$1b", `\$x`, `a\\$b`,
	`a\b`, `a\\b`, `x\ny`, `x\ry`, "tab\tx", "line1\nline2", "crlf\r\nx", "cr\rx", "$cr\r", "#hash", "a #b", "a#b", "=eq=",
	"it's", `say "hi"`, `it's "quoted"`, "back`tick`", "it's `x`", `"q" and back\slash`, "ünïcödé ✓",
	"postgres://u:p%40ss$w0rd@db:5432/x?sslmode=require", "'", `"`, "`", `\'`, `\"`, "-----BEGIN KEY-----\nabc\n-----END KEY-----",
}

// TestBunReadsBack: every value ship writes is what the app sees, read by
// the real Bun from the release's folder.
func TestBunReadsBack(t *testing.T) {
	bun := testenv.Bun(t)
	var vars []Var
	want := map[string]string{}
	for i, v := range values {
		name := "V" + string(rune('A'+i/26)) + string(rune('A'+i%26))
		if _, err := Quote(v); err != nil {
			t.Errorf("Quote(%q): %v", v, err)
			continue
		}
		vars = append(vars, Var{Name: name, Value: v})
		want[name] = v
	}
	data, err := Render(vars)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".env"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bun, "-e", "console.log(JSON.stringify(process.env))")
	cmd.Dir, cmd.Env = dir, []string{"HOME=/home/someone"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bun: %v", err)
	}
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s: wrote %q, bun read %q (the file: %s)", name, v, got[name], lineOf(data, name))
		}
	}
}

func lineOf(data []byte, name string) string {
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, name+"=") {
			return l
		}
	}
	return "?"
}

func TestRefused(t *testing.T) {
	for _, v := range []string{`ends with \`, "all ' \" ` three", "nul\x00", "cr\r and \\"} {
		_, err := Render([]Var{{Name: "SECRET", Value: v}})
		if !errors.Is(err, ErrCannotWrite) {
			t.Errorf("Render(%q) = %v, want ErrCannotWrite", v, err)
			continue
		}
		if strings.Contains(err.Error(), v) || !strings.Contains(err.Error(), "SECRET") {
			t.Errorf("the error should name the variable, not show its value: %v", err)
		}
	}
	for _, name := range []string{"", "1A", "A-B", "A B", "A=B"} {
		if _, err := Render([]Var{{Name: name, Value: "x"}}); err == nil {
			t.Errorf("Render with name %q: no error", name)
		}
	}
}
