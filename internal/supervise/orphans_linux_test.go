//go:build linux

package supervise

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/testenv"
)

// treeScript is an app made of two processes, like `bun start` (whose child
// is the one that listens): sh, and a child that knows nothing of the
// supervisor.
const treeScript = `sleep 1000 & echo "child $!"; wait`

func init() {
	helpers["supervisor"] = helperSupervisor
	helpers["pdeathsig-only"] = helperPdeathsigOnly
	helpers["thread-exit"] = func() { helperThreadExit(false) }
	helpers["thread-exit-naive"] = func() { helperThreadExit(true) }
}

// helperSupervisor starts treeScript with Start, says "app PID child PID",
// and waits to be killed.
func helperSupervisor() {
	p, err := Start(context.Background(), Spec{Dir: os.Getenv("HELPER_DIR"), Command: treeScript})
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	for !slices.ContainsFunc(p.Tail(), func(l string) bool { return strings.HasPrefix(l, "child ") }) {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Printf("app %d %s\n", p.PID(), p.Tail()[0])
	select {}
}

// helperPdeathsigOnly is the control: treeScript with Pdeathsig on the
// process it forks and nothing else.
func helperPdeathsigOnly() {
	cmd := exec.Command("/bin/sh", "-c", treeScript)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	line := make([]byte, 64)
	n, _ := out.Read(line)
	fmt.Printf("app %d %s\n", cmd.Process.Pid, strings.TrimSpace(string(line[:n])))
	select {}
}

// helperThreadExit starts `sleep` from a goroutine locked to its thread,
// lets the goroutine end (Go then ends the thread), waits until the thread
// is gone and says "app PID". Naive: exec with Pdeathsig from that thread,
// as an app started without the spawner thread would be.
func helperThreadExit(naive bool) {
	for {
		res := make(chan [2]int, 1)
		go func() {
			runtime.LockOSThread()
			tid := syscall.Gettid()
			if tid == os.Getpid() { // the main thread is never ended: try another
				runtime.UnlockOSThread()
				res <- [2]int{}
				return
			}
			pid := 0
			if naive {
				cmd := exec.Command("sleep", "1000")
				cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
				if err := cmd.Start(); err == nil {
					pid = cmd.Process.Pid
					go cmd.Wait()
				}
			} else if p, err := Start(context.Background(), Spec{Dir: os.TempDir(), Command: "exec sleep 1000"}); err == nil {
				pid = p.PID()
			}
			res <- [2]int{tid, pid}
		}() // returns still locked
		r := <-res
		if r[0] == 0 {
			continue
		}
		if r[1] == 0 {
			fmt.Println("could not start the app")
			os.Exit(2)
		}
		for {
			if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", r[0])); err != nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		fmt.Printf("app %d thread gone\n", r[1])
		select {}
	}
}

// helperLine waits for the helper's "app PID …" line and returns its fields.
func helperLine(t *testing.T, out fmt.Stringer) []string {
	t.Helper()
	var f []string
	testenv.WaitFor(t, 10*time.Second, "the helper's app", func() bool {
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, "app ") {
				f = strings.Fields(l)
				return true
			}
		}
		return false
	})
	return f
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// group lists the live (not zombie) processes in process group pgid.
func group(pgid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil && st.pgid == pgid && st.state != 'Z' {
			out = append(out, pid)
		}
	}
	return out
}

// killLater kills pid at the end of the test, through a handle opened now
// (a pidfd), so a reused pid is never hit.
func killLater(t *testing.T, pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		t.Cleanup(func() { _ = p.Kill(); p.Release() })
	}
}

// A supervisor killed with SIGKILL (not PID 1, no chance to clean up) takes
// its app's whole tree with it. The control shows what Pdeathsig alone does:
// the process it forked dies, its child keeps running.
func TestSupervisorKilledTakesTheAppTree(t *testing.T) {
	tests := []struct {
		mode      string
		wantGone  bool
		wantGroup int // live processes in the app's group before the kill
	}{
		{"supervisor", true, 2},
		{"pdeathsig-only", false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			cmd, out := startHelper(t, tt.mode, "", "HELPER_DIR="+t.TempDir())
			f := helperLine(t, out)
			app, child := atoi(t, f[1]), atoi(t, f[3])
			killLater(t, child)
			killLater(t, app)
			if g := group(app); len(g) != tt.wantGroup || !slices.Contains(g, child) {
				t.Fatalf("app group %v, want %d processes with the child %d", g, tt.wantGroup, child)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			if tt.wantGone {
				testenv.WaitFor(t, 20*time.Second, "the app's process group to be gone", func() bool { return len(group(app)) == 0 })
				return
			}
			testenv.WaitFor(t, 10*time.Second, "the forked process to die of Pdeathsig", func() bool { return !alive(app) })
			time.Sleep(time.Second) // a guard would have acted by now
			if !alive(child) {
				t.Fatalf("control: the child %d died without a guard; the test cannot tell the guard works", child)
			}
		})
	}
}

