package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/release"
)

// Fleet is several test hosts on this machine. Each host is a folder of its
// own mounted at the same path (AppPath) in mount namespaces of its own,
// with its own sshd and receiver: one app path on many "machines", as a
// real fleet has. Its processes (sshd's sessions, the receiver's app) see
// that host's folder at AppPath; the test reads it at Host.Dir.
type Fleet struct {
	AppPath        string
	Hosts          []*FleetHost
	KeyFile        string // the client key every host accepts
	KnownHostsFile string // every host's keys
}

// FleetHost is one host of a Fleet.
type FleetHost struct {
	Name   string // h1, h2, …
	Dir    string // the folder behind AppPath on this host
	SSHD   *SSHD
	Layout release.Layout // Dir's layout, for the test's own reads

	t        testing.TB
	app      string
	listen   string
	receiver *exec.Cmd
	exited   chan struct{}
	logFile  string
}

// FleetOption gives some hosts of a fleet more sshd options.
type FleetOption func(i int) []SSHDOption

// HostOptions gives host i (from 0) the sshd options opts.
func HostOptions(i int, opts ...SSHDOption) FleetOption {
	return func(j int) []SSHDOption {
		if j != i {
			return nil
		}
		return opts
	}
}

// StartFleet starts n hosts. It needs root (for mount namespaces) and
// skips, or fails in strict mode, without it.
func StartFleet(t testing.TB, n int, fopts ...FleetOption) *Fleet {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "a test fleet needs root for its mount namespaces (CI runs as root)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		SkipOrFail(t, "unshare is not installed (util-linux): run scripts/setup")
	}
	base := t.TempDir()
	f := &Fleet{AppPath: filepath.Join(base, "srv", "app")}
	if err := os.MkdirAll(f.AppPath, 0o755); err != nil {
		t.Fatal(err)
	}
	var known strings.Builder
	for i := 1; i <= n; i++ {
		h := &FleetHost{Name: fmt.Sprintf("h%d", i), Dir: filepath.Join(base, fmt.Sprintf("h%d", i)), t: t, app: f.AppPath}
		if err := os.MkdirAll(h.Dir, 0o755); err != nil {
			t.Fatal(err)
		}
		h.Layout = release.Layout{Root: h.Dir}
		opts := []SSHDOption{WithMount(h.Dir, f.AppPath)}
		for _, fo := range fopts {
			opts = append(opts, fo(i-1)...)
		}
		if f.KeyFile != "" {
			opts = append(opts, WithClientKey(f.KeyFile))
		}
		h.SSHD = StartSSHD(t, opts...)
		if f.KeyFile == "" {
			f.KeyFile = h.SSHD.KeyFile
		}
		data, err := os.ReadFile(h.SSHD.KnownHostsFile)
		if err != nil {
			t.Fatal(err)
		}
		known.Write(data)
		f.Hosts = append(f.Hosts, h)
	}
	f.KnownHostsFile = filepath.Join(base, "known_hosts")
	if err := os.WriteFile(f.KnownHostsFile, []byte(known.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// Targets are the hosts as ship names them: user@127.0.0.1:PORT.
func (f *Fleet) Targets() []string {
	var out []string
	for _, h := range f.Hosts {
		out = append(out, h.SSHD.Target())
	}
	return out
}

// StartReceiver runs the receiver (bin) on this host's folder, in front of
// the app, with args added to the test's defaults and env to its
// environment. It returns the receiver's public URL once it serves
// something, or at once when nothing is deployed yet.
func (h *FleetHost) StartReceiver(bin string, env []string, args ...string) string {
	h.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	h.listen = ln.Addr().String()
	ln.Close()
	full := append([]string{"--root", h.app, "--listen", h.listen, "--health-path", "/healthz",
		"--start-timeout", "15s", "--drain-timeout", "5s", "--stop-timeout", "3s"}, args...)
	cmd := InMount(h.Dir, h.app, bin, full...)
	h.logFile = filepath.Join(h.t.TempDir(), "receiver.log")
	logf, err := os.Create(h.logFile)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(append(os.Environ(), "PATH=/usr/local/bin:"+os.Getenv("PATH")), env...)
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.receiver, h.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(h.exited) }()
	h.t.Cleanup(h.StopReceiver)
	_, serr := os.Lstat(filepath.Join(h.Dir, "current"))
	h.waitState(30*time.Second, func(st *release.State) bool { return serr != nil || st.Serving != nil })
	return "http://" + h.listen + "/"
}

// URL is the receiver's public address.
func (h *FleetHost) URL() string { return "http://" + h.listen + "/" }

// StopReceiver stops the receiver (SIGTERM, then SIGKILL after 10s); when
// the test failed its log is printed.
func (h *FleetHost) StopReceiver() {
	if h.receiver == nil {
		return
	}
	StopGently(h.receiver.Process, h.exited, 10*time.Second)
	h.receiver = nil
	if h.t.Failed() {
		data, _ := os.ReadFile(h.logFile)
		h.t.Logf("receiver log of %s:\n%s", h.Name, data)
	}
}

// waitState waits until the receiver's state.json is fresh and ok says yes.
func (h *FleetHost) waitState(limit time.Duration, ok func(*release.State) bool) {
	h.t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		st, _ := release.ReadState(release.LocalFS{}, h.Layout)
		if st.Alive(time.Now()) && ok(st) {
			return
		}
		select {
		case <-h.exited:
			data, _ := os.ReadFile(h.logFile)
			h.t.Fatalf("the receiver of %s exited at start:\n%s", h.Name, data)
		case <-time.After(50 * time.Millisecond):
		}
	}
	h.t.Fatalf("the receiver of %s did not come up within %s", h.Name, limit)
}

// Current is where this host's current points ("" when it does not exist).
func (h *FleetHost) Current() string {
	link, _ := os.Readlink(filepath.Join(h.Dir, "current"))
	return link
}

// ReceiverPID is the receiver's pid (0 when none runs).
func (h *FleetHost) ReceiverPID() int {
	if h.receiver == nil {
		return 0
	}
	return h.receiver.Process.Pid
}

// StopGently stops p as a service manager would: SIGTERM, and SIGKILL if
// it has not exited (exited closed) after grace.
func StopGently(p *os.Process, exited <-chan struct{}, grace time.Duration) {
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = p.Kill()
		<-exited
	}
}
