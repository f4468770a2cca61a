package shipcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/testenv"
)

// world is one test's server, app repository and APP_ROOT.
type world struct {
	t    *testing.T
	sshd *testenv.SSHD
	repo string
	root string
	env  map[string]string
	wd   string // where ship runs ("": the test's own folder)
}

func newWorld(t *testing.T) *world {
	t.Helper()
	testenv.Bun(t)
	w := &world{t: t, sshd: testenv.StartSSHD(t), repo: testenv.AppRepo(t)}
	w.root = filepath.Join(t.TempDir(), "srv", "app")
	w.env = map[string]string{"HOME": os.Getenv("HOME"), "USER": w.sshd.User}
	return w
}

// ship runs the ship command line against the test server and returns its
// exit code and combined output. "TARGET" in args is the server.
func (w *world) ship(args ...string) (int, string) {
	w.t.Helper()
	return w.shipCtx(context.Background(), args...)
}

func (w *world) shipCtx(ctx context.Context, args ...string) (int, string) {
	w.t.Helper()
	var out bytes.Buffer
	full := []string{}
	for _, a := range args {
		full = append(full, strings.ReplaceAll(a, "TARGET", w.sshd.Target()))
	}
	// The key and known hosts come from the environment, as in CI: a
	// command that does not connect (trigger) takes no SSH flags. A test's
	// own --known-hosts flag wins.
	env := map[string]string{"SHIP_SSH_KEY_FILE": w.sshd.KeyFile, "SHIP_KNOWN_HOSTS_FILE": w.sshd.KnownHostsFile}
	a := &app{stdout: &out, stderr: &out, wd: w.wd, getenv: func(k string) string {
		if v, ok := w.env[k]; ok {
			return v
		}
		return env[k]
	}}
	code := a.run(ctx, full)
	return code, out.String()
}

func (w *world) deploy(extra ...string) (int, string) {
	w.t.Helper()
	args := append([]string{"deploy", "TARGET", "--path", w.root, "--repo", w.repo}, extra...)
	return w.ship(args...)
}

func (w *world) current() string {
	w.t.Helper()
	link, err := os.Readlink(filepath.Join(w.root, "current"))
	if err != nil {
		w.t.Fatalf("read current: %v", err)
	}
	return link
}

