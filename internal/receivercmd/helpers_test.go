package receivercmd

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/supervise"
	"github.com/shipdeploy/ship/internal/testenv"
)

var lfs = release.LocalFS{}

// bins are the programs the tests run as separate processes: the test app,
// the load generator, and the receiver itself (built once per test binary).
var bins struct {
	slowapp, loadgen, receive string
}

func TestMain(m *testing.M) { testenv.Main(m) }

func build(t *testing.T) {
	t.Helper()
	bins.slowapp = testenv.Program(t, "./examples/slowapp")
	bins.loadgen = testenv.Program(t, "./bench/downtime/loadgen")
	bins.receive = testenv.Program(t, "./cmd/receiver")
}

// appRoot makes an APP_ROOT with one finished release per conf (releases
// 1, 2, …; conf is slowapp.conf's text) and current on release 1.
func appRoot(t *testing.T, confs ...string) release.Layout {
	t.Helper()
	l := release.Layout{Root: t.TempDir()}
	for i, conf := range confs {
		n := i + 1
		if err := os.MkdirAll(filepath.Join(l.Dir(n), ".ship"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(l.Dir(n), "slowapp.conf"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := release.WriteJSON(lfs, l.InfoFile(n), release.Info{Number: n, BuiltAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	swap(t, l, 1)
	return l
}

func swap(t *testing.T, l release.Layout, n int) {
	t.Helper()
	if err := release.SwapCurrent(lfs, l, n); err != nil {
		t.Fatal(err)
	}
}

// deploy does what ship does: swap current, then write RELOAD.
func deploy(t *testing.T, l release.Layout, n int, id string) {
	t.Helper()
	swap(t, l, n)
	if err := release.WriteReload(lfs, l, release.ReloadRequest{ID: id, Release: n}); err != nil {
		t.Fatal(err)
	}
}

// testOptions are a receiver's options for a test: the slowapp as the app,
// a loopback port, short timeouts and a quick poll.
func testOptions(t *testing.T, l release.Layout) *options {
	t.Helper()
	build(t)
	appOut := &testWriter{t: t, prefix: "app: "}
	logOut := &testWriter{t: t, prefix: "receiver: "}
	t.Cleanup(func() { appOut.close(); logOut.close() }) // runs after the receiver stopped
	return &options{
		Root:         l.Root,
		Listen:       "127.0.0.1:0",
		Start:        "exec " + bins.slowapp,
		Mode:         modeProxy,
		StartTimeout: 10 * time.Second,
		DrainTimeout: 10 * time.Second,
		StopTimeout:  5 * time.Second,
		LogFormat:    "text",
		Stdout:       appOut,
		LogTo:        logOut,
		PollEvery:    500 * time.Millisecond,
		Heartbeat:    200 * time.Millisecond,
		Backoff:      supervise.Backoff{Min: 50 * time.Millisecond, Max: 400 * time.Millisecond, StableAfter: 5 * time.Second},
	}
}

// running is a receiver started in this test process.
type running struct {
	l    release.Layout
	addr string // public address (proxy mode)
	stop func() // ends it and checks it returned nil
}

func startReceiver(t *testing.T, opts *options) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runReceiver(ctx, opts) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("receiver returned %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("receiver did not stop")
			}
		})
	}
	t.Cleanup(stop)
	l := release.Layout{Root: opts.Root}
	st := waitState(t, l, 10*time.Second, "the receiver to start", func(s *release.State) bool { return s.PID != 0 })
	return &running{l: l, addr: st.Listen, stop: stop}
}

// waitState polls state.json until cond holds and returns that state.
func waitState(t *testing.T, l release.Layout, d time.Duration, what string, cond func(*release.State) bool) *release.State {
	t.Helper()
	deadline := time.Now().Add(d)
	var last *release.State
	for {
		st, err := release.ReadState(lfs, l)
		if err == nil && st != nil {
			last = st
			if cond(st) {
				return st
			}
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(last, "", "  ")
			t.Fatalf("timed out after %s waiting for %s; state: %s", d, what, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func servingRelease(n int) func(*release.State) bool {
	return func(s *release.State) bool { return s.Serving != nil && s.Serving.Release == n }
}

func reloadDone(id string) func(*release.State) bool {
	return func(s *release.State) bool { return s.LastReload != nil && s.LastReload.ID == id }
}

// get returns the body of GET url, trimmed.
func get(t *testing.T, url string) (string, http.Header) {
	t.Helper()
	code, h, body := testenv.Get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %q", url, code, body)
	}
	return strings.TrimSpace(body), h
}

// startLoad is real HTTP load from another process (testenv.StartLoad),
// as fast as the answers come.
func startLoad(t *testing.T, url string, keepalive, fresh int) *testenv.Load {
	t.Helper()
	return testenv.StartLoad(t, url, keepalive, fresh, 0)
}

// gone reports whether pid no longer exists (or is a zombie).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return true
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// logEntries reads .ship/log.jsonl.
func logEntries(t *testing.T, l release.Layout) []release.LogEntry {
	t.Helper()
	data, err := os.ReadFile(l.Log())
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []release.LogEntry
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e release.LogEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

// testWriter sends whole lines to t.Log, and nothing after the test ended.
type testWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	done   bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
			w.t.Log(w.prefix + line)
		}
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
