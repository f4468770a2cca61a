package actiontest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/shipdeploy/ship/internal/testenv"
)

var workflows = []string{".github/workflows/ci.yml", ".github/workflows/deploy.yml"}

// TestActionlint lints both workflows; actionlint also reads action.yml,
// the local action deploy.yml uses, and checks the inputs given to it.
func TestActionlint(t *testing.T) {
	bin := testenv.Actionlint(t)
	cmd := exec.Command(bin, append([]string{"-oneline", "-no-color"}, workflows...)...)
	cmd.Dir = testenv.ModuleRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
}

var (
	pinnedRE = regexp.MustCompile(`^\s*-?\s*uses:\s*(\S+)@([0-9a-f]{40})\s+#\s*v\d+\.\d+\.\d+\s*$`)
	usesRE   = regexp.MustCompile(`^\s*-?\s*uses:\s*(\S+)`)
)

// checkPinned: every action used is this repository's (./) or pinned to a
// full commit SHA with its version in a comment.
func checkPinned(t *testing.T, name, text string) {
	t.Helper()
	for i, line := range strings.Split(text, "\n") {
		m := usesRE.FindStringSubmatch(line)
		if m == nil || m[1] == "./" {
			continue
		}
		if !pinnedRE.MatchString(line) {
			t.Errorf("%s:%d: %q is not pinned to a full commit SHA with a # vX.Y.Z comment", name, i+1, strings.TrimSpace(line))
		}
	}
}

// TestActionStructure checks what actionlint does not: action.yml's inputs
// reach the scripts only through env:, and no expression is pasted into a
// run: script (script injection).
func TestActionStructure(t *testing.T) {
	root := testenv.ModuleRoot(t)
	path := filepath.Join(root, "action.yml")
	a := loadAction(t, path)
	raw, _ := os.ReadFile(path)
	checkPinned(t, "action.yml", string(raw))

	if a.Runs.Using != "composite" {
		t.Fatalf("runs.using = %q, want composite", a.Runs.Using)
	}
	used := map[string]bool{}
	inputRE := regexp.MustCompile(`\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}`)
	var deploy *stepDef
	for i := range a.Runs.Steps {
		st := &a.Runs.Steps[i]
		if (st.Run == "") == (st.Uses == "") {
			t.Errorf("step %d: give exactly one of run and uses", i+1)
		}
		if st.Run != "" {
			if st.Shell != "bash" || st.ID == "" {
				t.Errorf("run step %d: shell %q id %q, want bash and an id", i+1, st.Shell, st.ID)
			}
			if strings.Contains(st.Run, "${{") {
				t.Errorf("run step %s pastes an expression into its script; pass it through env:", st.ID)
			}
		}
		for name, v := range st.With {
			if m := inputRE.FindStringSubmatch(v); m != nil {
				t.Errorf("step %d passes input %s to with.%s: inputs go to ship through env only", i+1, m[1], name)
			}
		}
		for _, v := range st.Env {
			for _, m := range inputRE.FindAllStringSubmatch(v, -1) {
				used[m[1]] = true
			}
		}
		if st.ID == "deploy" {
			deploy = st
		}
	}
	for name := range a.Inputs {
		if !used[name] {
			t.Errorf("input %q reaches no step's env", name)
		}
	}
	for name, o := range a.Outputs {
		if o.Value != "${{ steps.deploy.outputs."+name+" }}" {
			t.Errorf("output %s = %q, want the deploy step's output", name, o.Value)
		}
	}
	for _, want := range []string{"release", "sha", "url"} {
		if _, ok := a.Outputs[want]; !ok {
			t.Errorf("output %q missing", want)
		}
	}
	if deploy == nil {
		t.Fatal("no step with id deploy")
	}

	// Every SHIP_* variable the deploy step sets is one ship reads.
	var src strings.Builder
	for _, dir := range []string{"internal/shipcmd", "internal/remote"} {
		files, _ := filepath.Glob(filepath.Join(root, dir, "*.go"))
		for _, f := range files {
			if !strings.HasSuffix(f, "_test.go") {
				data, _ := os.ReadFile(f)
				src.Write(data)
			}
		}
	}
	for name := range deploy.Env {
		if strings.HasPrefix(name, "SHIP_") && name != "SHIP_BIN" && !strings.Contains(src.String(), `"`+name+`"`) {
			t.Errorf("the deploy step sets %s, which ship does not read", name)
		}
	}

	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Log("shellcheck is not installed: the action's scripts were not shellchecked")
		return
	}
	for _, st := range a.Runs.Steps {
		if st.Run == "" {
			continue
		}
		cmd := exec.Command(shellcheck, "--shell=bash", "-")
		cmd.Stdin = strings.NewReader(st.Run)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("shellcheck of step %s: %v\n%s", st.ID, err, out)
		}
	}
}

// TestWorkflowStructure: pinned actions, least permissions, no expression
// pasted into a script, and the deploy workflow's guarantees.
func TestWorkflowStructure(t *testing.T) {
	root := testenv.ModuleRoot(t)
	for _, name := range workflows {
		raw, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		checkPinned(t, name, string(raw))
		var wf map[string]any
		if err := yaml.Unmarshal(raw, &wf); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		perms, _ := wf["permissions"].(map[string]any)
		if perms["contents"] != "read" {
			t.Errorf("%s: permissions = %v, want contents: read at the top", name, perms)
		}
		jobs, _ := wf["jobs"].(map[string]any)
		for jobName, j := range jobs {
			job, _ := j.(map[string]any)
			steps, _ := job["steps"].([]any)
			for i, s := range steps {
				step, _ := s.(map[string]any)
				if run, _ := step["run"].(string); strings.Contains(run, "${{") {
					t.Errorf("%s: job %s step %d pastes an expression into run:", name, jobName, i+1)
				}
			}
		}
		if !strings.HasSuffix(name, "deploy.yml") {
			continue
		}
		if len(perms) != 2 || perms["deployments"] != "write" {
			t.Errorf("deploy.yml permissions = %v, want exactly contents: read, deployments: write", perms)
		}
		for jobName, j := range jobs {
			job, _ := j.(map[string]any)
			conc, _ := job["concurrency"].(map[string]any)
			if group, _ := conc["group"].(string); !strings.HasPrefix(group, "deploy-") || conc["cancel-in-progress"] != false {
				t.Errorf("job %s concurrency = %v, want a deploy-<environment> group with cancel-in-progress: false", jobName, conc)
			}
			env, _ := job["environment"].(map[string]any)
			if env["name"] == nil || env["url"] == nil {
				t.Errorf("job %s environment = %v, want a name and a url", jobName, env)
			}
		}
		if !strings.Contains(string(raw), "secrets.SHIP_SSH_KEY") || !strings.Contains(string(raw), "secrets.SHIP_KNOWN_HOSTS") {
			t.Error("deploy.yml does not take the key and known_hosts from secrets")
		}
	}
}