func (w *world) releaseDirs() []string {
	w.t.Helper()
	entries, err := os.ReadDir(filepath.Join(w.root, "releases"))
	if err != nil {
		w.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

func (w *world) lockFree() bool {
	_, err := os.Lstat(filepath.Join(w.root, ".ship", "lock"))
	return os.IsNotExist(err)
}

func TestDeployKeepAndRollback(t *testing.T) {
	w := newWorld(t)
	commits := map[int]string{}
	for i := 1; i <= 6; i++ {
		commits[i] = testenv.CommitVersion(t, w.repo, fmt.Sprintf("r%d", i))
		code, out := w.deploy()
		if code != 0 {
			t.Fatalf("deploy %d: exit %d\n%s", i, code, out)
		}
		if !strings.Contains(out, "is on release") {
			t.Errorf("deploy %d output lacks the summary:\n%s", i, out)
		}
	}
	if got, want := strings.Join(w.releaseDirs(), " "), "3 4 5 6"; got != want {
		t.Errorf("releases kept = %q, want %q", got, want)
	}
	if got := w.current(); got != "releases/6" {
		t.Errorf("current -> %q, want releases/6 (relative)", got)
	}
	for n := 3; n <= 6; n++ {
		data, err := os.ReadFile(filepath.Join(w.root, "releases", string(rune('0'+n)), ".ship", "release.json"))
		if err != nil {
			t.Fatalf("release %d: %v", n, err)
		}
		var info release.Info
		if err := json.Unmarshal(data, &info); err != nil {
			t.Fatalf("release %d: %v\n%s", n, err, data)
		}
		if info.Number != n || info.Commit != commits[n] || info.Ref != "main" || info.BuiltAt.IsZero() {
			t.Errorf("release %d info = %+v, want commit %s", n, info, commits[n])
		}
		if _, err := os.Stat(filepath.Join(w.root, "releases", string(rune('0'+n)), "dist", "index.js")); err != nil {
			t.Errorf("release %d was not built: %v", n, err)
		}
	}
	if !w.lockFree() {
		t.Error("lock left behind")
	}

	code, out := w.ship("rollback", "TARGET", "--path", w.root)
	if code != 0 {
		t.Fatalf("rollback: exit %d\n%s", code, out)
	}
	// A rollback counts its own stages: nothing is built or removed.
	for _, want := range []string{"[1/3] lock", "[2/3] stage", "[3/3] switch"} {
		if !strings.Contains(out, want) {
			t.Errorf("rollback output lacks %q:\n%s", want, out)
		}
	}
	if got := w.current(); got != "releases/5" {
		t.Errorf("after rollback current -> %q, want releases/5", got)
	}
	if code, out := w.ship("rollback", "TARGET", "3", "--path", w.root); code != 0 {
		t.Fatalf("rollback 3: exit %d\n%s", code, out)
	}
	if got := w.current(); got != "releases/3" {
		t.Errorf("after rollback 3 current -> %q, want releases/3", got)
	}

	code, out = w.ship("releases", "TARGET", "--path", w.root, "--json")
	if code != 0 {
		t.Fatalf("releases: %d\n%s", code, out)
	}
	var views []releaseView
	if err := json.Unmarshal([]byte(out), &views); err != nil {
		t.Fatalf("releases --json: %v\n%s", err, out)
	}
	if len(views) != 4 || views[0].Number != 6 || !views[3].Current || views[3].Number != 3 {
		t.Errorf("releases --json = %+v", views)
	}
	logData, _ := os.ReadFile(filepath.Join(w.root, ".ship", "log.jsonl"))
	if n := strings.Count(string(logData), `"kind":"deploy"`); n != 6 {
		t.Errorf("log.jsonl has %d deploy lines, want 6:\n%s", n, logData)
	}
}

func TestFailingBuildChangesNothing(t *testing.T) {
	w := newWorld(t)
	if code, out := w.deploy(); code != 0 {
		t.Fatalf("first deploy: %d\n%s", code, out)
	}
	// Break the app: an import that does not resolve.
	bad := filepath.Join(w.repo, "src", "index.ts")
	src, _ := os.ReadFile(bad)
	os.WriteFile(bad, append([]byte("import \"./missing\";\n"), src...), 0o644)
	testenv.GitRun(t, w.repo, "commit", "-qam", "broken")

	code, out := w.deploy()
	if code == 0 {
		t.Fatalf("broken build deployed:\n%s", out)
	}
	for _, want := range []string{"build", "failed", "missing", "current is release 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if got := w.current(); got != "releases/1" {
		t.Errorf("current -> %q after failed build", got)
	}
	if !w.lockFree() {
		t.Error("lock left behind after a failed build")
	}
	if code, out := w.ship("rollback", "TARGET", "2", "--path", w.root); code == 0 {
		t.Errorf("rollback to the failed release succeeded:\n%s", out)
	}
	// The next good deploy sweeps the failed folder.
	testenv.GitRun(t, w.repo, "revert", "--no-edit", "HEAD")
	if code, out := w.deploy(); code != 0 {
		t.Fatalf("deploy after fix: %d\n%s", code, out)
	}
	if got := strings.Join(w.releaseDirs(), " "); got != "1 3" {
		t.Errorf("releases = %q, want the failed 2 swept", got)
	}
}

func TestConcurrentDeploysOneWins(t *testing.T) {
	w := newWorld(t)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	outs := make([]string, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], outs[i] = w.deploy("--build", "sleep 2 && bun run build")
		}()
	}
	wg.Wait()
	ok, locked := 0, 0
	for i := range 2 {
		switch {
		case codes[i] == 0:
			ok++
		case codes[i] == exitLocked && strings.Contains(outs[i], "locked by another deploy") && strings.Contains(outs[i], "held by"):
			locked++
		default:
			t.Errorf("deploy %d: exit %d\n%s", i, codes[i], outs[i])
		}
	}
	if ok != 1 || locked != 1 {
		t.Errorf("ok=%d locked=%d, want 1 and 1\n%s\n---\n%s", ok, locked, outs[0], outs[1])
	}
	if !w.lockFree() {
		t.Error("lock left behind")
	}
}

