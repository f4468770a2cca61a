package shipcmd

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/shipdeploy/ship/internal/shell"
	"github.com/shipdeploy/ship/internal/testenv"
)

// TestExecInteractive runs the real ship on a real terminal (util-linux's
// script gives it one): with -i the remote command has a terminal too,
// what is typed reaches it, and ship exits with its status.
func TestExecInteractive(t *testing.T) {
	scriptCmd, err := exec.LookPath("script")
	if err != nil {
		testenv.SkipOrFail(t, "script (util-linux) is not installed: run scripts/setup")
	}
	w := newWorld(t)
	if code, out := w.deploy(); code != 0 {
		t.Fatalf("deploy: %d\n%s", code, out)
	}
	ship := testenv.Program(t, "./cmd/ship")
	line := shell.Join(ship, "exec", w.sshd.Target(), "--path", w.root, "-i", "--",
		`tty; test -t 0 && echo on-a-terminal; stty size; read -r typed; echo "got $typed in ${PWD##*/}"; exit 5`)
	cmd := exec.Command(scriptCmd, "-qec", "stty cols 90 rows 33; "+line, "/dev/null")
	cmd.Env = append(os.Environ(), "SHIP_SSH_KEY_FILE="+w.sshd.KeyFile, "SHIP_KNOWN_HOSTS_FILE="+w.sshd.KnownHostsFile)
	cmd.Stdin = strings.NewReader("hello\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 5 {
		t.Errorf("ship exec -i: %v, want exit status 5\n%s", err, out.String())
	}
	for _, want := range []string{"/dev/pts/", "on-a-terminal", "33 90", "got hello in 1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
