package remote_test

import (
	"context"
	"errors"
	"fmt"
	"net"
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

// runEcho checks that c runs commands.
func runEcho(t *testing.T, c *remote.Client) {
	t.Helper()
	out, err := host.Output(testContext(t), c, "echo ok")
	if err != nil || string(out) != "ok\n" {
		t.Fatalf("echo ok on %s: %q, %v", c, out, err)
	}
}

// protectedKey makes a key with a passphrase that s accepts (with one KDF
// round: the default 16 take a second to open under the race detector).
func protectedKey(t *testing.T, s *testenv.SSHD, passphrase string) string {
	t.Helper()
	key := filepath.Join(t.TempDir(), "id_protected")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-a", "1", "-N", passphrase, "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, "authorized_keys"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(pub); err != nil {
		t.Fatal(err)
	}
	return key
}

// startAgent starts an ssh-agent holding key and returns its socket.
func startAgent(t *testing.T, key string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	// Without -D, ssh-agent returns once its socket listens.
	out, err := exec.Command("ssh-agent", "-s", "-a", sock).Output()
	if err != nil {
		testenv.SkipOrFail(t, "ssh-agent: %v", err)
	}
	_, rest, _ := strings.Cut(string(out), "SSH_AGENT_PID=")
	pid, _, _ := strings.Cut(rest, ";")
	t.Cleanup(func() { exec.Command("kill", pid).Run() })
	add := exec.Command("ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v\n%s", err, out)
	}
	return sock
}

func TestKeys(t *testing.T) {
	s := testenv.StartSSHD(t)
	protected := protectedKey(t, s, "open sesame")
	stranger := filepath.Join(t.TempDir(), "id_stranger")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	tests := []struct {
		name    string
		edit    func(*testing.T, *remote.Config)
		wantErr string // "" to connect
	}{
		{"key file", func(*testing.T, *remote.Config) {}, ""},
		{"key text with \\n for newlines", func(_ *testing.T, c *remote.Config) {
			c.KeyFile, c.KeyText = "", `"`+strings.ReplaceAll(s.KeyText, "\n", `\n`)+`"`
		}, ""},
		{"key text with real newlines", func(_ *testing.T, c *remote.Config) { c.KeyFile, c.KeyText = "", s.KeyText }, ""},
		{"protected key without passphrase", func(_ *testing.T, c *remote.Config) { c.KeyFile = protected },
			"key " + protected + " is protected by a passphrase: set SHIP_SSH_PASSPHRASE or load it into ssh-agent"},
		{"protected key with passphrase", func(_ *testing.T, c *remote.Config) { c.KeyFile, c.Passphrase = protected, "open sesame" }, ""},
		{"protected key, wrong passphrase", func(_ *testing.T, c *remote.Config) { c.KeyFile, c.Passphrase = protected, "nope" }, "wrong passphrase"},
		{"a public key given as the key", func(_ *testing.T, c *remote.Config) { c.KeyFile = stranger + ".pub" },
			stranger + ".pub is a public key (it starts with \"ssh-ed25519\"): give the private key"},
		{"a file that is no key", func(_ *testing.T, c *remote.Config) { c.KeyFile = s.KnownHostsFile },
			"is not a private key (no -----BEGIN"},
		{"key the server does not know", func(_ *testing.T, c *remote.Config) { c.KeyFile = stranger },
			"the server accepted none of the keys offered (" + stranger + ")"},
		{"default key in ~/.ssh", func(t *testing.T, c *remote.Config) {
			home := t.TempDir()
			t.Setenv("HOME", home)
			t.Setenv("SSH_AUTH_SOCK", "")
			os.Mkdir(filepath.Join(home, ".ssh"), 0o700)
			if err := os.WriteFile(filepath.Join(home, ".ssh", "id_ecdsa"), []byte(s.KeyText), 0o600); err != nil {
				t.Fatal(err)
			}
			c.KeyFile = ""
		}, ""},
		{"ssh-agent, before a protected default key", func(t *testing.T, c *remote.Config) {
			home := t.TempDir()
			t.Setenv("HOME", home)
			t.Setenv("SSH_AUTH_SOCK", startAgent(t, s.KeyFile))
			os.Mkdir(filepath.Join(home, ".ssh"), 0o700)
			pem, _ := os.ReadFile(protected)
			if err := os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519"), pem, 0o600); err != nil {
				t.Fatal(err)
			}
			c.KeyFile = ""
		}, ""},
		{"no key anywhere", func(t *testing.T, c *remote.Config) {
			t.Setenv("HOME", t.TempDir())
			t.Setenv("SSH_AUTH_SOCK", "")
			c.KeyFile = ""
		}, "no SSH key to log in to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := s.Config()
			tt.edit(t, &cfg)
			c, err := remote.Dial(testContext(t), cfg)
			if tt.wantErr != "" {
				if err == nil {
					c.Close()
					t.Fatalf("Dial succeeded, want error %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Dial error %q, want it to say %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			runEcho(t, c)
		})
	}
}

func TestSSHConfig(t *testing.T) {
	s := testenv.StartSSHD(t)
	config := writeFile(t, "config", fmt.Sprintf(`# ship test
Host other
    HostName 192.0.2.1

Host my?lias !nothing
    HostName 127.0.0.1
    Port %d
    User %s
    IdentityFile %s

Host bastion
    HostName 127.0.0.1
    Port %d
    User %s
    IdentityFile %s

Host behind
    HostName 127.0.0.1
    Port %d
    ProxyJump bastion
    IdentityFile=%q

Host *
    Port 1
    User nobody
`, s.Port, s.User, s.KeyFile, s.Port, s.User, s.KeyFile, s.Port, s.KeyFile))
	tests := []struct {
		name, target string
	}{
		{"alias", "myalias"},
		{"proxy jump", s.User + "@behind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := s.Config()
			cfg.Target, cfg.KeyFile, cfg.SSHConfigFile = tt.target, "", config
			t.Setenv("SSH_AUTH_SOCK", "")
			c := dial(t, cfg)
			if want := s.User + "@127.0.0.1:" + fmt.Sprint(s.Port); c.String() != want {
				t.Errorf("String() = %q, want %q", c, want)
			}
			runEcho(t, c)
		})
	}
}