func TestConnectionCutMidBuild(t *testing.T) {
	w := newWorld(t)
	cutter := testenv.NewCutter(t, w.sshd.Addr)
	viaCutter := strings.Replace(w.sshd.Target(), w.sshd.Addr, cutter.Addr(), 1)
	// The known_hosts names the sshd's port; the cutter's port needs a line too.
	kh := filepath.Join(t.TempDir(), "known_hosts")
	line, _ := os.ReadFile(w.sshd.KnownHostsFile)
	_, port, _ := strings.Cut(cutter.Addr(), ":")
	extra := strings.Replace(string(line), "]:"+portOf(w.sshd.Addr), "]:"+port, 1)
	os.WriteFile(kh, []byte(string(line)+extra), 0o600)

	done := make(chan struct{})
	var code int
	var out string
	go func() {
		defer close(done)
		code, out = w.ship("deploy", viaCutter, "--path", w.root, "--repo", w.repo,
			"--build", "touch building && sleep 20 && bun run build", "--known-hosts", kh)
	}()
	waitFor(t, 20*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(w.root, "releases", "*", "building"))
		return len(m) > 0
	})
	cutter.Cut()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		t.Fatal("deploy did not end after the connection was cut")
	}
	if code == 0 {
		t.Fatalf("deploy succeeded through a cut connection:\n%s", out)
	}
	// The server notices ship is gone, stops the build and frees the lock.
	waitFor(t, 15*time.Second, w.lockFree)
	if code, out := w.deploy(); code != 0 {
		t.Fatalf("deploy after the cut: %d\n%s", code, out)
	}
	if got := strings.Join(w.releaseDirs(), " "); got != "2" && got != "3" {
		t.Errorf("releases = %q, want the partial release 1 swept", got)
	}
	if got := w.current(); got != "releases/2" {
		t.Errorf("current -> %q", got)
	}
}

func TestHostileValuesAreNeverRun(t *testing.T) {
	w := newWorld(t)
	marker := filepath.Join(t.TempDir(), "pwned")
	payloads := []string{
		"$(touch " + marker + ")",
		"`touch " + marker + "`",
		"main; touch " + marker,
		"main' ; touch " + marker + " ; echo '",
		"main\" && touch " + marker + " && \"",
	}
	for _, p := range payloads {
		cases := [][]string{
			{"--ref", p},
			{"--path", filepath.Join(w.root, p)},
		}
		for _, extra := range cases {
			args := append([]string{"deploy", "TARGET", "--repo", w.repo, "--path", w.root, "--wait", "0"}, extra...)
			w.ship(args...)
		}
		w.ship("deploy", "TARGET", "--path", w.root, "--repo", w.repo+" "+p)
		w.ship("deploy", "TARGET", "--path", w.root, "--repo", p)
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("payload %q ran a command", p)
		}
	}
	// A path with spaces and quotes is used literally.
	odd := filepath.Join(t.TempDir(), "it's a \"path\" $(x)")
	code, out := w.ship("deploy", "TARGET", "--path", odd, "--repo", w.repo)
	if code != 0 {
		t.Fatalf("deploy to an odd path: %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(odd, "current", "dist", "index.js")); err != nil {
		t.Errorf("odd path not used literally: %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a payload ran a command")
	}
}

func TestUnknownHostKeyRefused(t *testing.T) {
	w := newWorld(t)
	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o600)
	code, out := w.ship("deploy", "TARGET", "--path", w.root, "--repo", w.repo, "--known-hosts", empty)
	if code == 0 {
		t.Fatalf("deploy to an unknown host succeeded:\n%s", out)
	}
	if !strings.Contains(out, w.sshd.HostKeyFingerprint) {
		t.Errorf("message lacks the offered fingerprint %s:\n%s", w.sshd.HostKeyFingerprint, out)
	}
	if _, err := os.Lstat(w.root); err == nil {
		t.Error("something was created on an unverified host")
	}
}

func portOf(addr string) string {
	_, p, _ := strings.Cut(addr, ":")
	return p
}

// waitFor is testenv.WaitFor for the conditions these tests name in code.
func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, limit, "the condition", cond)
}

