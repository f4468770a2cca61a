package remote_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shipdeploy/ship/internal/remote"
	"github.com/shipdeploy/ship/internal/testenv"
)

// writeFile writes content to a new file in a temp folder.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHostKeyUnknown(t *testing.T) {
	s := testenv.StartSSHD(t)
	other := testenv.StartSSHD(t) // known_hosts for another server only
	tests := []struct {
		name string
		edit func(*testing.T, *remote.Config)
	}{
		{"empty known_hosts", func(t *testing.T, c *remote.Config) { c.KnownHostsFile = writeFile(t, "known_hosts", "") }},
		{"other hosts only", func(t *testing.T, c *remote.Config) { c.KnownHostsFile = other.KnownHostsFile }},
		{"no known_hosts file", func(t *testing.T, c *remote.Config) {
			c.KnownHostsFile = ""
			t.Setenv("HOME", t.TempDir())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := s.Config()
			tt.edit(t, &cfg)
			_, err := remote.Dial(testContext(t), cfg)
			if !errors.Is(err, remote.ErrHostKeyUnknown) {
				t.Fatalf("Dial: %v, want ErrHostKeyUnknown", err)
			}
			for _, want := range []string{s.HostKeyFingerprint, "ssh-ed25519", "ssh-keyscan -p " + strconv.Itoa(s.Port) + " 127.0.0.1"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not say %q: %v", want, err)
				}
			}
		})
	}
}

func TestHostKeyChanged(t *testing.T) {
	s := testenv.StartSSHD(t)
	old := s.HostKeyFingerprint
	s.ChangeHostKey()
	_, err := remote.Dial(testContext(t), s.Config())
	if !errors.Is(err, remote.ErrHostKeyChanged) {
		t.Fatalf("Dial: %v, want ErrHostKeyChanged", err)
	}
	for _, want := range []string{
		"HOST KEY CHANGED for 127.0.0.1:" + strconv.Itoa(s.Port),
		s.KnownHostsFile + ":1 has ssh-ed25519 " + old,
		"server offered ssh-ed25519 " + s.HostKeyFingerprint,
		"ssh-keygen -R '[127.0.0.1]:" + strconv.Itoa(s.Port) + "'",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q: %v", want, err)
		}
	}

	// Through known hosts text, the message names the text, not a temp file.
	cfg := s.Config()
	text, _ := os.ReadFile(cfg.KnownHostsFile)
	cfg.KnownHostsFile, cfg.KnownHostsText = "", string(text)
	_, err = remote.Dial(testContext(t), cfg)
	if !errors.Is(err, remote.ErrHostKeyChanged) || !strings.Contains(err.Error(), "(known hosts text):1") {
		t.Errorf("Dial with known hosts text: %v", err)
	}
}

func TestInsecureIgnoreHostKey(t *testing.T) {
	s := testenv.StartSSHD(t)
	s.ChangeHostKey() // even a changed key is accepted
	var warn bytes.Buffer
	cfg := s.Config()
	cfg.InsecureIgnoreHostKey = true
	cfg.Warn = &warn
	for range 2 {
		c := dial(t, cfg)
		if _, err := c.Lstat("/"); err != nil {
			t.Fatal(err)
		}
	}
	want := "warning: host key checking is OFF for 127.0.0.1:" + strconv.Itoa(s.Port) +
		" (--insecure-ignore-host-key); offered ssh-ed25519 " + s.HostKeyFingerprint + "\n"
	if warn.String() != want+want {
		t.Errorf("warnings:\n%s\nwant twice:\n%s", warn.String(), want)
	}
}

// A server with several host keys offers its preferred one unless told
// which we know (golang/go#29286): x/crypto prefers ECDSA, OpenSSH ed25519.
func TestKnownHostsOfOneKeyType(t *testing.T) {
	s := testenv.StartSSHD(t, testenv.WithHostKeyTypes("ed25519", "ecdsa", "rsa"))
	for _, k := range s.HostKeys {
		t.Run(k.Type, func(t *testing.T) {
			for _, viaText := range []bool{false, true} {
				cfg := s.Config()
				cfg.KnownHostsFile = writeFile(t, "known_hosts", k.KnownHostsLine+"\n")
				if viaText {
					cfg.KnownHostsFile, cfg.KnownHostsText = "", k.KnownHostsLine
				}
				c := dial(t, cfg)
				if _, err := c.Lstat("/"); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