// Pdeathsig follows the thread that forked: an app started from a goroutine
// whose thread then ends must keep running (the control, forking from that
// thread directly, dies).
func TestAppOutlivesTheThreadThatStartedIt(t *testing.T) {
	tests := []struct {
		mode      string
		wantAlive bool
	}{
		{"thread-exit", true},
		{"thread-exit-naive", false},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			_, out := startHelper(t, tt.mode, "")
			app := atoi(t, helperLine(t, out)[1])
			killLater(t, app)
			if !tt.wantAlive {
				testenv.WaitFor(t, 10*time.Second, "control: the app to die with its thread", func() bool { return !alive(app) })
				return
			}
			time.Sleep(300 * time.Millisecond) // the thread is gone: a Pdeathsig would have come
			if !alive(app) {
				t.Fatalf("the app %d died when the thread that started it ended", app)
			}
		})
	}
}

// startMarked runs script with markerEnv set to mark (none when empty), as a
// process some earlier supervisor left behind.
func startMarked(t *testing.T, mark, script string) int {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = os.Environ()
	if mark != "" {
		cmd.Env = append(cmd.Env, markerEnv+"="+mark)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killLater(t, cmd.Process.Pid)
	go cmd.Wait()
	return cmd.Process.Pid
}

func TestStopLeftovers(t *testing.T) {
	me, err := self()
	if err != nil {
		t.Fatal(err)
	}
	// Markers hold resolved folders, as the receiver's are.
	root, _ := filepath.EvalSymlinks(t.TempDir())
	other, _ := filepath.EvalSymlinks(t.TempDir())
	link := filepath.Join(t.TempDir(), "app")
	if err := os.Symlink(root, link); err != nil {
		t.Fatal(err)
	}
	// A supervisor that no longer runs: this pid, another start time (the
	// pid was reused), and a pid whose process has exited.
	reused := marker{pid: me.pid, start: me.start + 1}
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	gone := marker{pid: exited.Process.Pid, start: 1}
	at := func(m marker, dir string) string { m.dir = dir; return m.String() }

	tests := []struct {
		name     string
		mark     string
		script   string
		wantStop bool
	}{
		{"dead supervisor (pid reused), under root", at(reused, filepath.Join(root, "releases", "3")), "exec sleep 1000", true},
		{"dead supervisor (exited), under root", at(gone, filepath.Join(root, "releases", "4")), "exec sleep 1000", true},
		{"ignores SIGTERM: killed after the grace", at(gone, filepath.Join(root, "releases", "4")), "trap '' TERM; sleep 1000", true},
		{"dead supervisor, other root", at(gone, filepath.Join(other, "releases", "1")), "exec sleep 1000", false},
		{"running supervisor (this process)", at(me, filepath.Join(root, "releases", "5")), "exec sleep 1000", false},
		{"root's sibling with a longer name", at(gone, root+"-old/releases/1"), "exec sleep 1000", false},
		{"no marker", "", "exec sleep 1000", false},
	}
	pids := make([]int, len(tests))
	for i, tt := range tests {
		pids[i] = startMarked(t, tt.mark, tt.script)
	}
	testenv.WaitFor(t, 5*time.Second, "the markers to be readable", func() bool {
		for i, tt := range tests {
			if m, ok := markerOf(pids[i]); tt.mark != "" && (!ok || m.String() != tt.mark) {
				return false
			}
		}
		return true
	})

	stopped, err := StopLeftovers(link, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		if got := slices.Contains(stopped, pids[i]); got != tt.wantStop {
			t.Errorf("%s: stopped %v, want %v (stopped: %v)", tt.name, got, tt.wantStop, stopped)
		}
		if alive(pids[i]) == tt.wantStop {
			t.Errorf("%s: alive %v after StopLeftovers", tt.name, alive(pids[i]))
		}
	}
}

// Every process of an app carries the marker naming this supervisor and the
// release folder, the children the app starts included.
func TestStartMarksTheApp(t *testing.T) {
	dir := t.TempDir()
	p := start(t, Spec{Dir: dir, Command: `sh -c 'echo "$SHIP_SUPERVISOR"'`})
	waitExit(t, p, 5*time.Second)
	me, _ := self()
	me.dir = dir
	if got := p.Tail(); len(got) != 1 || got[0] != me.String() {
		t.Errorf("marker %q, want %q", got, me.String())
	}
}

// A guard that died is replaced by the next Start.
func TestGuardRestarts(t *testing.T) {
	start(t, Spec{Command: "exec sleep 1000"})
	guard.Lock()
	first := guard.pid
	guard.Unlock()
	if !alive(first) {
		t.Fatalf("guard %d not running", first)
	}
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, "the guard's end to be noticed", func() bool {
		guard.Lock()
		defer guard.Unlock()
		return !guard.running
	})
	start(t, Spec{Command: "exec sleep 1000"})
	guard.Lock()
	second := guard.pid
	guard.Unlock()
	if second == first || !alive(second) {
		t.Errorf("guard after restart: pid %d (first %d), alive %v", second, first, alive(second))
	}
}
