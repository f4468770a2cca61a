//go:build linux

package supervise

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/testenv"
)

// orphanScript makes five orphans that exit after 0.1 s, then stays up long
// enough for the test to look for their zombies.
const orphanScript = `for i in 1 2 3 4 5; do (sleep 0.1 &); done; echo orphans made; sleep 1.5; exit 7`

func startHelper(t *testing.T, mode, script string, env ...string) (*exec.Cmd, *testenv.SyncBuffer) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(append(os.Environ(), "SUPERVISE_HELPER="+mode, "HELPER_SCRIPT="+script), env...)
	out := new(testenv.SyncBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, out
}

func TestRunInitReapsOrphans(t *testing.T) {
	tests := []struct {
		name        string
		mode        string
		wantZombies bool
	}{
		{"RunInit reaps them", "init", false},
		// The control proves the check can see zombies at all.
		{"a subreaper that does not reap keeps zombies", "subreaper-noreap", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, out := startHelper(t, tt.mode, orphanScript)
			pid := cmd.Process.Pid
			testenv.WaitFor(t, 5*time.Second, "the orphans", func() bool { return strings.Contains(out.String(), "orphans made") })
			time.Sleep(700 * time.Millisecond) // the orphans have exited by now
			z := zombiesOf(pid)
			if tt.wantZombies && len(z) == 0 {
				t.Fatalf("control: want zombies under pid %d, found none (output %q)", pid, out)
			}
			if !tt.wantZombies && len(z) > 0 {
				t.Fatalf("zombies left under init pid %d: %v", pid, z)
			}
			if tt.mode != "init" {
				return
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 7 {
				t.Fatalf("init exit = %v, want the child's exit status 7 (output %q)", err, out)
			}
		})
	}
}

func TestRunInitForwardsSignals(t *testing.T) {
	cmd, out := startHelper(t, "init", `trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.05; done`)
	testenv.WaitFor(t, 5*time.Second, "the child", func() bool { return strings.Contains(out.String(), "ready") })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "got TERM") {
			t.Fatalf("init exit = %v, want 0 after the child caught TERM (output %q)", err, out)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("init did not exit after SIGTERM (output %q)", out)
	}
}
