package containertest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/remote"
	"github.com/shipdeploy/ship/internal/testenv"
)

const (
	image  = "localhost/ship-receiver:test"
	app    = "ship-app" // the container of the quick start
	secret = "webhook-secret-for-the-container-test"

	// firstServeBound is the bound this test states for a first start:
	// from `podman run` to the app's answer, with the deploy from GIT_REPO
	// (git, bun install from the npm registry, bun run build) in between.
	firstServeBound = 90 * time.Second
	// reloadBound bounds a deploy that the test cannot watch finish (the
	// webhook's): it must be serving the new version by then.
	reloadBound = 90 * time.Second
)

// TestContainer builds the image and runs it as the README's container
// quick start says, then deploys into it every way ship can.
func TestContainer(t *testing.T) {
	pm := testenv.StartPodman(t)
	testenv.Git(t)
	root := testenv.ModuleRoot(t)
	tm := newTimings()
	defer func() { t.Logf("timings:\n%s", tm) }()

	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := testenv.ParseDockerfile(string(data))
	if err != nil {
		t.Fatal(err)
	}
	makeStandIns(t, pm, d, tm)
	pm.Must("build", "--pull=never", "--format", "docker", "--tag", image, root)
	tm.mark("podman build (the Dockerfile)")
	if hc := pm.Must("image", "inspect", "--format", "{{json .HealthCheck}}", image); !strings.Contains(hc, `"receiver","health"`) {
		t.Errorf("the image has no HEALTHCHECK (%s): was it built with --format docker?", strings.TrimSpace(hc))
	}

	src := newSource(t)
	ship := testenv.Program(t, "./cmd/ship")
	tm.mark("go build ship, loadgen")

	url := runQuickStart(t, pm, src, tm)
	checkProcesses(t, pm)
	if out, err := pm.Run("healthcheck", "run", app); err != nil {
		t.Errorf("HEALTHCHECK fails while the app serves: %v\n%s", err, out)
	}

	sshd := testenv.StartSSHD(t, testenv.WithEnv(pm.Env...))
	// ship over SSH into the container; its flags go before a "--".
	sshShip := func(args ...string) (string, error) {
		i := slices.Index(args, "--")
		if i < 0 {
			i = len(args)
		}
		flags := []string{"--container", app, "--engine", "podman", "--key", sshd.KeyFile, "--known-hosts", sshd.KnownHostsFile}
		return run(t, src.work, nil, ship, slices.Concat(args[:i], flags, args[i:])...)
	}

	// Paced a little (2 ms between a client's requests): unpaced, the load
	// alone takes both cores, and the deploys crawl.
	load := testenv.StartLoad(t, url, 4, 1, 2*time.Millisecond)
	tm.mark("start load")

	// A deploy inside the container, as the seed's ./console did.
	src.push(t, "two")
	if out, err := pm.Run("exec", app, "ship", "deploy", "local", "--repo", "/repo.git"); err != nil || !strings.Contains(out, "is on release 2") {
		t.Fatalf("ship deploy local in the container: %v\n%s", err, out)
	}
	expect(t, url, "(two)")
	tm.mark("deploy inside (podman exec)")

	// A signed push, as GitHub would send it, deploys exactly its commit.
	commit := src.push(t, "three")
	if out, err := run(t, src.work, []string{"WEBHOOK_SECRET=" + secret}, ship, "trigger", url+"deploy",
		"--commit", commit, "--ref", "main", "--remote", src.bare); err != nil {
		t.Fatalf("ship trigger: %v\n%s", err, out)
	}
	waitServes(t, url, "(three)", reloadBound)
	tm.mark("webhook deploy (ship trigger)")

	// ship deploy HOST --container: the remote pipeline runs in the
	// container over the SSH connection.
	src.push(t, "four")
	if out, err := sshShip("deploy", sshd.Target(), "--repo", "/repo.git"); err != nil || !strings.Contains(out, "is on release 4") {
		t.Fatalf("ship deploy --container over SSH: %v\n%s", err, out)
	}
	expect(t, url, "(four)")
	tm.mark("deploy over SSH --container")
	testenv.CommitVersion(t, src.work, "five") // sent as files, not pushed
	if out, err := sshShip("deploy", sshd.Target(), "--upload", src.work); err != nil || !strings.Contains(out, "is on release 5") {
		t.Fatalf("ship deploy --container --upload over SSH: %v\n%s", err, out)
	}
	expect(t, url, "(five)")
	tm.mark("deploy over SSH --container --upload")
	if out, err := sshShip("rollback", sshd.Target()); err != nil || !strings.Contains(out, "is on release 4") {
		t.Fatalf("ship rollback --container over SSH: %v\n%s", err, out)
	}
	expect(t, url, "(four)")
	tm.mark("rollback over SSH --container")

	res := load.Finish(t)
	t.Logf("load: %d requests, %d failed, longest gap %.0f ms, answers %v", res.Total, res.Failed, res.MaxGapMS, res.Versions)
	if res.Failed != 0 || res.Total == 0 {
		t.Errorf("%d of %d requests failed during the deploys: %v", res.Failed, res.Total, res.Errors)
	}
	for _, v := range []string{"(two)", "(three)", "(four)", "(five)"} {
		if !answered(res.Versions, v) {
			t.Errorf("the load never saw %s: %v", v, res.Versions)
		}
	}

	// The deploys over SSH built as the image's user: nothing in their
	// releases belongs to anyone else.
	if out, err := pm.Run("exec", app, "find", "/app/releases/4", "/app/releases/5", "!", "-user", "bun"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("files of releases 4 and 5 not owned by bun (%v):\n%s", err, out)
	}
	checkStatusAndLogs(t, pm, sshShip, sshd.Target())
	checkFSInContainer(t, sshd)
	tm.mark("status, logs, FS contract")

	stopGracefully(t, pm, tm)
	hostFolders(t, pm, src, tm)
}

