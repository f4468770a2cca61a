package shipcmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shipdeploy/ship/internal/testenv"
)

// openPTY opens a pseudo-terminal pair: the master the test types into,
// the slave ship reads as its terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// A key protected by a passphrase, on a terminal: ship asks for it without
// echo, and logs in with the answer.
func TestPassphrasePrompt(t *testing.T) {
	s := testenv.StartSSHD(t)
	key := filepath.Join(t.TempDir(), "id_protected")
	if err := os.WriteFile(key, []byte(s.KeyText), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ssh-keygen", "-q", "-p", "-N", "open sesame", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -p: %v\n%s", err, out)
	}
	master, slave := openPTY(t)
	out := &testenv.SyncBuffer{}
	go func() { // type the answer once asked, as a person would
		waitFor(t, 10*time.Second, func() bool { return strings.Contains(out.String(), "Passphrase for ") })
		master.Write([]byte("open sesame\n"))
	}()
	a := &app{stdout: out, stderr: out, getenv: func(string) string { return "" }, tty: slave}
	code := a.run(context.Background(), []string{"status", s.Target(), "--path", t.TempDir(),
		"--key", key, "--known-hosts", s.KnownHostsFile})
	if code != 0 || !strings.Contains(out.String(), "Passphrase for "+key+": ") {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	echoed := make(chan []byte, 1)
	go func() { // what the terminal shows back (a read that may block)
		buf := make([]byte, 4096)
		n, _ := master.Read(buf)
		echoed <- buf[:n]
	}()
	var shown []byte
	select {
	case shown = <-echoed:
	case <-time.After(300 * time.Millisecond):
	}
	if bytes.Contains(shown, []byte("sesame")) {
		t.Errorf("the terminal echoed the passphrase: %q", shown)
	}
	// Without a terminal: the message says what to set.
	out = &testenv.SyncBuffer{}
	a = &app{stdout: out, stderr: out, getenv: func(string) string { return "" }}
	code = a.run(context.Background(), []string{"status", s.Target(), "--key", key, "--known-hosts", s.KnownHostsFile})
	if code == 0 || !strings.Contains(out.String(), "SHIP_SSH_PASSPHRASE") {
		t.Errorf("without a terminal: exit %d\n%s", code, out.String())
	}
}
