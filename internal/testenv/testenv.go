package testenv

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// Strict reports whether a missing part fails tests instead of skipping
// them: SHIP_TEST_STRICT=1, as CI sets.
func Strict() bool { return os.Getenv("SHIP_TEST_STRICT") == "1" }

// SkipOrFail skips t with the reason, or fails it in strict mode.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if Strict() {
		t.Fatalf("SHIP_TEST_STRICT=1: "+format, args...)
	}
	t.Skipf(format, args...)
}

// Bun returns the path of a bun binary: $SHIP_BUN, else bun on PATH, else
// /usr/local/bin/bun.
func Bun(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SHIP_BUN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			SkipOrFail(t, "SHIP_BUN=%s: %v", p, err)
		}
		return p
	}
	if p := findBun(); p != "" {
		return p
	}
	SkipOrFail(t, "bun is not installed: run scripts/setup")
	return ""
}

// findBun is Bun without a test: "" when there is none.
func findBun() string {
	if p := os.Getenv("SHIP_BUN"); p != "" {
		return p
	}
	if p, err := exec.LookPath("bun"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/local/bin/bun"); err == nil {
		return "/usr/local/bin/bun"
	}
	return ""
}

// Git returns the path of git, or skips (fails in strict mode) without it.
func Git(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("git")
	if err != nil {
		SkipOrFail(t, "git is not installed: run scripts/setup")
	}
	return p
}

// WaitFor polls cond every 20 ms until it holds, and fails t (saying what
// it waited for) when d passes first.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
