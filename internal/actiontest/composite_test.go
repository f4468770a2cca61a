package actiontest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/testenv"
)

// evilBuild prints, from the remote build, lines that would be workflow
// commands if the runner read them, then builds.
const evilBuild = `echo '::set-output name=x::y'; echo '::add-mask::bun'; echo '::error::boom'; echo 'x ##[set-env name=A]b'; bun run build`

// rig is what one action run needs: a server, the app checked out as the
// workspace, the action's source, a stand-in for GitHub's API, and a store
// for the emulated actions/cache that outlives runs.
type rig struct {
	t          testing.TB
	sshd       *testenv.SSHD
	actionPath string
	workspace  string
	root       string
	sha        string
	api        *apiRecorder
	cacheStore string
	goCache    string // GOCACHE for the action's go build; "" the machine's
}

func newRig(t testing.TB) *rig {
	t.Helper()
	testenv.Bun(t)
	if _, err := exec.LookPath("go"); err != nil {
		testenv.SkipOrFail(t, "go is not on PATH: the action builds ship with it")
	}
	g := &rig{t: t, sshd: testenv.StartSSHD(t), workspace: testenv.AppRepo(t), actionPath: actionCopy(t)}
	g.root = filepath.Join(t.TempDir(), "srv", "app")
	g.sha = strings.TrimSpace(testenv.GitRun(t, g.workspace, "rev-parse", "HEAD"))
	g.cacheStore = t.TempDir()
	g.api = newAPIRecorder(t)
	return g
}

// inputs are the with: of a deploy to the rig's server.
func (g *rig) inputs() map[string]string {
	known, err := os.ReadFile(g.sshd.KnownHostsFile)
	if err != nil {
		g.t.Fatal(err)
	}
	return map[string]string{
		"targets":         "  " + g.sshd.Target() + "\n",
		"ssh-key":         g.sshd.KeyText,
		"known-hosts":     string(known),
		"path":            g.root,
		"wait":            "0",
		"environment":     "staging",
		"environment-url": "https://app.example.com/?a=1&b=$(touch pwned)`touch pwned2`",
		"github-token":    "ghs_fake_token_0123456789",
	}
}

// runner is a fresh job on a fresh runner: its own RUNNER_TEMP.
func (g *rig) runner(inputs map[string]string) *runner {
	g.t.Helper()
	temp := g.t.TempDir()
	r := &runner{
		t: g.t, action: loadAction(g.t, filepath.Join(g.actionPath, "action.yml")), actionPath: g.actionPath,
		inputs: inputs, cacheStore: g.cacheStore, workspace: g.workspace, temp: temp,
	}
	goEnv := func(name string) string {
		out, err := exec.Command("go", "env", name).Output()
		if err != nil {
			g.t.Fatalf("go env %s: %v", name, err)
		}
		return strings.TrimSpace(string(out))
	}
	goCache := g.goCache
	if goCache == "" {
		goCache = goEnv("GOCACHE")
	}
	r.env = map[string]string{
		"PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME"), "LANG": "C.UTF-8",
		"GOCACHE": goCache, "GOMODCACHE": goEnv("GOMODCACHE"), "GOPATH": goEnv("GOPATH"),
		"GOPROXY": goEnv("GOPROXY"), "GOTOOLCHAIN": "local",
		"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": g.workspace,
		"GITHUB_SHA": g.sha, "GITHUB_REF_NAME": "main", "GITHUB_REF": "refs/heads/main",
		"GITHUB_REPOSITORY": "o/n", "GITHUB_RUN_ID": "4711", "GITHUB_ACTOR": "octo",
		"GITHUB_SERVER_URL": "https://github.example", "GITHUB_API_URL": g.api.URL,
		"GITHUB_ACTION_PATH": g.actionPath, "GITHUB_STEP_SUMMARY": filepath.Join(temp, "_runner_file_commands", "step_summary"),
		"RUNNER_TEMP": temp, "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64",
	}
	os.MkdirAll(filepath.Dir(r.env["GITHUB_STEP_SUMMARY"]), 0o755)
	return r
}

