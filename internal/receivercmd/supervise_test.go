package receivercmd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/supervise"
	"github.com/shipdeploy/ship/internal/testenv"
)

// An app that exits on its own is restarted; one that keeps exiting is
// reported as a crash loop, until a good release ends it.
func TestCrashRestartAndCrashLoop(t *testing.T) {
	l := appRoot(t, "version=v1\nmode=crash\ncrash_after=150ms", "version=v2")
	rc := startReceiver(t, testOptions(t, l))
	st := waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))
	first := st.Serving.PID

	st = waitState(t, l, 15*time.Second, "a crash loop", func(s *release.State) bool { return s.CrashLoop })
	if st.Restarts < 3 || st.LastExit != "exit status 1" {
		t.Errorf("restarts %d last exit %q, want ≥ 3 and exit status 1", st.Restarts, st.LastExit)
	}
	st = waitState(t, l, 10*time.Second, "a restarted instance serving", func(s *release.State) bool {
		return s.Serving != nil && s.Serving.PID != first
	})
	if st.Serving.Release != 1 {
		t.Errorf("restarted %+v, want release 1 again", st.Serving)
	}
	if !gone(first) {
		t.Errorf("the crashed process %d still exists", first)
	}

	deploy(t, l, 2, "fix")
	st = waitState(t, l, 10*time.Second, "the fix", reloadDone("fix"))
	if !st.LastReload.OK || st.CrashLoop || st.Restarts != 0 || st.LastExit != "" {
		t.Errorf("after a good release: ok=%v crash_loop=%v restarts=%d last_exit=%q", st.LastReload.OK, st.CrashLoop, st.Restarts, st.LastExit)
	}
	time.Sleep(500 * time.Millisecond) // longer than v1 ever lived
	if body, _ := get(t, "http://"+rc.addr+"/"); body != "v2" {
		t.Errorf("serving %q, want v2", body)
	}
}

// While an instance restarts, requests wait for it rather than fail.
func TestRequestsWaitDuringRestart(t *testing.T) {
	l := appRoot(t, "version=v1\nmode=crash\ncrash_after=400ms\ndelay=200ms")
	rc := startReceiver(t, testOptions(t, l))
	waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))
	ld := startLoad(t, "http://"+rc.addr+"/", 2, 1)
	waitState(t, l, 10*time.Second, "two restarts", func(s *release.State) bool { return s.Restarts >= 2 && s.Serving != nil })
	res := ld.Finish(t)
	// A request cut by the crash itself may fail (the app died under it);
	// requests sent while nothing serves must wait, not fail: so far fewer
	// failures than the ~1 s without an instance would give.
	if res.Failed > 3*3 {
		t.Errorf("%d of %d requests failed across two restarts: %v", res.Failed, res.Total, res.Errors)
	}
	if res.MaxGapMS < 200 {
		t.Errorf("longest gap %.0f ms: the restarts did not happen under the load", res.MaxGapMS)
	}
}

// receiverProcess is the built receiver running as a child of the test.
type receiverProcess struct {
	cmd *exec.Cmd
	out *testenv.SyncBuffer
}

func startReceiverProcess(t *testing.T, wrap []string, env []string, args ...string) *receiverProcess {
	t.Helper()
	build(t)
	argv := append(append(wrap, bins.receive), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out := new(testenv.SyncBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second // an app left behind must not hang the test
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("receiver output:\n%s", out.String())
		}
	})
	return &receiverProcess{cmd: cmd, out: out}
}

// SIGTERM to the receiver stops the app within the stop timeout and exits 0,
// whether the app goes on SIGTERM or has to be killed.
func TestSigtermStopsAppAndExitsZero(t *testing.T) {
	tests := []struct {
		name    string
		conf    string
		maxStop time.Duration
	}{
		{"app exits on SIGTERM", "version=v1", time.Second},
		{"app ignores SIGTERM: killed", "version=v1\nignore_term=1", 2*time.Second + 500*time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			build(t)
			l := appRoot(t, tt.conf)
			port := freePort(t)
			rp := startReceiverProcess(t, nil, []string{"APP_ROOT=" + l.Root},
				"--listen", "127.0.0.1:"+strconv.Itoa(port), "--start", "exec "+bins.slowapp, "--stop-timeout", "2s")
			st := waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))
			app := st.Serving.PID
			if body, _ := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); body != "v1" {
				t.Fatalf("serving %q", body)
			}
			begin := time.Now()
			if err := rp.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			err := waitCmd(rp.cmd, 10*time.Second)
			took := time.Since(begin)
			if err != nil {
				t.Errorf("receiver exit: %v, want 0", err)
			}
			if took > tt.maxStop {
				t.Errorf("stop took %s, want ≤ %s", took, tt.maxStop)
			}
			if !gone(app) {
				t.Errorf("app %d still running after the receiver exited", app)
			}
			if st, _ := release.ReadState(lfs, l); st.Alive(time.Now()) || st.Serving != nil {
				t.Errorf("state after exit: alive %v serving %+v; want a stopped receiver", st.Alive(time.Now()), st.Serving)
			}
		})
	}
}

