package actiontest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipdeploy/ship/internal/testenv"
)

// The Dockerfile's instructions are checked by reading them, the fast check
// that runs everywhere (internal/containertest builds and runs the image
// with podman). The binaries it builds are built here the same way.

type instruction = testenv.DockerInstruction

// last returns the stage's last instruction of kind cmd.
func last(t *testing.T, s *testenv.DockerStage, cmd string) instruction {
	t.Helper()
	all := s.All(cmd)
	if len(all) == 0 {
		t.Fatalf("stage %s has no %s", s.Name, cmd)
	}
	return all[len(all)-1]
}

// execForm parses a JSON-array (exec form) argument list.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var list []string
	if err := json.Unmarshal([]byte(in.Args), &list); err != nil {
		t.Errorf("line %d: %s %s is not in exec form (a JSON array): %v", in.Line, in.Cmd, in.Args, err)
	}
	return list
}

func TestDockerfile(t *testing.T) {
	root := testenv.ModuleRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := testenv.ParseDockerfile(string(data))
	if err != nil {
		t.Error(err)
	}
	args, stages := d.Args, d.Stages
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a run stage", len(stages))
	}
	build, run := stages[0], stages[len(stages)-1]
	if build.Name == "" || !strings.HasPrefix(build.From, "golang:") {
		t.Errorf("first stage FROM %s AS %q, want a named golang stage", build.From, build.Name)
	}
	if v := args["GO_VERSION"]; build.From == "golang:${GO_VERSION}" && !strings.HasPrefix(v, goVersion(t, root)) {
		t.Errorf("GO_VERSION %q, want go.mod's %s", v, goVersion(t, root))
	}
	if from := d.Expand(run.From); !strings.HasPrefix(from, "oven/bun:") {
		t.Errorf("run stage FROM %s, want the official Bun image", from)
	}

	// Both programs built static and without local paths.
	var builds strings.Builder
	for _, in := range build.All("RUN") {
		builds.WriteString(in.Args + "\n")
	}
	cgoOff := strings.Contains(builds.String(), "CGO_ENABLED=0")
	for _, in := range build.All("ENV") {
		cgoOff = cgoOff || strings.Contains(in.Args, "CGO_ENABLED=0")
	}
	if !cgoOff {
		t.Error("the build stage does not set CGO_ENABLED=0")
	}
	for _, prog := range []string{"./cmd/receiver", "./cmd/ship"} {
		found := false
		for _, cmd := range strings.Split(builds.String(), "&&") {
			if strings.Contains(cmd, "go build") && strings.Contains(cmd, prog) {
				found = true
				if !strings.Contains(cmd, "-trimpath") {
					t.Errorf("go build of %s lacks -trimpath", prog)
				}
				if !strings.Contains(cmd, "-ldflags=-s") && !strings.Contains(cmd, `-ldflags="-s`) {
					t.Errorf("go build of %s does not strip (-ldflags=-s)", prog)
				}
			}
		}
		if !found {
			t.Errorf("the build stage does not build %s", prog)
		}
	}

	// The run stage.
	copied := false
	for _, in := range run.All("COPY") {
		copied = copied || strings.Contains(in.Args, "--from="+build.Name) && strings.Contains(in.Args, "/out/receiver")
	}
	if !copied {
		t.Errorf("the run stage does not COPY --from=%s the receiver", build.Name)
	}
	var apt string
	for _, in := range run.All("RUN") {
		apt += in.Args
	}
	for _, pkg := range []string{"git", "openssh-client"} {
		if !strings.Contains(apt, " "+pkg) {
			t.Errorf("the run stage does not install %s", pkg)
		}
	}
	if user := last(t, run, "USER").Args; user == "root" || user == "0" || strings.HasPrefix(user, "0:") {
		t.Errorf("USER %s: the app runs as root", user)
	}
	if ep := execForm(t, last(t, run, "ENTRYPOINT")); len(ep) == 0 || ep[0] != "receiver" {
		t.Errorf("ENTRYPOINT %q, want the receiver in exec form (so it is PID 1)", ep)
	}
	hc := last(t, run, "HEALTHCHECK").Args
	i := strings.Index(hc, "CMD ")
	if i < 0 {
		t.Fatalf("HEALTHCHECK %s has no CMD", hc)
	}
	if cmd := execForm(t, instruction{Cmd: "HEALTHCHECK CMD", Args: hc[i+4:]}); strings.Join(cmd, " ") != "receiver health" {
		t.Errorf("HEALTHCHECK CMD %q, want [\"receiver\", \"health\"]", cmd)
	}
	if exp := last(t, run, "EXPOSE").Args; !strings.Contains(" "+exp+" ", " 3000 ") && !strings.Contains(exp, "3000/tcp") {
		t.Errorf("EXPOSE %s, want 3000", exp)
	}
	if vol := last(t, run, "VOLUME").Args; !strings.Contains(vol, `"/app"`) && vol != "/app" {
		t.Errorf("VOLUME %s, want /app", vol)
	}

	// What the build stage copies is in the repository and in the context.
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range build.All("COPY") {
		f := strings.Fields(in.Args)
		for _, src := range f[:len(f)-1] {
			if _, err := os.Stat(filepath.Join(root, src)); err != nil {
				t.Errorf("COPY %s: %v", src, err)
			}
			if !strings.Contains(string(ignore), "!"+strings.TrimSuffix(src, "/")) {
				t.Errorf(".dockerignore does not let %s into the build context", src)
			}
		}
	}
}

// TestImageBinaries builds the two programs as the Dockerfile does and
// runs the receiver's health check the way HEALTHCHECK will: it must exist
// and say "unhealthy" for a folder no receiver serves.
func TestImageBinaries(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		testenv.SkipOrFail(t, "go is not on PATH")
	}
	root := testenv.ModuleRoot(t)
	out := t.TempDir()
	for _, prog := range []string{"receiver", "ship"} {
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s", "-o", filepath.Join(out, prog), "./cmd/"+prog)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", prog, err, b)
		}
	}
	cmd := exec.Command(filepath.Join(out, "receiver"), "health")
	cmd.Env = append(os.Environ(), "APP_ROOT="+t.TempDir())
	b, err := cmd.CombinedOutput()
	if err == nil {
		t.Errorf("receiver health passed with no receiver running:\n%s", b)
	}
	if ee, ok := err.(*exec.ExitError); ok && strings.Contains(string(b), "unknown command") {
		t.Errorf("receiver has no health command (exit %d):\n%s", ee.ExitCode(), b)
	}
}

func goVersion(t *testing.T, root string) string {
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
