package host_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/testenv"
)

// Without an engine, container.sh runs on this machine's disk (Debian's sh
// and coreutils, as in the image); internal/containertest runs the same
// contract inside a real container.

func TestFSContract(t *testing.T) {
	t.Run("local (reference)", func(t *testing.T) { testenv.CheckFS(t, release.LocalFS{}, t.TempDir()) })
	t.Run("container.sh session", func(t *testing.T) {
		c := host.NewDirectContainer(host.Local{}, true)
		defer c.Close()
		testenv.CheckFS(t, c, t.TempDir())
		if host.SessionBroke(c) {
			t.Error("the file session broke: the operations fell back to an exec each")
		}
	})
	t.Run("container.sh exec each", func(t *testing.T) {
		testenv.CheckFS(t, host.NewDirectContainer(host.Local{}, false), t.TempDir())
	})
}

func TestContainerRun(t *testing.T) {
	c := host.NewDirectContainer(host.Local{}, false)
	var out bytes.Buffer
	err := c.Run(context.Background(), host.Command{
		Script: `read -r line; printf '%s|%s\n' "$line" "it's $((6*7))"; exit 3`,
		Stdin:  strings.NewReader("from stdin\n"),
		Stdout: &out,
	})
	var ee *host.ExitError
	if !errors.As(err, &ee) || ee.Status != 3 {
		t.Errorf("Run = %v, want exit status 3", err)
	}
	if got := out.String(); got != "from stdin|it's 42\n" {
		t.Errorf("output %q", got)
	}
}

// TestContainerRunCancel: a cancelled command is killed in the container
// with everything it started, even a process in a session of its own that
// the engine's exec client would leave running.
func TestContainerRunCancel(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		testenv.SkipOrFail(t, "setsid is not installed (util-linux): run scripts/setup")
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	c := host.NewDirectContainer(host.Local{}, false)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	script := `setsid sleep 60 </dev/null >/dev/null 2>&1 & echo $! >` + pidFile + `; sleep 60`
	if err := c.Run(ctx, host.Command{Script: script}); err == nil {
		t.Error("a cancelled Run returned no error")
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("pid %d, started by the cancelled command, still runs", pid)
		}
	}
}

func TestOpenContainerRefuses(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		engine, name, want string
	}{
		{"lxc", "shop", `engine "lxc": want docker or podman`},
		{"docker", "--privileged", `container name "--privileged"`},
		{"docker", "", `container name ""`},
		{"docker", "shop;reboot", `container name "shop;reboot"`},
	} {
		_, err := host.OpenContainer(ctx, host.Local{}, tt.engine, tt.name)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("OpenContainer(%q, %q) = %v, want %q", tt.engine, tt.name, err, tt.want)
		}
	}
}

func TestContainerScriptShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		testenv.SkipOrFail(t, "shellcheck is not installed: run scripts/setup")
	}
	if out, err := exec.Command(sc, "--shell=sh", "container.sh").CombinedOutput(); err != nil {
		t.Errorf("shellcheck container.sh: %v\n%s", err, out)
	}
}