func TestJumpHost(t *testing.T) {
	// The test server is its own bastion: the target is dialled from it.
	s := testenv.StartSSHD(t)
	cfg := s.Config()
	cfg.Jump = s.Target()
	c := dial(t, cfg)
	runEcho(t, c)
	if _, err := c.Lstat("/"); err != nil {
		t.Fatal(err)
	}
	// The server sees the target's connection come from itself, as it
	// would without the bastion: count the logins instead.
	data, _ := os.ReadFile(filepath.Join(s.Dir, "sshd.log"))
	if n := strings.Count(string(data), "Accepted publickey"); n != 2 {
		t.Errorf("sshd log shows %d logins, want 2 (bastion and target)", n)
	}
}

func TestDialTimeout(t *testing.T) {
	// A listener that accepts and never speaks SSH.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	s := testenv.StartSSHD(t) // for a key and known hosts only
	cfg := s.Config()
	cfg.Target = s.User + "@" + ln.Addr().String()
	cfg.Timeout = 300 * time.Millisecond
	start := time.Now()
	_, err = remote.Dial(testContext(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Dial gave up after %s, want about 300ms", d)
	}
}

// Connection failures say what failed and what to try, not the network
// layer's words.
func TestDialErrors(t *testing.T) {
	s := testenv.StartSSHD(t) // for a key and known hosts only
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	for _, tt := range []struct {
		name, target string
		want         []string
	}{
		{"refused", fmt.Sprintf("%s@127.0.0.1:%d", s.User, closed), []string{"refused the connection on port " + strconv.Itoa(closed), "is sshd running there"}},
		{"unknown host", s.User + "@nosuchhost.invalid:22", []string{"the host \"nosuchhost.invalid\""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := s.Config()
			cfg.Target, cfg.Timeout = tt.target, 5*time.Second
			_, err := remote.Dial(testContext(t), cfg)
			for _, want := range tt.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Dial: %v, want it to say %q", err, want)
				}
			}
			if err != nil && strings.Contains(err.Error(), "dial tcp") {
				t.Errorf("Dial: %v: the network's words, not ours", err)
			}
		})
	}
}