// source is the app's repository: a working copy, and the bare repository
// the containers fetch from (mounted as /repo.git, owned by the image's
// user: git refuses a repository owned by someone else).
type source struct {
	work, bare string
	gitconfig  string // marks bare as safe for root's git
}

func newSource(t *testing.T) *source {
	t.Helper()
	s := &source{work: testenv.AppRepo(t)}
	testenv.CommitVersion(t, s.work, "one")
	s.bare = filepath.Join(t.TempDir(), "repo.git")
	testenv.GitRun(t, s.work, "clone", "-q", "--bare", s.work, s.bare)
	if out, err := exec.Command("chown", "-R", "1000:1000", s.bare).CombinedOutput(); err != nil {
		t.Fatalf("chown the bare repository: %v\n%s", err, out)
	}
	s.gitconfig = filepath.Join(t.TempDir(), "gitconfig")
	if err := os.WriteFile(s.gitconfig, []byte("[safe]\n\tdirectory = "+s.bare+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// push commits a new version and pushes it to the bare repository.
func (s *source) push(t *testing.T, version string) string {
	t.Helper()
	commit := testenv.CommitVersion(t, s.work, version)
	// The bare repository is the image user's: root's git must be told
	// in its global settings that it is safe to push to.
	cmd := exec.Command("git", "push", "-q", s.bare, "main")
	cmd.Dir = s.work
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+s.gitconfig)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git push: %v\n%s", err, out)
	}
	return commit
}

// runQuickStart starts the app's container as the README says: an
// --env-file, a named volume as /app, port 3000 published on 127.0.0.1.
// It returns the app's URL once the first start serves.
func runQuickStart(t *testing.T, pm *testenv.Podman, src *source, tm *timings) string {
	t.Helper()
	envFile := filepath.Join(t.TempDir(), ".env")
	env := "GIT_REPO=/repo.git\nWEBHOOK_SECRET=" + secret + "\nBRANCH=main\n"
	if err := os.WriteFile(envFile, []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := pm.Run("logs", "--tail", "80", app)
			t.Logf("podman logs %s:\n%s", app, out)
		}
	})
	tm.mark("before podman run")
	pm.Must("run", "--detach", "--name", app, "--env-file", envFile,
		"--publish", fmt.Sprintf("127.0.0.1:%d:3000", port),
		"--volume", "ship-app:/app", "--volume", src.bare+":/repo.git:ro", image)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitServes(t, url, "(one)", firstServeBound)
	took := tm.mark("first start to serving")
	t.Logf("first start: serving %s after %.1fs (bound %s)", url, took.Seconds(), firstServeBound)
	return url
}

// checkProcesses: the receiver is PID 1 and the app runs below it.
func checkProcesses(t *testing.T, pm *testenv.Podman) {
	t.Helper()
	procs := top(t, pm, app)
	if p := procs[1]; !strings.HasPrefix(p.args, "receiver") {
		t.Errorf("PID 1 is %q, want the receiver", p.args)
	}
	found := false
	for pid, p := range procs {
		if !strings.Contains(p.args, "dist/index.js") {
			continue
		}
		found = true
		for pid != 1 && pid != 0 {
			pid = procs[pid].ppid
		}
		if pid != 1 {
			t.Errorf("the app (%q) is not a descendant of PID 1:\n%v", p.args, procs)
		}
	}
	if !found {
		t.Errorf("no app process in the container:\n%v", procs)
	}
}

type proc struct {
	ppid, hpid int
	args       string
}

