package deploy

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/testenv"
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

// TestStopRightAfterTheStageRequestWithdrawsIt: ship goes away just as the
// host has written releases/STAGE. The unwind must take the request back
// (ABORT), or the receiver starts a release nobody will commit and runs it
// out of traffic until its --stage-timeout. A slow mv (first on the
// script's PATH) holds the script right after the STAGE request.
func TestStopRightAfterTheStageRequestWithdrawsIt(t *testing.T) {
	realMv, err := exec.LookPath("mv")
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	bin := filepath.Join(home, ".bun", "bin")
	slowMv := "#!/bin/sh\n" + realMv + " \"$@\" || exit\ncase \"$*\" in *releases/STAGE) sleep 5 ;; esac\n"
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "mv"), []byte(slowMv), 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "app")
	o := Options{Root: root, Repo: testenv.AppRepo(t), Ref: "main", Install: "-", Build: "-"}
	o.setDefaults()
	p := newPlan(o, "deploy")
	p.id = newID()
	p.setID(o)
	cmd := exec.Command("sh", "-c", script(p))
	cmd.Env = append(os.Environ(), "HOME="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	io.WriteString(stdin, "go 1 stage\n")
	stage := filepath.Join(root, "releases", "STAGE")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(stage); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no STAGE request within 20s:\n%s", out.String())
		}
	}
	stdin.Close() // ship is gone
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("the script did not end:\n%s", out.String())
	}
	if _, err := os.Stat(stage); err == nil {
		t.Errorf("releases/STAGE is still there after the unwind:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(root, "releases", "ABORT")); err != nil {
		t.Errorf("no ABORT request for the receiver (%v):\n%s", err, out.String())
	}
}

// TestSweepSparesARunJustStarting: a deploy's survey sweeps the run folders
// of deploys that died (heartbeat older than the stale bound), but not one
// that another deploy has only just made (no heartbeat yet): five deploys
// at once, the one just starting lost its folder and failed at the lock
// instead of waiting for it.
func TestSweepSparesARunJustStarting(t *testing.T) {
	testenv.RequireGit(t)
	root := filepath.Join(t.TempDir(), "app")
	runs := filepath.Join(root, ".ship", "runs")
	young, old := filepath.Join(runs, "young"), filepath.Join(runs, "old")
	for _, d := range []string{young, old} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-10 * time.Minute)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	o := Options{Root: root, Repo: testenv.AppRepo(t), Ref: "main", Install: "-", Build: "-", Out: &out}
	if _, err := Deploy(context.Background(), host.Local{}, o); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("the run folder just made was swept: %v", err)
	}
	if _, err := os.Stat(old); err == nil {
		t.Error("the run folder 10 minutes old (no heartbeat) was not swept")
	}
}
