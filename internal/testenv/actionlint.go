package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ActionlintInstall is how to get the actionlint the tests expect.
const ActionlintInstall = "go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"

// Actionlint returns the path of actionlint: on PATH, else in $(go env
// GOPATH)/bin; it skips (fails in strict mode) without it.
func Actionlint(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("actionlint"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "actionlint")
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	SkipOrFail(t, "actionlint is not installed: %s", ActionlintInstall)
	return ""
}
