package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestScriptEndsCleanlyWhenShipIsGoneAtOnce: ship killed right after it
// started the host script (a local deploy: the script outlives it), so the
// script's input ends before it has even set up. Whenever the end is
// noticed, the script must clean up after itself: no run folder, no lock.
func TestScriptEndsCleanlyWhenShipIsGoneAtOnce(t *testing.T) {
	root := filepath.Join(t.TempDir(), "app")
	o := Options{Root: root, Repo: "/nonexistent", Ref: "main"}
	o.setDefaults()
	for i := range 40 {
		p := newPlan(o, "deploy")
		p.id = newID()
		p.setID(o)
		cmd := exec.Command("sh", "-c", script(p))
		cmd.Stdin = nil // /dev/null: ship's stream has ended already
		// Its own process group, as host.Local runs it: the script stops
		// its helpers with kill 0.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("run %d: the script did not end within 10s of its input ending", i)
		}
		// Helpers the script left in the background (its watchdog) may
		// still be cleaning up.
		deadline := time.Now().Add(5 * time.Second)
		for {
			runs, _ := os.ReadDir(filepath.Join(root, ".ship", "runs"))
			_, lerr := os.Lstat(filepath.Join(root, ".ship", "lock"))
			if len(runs) == 0 && os.IsNotExist(lerr) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d: left run folders %v, lock present %v", i, entryNames(runs), lerr == nil)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func entryNames(es []os.DirEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}
