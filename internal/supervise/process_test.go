package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/testenv"
)

func start(t *testing.T, spec Spec) *Process {
	t.Helper()
	if spec.Dir == "" {
		spec.Dir = t.TempDir()
	}
	p, err := Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background(), 0) })
	return p
}

func waitExit(t *testing.T, p *Process, d time.Duration) ExitStatus {
	t.Helper()
	select {
	case <-p.Done():
		return p.Wait()
	case <-time.After(d):
		t.Fatalf("pid %d still running after %s; output %q", p.PID(), d, p.Tail())
		return ExitStatus{}
	}
}

func TestStartRunsInDirWithPortAndEnv(t *testing.T) {
	dir := t.TempDir()
	out := new(testenv.SyncBuffer)
	p := start(t, Spec{
		Dir:     dir,
		Command: `echo "dir=$(pwd) port=$PORT name=$NAME"; echo oops >&2; exit 3`,
		Env:     []string{"NAME=first", "NAME=second"},
		Port:    4321,
		Output:  out,
	})
	st := waitExit(t, p, 5*time.Second)
	if st.Code != 3 || st.String() != "exit status 3" {
		t.Errorf("exit = %+v (%s), want exit status 3", st, st)
	}
	want := fmt.Sprintf("dir=%s port=4321 name=second", dir)
	if got := p.Tail(); len(got) != 2 || got[0] != want || got[1] != "oops" {
		t.Errorf("tail = %q, want [%q oops]", got, want)
	}
	if got := out.String(); got != want+"\noops\n" {
		t.Errorf("output = %q", got)
	}
}

func TestStartDefaultsAndErrors(t *testing.T) {
	_, err := Start(context.Background(), Spec{Dir: filepath.Join(t.TempDir(), "missing"), Command: "true"})
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("start in a missing folder: err = %v, want one naming the folder", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Start(ctx, Spec{Dir: t.TempDir(), Command: "true"}); !errors.Is(err, context.Canceled) {
		t.Errorf("start with a done context: err = %v", err)
	}
	// No bun here: the default command must still be what runs.
	p := start(t, Spec{Env: []string{"PATH=/nonexistent"}})
	waitExit(t, p, 5*time.Second)
	if tail := strings.Join(p.Tail(), "\n"); !strings.Contains(tail, "bun") {
		t.Errorf("default command output %q does not mention bun", tail)
	}
}

func TestTailKeepsLastLines(t *testing.T) {
	p := start(t, Spec{Command: `i=1; while [ $i -le 120 ]; do echo line $i; i=$((i+1)); done; printf 'no newline'`, TailLines: 5})
	waitExit(t, p, 5*time.Second)
	want := []string{"line 117", "line 118", "line 119", "line 120", "no newline"}
	if got := p.Tail(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("tail = %q, want %q", got, want)
	}
}

func TestStop(t *testing.T) {
	tests := []struct {
		name       string
		script     string
		grace      time.Duration
		wantKilled bool
		maxTime    time.Duration
	}{
		{"exits on TERM", `trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.05; done`, 5 * time.Second, false, 2 * time.Second},
		{"ignores TERM: killed after grace", `trap '' TERM; echo ready; while :; do sleep 0.05; done`, 300 * time.Millisecond, true, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, Spec{Command: tt.script})
			testenv.WaitFor(t, 5*time.Second, "ready", func() bool { return len(p.Tail()) > 0 })
			begin := time.Now()
			err := p.Stop(context.Background(), tt.grace)
			took := time.Since(begin)
			if killed := errors.Is(err, ErrKilled); killed != tt.wantKilled {
				t.Errorf("Stop = %v, want killed=%v", err, tt.wantKilled)
			}
			if tt.wantKilled && took < tt.grace {
				t.Errorf("killed after %s, before the grace of %s", took, tt.grace)
			}
			if took > tt.maxTime {
				t.Errorf("Stop took %s", took)
			}
			if alive(p.PID()) {
				t.Errorf("pid %d still alive", p.PID())
			}
			if err := p.Stop(context.Background(), tt.grace); err != nil {
				t.Errorf("second Stop = %v, want nil", err)
			}
		})
	}
}

// The group goes with the app: both on Stop and when the app exits by itself
// leaving a child behind.
func TestProcessGroupDiesWithApp(t *testing.T) {
	tests := []struct {
		name   string
		script string
		stop   bool
	}{
		{"stopped", `sleep 1000 & echo child $!; wait`, true},
		{"exits leaving a child", `sleep 1000 & echo child $!; sleep 0.2; exit 0`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, Spec{Command: tt.script})
			var child int
			testenv.WaitFor(t, 5*time.Second, "the child's pid", func() bool {
				for _, l := range p.Tail() {
					if n, ok := strings.CutPrefix(l, "child "); ok {
						child, _ = strconv.Atoi(n)
					}
				}
				return child > 0
			})
			if tt.stop {
				if err := p.Stop(context.Background(), 2*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			waitExit(t, p, 5*time.Second)
			testenv.WaitFor(t, 2*time.Second, "the child to be gone", func() bool { return !alive(child) })
		})
	}
}

func TestDoneNotHeldByEscapedChild(t *testing.T) {
	// A child that left the group (setsid) keeps the output pipe open: Done
	// must not wait for it beyond the output grace.
	p := start(t, Spec{Command: `setsid sleep 30 & echo child $!; exit 0`})
	st := waitExit(t, p, 3*time.Second)
	for _, l := range p.Tail() {
		if n, ok := strings.CutPrefix(l, "child "); ok {
			pid, _ := strconv.Atoi(n)
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
		}
	}
	if st.Code != 0 {
		t.Errorf("exit = %s", st)
	}
}

func TestStartedProcessesAreSeparateGroups(t *testing.T) {
	p := start(t, Spec{Command: `sleep 1000`})
	pgid, err := getpgid(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	if pgid != p.PID() || pgid == os.Getpid() {
		t.Errorf("pgid = %d, want the app's own pid %d", pgid, p.PID())
	}
}