func TestCompositeActionDeploys(t *testing.T) {
	g := newRig(t)
	in := g.inputs()
	in["build"] = evilBuild

	r := g.runner(in)
	outputs, err := r.run()
	if err != nil {
		t.Fatalf("%v\n%s", err, r.log.String())
	}
	log := r.log.String()
	t.Logf("first run, step times: %v", r.stepTimes)
	if !strings.Contains(log, "ship: building ship") {
		t.Errorf("the first run did not build ship:\n%s", log)
	}
	if outputs["release"] != "1" || outputs["sha"] != g.sha || outputs["url"] != in["environment-url"] {
		t.Errorf("action outputs = %q, want release 1, sha %s, url as given", outputs, g.sha)
	}
	for _, f := range []string{"pwned", "pwned2"} {
		if _, err := os.Stat(filepath.Join(g.workspace, f)); err == nil {
			t.Errorf("an input was run as shell: %s exists", f)
		}
	}
	current, err := os.Readlink(filepath.Join(g.root, "current"))
	if err != nil || current != "releases/1" {
		t.Fatalf("current -> %q (%v), want releases/1", current, err)
	}
	info, err := os.ReadFile(filepath.Join(g.root, "releases", "1", ".ship", "release.json"))
	if err != nil || !strings.Contains(string(info), g.sha) {
		t.Errorf("release.json = %s (%v), want commit %s: the server must deploy exactly GITHUB_SHA", info, err, g.sha)
	}

	parsed := ParseLog(log)
	checkFenced(t, parsed, log)
	if n, want := len(parsed.Named("group")), len(deploy.StageNames()); n != want {
		t.Errorf("%d groups, want %d (one per stage)", n, want)
	}
	summary, err := os.ReadFile(r.env["GITHUB_STEP_SUMMARY"])
	if err != nil || !strings.Contains(string(summary), "| target | release | commit |") || !strings.Contains(string(summary), "✓ live") {
		t.Errorf("job summary = %q (%v)", summary, err)
	}
	if got := g.api.states(); strings.Join(got, " ") != "create in_progress success" {
		t.Errorf("deployment API calls = %q", got)
	}
	checkNoKey(t, g, r)

	// A second job reuses the cached build.
	r2 := g.runner(in)
	outputs, err = r2.run()
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, r2.log.String())
	}
	if !strings.Contains(r2.log.String(), "ship: using the cached build") || strings.Contains(r2.log.String(), "ship: building") {
		t.Errorf("the second run did not use the cache:\n%s", r2.log.String())
	}
	if outputs["release"] != "2" {
		t.Errorf("second run's release = %q, want 2", outputs["release"])
	}
	checkNoKey(t, g, r2)
}

func TestCompositeActionRejectsEmptyTargets(t *testing.T) {
	g := newRig(t)
	in := g.inputs()
	in["targets"] = " \n "
	r := g.runner(in)
	if _, err := r.run(); err == nil {
		t.Fatalf("empty targets accepted:\n%s", r.log.String())
	}
	if errs := ParseLog(r.log.String()).Named("error"); len(errs) != 1 || !strings.Contains(errs[0].Data, "targets input is empty") {
		t.Errorf("error annotations = %+v", errs)
	}
}

// checkFenced: the remote build's command lines are in the log, each inside
// a stop-commands block, and none of them took effect.
func checkFenced(t *testing.T, log Log, text string) {
	t.Helper()
	if c := log.Named("set-output"); len(c) != 0 {
		t.Errorf("set-output got through: %+v", c)
	}
	if c := log.Named("set-env"); len(c) != 0 {
		t.Errorf("set-env got through: %+v", c)
	}
	for _, c := range log.Named("add-mask") {
		if c.Data == "bun" {
			t.Error("the build's add-mask got through")
		}
	}
	if c := log.Named("error"); len(c) != 0 {
		t.Errorf("error annotations on a good deploy: %+v", c)
	}
	want := map[string]bool{"::set-output name=x::y": false, "::add-mask::bun": false, "::error::boom": false, "x ##[set-env name=A]b": false}
	for i, l := range log.Lines {
		if _, ok := want[l]; ok {
			want[l] = true
			if !log.IsFenced(i) {
				t.Errorf("%q is outside a stop-commands block", l)
			}
		}
	}
	for l, seen := range want {
		if !seen {
			t.Errorf("the build's line %q is missing from the log:\n%s", l, text)
		}
	}
}

// checkNoKey: the private key appears nowhere the action wrote (the log
// apart from the ::add-mask:: commands that hide it, the step outputs, the
// summary, RUNNER_TEMP, the workspace).
func checkNoKey(t *testing.T, g *rig, r *runner) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(g.sshd.KeyText, "\n") {
		if l = strings.TrimSpace(l); len(l) >= 8 && !strings.HasPrefix(l, "-----") {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		t.Fatal("no key lines to look for")
	}
	masked := map[string]bool{}
	for _, c := range ParseLog(r.log.String()).Named("add-mask") {
		masked[c.Data] = true
	}
	for _, l := range lines {
		if !masked[l] {
			t.Errorf("key line %.10s… was not masked", l)
		}
	}
	for _, line := range strings.Split(r.log.String(), "\n") {
		if strings.HasPrefix(line, "::add-mask::") {
			continue
		}
		for _, kl := range lines {
			if strings.Contains(line, kl) {
				t.Errorf("key material in the log: %q", line)
			}
		}
	}
	for _, dir := range []string{r.temp, g.workspace} {
		filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err != nil || !info.Mode().IsRegular() {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			for _, kl := range lines {
				if strings.Contains(string(data), kl) {
					t.Errorf("key material in %s", p)
					return nil
				}
			}
			return nil
		})
	}
}

// apiRecorder stands in for GitHub's deployments API.
type apiRecorder struct {
	*httptest.Server
	mu    sync.Mutex
	calls []string
}

func newAPIRecorder(t testing.TB) *apiRecorder {
	a := &apiRecorder{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			State string `json:"state"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		call := body.State
		if strings.HasSuffix(r.URL.Path, "/deployments") {
			call = "create"
		}
		if r.Header.Get("Authorization") != "Bearer ghs_fake_token_0123456789" {
			call += "(no token)"
		}
		a.mu.Lock()
		a.calls = append(a.calls, call)
		a.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id": 1}`)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *apiRecorder) states() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := append([]string(nil), a.calls...)
	a.calls = nil
	return out
}