// As PID 1 of a PID namespace the receiver reaps orphans: the app makes
// short-lived orphans and none is left a zombie. The control run, with the
// init turned off, shows that the check sees zombies when nobody reaps.
func TestPID1ReapsOrphans(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "unshare --pid needs root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		testenv.SkipOrFail(t, "unshare is not installed")
	}
	tests := []struct {
		name        string
		env         []string
		wantZombies bool
	}{
		{"with the init", nil, false},
		{"control: init off", []string{initEnv + "=off"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			build(t)
			l := appRoot(t, "version=v1")
			port := freePort(t)
			rp := startReceiverProcess(t, []string{"unshare", "--pid", "--fork", "--mount-proc", "--kill-child"},
				append(tt.env, "APP_ROOT="+l.Root),
				"--listen", "127.0.0.1:"+strconv.Itoa(port), "--start", "exec "+bins.slowapp, "--stop-timeout", "2s")
			st := waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))
			init := childOf(t, rp.cmd.Process.Pid) // PID 1 in the namespace, seen from here
			if isInit := st.PID == 1; isInit != tt.wantZombies {
				t.Errorf("receiver pid in its namespace = %d: with the init it must not be 1, without it must", st.PID)
			}
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			for range 3 {
				if body, _ := get(t, base+"/spawn-orphans?n=5"); body != "spawned 5" {
					t.Fatalf("spawn: %q", body)
				}
			}
			time.Sleep(600 * time.Millisecond) // the orphans' sleep 0.1 is over
			z := zombiesIn(t, init)
			if tt.wantZombies && len(z) < 15 {
				t.Fatalf("control: %d zombies in the namespace, want the 15 orphans: the check is blind", len(z))
			}
			if !tt.wantZombies && len(z) > 0 {
				t.Fatalf("zombies left in the namespace: %v", z)
			}
			if tt.wantZombies {
				return
			}
			// SIGTERM to PID 1 reaches the receiver; everything exits 0.
			if err := syscall.Kill(init, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := waitCmd(rp.cmd, 10*time.Second); err != nil {
				t.Errorf("unshare exit: %v, want 0", err)
			}
			if !strings.Contains(rp.out.String(), "app stopped at shutdown") {
				t.Errorf("the app was not stopped gracefully:\n%s", rp.out)
			}
		})
	}
}

// childOf returns the only child of pid (unshare --fork's child).
func childOf(t *testing.T, pid int) int {
	t.Helper()
	var kids []int
	deadline := time.Now().Add(5 * time.Second)
	for len(kids) == 0 && time.Now().Before(deadline) {
		kids = nil
		for _, p := range allPIDs() {
			if _, pp, ok := procStat(p); ok && pp == pid {
				kids = append(kids, p)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(kids) != 1 {
		t.Fatalf("children of %d: %v, want one", pid, kids)
	}
	return kids[0]
}

// zombiesIn lists the zombies among init and its descendants.
func zombiesIn(t *testing.T, init int) []int {
	t.Helper()
	parent := map[int]int{}
	state := map[int]byte{}
	for _, p := range allPIDs() {
		if st, pp, ok := procStat(p); ok {
			parent[p], state[p] = pp, st
		}
	}
	var z []int
	for p, st := range state {
		if st != 'Z' {
			continue
		}
		for a := parent[p]; a > 1; a = parent[a] {
			if a == init {
				z = append(z, p)
				break
			}
		}
	}
	return z
}

func allPIDs() []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		if p, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func procStat(pid int) (state byte, ppid int, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid, true
}

func waitCmd(cmd *exec.Cmd, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("did not exit in time: killed")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := supervise.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
