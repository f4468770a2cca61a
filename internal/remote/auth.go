package remote

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// defaultKeyFiles are tried, as OpenSSH does, when nothing else names a key.
var defaultKeyFiles = []string{"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"}

// keyring holds the keys to offer: an explicit key alone, or the agent's
// keys followed by key files per endpoint.
type keyring struct {
	explicit   ssh.Signer // from KeyFile or KeyText
	explicitAs string     // its name in messages
	agent      []ssh.Signer
	agentConn  net.Conn
	passphrase string
	ask        func(key string) (string, error)
}

func newKeyring(cfg *Config) (*keyring, error) {
	k := &keyring{passphrase: cfg.Passphrase, ask: cfg.AskPassphrase}
	switch {
	case cfg.KeyText != "":
		s, err := k.parse(normalizeKeyText(cfg.KeyText), "(key text)")
		if err != nil {
			return nil, err
		}
		k.explicit, k.explicitAs = s, "the key text"
	case cfg.KeyFile != "":
		name := expandHome(cfg.KeyFile)
		pem, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read key: %w", err)
		}
		s, err := k.parse(pem, name)
		if err != nil {
			return nil, err
		}
		k.explicit, k.explicitAs = s, name
	default:
		k.loadAgent()
	}
	return k, nil
}

// loadAgent takes the keys of the agent at SSH_AUTH_SOCK, if any. An agent
// that does not answer is skipped: the key files may still do.
func (k *keyring) loadAgent() {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil || len(signers) == 0 {
		conn.Close()
		return
	}
	k.agent, k.agentConn = signers, conn
}

// close releases the agent: keys are needed only while logging in.
func (k *keyring) close() {
	if k.agentConn != nil {
		k.agentConn.Close()
	}
}

// signers returns the keys to offer to ep and, for messages, their names.
func (k *keyring) signers(ep endpoint) ([]ssh.Signer, []string, error) {
	if k.explicit != nil {
		return []ssh.Signer{k.explicit}, []string{k.explicitAs}, nil
	}
	signers := append([]ssh.Signer(nil), k.agent...)
	var names []string
	if len(k.agent) > 0 {
		names = append(names, fmt.Sprintf("%d from ssh-agent", len(k.agent)))
	}
	files := ep.identityFiles
	if len(files) == 0 {
		for _, f := range defaultKeyFiles {
			files = append(files, expandHome(f))
		}
	}
	var protected error
	for _, name := range files {
		pem, err := os.ReadFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // as OpenSSH: a missing identity file is passed over
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read key: %w", err)
		}
		s, err := parseKey(pem, name, k.passphrase) // default keys: no prompt
		var pe *passphraseError
		if errors.As(err, &pe) {
			// Usable through the agent, perhaps; report it only when
			// nothing else is there to offer.
			if protected == nil {
				protected = err
			}
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		signers = append(signers, s)
		names = append(names, name)
	}
	if len(signers) == 0 {
		if protected != nil {
			return nil, nil, protected
		}
		return nil, nil, fmt.Errorf("no SSH key to log in to %s: give a key file or key text, load a key into ssh-agent (SSH_AUTH_SOCK), or create ~/.ssh/id_ed25519", ep)
	}
	return signers, names, nil
}

// passphraseError is a protected key and no passphrase to open it.
type passphraseError struct{ name string }

func (e *passphraseError) Error() string {
	return "key " + e.name + " is protected by a passphrase: set SHIP_SSH_PASSPHRASE or load it into ssh-agent"
}

// parse is parseKey, asking for the passphrase of a protected key when the
// configured one is missing and someone can answer.
func (k *keyring) parse(pem []byte, name string) (ssh.Signer, error) {
	s, err := parseKey(pem, name, k.passphrase)
	var pe *passphraseError
	if k.ask == nil || !errors.As(err, &pe) {
		return s, err
	}
	pass, aerr := k.ask(name)
	if aerr != nil {
		return nil, fmt.Errorf("key %s: %w", name, aerr)
	}
	return parseKey(pem, name, pass)
}

// parseKey parses a private key; name says where it came from in messages.
func parseKey(pem []byte, name, passphrase string) (ssh.Signer, error) {
	s, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return s, nil
	case !errors.As(err, &missing):
		return nil, keyFormatError(name, pem, err)
	case passphrase == "":
		return nil, &passphraseError{name}
	}
	s, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(passphrase))
	if errors.Is(err, x509.IncorrectPasswordError) {
		return nil, fmt.Errorf("key %s: wrong passphrase", name)
	}
	if err != nil {
		return nil, fmt.Errorf("parse key %s: %w", name, err)
	}
	return s, nil
}

// normalizeKeyText turns a key pasted into one line of a .env file, with
// `\n` for each newline and maybe quotes around it, back into PEM text.
func normalizeKeyText(text string) []byte {
	text = strings.TrimSpace(text)
	if len(text) >= 2 && (text[0] == '"' || text[0] == '\'') && text[len(text)-1] == text[0] {
		text = text[1 : len(text)-1]
	}
	text = strings.ReplaceAll(text, `\r\n`, "\n")
	text = strings.ReplaceAll(text, `\n`, "\n")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	return []byte(strings.TrimSpace(text) + "\n")
}