// top lists the container's processes by their pid inside it.
func top(t *testing.T, pm *testenv.Podman, name string) map[int]proc {
	t.Helper()
	out := pm.Must("top", name, "pid", "ppid", "hpid", "args")
	procs := map[int]proc{}
	for _, line := range strings.Split(out, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		pid, _ := strconv.Atoi(f[0])
		ppid, _ := strconv.Atoi(f[1])
		hpid, _ := strconv.Atoi(f[2])
		procs[pid] = proc{ppid: ppid, hpid: hpid, args: strings.Join(f[3:], " ")}
	}
	return procs
}

// checkStatusAndLogs: what ./console status and logs showed (the live
// release, the app running, its output) reads the same over SSH into the
// container as inside it.
func checkStatusAndLogs(t *testing.T, pm *testenv.Podman, sshShip func(...string) (string, error), target string) {
	t.Helper()
	outside, err := sshShip("status", target)
	if err != nil {
		t.Fatalf("ship status --container: %v\n%s", err, outside)
	}
	inside := pm.Must("exec", app, "ship", "status", "local")
	for _, want := range []string{"current   release 4", "serving   release 4", "receiver  up", "lock      free"} {
		if !strings.Contains(outside, want) || !strings.Contains(inside, want) {
			t.Errorf("status lacks %q\nover SSH:\n%s\ninside:\n%s", want, outside, inside)
		}
	}
	logs, err := sshShip("logs", target, "-n", "200")
	if err != nil {
		t.Fatalf("ship logs --container: %v\n%s", err, logs)
	}
	for _, want := range []string{"release 4 (four)", "release 5 (five)"} {
		if !strings.Contains(logs, "listening on ") || !strings.Contains(logs, want) {
			t.Errorf("ship logs lacks the app's %q:\n%s", want, logs)
		}
	}
	// ship exec runs in the live release inside the container, as the
	// image's user; -i gives it a terminal there (podman exec -it under
	// the SSH session's own terminal).
	const show = "tty 2>/dev/null || true; echo in ${PWD##*/} as $(id -u)"
	for _, tc := range []struct{ args, want []string }{
		{[]string{"exec", target, "--", show}, []string{"in 4 as 1000"}},
		{[]string{"exec", target, "-i", "--", show}, []string{"/dev/pts/", "in 4 as 1000"}},
	} {
		out, err := sshShip(tc.args...)
		for _, want := range tc.want {
			if err != nil || !strings.Contains(out, want) {
				t.Errorf("ship %s: %v, output lacks %q:\n%s", strings.Join(tc.args[:3], " "), err, want, out)
			}
		}
	}
	// The app's output also reaches the container's own log.
	if out := pm.Must("logs", app); !strings.Contains(out, "release 5 (five)") {
		t.Errorf("podman logs lacks the app's output:\n%s", out)
	}
}

// checkFSInContainer holds host.Container's file operations to release.FS's
// contract inside the real container, over SSH.
func checkFSInContainer(t *testing.T, sshd *testenv.SSHD) {
	t.Helper()
	ctx := context.Background()
	c, err := remote.Dial(ctx, sshd.Config())
	if err != nil {
		t.Fatal(err)
	}
	in, err := host.OpenContainer(ctx, c, host.EnginePodman, app)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	defer in.Close()
	if err := in.MkdirAll("/tmp/fs-contract"); err != nil {
		t.Fatal(err)
	}
	testenv.CheckFS(t, in, "/tmp/fs-contract")
	start := time.Now()
	for range 20 {
		if _, err := in.ReadFile("/app/.ship/state.json"); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("a file operation in the container over SSH: %.1f ms", float64(time.Since(start).Microseconds())/20/1000)
}

// stopGracefully: podman stop (SIGTERM) ends the container with exit 0
// before its 10 s SIGKILL, the app stopped by the receiver, and no process
// of the container left on the machine.
func stopGracefully(t *testing.T, pm *testenv.Podman, tm *timings) {
	t.Helper()
	// After the deploys, only the receiver and the app run: nothing an
	// exec started stayed behind, and no zombie waits for its parent.
	var procs map[int]proc
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		procs = top(t, pm, app)
		var extra []string
		for pid, p := range procs {
			if !expected(p.args) || zombie(p.hpid) {
				extra = append(extra, fmt.Sprintf("%d %q (zombie: %v)", pid, p.args, zombie(p.hpid)))
			}
		}
		if len(extra) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("left in the container after the deploys: %s", strings.Join(extra, ", "))
			break
		}
	}
	tm.mark("before podman stop")
	pm.Must("stop", "--time", "10", app)
	took := tm.mark("podman stop")
	t.Logf("stop took %.1fs", took.Seconds())
	if code := strings.TrimSpace(pm.Must("inspect", "--format", "{{.State.ExitCode}}", app)); code != "0" {
		t.Errorf("exit code %s after podman stop, want 0 (137: killed after 10 s)", code)
	}
	logs := pm.Must("logs", "--tail", "20", app)
	for _, want := range []string{"app stopped at shutdown", "receiver stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the receiver's log lacks %q:\n%s", want, logs)
		}
	}
	for pid, p := range procs {
		if syscall.Kill(p.hpid, 0) == nil && sameProcess(p.hpid, p.args) {
			t.Errorf("pid %d (%d in the container, %q) outlived the container", p.hpid, pid, p.args)
		}
	}
}

