package pull

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/shipdeploy/ship/internal/shell"
)

// NormalizeKey turns GIT_SSH_KEY as .env files and CI secrets hold it into a
// key file's text: literal "\n" sequences become newlines, carriage returns
// and surrounding quotes go, and the text ends with a newline (OpenSSH
// refuses a key without one). Empty stays empty.
func NormalizeKey(text string) string {
	text = strings.TrimSpace(text)
	if len(text) >= 2 && (text[0] == '"' && text[len(text)-1] == '"' || text[0] == '\'' && text[len(text)-1] == '\'') {
		text = strings.TrimSpace(text[1 : len(text)-1])
	}
	text = strings.ReplaceAll(text, `\n`, "\n")
	text = strings.TrimSpace(strings.ReplaceAll(text, "\r", ""))
	if text == "" {
		return ""
	}
	return text + "\n"
}

// checkKey says what is wrong with a key before ssh does, in words a person
// can act on. Its errors never quote the key.
func checkKey(key string) error {
	_, err := ssh.ParseRawPrivateKey([]byte(key))
	var pass *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pass):
		return errors.New("GIT_SSH_KEY is protected by a passphrase: use a deploy key without one")
	default:
		return errors.New("GIT_SSH_KEY is not a private key (OpenSSH or PEM text; write newlines as \\n in .env files)")
	}
}

// sshFiles are one deploy's key and known_hosts, in a folder of their own.
type sshFiles struct {
	dir, key, knownHosts string
}

func newSSHFiles(key, knownHosts string) (*sshFiles, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ship-git-ssh-")
	if err != nil {
		return nil, fmt.Errorf("make a folder for the deploy key: %w", err)
	}
	s := &sshFiles{dir: dir, key: filepath.Join(dir, "id_deploy"), knownHosts: filepath.Join(dir, "known_hosts")}
	// ssh reads an option's value up to the first space: a TMPDIR with
	// one would point it elsewhere.
	if strings.ContainsAny(dir, " \t\n\"'\\") {
		s.remove()
		return nil, fmt.Errorf("the temp folder %q has spaces or quotes, which ssh options cannot hold: set TMPDIR", dir)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		s.remove()
		return nil, err
	}
	if err := writeNew(s.key, key); err != nil {
		s.remove()
		return nil, fmt.Errorf("write the deploy key: %w", err)
	}
	if !strings.HasSuffix(knownHosts, "\n") {
		knownHosts += "\n"
	}
	if err := writeNew(s.knownHosts, knownHosts); err != nil {
		s.remove()
		return nil, fmt.Errorf("write known_hosts: %w", err)
	}
	return s, nil
}

// writeNew creates name with mode 0600; it must not exist.
func writeNew(name, text string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// command is GIT_SSH_COMMAND: git runs it with a shell, so paths are quoted.
func (s *sshFiles) command() string {
	return strings.Join([]string{
		"ssh", "-i", shell.Quote(s.key),
		"-o", "IdentitiesOnly=yes",
		"-o", "StrictHostKeyChecking=yes",
		"-o", shell.Quote("UserKnownHostsFile=" + s.knownHosts),
		"-o", "BatchMode=yes",
	}, " ")
}

func (s *sshFiles) remove() { _ = os.RemoveAll(s.dir) }
