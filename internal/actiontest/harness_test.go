package actiontest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/shipdeploy/ship/internal/testenv"
)

// actionDef is the part of action.yml a runner reads.
type actionDef struct {
	Name    string `yaml:"name"`
	Inputs  map[string]inputDef
	Outputs map[string]struct {
		Value string `yaml:"value"`
	}
	Runs struct {
		Using string    `yaml:"using"`
		Steps []stepDef `yaml:"steps"`
	}
}

type inputDef struct {
	Description string  `yaml:"description"`
	Required    bool    `yaml:"required"`
	Default     *string `yaml:"default"`
}

type stepDef struct {
	ID    string            `yaml:"id"`
	Name  string            `yaml:"name"`
	If    string            `yaml:"if"`
	Shell string            `yaml:"shell"`
	Run   string            `yaml:"run"`
	Uses  string            `yaml:"uses"`
	Env   map[string]string `yaml:"env"`
	With  map[string]string `yaml:"with"`
}

func loadAction(t testing.TB, path string) *actionDef {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var a actionDef
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&a); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return &a
}

// actionCopy copies what the action's source is made of into a temp
// folder, as a runner unpacks an action (no .git, nothing else).
func actionCopy(t testing.TB) string {
	t.Helper()
	root := testenv.ModuleRoot(t)
	dst := filepath.Join(t.TempDir(), "ship-action")
	for _, name := range []string{"action.yml", "go.mod", "go.sum", "cmd", "internal"} {
		if err := copyPath(filepath.Join(root, name), filepath.Join(dst, name)); err != nil {
			t.Fatalf("copy the action's source: %v", err)
		}
	}
	return dst
}

func copyPath(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			if info.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return os.MkdirAll(target, 0o755)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// runner runs a composite action's steps the way GitHub's runner does, as
// far as this action needs: run steps with bash -e -o pipefail, their env:
// evaluated, a fresh $GITHUB_OUTPUT per step, the step's outputs read back;
// actions/cache/restore and /save emulated with a folder; setup-go skipped
// (the machine's go is used).
type runner struct {
	t          testing.TB
	action     *actionDef
	actionPath string
	inputs     map[string]string
	env        map[string]string // the job's environment, for every step
	cacheStore string            // where the emulated actions/cache keeps entries
	workspace  string
	temp       string // RUNNER_TEMP

	log       bytes.Buffer
	outputs   map[string]map[string]string // steps.ID.outputs
	files     []string                     // files the runner made for steps
	stepTimes map[string]time.Duration
}

var exprRE = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

// eval expands the ${{ }} expressions this action uses; any other is a
// test failure, so a new kind cannot slip by unevaluated.
func (r *runner) eval(s string) string {
	return exprRE.ReplaceAllStringFunc(s, func(m string) string {
		return r.value(exprRE.FindStringSubmatch(m)[1])
	})
}

func (r *runner) value(expr string) string {
	parts := strings.Split(expr, ".")
	switch {
	case len(parts) == 2 && parts[0] == "inputs":
		if v, ok := r.inputs[parts[1]]; ok {
			return v
		}
		in, ok := r.action.Inputs[parts[1]]
		if !ok {
			r.t.Fatalf("action.yml uses undefined input %q", parts[1])
		}
		if in.Default != nil {
			return *in.Default
		}
		return ""
	case expr == "github.action_path":
		return r.actionPath
	case expr == "github.action_ref":
		return ""
	case expr == "runner.temp":
		return r.temp
	case len(parts) == 4 && parts[0] == "steps" && parts[2] == "outputs":
		return r.outputs[parts[1]][parts[3]]
	}
	r.t.Fatalf("the test runner cannot evaluate ${{ %s }}", expr)
	return ""
}

var clauseRE = regexp.MustCompile(`^(\S+)\s*(==|!=)\s*'([^']*)'$`)

// cond evaluates the if: conditions this action uses: clauses of the form
// X == 'v' or X != 'v' joined by &&.
func (r *runner) cond(expr string) bool {
	if strings.TrimSpace(expr) == "" {
		return true
	}
	for _, clause := range strings.Split(expr, "&&") {
		m := clauseRE.FindStringSubmatch(strings.TrimSpace(clause))
		if m == nil {
			r.t.Fatalf("the test runner cannot evaluate if: %s", expr)
		}
		if (r.value(m[1]) == m[3]) != (m[2] == "==") {
			return false
		}
	}
	return true
}

// run runs every step; it returns the action's outputs, or the first
// failing step's error.
func (r *runner) run() (map[string]string, error) {
	r.outputs = map[string]map[string]string{}
	r.stepTimes = map[string]time.Duration{}
	for i, st := range r.action.Runs.Steps {
		name := st.ID
		if name == "" {
			name = fmt.Sprintf("step%d", i+1)
		}
		if !r.cond(st.If) {
			continue
		}
		start := time.Now()
		var err error
		if st.Uses != "" {
			err = r.uses(name, st)
		} else {
			err = r.runStep(name, st)
		}
		r.stepTimes[name] += time.Since(start)
		if err != nil {
			return nil, fmt.Errorf("step %s: %w", name, err)
		}
	}
	out := map[string]string{}
	for name, o := range r.action.Outputs {
		out[name] = r.eval(o.Value)
	}
	return out, nil
}

func (r *runner) runStep(name string, st stepDef) error {
	if st.Shell != "bash" {
		return fmt.Errorf("shell %q: the action's run steps use bash", st.Shell)
	}
	dir := filepath.Join(r.temp, "_runner_file_commands")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	script := filepath.Join(dir, name+".sh")
	outFile := filepath.Join(dir, "output_"+name)
	if err := os.WriteFile(script, []byte(st.Run), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(outFile, nil, 0o644); err != nil {
		return err
	}
	r.files = append(r.files, outFile)

	env := map[string]string{}
	for k, v := range r.env {
		env[k] = v
	}
	env["GITHUB_OUTPUT"] = outFile
	for k, v := range st.Env {
		env[k] = r.eval(v)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-e", "-o", "pipefail", script)
	cmd.Dir = r.workspace
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = &r.log, &r.log // one stream, in order, as the runner reads it
	runErr := cmd.Run()

	data, err := os.ReadFile(outFile)
	if err != nil {
		return err
	}
	outs, err := ReadFileCommands(string(data))
	if err != nil {
		return fmt.Errorf("its GITHUB_OUTPUT: %w", err)
	}
	r.outputs[st.ID] = outs
	return runErr
}

// uses emulates the actions this action calls.
func (r *runner) uses(name string, st stepDef) error {
	with := map[string]string{}
	for k, v := range st.With {
		with[k] = r.eval(v)
	}
	action, _, _ := strings.Cut(st.Uses, "@")
	entry := filepath.Join(r.cacheStore, with["key"])
	switch action {
	case "actions/setup-go":
		return nil // the machine's go
	case "actions/cache/restore":
		hit := "false"
		if _, err := os.Stat(entry); err == nil {
			if err := copyPath(entry, with["path"]); err != nil {
				return err
			}
			hit = "true"
		}
		r.outputs[st.ID] = map[string]string{"cache-hit": hit, "cache-primary-key": with["key"]}
		return nil
	case "actions/cache/save":
		if _, err := os.Stat(entry); err == nil {
			return nil // the real action warns and goes on
		}
		return copyPath(with["path"], entry)
	}
	return fmt.Errorf("the test runner does not know %s", st.Uses)
}
