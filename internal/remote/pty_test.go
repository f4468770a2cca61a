package remote_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/remote"
	"github.com/shipdeploy/ship/internal/testenv"
)

// TestRunPTY: the script runs on a terminal of the size asked for, which
// follows a resize; what is typed reaches it; its exit status comes back.
func TestRunPTY(t *testing.T) {
	_, c := connect(t)
	in, typing := io.Pipe()
	resize := make(chan [2]int, 1)
	out := &testenv.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- c.RunPTY(testContext(t), `tty; stty size; read -r line; echo "got $line"; stty size; exit 3`, in, out,
			remote.Terminal{Term: "xterm", Width: 100, Height: 30, Resize: resize})
	}()
	waitOutput(t, out, "30 100")
	resize <- [2]int{120, 40}
	time.Sleep(200 * time.Millisecond) // the window change goes ahead of the line
	io.WriteString(typing, "hello\r")
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("RunPTY did not return; output:\n%s", out.String())
	}
	var ee *host.ExitError
	if !errors.As(err, &ee) || ee.Status != 3 {
		t.Fatalf("RunPTY = %v, want exit status 3\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{"/dev/pts/", "30 100", "got hello", "40 120"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func waitOutput(t *testing.T, out *testenv.SyncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output:\n%s", want, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
