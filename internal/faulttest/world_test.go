package faulttest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/testenv"
)

// The app root's tmpfs: small enough to fill in a moment, large enough for
// a few releases of the example app (about 4 MB and 900 files with its
// node_modules) and the mirror.
const (
	tmpfsSize   = 48 << 20
	tmpfsInodes = 6000
)

// appStartDelay is how long the example app takes to listen (ms).
const appStartDelay = 250

// world is the one host every trial deploys to: an app root (a tmpfs when
// the tests run as root), reached locally or over SSH through a cutter,
// served by a real receiver.
type world struct {
	root   string
	layout release.Layout
	tmpfs  bool

	sshd       *testenv.SSHD
	cut        *testenv.Cutter
	target     string // user@CUTTER: every SSH deploy goes through the cutter
	knownHosts string

	repo     string
	version  int
	ship     string // the ship binary
	receiver *receiverProc
	listen   string

	// current is sampled all along: it must never be missing.
	samples, missing atomic.Int64
	stopSampling     chan struct{}
}

func newWorld(t *testing.T) *world {
	t.Helper()
	testenv.Bun(t)
	testenv.Git(t)
	w := &world{repo: testenv.AppRepo(t)}
	w.ship = testenv.Program(t, "./cmd/ship")
	w.receiver = &receiverProc{bin: testenv.Program(t, "./cmd/receiver"), log: filepath.Join(t.TempDir(), "receiver.log")}
	w.root = filepath.Join(t.TempDir(), "app")
	if err := os.MkdirAll(w.root, 0o755); err != nil {
		t.Fatal(err)
	}
	w.layout = release.Layout{Root: w.root}
	w.tmpfs = mountTmpfs(t, w.root)
	w.sshd = testenv.StartSSHD(t)
	w.cut = testenv.NewCutter(t, w.sshd.Addr)
	w.target, w.knownHosts = throughCutter(t, w.sshd, w.cut)
	w.listen = freeAddr(t)
	w.receiver.args = []string{"--create", "--root", w.root, "--listen", w.listen, "--health-path", "/healthz",
		"--start-timeout", "15s", "--drain-timeout", "5s", "--stop-timeout", "3s"}
	t.Cleanup(func() {
		w.receiver.stop()
		if t.Failed() {
			t.Logf("receiver log (last lines):\n%s", tailFile(w.receiver.log, 60))
		}
	})

	w.commit(t)
	r := w.start(t, "deploy", "local", "--path", w.root, "--repo", w.repo)
	if code, ok := r.wait(3 * time.Minute); !ok || code != 0 {
		t.Fatalf("first deploy: exit %d (ended: %v)\n%s", code, ok, r.out.String())
	}
	if err := w.receiver.start(w.layout); err != nil {
		t.Fatal(err)
	}
	w.stopSampling = make(chan struct{})
	go w.sample()
	t.Cleanup(func() { close(w.stopSampling) })
	return w
}

// commit makes a new version of the app: each release then says which it is.
func (w *world) commit(t *testing.T) {
	w.version++
	testenv.CommitVersion(t, w.repo, "f"+strconv.Itoa(w.version))
}

// sample reads current every 2 ms: it must never be missing (it is
// replaced by rename, never removed).
func (w *world) sample() {
	for {
		select {
		case <-w.stopSampling:
			return
		case <-time.After(2 * time.Millisecond):
		}
		w.samples.Add(1)
		if _, err := os.Readlink(w.layout.Current()); err != nil {
			w.missing.Add(1)
		}
	}
}

// url is the receiver's public address.
func (w *world) url() string { return "http://" + w.listen + "/" }

// serves is the release number the receiver's app answers with, or 0.
func (w *world) serves() (int, string) {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(w.url())
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var n int
	var v string
	if _, err := fmt.Sscanf(string(body), "hello from release %d (%s", &n, &v); err != nil {
		return 0, strings.TrimSpace(string(body))
	}
	return n, strings.TrimSpace(string(body))
}

// throughCutter is the SSH target that goes through cut, and a known_hosts
// file that knows the server under the cutter's port.
func throughCutter(t *testing.T, s *testenv.SSHD, cut *testenv.Cutter) (target, knownHosts string) {
	t.Helper()
	line, err := os.ReadFile(s.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(cut.Addr(), ":")
	extra := strings.Replace(string(line), "]:"+strconv.Itoa(s.Port)+" ", "]:"+port+" ", 1)
	knownHosts = filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(string(line)+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	return s.User + "@" + cut.Addr(), knownHosts
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// mountTmpfs mounts a small tmpfs on dir for the test, when the tests run
// as root; it reports whether it did.
func mountTmpfs(t *testing.T, dir string) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return false
	}
	opts := fmt.Sprintf("size=%d,nr_inodes=%d,mode=755", tmpfsSize, tmpfsInodes)
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		t.Logf("cannot mount a tmpfs on the app root (%v): the disk trials are skipped", err)
		return false
	}
	t.Cleanup(func() {
		for range 50 {
			if err := syscall.Unmount(dir, 0); err == nil || errors.Is(err, syscall.EINVAL) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		// Something still has a file open there: detach it, the kernel
		// frees it when the last user goes.
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount the tmpfs on %s: %v", dir, err)
		}
	})
	return true
}

// receiverProc is the receiver, which trials kill and start again on the
// same address.
type receiverProc struct {
	bin, log string
	args     []string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// start runs the receiver and waits until it serves what current names
// (or is up, when nothing is deployed).
func (r *receiverProc) start(l release.Layout) error {
	logf, err := os.OpenFile(r.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(r.bin, r.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The example app takes a moment to listen, as real apps do: faults
	// then find the stage stage under way, not over already.
	cmd.Env = append(os.Environ(), "PATH=/usr/local/bin:"+os.Getenv("PATH"), "START_DELAY_MS="+strconv.Itoa(appStartDelay))
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start the receiver: %w", err)
	}
	r.cmd, r.exited = cmd, make(chan struct{})
	exited := r.exited
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st, _ := release.ReadState(release.LocalFS{}, l)
		_, cerr := os.Lstat(l.Current())
		if st != nil && st.PID == cmd.Process.Pid && st.Alive(time.Now()) && (cerr != nil || st.Serving != nil) {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("the receiver exited at start:\n%s", tailFile(r.log, 30))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("the receiver did not come up within 30s:\n%s", tailFile(r.log, 30))
}

// kill SIGKILLs the receiver (its guard then stops the app).
func (r *receiverProc) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.exited
	r.cmd = nil
}

// stop stops the receiver as its service manager would.
func (r *receiverProc) stop() {
	if r.cmd == nil {
		return
	}
	testenv.StopGently(r.cmd.Process, r.exited, 15*time.Second)
	r.cmd = nil
}

func tailFile(name string, n int) string {
	data, err := os.ReadFile(name)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
