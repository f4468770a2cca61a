package testenv_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/remote"
	"github.com/shipdeploy/ship/internal/testenv"
)

func dial(t *testing.T, cfg remote.Config) (*remote.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := remote.Dial(ctx, cfg)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func TestStartSSHD(t *testing.T) {
	s := testenv.StartSSHD(t)
	if s.Addr != s.Host+":"+itoa(s.Port) || s.Target() != s.User+"@"+s.Addr {
		t.Errorf("Addr %q, Target %q for port %d", s.Addr, s.Target(), s.Port)
	}
	known, err := os.ReadFile(s.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := "[127.0.0.1]:" + itoa(s.Port) + " ssh-ed25519 AAAA"; !strings.HasPrefix(string(known), want) {
		t.Errorf("known_hosts %q, want a line starting %q", known, want)
	}
	// The fingerprint is the one ssh-keygen reports for the host key.
	out, err := exec.Command("ssh-keygen", "-lf", s.HostKeys[0].File+".pub").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), s.HostKeyFingerprint) {
		t.Errorf("ssh-keygen says %q, SSHD says %s", out, s.HostKeyFingerprint)
	}

	c, err := dial(t, s.Config())
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	if err := c.Run(context.Background(), host.Command{Script: "echo $PATH; id -un", Stdout: &stdout}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2 || lines[1] != s.User {
		t.Fatalf("output %q, want PATH and user %s", stdout.String(), s.User)
	}
	for _, dir := range []string{"/usr/local/bin", "/usr/bin", "/bin"} {
		if !strings.Contains(":"+lines[0]+":", ":"+dir+":") {
			t.Errorf("PATH %q lacks %s", lines[0], dir)
		}
	}
}

func TestSSHDFindsBun(t *testing.T) {
	bun := testenv.Bun(t)
	s := testenv.StartSSHD(t)
	c, err := dial(t, s.Config())
	if err != nil {
		t.Fatal(err)
	}
	out, err := host.Output(context.Background(), c, "bun --version")
	if err != nil {
		t.Fatalf("bun over ssh (found locally at %s): %v", bun, err)
	}
	if len(strings.TrimSpace(string(out))) == 0 {
		t.Error("bun --version printed nothing")
	}
}

func TestSSHDStopRestart(t *testing.T) {
	s := testenv.StartSSHD(t)
	s.Stop()
	if c, err := dial(t, s.Config()); err == nil {
		c.Close()
		t.Fatal("dial succeeded after Stop")
	}
	s.Restart()
	if _, err := dial(t, s.Config()); err != nil {
		t.Fatalf("dial after Restart: %v", err)
	}
}

func TestSSHDChangeHostKey(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.WithHostKeyTypes("ed25519", "ecdsa"))
	if len(s.HostKeys) != 2 || s.HostKeys[1].Type != "ecdsa-sha2-nistp256" {
		t.Fatalf("host keys %+v, want ed25519 and ecdsa", s.HostKeys)
	}
	old := s.HostKeyFingerprint
	s.ChangeHostKey()
	if s.HostKeyFingerprint == old {
		t.Fatal("fingerprint unchanged")
	}
	if _, err := dial(t, s.Config()); err == nil || !strings.Contains(err.Error(), s.HostKeyFingerprint) {
		t.Fatalf("dial with the old known_hosts: %v, want a changed key error naming the new fingerprint", err)
	}
}

// TestSkipOrFail runs itself as a child to see what a missing part does.
func TestSkipOrFail(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "1" {
		testenv.SkipOrFail(t, "widget is not installed: run scripts/setup")
		return
	}
	tests := []struct {
		strict string
		want   string
		fails  bool
	}{
		{"", "--- SKIP: TestSkipOrFail", false},
		{"1", "--- FAIL: TestSkipOrFail", true},
	}
	for _, tt := range tests {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSkipOrFail$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTENV_CHILD=1", "SHIP_TEST_STRICT="+tt.strict)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tt.fails || !strings.Contains(string(out), tt.want) ||
			!strings.Contains(string(out), "widget is not installed: run scripts/setup") {
			t.Errorf("SHIP_TEST_STRICT=%q: err %v, output:\n%s", tt.strict, err, out)
		}
	}
}

func TestBunFromEnv(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "bun")
	if err := os.WriteFile(fake, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SHIP_BUN", fake)
	if got := testenv.Bun(t); got != fake {
		t.Errorf("Bun() = %q, want $SHIP_BUN %q", got, fake)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
