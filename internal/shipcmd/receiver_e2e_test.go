package shipcmd

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// startReceiver runs the receiver on w.root in front of the deployed app,
// with env added to its environment.
func (w *world) startReceiver(env ...string) string {
	w.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		w.t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// --create, as the container image passes: a webhook-only first boot
	// finds no root yet.
	cmd := exec.Command(testenv.Program(w.t, "./cmd/receiver"), "--create", "--root", w.root, "--listen", addr, "--health-path", "/healthz",
		"--start-timeout", "15s", "--drain-timeout", "5s", "--stop-timeout", "3s")
	logFile, _ := os.Create(filepath.Join(w.t.TempDir(), "receiver.log"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(append(os.Environ(), "PATH=/usr/local/bin:"+os.Getenv("PATH")), env...)
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		if w.t.Failed() {
			data, _ := os.ReadFile(logFile.Name())
			w.t.Logf("receiver log:\n%s", data)
		}
	})
	waitFor(w.t, 30*time.Second, func() bool {
		st, _ := release.ReadState(release.LocalFS{}, release.Layout{Root: w.root})
		return st.Alive(time.Now()) && st.Serving != nil
	})
	return "http://" + addr + "/"
}

func get(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(body), fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(body), nil
}

// TestDeployThroughReceiver is the whole loop: ship deploys, the receiver
// switches with no failed request; a release that cannot start is refused,
// ship switches current back and exits non-zero, the old one keeps serving.
func TestDeployThroughReceiver(t *testing.T) {
	w := newWorld(t)
	testenv.CommitVersion(t, w.repo, "one")
	if code, out := w.deploy(); code != 0 {
		t.Fatalf("first deploy: %d\n%s", code, out)
	}
	url := w.startReceiver()
	if body, err := get(url); err != nil || !strings.Contains(body, "(one)") {
		t.Fatalf("before: %q %v", body, err)
	}

	// Requests keep coming during both deploys.
	var sent, failed atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				sent.Add(1)
				if _, err := get(url); err != nil {
					failed.Add(1)
					lastErr.Store(err.Error())
				}
			}
		}()
	}

	testenv.CommitVersion(t, w.repo, "two")
	code, out := w.deploy()
	if code != 0 {
		t.Fatalf("deploy two: %d\n%s", code, out)
	}
	t.Logf("deploy two:\n%s", out)
	if !strings.Contains(out, "healthy after") {
		t.Errorf("deploy did not report the receiver's answer:\n%s", out)
	}
	if body, _ := get(url); !strings.Contains(body, "(two)") {
		t.Errorf("after deploy two the app says %q", body)
	}

	// A release that builds but crashes at start.
	index := filepath.Join(w.repo, "src", "index.ts")
	src, _ := os.ReadFile(index)
	os.WriteFile(index, append([]byte("if (process.env.PORT) throw new Error(\"boom at start\");\n"), src...), 0o644)
	testenv.GitRun(t, w.repo, "commit", "-qam", "crash at start")
	code, out = w.deploy()
	close(stop)
	wg.Wait()
	if code == 0 {
		t.Fatalf("a release that cannot start was deployed:\n%s", out)
	}
	for _, want := range []string{"never took traffic", "release 2 kept serving", "boom at start"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if got := w.current(); got != "releases/2" {
		t.Errorf("current -> %q after the refused release, want releases/2", got)
	}
	if body, _ := get(url); !strings.Contains(body, "(two)") {
		t.Errorf("after the refused release the app says %q", body)
	}
	if _, err := os.Stat(filepath.Join(w.root, "releases", "3", ".ship", "bad.json")); err != nil {
		t.Errorf("release 3 not marked bad: %v", err)
	}
	if !w.lockFree() {
		t.Error("lock left behind")
	}
	t.Logf("%d requests during the deploys, %d failed", sent.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed during the deploys; last: %v", failed.Load(), sent.Load(), lastErr.Load())
	}

	// The bad release is never a rollback target; rollback goes to 1.
	if code, out := w.ship("rollback", "TARGET", "3", "--path", w.root); code == 0 {
		t.Errorf("rolled back to the bad release:\n%s", out)
	}
	if code, out := w.ship("rollback", "TARGET", "--path", w.root); code != 0 || !strings.Contains(out, "healthy after") {
		t.Errorf("rollback: %d\n%s", code, out)
	}
	if body, _ := get(url); !strings.Contains(body, "(one)") {
		t.Errorf("after the rollback the app says %q", body)
	}
	_, out = w.ship("releases", "TARGET", "--path", w.root)
	if !strings.Contains(out, "bad: ") || !strings.Contains(out, "current · serving") {
		t.Errorf("releases does not show the marks:\n%s", out)
	}
	_, out = w.ship("status", "TARGET", "--path", w.root)
	if !strings.Contains(out, "receiver  up") || !strings.Contains(out, "serving   release 1") {
		t.Errorf("status:\n%s", out)
	}
	_, out = w.ship("logs", "TARGET", "--path", w.root, "-n", "200")
	if !strings.Contains(out, "boom at start") {
		t.Errorf("ship logs lacks the crash:\n%s", out)
	}
}

// TestWebhookThroughReceiver: a container's first boot deploys the branch,
// then a signed push (sent by ship trigger) deploys exactly its commit.
func TestWebhookThroughReceiver(t *testing.T) {
	w := newWorld(t)
	testenv.CommitVersion(t, w.repo, "boot")
	url := w.startReceiver("WEBHOOK_SECRET=s3cret-for-test", "GIT_REPO="+w.repo, "BRANCH=main",
		`RELEASE_COMMAND=echo migrated ${PWD##*/} >>../../shared/migrations`)
	if body, err := get(url); err != nil || !strings.Contains(body, "(boot)") {
		t.Fatalf("first start serves %q, %v", body, err)
	}
	pushed := testenv.CommitVersion(t, w.repo, "pushed")
	testenv.CommitVersion(t, w.repo, "later") // the branch moves on after the push
	w.env["WEBHOOK_SECRET"] = "s3cret-for-test"
	code, out := w.ship("trigger", url+"deploy", "--commit", pushed, "--ref", "main", "--remote", w.repo)
	if code != 0 {
		t.Fatalf("trigger: %d\n%s", code, out)
	}
	if strings.Contains(out, "s3cret-for-test") {
		t.Errorf("trigger printed the secret:\n%s", out)
	}
	waitFor(t, 60*time.Second, func() bool {
		body, _ := get(url)
		return strings.Contains(body, "(pushed)")
	})
	info, err := os.ReadFile(filepath.Join(w.root, "releases", "2", ".ship", "release.json"))
	if err != nil || !strings.Contains(string(info), pushed) || !strings.Contains(string(info), `"ref":"main"`) {
		t.Errorf("release 2 = %s, %v; want commit %s on main", info, err, pushed)
	}
	// The receiver's release command ran for both pull deploys, once each.
	if got, _ := os.ReadFile(filepath.Join(w.root, "shared", "migrations")); string(got) != "migrated 1\nmigrated 2\n" {
		t.Errorf("the release command's lines %q, want one per pull deploy", got)
	}
	// An unsigned request deploys nothing.
	resp, err := http.Post(url+"deploy", "application/json", strings.NewReader(`{"ref":"refs/heads/main"}`))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("unsigned request answered %d", resp.StatusCode)
		}
	}
	logData, _ := os.ReadFile(filepath.Join(w.root, ".ship", "log.jsonl"))
	if !strings.Contains(string(logData), `"kind":"webhook"`) || strings.Contains(string(logData), "s3cret-for-test") {
		t.Errorf("log.jsonl:\n%s", logData)
	}
}