// expected reports whether a process of the container is the receiver or
// the app's.
func expected(args string) bool {
	for _, p := range []string{"receiver", "/bin/sh -c bun start", "bun start", "bun dist/index.js"} {
		if args == p || strings.HasPrefix(args, p+" ") {
			return true
		}
	}
	return false
}

// zombie reports whether host pid has exited and waits to be reaped.
func zombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// sameProcess reports whether host pid still runs the command args (and
// is not a new process that got the number).
func sameProcess(pid int, args string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")) == strings.TrimSpace(args)
}

// hostFolders: a host folder owned by uid 1000 works as /app (with
// nothing deployed the health check fails; after a deploy it passes); a
// root-owned one stops the container at once with a message saying what
// to do.
func hostFolders(t *testing.T, pm *testenv.Podman, src *source, tm *timings) {
	t.Helper()
	owned := t.TempDir()
	if err := os.Chown(owned, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	pm.Must("run", "--detach", "--name", "ship-owned", "--volume", owned+":/app",
		"--volume", src.bare+":/repo.git:ro", image)
	testenv.WaitFor(t, 30*time.Second, "the receiver's state.json in the host folder", func() bool {
		_, err := os.Stat(filepath.Join(owned, ".ship", "state.json"))
		return err == nil
	})
	if out, err := pm.Run("healthcheck", "run", "ship-owned"); err == nil {
		t.Errorf("HEALTHCHECK passes with nothing deployed:\n%s", out)
	}
	if out, err := pm.Run("exec", "ship-owned", "ship", "deploy", "local", "--repo", "/repo.git"); err != nil {
		t.Fatalf("deploy into a host folder owned by uid 1000: %v\n%s", err, out)
	}
	if out, err := pm.Run("healthcheck", "run", "ship-owned"); err != nil {
		t.Errorf("HEALTHCHECK fails after a deploy: %v\n%s", err, out)
	}
	fi, err := os.Stat(filepath.Join(owned, "releases", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 {
		t.Errorf("release 1 in the host folder belongs to uid %d, want 1000", st.Uid)
	}
	pm.Must("rm", "--force", "--time", "0", "ship-owned")
	tm.mark("host folder of uid 1000")

	rootOwned := t.TempDir() // root's, 0755 for the others
	if err := os.Chmod(rootOwned, 0o755); err != nil {
		t.Fatal(err)
	}
	pm.Must("run", "--detach", "--name", "ship-root-owned", "--volume", rootOwned+":/app", image)
	code := waitExit(t, pm, "ship-root-owned", 30*time.Second)
	logs := pm.Must("logs", "ship-root-owned")
	if code == "0" || !strings.Contains(logs, "permission denied") || !strings.Contains(logs, "chown -R 1000:1000") {
		t.Errorf("a root-owned /app: exit %s, want a failure saying what to do:\n%s", code, logs)
	}
	tm.mark("host folder of root")
}

// waitExit waits for the container to exit and returns its exit code.
func waitExit(t *testing.T, pm *testenv.Podman, name string, limit time.Duration) string {
	t.Helper()
	var state string
	testenv.WaitFor(t, limit, name+" to exit", func() bool {
		state = strings.TrimSpace(pm.Must("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name))
		return strings.HasPrefix(state, "exited ")
	})
	return strings.TrimPrefix(state, "exited ")
}

// expect checks that the app answers with want now.
func expect(t *testing.T, url, want string) {
	t.Helper()
	if body, err := get(url); err != nil || !strings.Contains(body, want) {
		t.Errorf("the app answers %q (%v), want %s", body, err, want)
	}
}

// waitServes waits until the app answers with want.
func waitServes(t *testing.T, url, want string, limit time.Duration) {
	t.Helper()
	var body string
	testenv.WaitFor(t, limit, "the app to answer "+want, func() bool {
		body, _ = get(url)
		return strings.Contains(body, want)
	})
}

var client = &http.Client{Timeout: 5 * time.Second}

func get(url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("%s", resp.Status)
	}
	return string(body), err
}

func answered(versions map[string]int64, want string) bool {
	for body, n := range versions {
		if n > 0 && strings.Contains(body, want) {
			return true
		}
	}
	return false
}

// run runs a program in dir with env added, and returns its output.
func run(t *testing.T, dir string, env []string, prog string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
