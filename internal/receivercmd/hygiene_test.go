package receivercmd

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/testenv"
)

// helloRoot is an APP_ROOT whose release 1 is the example app, built, and a
// PATH that finds bun.
func helloRoot(t *testing.T) (release.Layout, string) {
	t.Helper()
	dir, path := testenv.BuiltHello(t)
	l := release.Layout{Root: t.TempDir()}
	if err := os.MkdirAll(filepath.Dir(l.Dir(1)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, l.Dir(1)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(l.InfoFile(1)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := release.WriteJSON(lfs, l.InfoFile(1), release.Info{Number: 1, BuiltAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	swap(t, l, 1)
	return l, path
}

// appTree is an app made of more than one process, as real ones are.
type appTree struct {
	l     release.Layout
	env   []string // the receiver's environment
	start string   // --start
}

// appTrees: the example app under `bun start` (sh → bun start → bun
// dist/index.js, the last one listening), and the slowapp with a child.
var appTrees = map[string]func(t *testing.T) appTree{
	"bun start": func(t *testing.T) appTree {
		l, path := helloRoot(t)
		return appTree{l, []string{"PATH=" + path, "APP_ROOT=" + l.Root}, "bun start"}
	},
	"slowapp with a child": func(t *testing.T) appTree {
		build(t)
		l := appRoot(t, "version=v1")
		return appTree{l, []string{"APP_ROOT=" + l.Root}, "sleep 1000 & exec " + bins.slowapp}
	},
}

// run starts the receiver binary in front of the app.
func (a appTree) run(t *testing.T) *receiverProcess {
	return startReceiverProcess(t, nil, a.env, "--listen", "127.0.0.1:0", "--start", a.start,
		"--health-path", "/", "--stop-timeout", "3s")
}

// groupOf lists the live processes in process group pgid.
func groupOf(pgid int) []int {
	var out []int
	for _, p := range allPIDs() {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
		if err != nil {
			continue
		}
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			out = append(out, p)
		}
	}
	return out
}

// guardOf returns the receiver's guard process: its child started with the
// guard's argument.
func guardOf(t *testing.T, receiver int) int {
	t.Helper()
	for _, p := range allPIDs() {
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline")
		if _, pp, ok := procStat(p); ok && pp == receiver && strings.Contains(string(cmdline), "--ship-supervise-guard") {
			return p
		}
	}
	t.Fatalf("receiver %d has no guard process", receiver)
	return 0
}

func listening(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// killLater kills pids at the end of the test, whatever happened, through
// handles opened now (pidfds): a pid reused since is never hit.
func killLater(t *testing.T, pids ...int) {
	for _, pid := range pids {
		if p, err := os.FindProcess(pid); err == nil {
			t.Cleanup(func() { _ = p.Kill(); p.Release() })
		}
	}
}

// killReceiver SIGKILLs the receiver and reaps it.
func killReceiver(t *testing.T, rp *receiverProcess) {
	t.Helper()
	if err := rp.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = rp.cmd.Wait()
}

// A receiver killed with SIGKILL (not PID 1: nothing reaps or kills for it)
// takes its app's whole process group with it, and the app's port closes.
func TestReceiverKilledTakesTheWholeApp(t *testing.T) {
	for name, setup := range appTrees {
		t.Run(name, func(t *testing.T) {
			tree := setup(t)
			l := tree.l
			rp := tree.run(t)
			st := waitState(t, l, 30*time.Second, "release 1 serving", servingRelease(1))
			app, port := st.Serving.PID, st.Serving.Port
			guard := guardOf(t, rp.cmd.Process.Pid)
			g := groupOf(app)
			killLater(t, g...)
			if len(g) < 2 || !listening(port) {
				t.Fatalf("app group %v, listening %v: want a tree of processes serving", g, listening(port))
			}
			killReceiver(t, rp)
			testenv.WaitFor(t, 20*time.Second, "the app's process group to be gone", func() bool { return len(groupOf(app)) == 0 })
			if listening(port) {
				t.Errorf("port %d still answers after the app's group is gone", port)
			}
			testenv.WaitFor(t, 5*time.Second, "the guard to finish", func() bool { return gone(guard) })
			if !strings.Contains(rp.out.String(), "receiver guard: supervisor "+strconv.Itoa(rp.cmd.Process.Pid)+" is gone") {
				t.Errorf("the guard did not say what it stopped:\n%s", rp.out)
			}
		})
	}
}

// When the guard died too, what the killed receiver left is stopped by the
// next receiver on the same root, before it starts the app again.
func TestReceiverStopsLeftoversAtStart(t *testing.T) {
	for name, setup := range appTrees {
		t.Run(name, func(t *testing.T) {
			tree := setup(t)
			l := tree.l
			first := tree.run(t)
			st := waitState(t, l, 30*time.Second, "release 1 serving", servingRelease(1))
			app := st.Serving.PID
			if err := syscall.Kill(guardOf(t, first.cmd.Process.Pid), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killReceiver(t, first)
			// Pdeathsig took the process the receiver forked; the rest of
			// the tree is left: what this test is about.
			testenv.WaitFor(t, 10*time.Second, "the app's first process to go", func() bool { return gone(app) })
			time.Sleep(300 * time.Millisecond)
			left := groupOf(app)
			killLater(t, left...)
			if len(left) == 0 {
				t.Fatalf("nothing left behind: the test has nothing to clean")
			}

			second := tree.run(t)
			waitState(t, l, 30*time.Second, "release 1 serving again", func(s *release.State) bool {
				return s.PID == second.cmd.Process.Pid && s.Serving != nil
			})
			for _, p := range left {
				if !gone(p) {
					t.Errorf("leftover %d of the killed receiver still runs", p)
				}
			}
			if !strings.Contains(second.out.String(), "stopped app processes a previous receiver left running") {
				t.Errorf("the second receiver did not say it stopped leftovers:\n%s", second.out)
			}
		})
	}
}

// With its stdout and stderr closed (`receiver | head`), the receiver keeps
// serving and reloading, and the app's output still reaches app.log.
func TestReceiverSurvivesClosedOutput(t *testing.T) {
	build(t)
	l := appRoot(t, "version=v1", "version=v2")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := startReceiverOn(t, w, "--root", l.Root, "--listen", "127.0.0.1:0", "--start", "exec "+bins.slowapp)
	w.Close()
	waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))
	r.Close() // what head does after ten lines

	deploy(t, l, 2, "after-close")
	st := waitState(t, l, 10*time.Second, "the reload", reloadDone("after-close"))
	if !st.LastReload.OK || st.Serving == nil || st.Serving.Release != 2 {
		t.Fatalf("reload after the output closed: %+v serving %+v", st.LastReload, st.Serving)
	}
	if err := syscall.Kill(cmd.Process.Pid, 0); err != nil {
		t.Fatalf("the receiver died: %v", err)
	}
	data, err := os.ReadFile(l.AppLog())
	if err != nil || !strings.Contains(string(data), "slowapp v2 starting") {
		t.Errorf("app.log lacks release 2's output (err %v):\n%s", err, data)
	}
}

// startReceiverOn runs the receiver binary with stdout and stderr on out.
func startReceiverOn(t *testing.T, out *os.File, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bins.receive, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := waitCmd(cmd, 10*time.Second); err != nil {
			t.Errorf("receiver exit after SIGTERM: %v", err)
		}
	})
	return cmd
}

// The receiver's own settings (a webhook secret, a deploy key, a repository
// URL with a token) are not in the app's environment.
func TestAppDoesNotInheritTheReceiversSecrets(t *testing.T) {
	build(t)
	l := appRoot(t, "version=v1")
	dump := filepath.Join(t.TempDir(), "env")
	cmd := exec.Command(bins.receive, "--root", l.Root, "--listen", "127.0.0.1:0", "--webhook-listen", "127.0.0.1:0",
		"--start", "env > "+dump+"; exec "+bins.slowapp)
	cmd.Env = append(os.Environ(), "WEBHOOK_SECRET=hush-hush-secret", "GIT_SSH_KEY=-----BEGIN KEY-----",
		"GIT_REPO=https://x-access-token:tok3n@example.com/a/b.git", "SHIP_TEST_KEEP=kept")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); waitCmd(cmd, 10*time.Second) })
	waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))
	data, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"hush-hush-secret", "BEGIN KEY", "tok3n", "WEBHOOK_SECRET", "GIT_REPO"} {
		if strings.Contains(string(data), secret) {
			t.Errorf("the app's environment holds %q", secret)
		}
	}
	if !strings.Contains(string(data), "SHIP_TEST_KEEP=kept") {
		t.Errorf("the app lost the rest of the environment:\n%s", data)
	}
}
