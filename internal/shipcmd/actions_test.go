package shipcmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shipdeploy/ship/internal/actiontest"
	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/testenv"
)

// evilBuild prints, from the remote build, lines that would be workflow
// commands if the runner read them, then builds.
const evilBuild = `echo '::set-output name=x::y'; echo '  ::add-mask::bun'; echo '::error::boom'; echo 'x ##[set-env name=A]b'; bun run build`

func TestMaskSecrets(t *testing.T) {
	key := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\r\nAAAAC3NzaC1lZDI1NTE5AAAAIJk\nAb=\n-----END OPENSSH PRIVATE KEY-----\n"
	var out bytes.Buffer
	maskSecrets(&out, []string{key, "pw", "", "  ", "ghs_token%with,comma", "pw"})
	log := actiontest.ParseLog(out.String())
	var got []string
	for _, c := range log.Named("add-mask") {
		got = append(got, c.Data)
	}
	want := []string{"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "AAAAC3NzaC1lZDI1NTE5AAAAIJk", "pw", "ghs_token%with,comma"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("masks = %q, want %q", got, want)
	}
	if len(log.Commands) != len(want) {
		t.Errorf("other commands issued: %+v", log.Commands)
	}
}

func TestGuardFencesCommandLines(t *testing.T) {
	var out bytes.Buffer
	g := &commandGuard{w: &out}
	for _, chunk := range []string{"plain line\n  ::set-output name=x", "::y\nok ##[set-env name=A]b\n", "a\r::error::boom\n", "::warning::no newline"} {
		io.WriteString(g, chunk)
	}
	g.Flush()
	log := actiontest.ParseLog(out.String())
	if len(log.Commands) != 0 {
		t.Errorf("commands got through: %+v\n%s", log.Commands, out.String())
	}
	for i, l := range log.Lines {
		fenced := log.IsFenced(i)
		switch {
		case l == "plain line" && fenced:
			t.Errorf("a plain line was fenced:\n%s", out.String())
		case (strings.Contains(l, "set-output") || strings.Contains(l, "boom") || strings.Contains(l, "##[")) && !fenced:
			t.Errorf("line %q not fenced", l)
		}
	}
	if !strings.Contains(out.String(), "no newline") {
		t.Error("Flush lost the last line")
	}
}

func TestWriteOutputMultiline(t *testing.T) {
	var b bytes.Buffer
	for _, v := range [][2]string{{"release", "7"}, {"sha", ""}, {"url", "https://x.example/a=b\nsecond"}} {
		if err := writeOutput(&b, v[0], v[1]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := actiontest.ReadFileCommands(b.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if got["release"] != "7" || got["sha"] != "" || got["url"] != "https://x.example/a=b\nsecond" {
		t.Errorf("outputs = %q\n%s", got, b.String())
	}
	var c bytes.Buffer
	writeOutput(&c, "release", "7")
	if b.String()[:30] == c.String()[:30] {
		t.Error("the delimiter is not random")
	}
}

// fakeDeployments stands in for GitHub's deployments API.
type fakeDeployments struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]any
	paths  []string
}

func newFakeDeployments(t *testing.T) *fakeDeployments {
	f := &fakeDeployments{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		f.bodies = append(f.bodies, body)
		f.paths = append(f.paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		f.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id": 7}`)
	}))
	t.Cleanup(f.Close)
	return f
}

// actionsWorld is a world whose ship runs as inside GitHub Actions.
func actionsWorld(t *testing.T) (*world, *fakeDeployments, string, string) {
	w := newWorld(t)
	api := newFakeDeployments(t)
	dir := t.TempDir()
	outputs, summary := filepath.Join(dir, "output"), filepath.Join(dir, "summary.md")
	sha := strings.TrimSpace(testenv.GitRun(t, w.repo, "rev-parse", "HEAD"))
	for k, v := range map[string]string{
		"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": outputs, "GITHUB_STEP_SUMMARY": summary,
		"GITHUB_SHA": sha, "GITHUB_REF_NAME": "main", "GITHUB_REPOSITORY": "o/n", "GITHUB_RUN_ID": "77",
		"GITHUB_SERVER_URL": "https://github.example", "GITHUB_API_URL": api.URL, "GITHUB_TOKEN": "ghs_faketoken123",
		"GITHUB_ACTOR": "octo", "SHIP_SSH_KEY": w.sshd.KeyText, "WEBHOOK_SECRET": "whsec-0123456789",
	} {
		w.env[k] = v
	}
	return w, api, outputs, summary
}

