package buildinfo

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/testenv"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "3f9c2ab1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8"},
		{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	tests := []struct {
		name     string
		bi       *debug.BuildInfo
		override string
		want     []string // lines of String("ship"), in order
	}{
		{
			name:     "ldflags version wins, commit from git",
			bi:       &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-2026-3f9c2ab"}, Settings: vcs},
			override: "v1.2.3",
			want: []string{"ship v1.2.3", "commit  3f9c2ab1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8 (with uncommitted changes)",
				"date    2026-01-02T03:04:05Z (the commit's)", "go      go1.26.8 "},
		},
		{
			name:     "no override: the module version Go recorded",
			bi:       &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.4.0"}, Settings: vcs[:2]},
			override: "dev",
			want:     []string{"ship v0.4.0", "commit  3f9c2ab1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8", "date    unknown", "go      go1.26.8 "},
		},
		{
			name: "no git information",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			want: []string{"ship dev", "commit  unknown (built without git information)", "date    unknown", "go      go1.26.8 "},
		},
		{
			name:     "no build information at all",
			override: "v2.0.0",
			want:     []string{"ship v2.0.0", "commit  unknown", "date    unknown", "go      go1."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Split(strings.TrimSuffix(fromBuildInfo(tt.bi, tt.override).String("ship"), "\n"), "\n")
			if len(got) != len(tt.want) {
				t.Fatalf("lines %q, want %d", got, len(tt.want))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("line %d %q, want it to start %q", i+1, got[i], tt.want[i])
				}
			}
		})
	}
}

// Both programs, built from a git checkout of this source, name its commit
// and the commit's date, say whether the tree had uncommitted changes, and
// print the version given with -ldflags. (The checkout is made here: Go
// stamps no commit in a git worktree, nor with GOFLAGS=-buildvcs=false.)
func TestProgramsSayTheirBuild(t *testing.T) {
	src := filepath.Join(t.TempDir(), "ship")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"go.mod", "go.sum", "cmd", "internal"} {
		from, to := filepath.Join(testenv.ModuleRoot(t), part), filepath.Join(src, part)
		if err := testenv.CopyTree(from, to); err != nil {
			t.Fatal(err)
		}
	}
	testenv.GitRun(t, src, "init", "-q", "-b", "main")
	testenv.GitRun(t, src, "add", "-A")
	testenv.GitRun(t, src, "commit", "-q", "-m", "ship")
	head := strings.TrimSpace(testenv.GitRun(t, src, "rev-parse", "HEAD"))
	when, err := time.Parse(time.RFC3339, strings.TrimSpace(testenv.GitRun(t, src, "log", "-1", "--format=%cI")))
	if err != nil {
		t.Fatal(err)
	}

	build := func(pkg, ldflags string) string {
		bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-buildvcs=true", "-ldflags", ldflags, "-o", bin, pkg)
		cmd.Dir = src
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
		return bin
	}
	check := func(bin string, args []string, want ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "APP_ROOT="+t.TempDir())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %v: %v", filepath.Base(bin), args, err)
		}
		if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); len(got) != 4 ||
			got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || !strings.HasPrefix(got[3], "go      go1.") {
			t.Errorf("%s %v printed:\n%s\nwant:\n%s\ngo      go1…", filepath.Base(bin), args, out, strings.Join(want, "\n"))
		}
	}
	date := "date    " + when.UTC().Format(time.RFC3339) + " (the commit's)"
	ship := build("./cmd/ship", "-X github.com/shipdeploy/ship/internal/shipcmd.Version=v9.8.7")
	receiver := build("./cmd/receiver", "-X github.com/shipdeploy/ship/internal/receivercmd.Version=v9.8.6")
	for _, args := range [][]string{{"version"}, {"--version"}} {
		check(ship, args, "ship v9.8.7", "commit  "+head, date)
		check(receiver, args, "receiver v9.8.6", "commit  "+head, date)
	}

	// A change not committed is marked; without -ldflags the version is
	// the one Go made from the commit.
	if err := os.WriteFile(filepath.Join(src, "cmd", "ship", "note.txt"), []byte("wip\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dirty := build("./cmd/ship", "")
	pseudo := "ship v0.0.0-" + when.UTC().Format("20060102150405") + "-" + head[:12] + "+dirty"
	check(dirty, []string{"version"}, pseudo, "commit  "+head+" (with uncommitted changes)", date)
}