// Ctrl-C (SIGINT) during a build: ship stops the deploy, says so, exits
// 130; the host records "interrupted", frees the lock, changes nothing.
func TestInterruptedDeploy(t *testing.T) {
	w := newWorld(t)
	if code, out := w.deploy(); code != 0 {
		t.Fatalf("first deploy: %d\n%s", code, out)
	}
	cmd := exec.Command(testenv.Program(t, "./cmd/ship"), "deploy", w.sshd.Target(), "--path", w.root, "--repo", w.repo,
		"--build", "touch building && sleep 30", "--key", w.sshd.KeyFile, "--known-hosts", w.sshd.KnownHostsFile)
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(w.root, "releases", "*", "building"))
		return len(m) > 0
	})
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("ship: %v, want exit %d\n%s", err, exitInterrupted, out.String())
	}
	if !strings.Contains(out.String(), "interrupted before any host switched") {
		t.Errorf("output:\n%s", out.String())
	}
	if got := w.current(); got != "releases/1" {
		t.Errorf("current -> %q", got)
	}
	waitFor(t, 10*time.Second, w.lockFree)
	logData, _ := os.ReadFile(filepath.Join(w.root, ".ship", "log.jsonl"))
	lines := strings.Split(strings.TrimSpace(string(logData)), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, `"result":"interrupted"`) {
		t.Errorf("the audit line says %s, want interrupted", last)
	}
}

// A repository whose tree tries to reach outside the release: a committed
// symlink as the parent of a shared entry, a committed .ship that points at
// the app root, and a committed .ship/release.json. The release's .ship/
// belongs to ship; nothing outside the release is touched; a failed build
// is never a finished release.
func TestHostileRepositoryContents(t *testing.T) {
	w := newWorld(t)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "app.json"), []byte("outside, untouched"), 0o644)
	os.Symlink(outside, filepath.Join(w.repo, "config"))
	os.Symlink("../..", filepath.Join(w.repo, ".shipx"))
	testenv.GitRun(t, w.repo, "add", "-A")
	testenv.GitRun(t, w.repo, "commit", "-qm", "hostile links")
	shared := filepath.Join(w.root, "shared", "config")
	os.MkdirAll(shared, 0o755)
	os.WriteFile(filepath.Join(shared, "app.json"), []byte("{}"), 0o644)
	if code, out := w.deploy("--shared", "config/app.json"); code != 0 {
		t.Fatalf("deploy: %d\n%s", code, out)
	}
	if data, _ := os.ReadFile(filepath.Join(outside, "app.json")); string(data) != "outside, untouched" {
		t.Errorf("the shared stage wrote through the committed link: %q", data)
	}
	if fi, err := os.Lstat(filepath.Join(w.root, "releases", "1", "config")); err != nil || fi.Mode()&os.ModeSymlink != 0 {
		t.Errorf("config in the release is still the committed link (%v)", err)
	}
	// .ship as a link to the app root, and a release.json of its own.
	os.Rename(filepath.Join(w.repo, ".shipx"), filepath.Join(w.repo, ".ship"))
	testenv.GitRun(t, w.repo, "add", "-A")
	testenv.GitRun(t, w.repo, "commit", "-qm", ".ship -> ../..")
	if code, out := w.deploy(); code != 0 {
		t.Fatalf("deploy with a committed .ship link: %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(w.root, "release.json")); err == nil {
		t.Error("release.json was written through the committed .ship link, into the app root")
	}
	os.Remove(filepath.Join(w.repo, ".ship"))
	os.MkdirAll(filepath.Join(w.repo, ".ship"), 0o755)
	os.WriteFile(filepath.Join(w.repo, ".ship", "release.json"), []byte(`{"number":3}`), 0o644)
	testenv.GitRun(t, w.repo, "add", "-A")
	testenv.GitRun(t, w.repo, "commit", "-qm", "a release.json of its own")
	if code, out := w.deploy("--build", "exit 1"); code == 0 {
		t.Fatalf("a failing build deployed:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(w.root, "releases", "3", ".ship", "release.json")); err == nil {
		t.Error("the failed release 3 counts as finished: the committed release.json survived")
	}
}