func TestDeployInActions(t *testing.T) {
	w, api, outputs, summary := actionsWorld(t)
	code, out := w.deploy("--build", evilBuild, "--environment", "staging", "--environment-url", "https://app.example.com")
	if code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	log := actiontest.ParseLog(out)

	// Masks come first, for the key's lines, the token and the webhook secret.
	masks := log.Named("add-mask")
	for _, c := range log.Commands[:len(masks)] {
		if c.Name != "add-mask" {
			t.Fatalf("%s before the masks were all set:\n%s", c.Name, out)
		}
	}
	masked := map[string]bool{}
	for _, c := range masks {
		masked[c.Data] = true
	}
	for _, want := range append(keyLines(w.sshd.KeyText), "ghs_faketoken123", "whsec-0123456789") {
		if !masked[want] {
			t.Errorf("%.12s… not masked", want)
		}
	}
	assertKeyOnlyInMasks(t, out, w.sshd.KeyText)

	// The build's lines were printed, fenced, and issued nothing.
	assertEvilFenced(t, log, out)

	// A group per stage, titled with the stage, its time and the host.
	var titles []string
	for _, c := range log.Named("group") {
		titles = append(titles, c.Data)
	}
	if want := len(deploy.StageNames()); len(titles) != want || len(log.Named("endgroup")) != want {
		t.Errorf("groups = %q, want one per stage (%d)", titles, want)
	}
	for _, title := range titles {
		if !strings.Contains(title, "("+w.sshd.Target()+")") || !strings.HasPrefix(title, "[") {
			t.Errorf("group title %q lacks the stage label or host", title)
		}
	}
	if len(titles) > 4 && !strings.Contains(titles[4], "[5/9] build") {
		t.Errorf("fifth group = %q, want the build stage", titles[4])
	}

	got := readOutputs(t, outputs)
	if got["release"] != "1" || got["sha"] != w.env["GITHUB_SHA"] || got["url"] != "https://app.example.com" {
		t.Errorf("outputs = %q", got)
	}
	sum := readFile(t, summary)
	for _, want := range []string{"ship deploy to staging: ✓ deployed", "| target | release | commit | lock |", w.sshd.Target(), "| 1 | `" + w.env["GITHUB_SHA"][:7] + "` |", "✓ live", "https://app.example.com"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}

	// The deployment: created for the commit, in progress, then success.
	if len(api.paths) != 3 {
		t.Fatalf("API requests: %q, want 3", api.paths)
	}
	if api.paths[0] != "POST /repos/o/n/deployments Bearer ghs_faketoken123" || !strings.HasSuffix(api.paths[2], "/repos/o/n/deployments/7/statuses Bearer ghs_faketoken123") {
		t.Errorf("API requests: %q", api.paths)
	}
	if api.bodies[0]["ref"] != w.env["GITHUB_SHA"] || api.bodies[0]["environment"] != "staging" || api.bodies[0]["auto_merge"] != false {
		t.Errorf("deployment = %v", api.bodies[0])
	}
	for i, state := range []string{"in_progress", "success"} {
		b := api.bodies[i+1]
		if b["state"] != state || b["log_url"] != "https://github.example/o/n/actions/runs/77" || b["environment_url"] != "https://app.example.com" {
			t.Errorf("status %d = %v, want %s", i, b, state)
		}
	}
}

func TestDeployInActionsFailure(t *testing.T) {
	w, api, outputs, summary := actionsWorld(t)
	code, out := w.deploy("--build", `echo '::error::boom'; echo '::set-output name=x::y'; exit 3`)
	if code != exitFailed {
		t.Fatalf("deploy: exit %d, want %d\n%s", code, exitFailed, out)
	}
	log := actiontest.ParseLog(out)
	assertKeyOnlyInMasks(t, out, w.sshd.KeyText)
	errs := log.Named("error")
	if len(errs) != 1 || !strings.Contains(errs[0].Props["title"], "failed at build on "+w.sshd.Target()) || !strings.Contains(errs[0].Data, "build command failed") {
		t.Fatalf("error annotations = %+v, want one naming the build step\n%s", errs, out)
	}
	for i, l := range log.Lines {
		if (l == "::error::boom" || l == "::set-output name=x::y") && !log.IsFenced(i) {
			t.Errorf("line %q not fenced\n%s", l, out)
		}
	}
	if len(log.Named("set-output")) != 0 {
		t.Errorf("set-output got through\n%s", out)
	}
	got := readOutputs(t, outputs)
	if got["release"] != "" || got["sha"] != w.env["GITHUB_SHA"] {
		t.Errorf("outputs after a failure = %q", got)
	}
	sum := readFile(t, summary)
	for _, want := range []string{"✗ failed", "✗ build failed on", "| 1 |"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	if n := len(api.bodies); n != 3 || api.bodies[2]["state"] != "failure" {
		t.Errorf("deployment statuses: %v, want the last to be failure", api.bodies)
	}
}

func TestDeployWithoutTokenOrActions(t *testing.T) {
	w := newWorld(t)
	api := newFakeDeployments(t)
	w.env["GITHUB_API_URL"] = api.URL
	w.env["GITHUB_REPOSITORY"] = "o/n"
	code, out := w.deploy()
	if code != 0 {
		t.Fatalf("deploy: exit %d\n%s", code, out)
	}
	if len(api.paths) != 0 {
		t.Errorf("API called without a token: %q", api.paths)
	}
	if strings.Contains(out, "::") {
		t.Errorf("workflow commands outside Actions:\n%s", out)
	}
}

func TestDeploymentFailureIsAWarning(t *testing.T) {
	w := newWorld(t)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"message": "Resource not accessible by integration"}`)
	}))
	defer api.Close()
	for k, v := range map[string]string{"GITHUB_TOKEN": "t0ken-value", "GITHUB_REPOSITORY": "o/n", "GITHUB_API_URL": api.URL} {
		w.env[k] = v
	}
	code, out := w.deploy()
	if code != 0 {
		t.Fatalf("deploy failed because GitHub refused the deployment: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "warning: create a deployment") || !strings.Contains(out, "deployments: write") {
		t.Errorf("the refusal was not shown as a warning with what to do:\n%s", out)
	}
}

func TestErrorAnnotation(t *testing.T) {
	res := &deploy.FleetResult{Release: 8, Hosts: []*deploy.Result{
		{Target: "web1", Outcome: deploy.OutcomeOK, Previous: 7},
		{Target: "web2", Outcome: deploy.OutcomeFailed, FailedStage: "stage", Previous: 7},
	}}
	err := reportedError{&deploy.FleetError{Result: res, Err: errors.New("not healthy")}}
	title, msg := errorAnnotation(res, err)
	if title != "ship deploy failed at stage on web2" || !strings.Contains(msg, "current is release 7") {
		t.Errorf("annotation = %q, %q", title, msg)
	}
	var b bytes.Buffer
	b.WriteString("::error title=" + escapeProperty("a: b, c%") + "::" + escapeData("x\ny%") + "\n")
	c := actiontest.ParseLog(b.String()).Named("error")
	if len(c) != 1 || c[0].Props["title"] != "a: b, c%" || c[0].Data != "x\ny%" {
		t.Errorf("escaping does not survive the runner's parsing: %+v", c)
	}
}

func assertEvilFenced(t *testing.T, log actiontest.Log, out string) {
	t.Helper()
	for _, name := range []string{"set-output", "set-env"} {
		if c := log.Named(name); len(c) != 0 {
			t.Errorf("%s got through: %+v", name, c)
		}
	}
	for _, c := range log.Named("add-mask") {
		if c.Data == "bun" {
			t.Error("the build's add-mask got through")
		}
	}
	for _, c := range log.Named("error") {
		if strings.Contains(c.Data, "boom") {
			t.Error("the build's error got through")
		}
	}
	seen := 0
	for i, l := range log.Lines {
		if strings.HasPrefix(l, "::group::") { // ship's title quotes the build command
			continue
		}
		if strings.Contains(l, "name=x::y") || strings.Contains(l, "::error::boom") || strings.Contains(l, "::add-mask::bun") || strings.Contains(l, "##[set-env") {
			seen++
			if !log.IsFenced(i) {
				t.Errorf("line %q is outside a stop-commands block", l)
			}
		}
	}
	if seen != 4 {
		t.Errorf("saw %d of the build's 4 command lines in the log:\n%s", seen, out)
	}
}

// keyLines are the lines of a private key worth finding in a log.
func keyLines(key string) []string {
	var out []string
	for _, l := range strings.Split(key, "\n") {
		if l = strings.TrimSpace(l); len(l) >= minKeyLineMask && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}

// assertKeyOnlyInMasks: the key's lines occur in the output only as the
// ::add-mask:: commands that hide them (the runner never prints those).
func assertKeyOnlyInMasks(t *testing.T, out, key string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "::add-mask::") {
			continue
		}
		for _, kl := range keyLines(key) {
			if strings.Contains(line, kl) {
				t.Fatalf("key material in the output: %q", line)
			}
		}
	}
}

func readOutputs(t *testing.T, path string) map[string]string {
	t.Helper()
	got, err := actiontest.ReadFileCommands(readFile(t, path))
	if err != nil {
		t.Fatalf("GITHUB_OUTPUT: %v", err)
	}
	return got
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
