package remote

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

var (
	// ErrHostKeyUnknown is a server whose host key no known_hosts line names.
	ErrHostKeyUnknown = errors.New("unknown host key")
	// ErrHostKeyChanged is a server whose known_hosts lines hold other keys
	// than the one it offered: rebuilt, or someone in the middle.
	ErrHostKeyChanged = errors.New("HOST KEY CHANGED")
)

const knownHostsTextLabel = "(known hosts text)"

// hostKeys checks servers' keys against known_hosts, or, when insecure,
// accepts them with a warning.
type hostKeys struct {
	check    ssh.HostKeyCallback // nil: no file exists, every host is unknown
	files    []string            // for messages
	insecure bool
	warn     io.Writer
}

func newHostKeys(cfg *Config) (*hostKeys, error) {
	h := &hostKeys{insecure: cfg.InsecureIgnoreHostKey, warn: cfg.Warn}
	if h.insecure {
		return h, nil
	}
	var files []string
	if cfg.KnownHostsFile != "" {
		files = append(files, expandHome(cfg.KnownHostsFile))
	}
	if cfg.KnownHostsText != "" {
		tmp, err := writeTempKnownHosts(cfg.KnownHostsText)
		if err != nil {
			return nil, err
		}
		defer os.Remove(tmp) // knownhosts.New reads the files at once
		files = append(files, tmp)
	}
	if len(files) == 0 {
		// The default file may be missing: then every host is unknown,
		// and the message says how to add one.
		def := expandHome("~/.ssh/known_hosts")
		h.files = []string{def}
		if _, err := os.Stat(def); errors.Is(err, fs.ErrNotExist) {
			return h, nil
		}
		files = []string{def}
	}
	check, err := knownhosts.New(files...)
	if err != nil {
		return nil, fmt.Errorf("read known hosts: %w", relabel(err, files))
	}
	h.check, h.files = check, files
	return h, nil
}

func writeTempKnownHosts(text string) (string, error) {
	f, err := os.CreateTemp("", "ship-known-hosts-*") // CreateTemp makes it 0600
	if err != nil {
		return "", fmt.Errorf("write known hosts text: %w", err)
	}
	_, err = f.WriteString(text + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write known hosts text: %w", err)
	}
	return f.Name(), nil
}

// relabel names the temp copy of KnownHostsText as such in messages.
func relabel(err error, files []string) error {
	msg := err.Error()
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "ship-known-hosts-") {
			msg = strings.ReplaceAll(msg, f, knownHostsTextLabel)
		}
	}
	return errors.New(msg)
}

func (h *hostKeys) fileLabel(name string) string {
	if strings.HasPrefix(filepath.Base(name), "ship-known-hosts-") {
		return knownHostsTextLabel
	}
	return name
}

// algorithms returns the host key algorithms to ask the server for: those
// of the keys known_hosts holds for addr. Without this the server offers
// its preferred key, which may be a type we hold no line for, and the check
// fails although we know another of its keys (golang/go#29286). nil means
// no preference: the host is unknown, or checking is off.
func (h *hostKeys) algorithms(addr string) []string {
	if h.check == nil {
		return nil
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil
	}
	probe, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil
	}
	// A fresh key is never known: the error lists what is known for addr.
	var ke *knownhosts.KeyError
	if err := h.check(addr, &net.TCPAddr{IP: net.IPv4zero}, probe.PublicKey()); !errors.As(err, &ke) {
		return nil
	}
	have := map[string]bool{}
	for _, k := range ke.Want {
		have[k.Key.Type()] = true
	}
	var algos []string
	for _, t := range keyTypePreference {
		if have[t] {
			algos = append(algos, algorithmsForKeyType(t)...)
			delete(have, t)
		}
	}
	for t := range have { // types we do not rank: ask for them as they are
		algos = append(algos, algorithmsForKeyType(t)...)
	}
	return algos
}

// keyTypePreference orders host key types as OpenSSH does.
var keyTypePreference = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSA,
}

// algorithmsForKeyType maps a key type to the signature algorithms that
// prove it: an RSA key signs with SHA-2 (RFC 8332), or SHA-1 on old servers.
func algorithmsForKeyType(t string) []string {
	if t == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{t}
}

// callback checks the key offered by addr. The error it returns is also
// kept in got, so that the caller reports it rather than the handshake's
// wrapping of it.
func (h *hostKeys) callback(addr string, got *errBox) ssh.HostKeyCallback {
	return func(_ string, remote net.Addr, key ssh.PublicKey) error {
		err := h.verify(addr, remote, key)
		got.set(err)
		return err
	}
}

// errBox holds an error set by the handshake's goroutine, which may still
// run when a timed-out handshake returns.
type errBox struct {
	mu  sync.Mutex
	err error
}

func (b *errBox) set(err error) {
	b.mu.Lock()
	b.err = err
	b.mu.Unlock()
}

func (b *errBox) get() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (h *hostKeys) verify(addr string, remote net.Addr, key ssh.PublicKey) error {
	offered := key.Type() + " " + ssh.FingerprintSHA256(key)
	if h.insecure {
		fmt.Fprintf(h.warn, "warning: host key checking is OFF for %s (--insecure-ignore-host-key); offered %s\n", addr, offered)
		return nil
	}
	if h.check == nil {
		return h.unknown(addr, offered)
	}
	err := h.check(addr, remote, key)
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return fmt.Errorf("%w for %s: the server offered %s, which %s:%d marks @revoked", ErrHostKeyChanged, addr, offered, h.fileLabel(re.Revoked.Filename), re.Revoked.Line)
	case !errors.As(err, &ke):
		return fmt.Errorf("check host key of %s: %w", addr, err)
	case len(ke.Want) == 0:
		return h.unknown(addr, offered)
	}
	// Name the lines of the offered type first: those are the ones the
	// server's new key contradicts.
	var lines []string
	for _, sameType := range []bool{true, false} {
		for _, k := range ke.Want {
			if (k.Key.Type() == key.Type()) == sameType {
				lines = append(lines, fmt.Sprintf("%s:%d has %s %s", h.fileLabel(k.Filename), k.Line, k.Key.Type(), ssh.FingerprintSHA256(k.Key)))
			}
		}
	}
	return fmt.Errorf("%w for %s: known_hosts line %s, server offered %s; if the server was rebuilt, remove the old line (ssh-keygen -R '%s' -f %s) and add its new key after checking the fingerprint out of band; otherwise someone may be intercepting the connection",
		ErrHostKeyChanged, addr, strings.Join(lines, ", line "), offered, knownhosts.Normalize(addr), h.fileLabel(ke.Want[0].Filename))
}

func (h *hostKeys) unknown(addr, offered string) error {
	host, port, _ := net.SplitHostPort(addr)
	files := make([]string, len(h.files))
	for i, f := range h.files {
		files[i] = h.fileLabel(f)
	}
	return fmt.Errorf("%w for %s: the server offered %s, and %s holds no line for %s; check that fingerprint out of band (on the server: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then add the host: ssh-keyscan -p %s %s >> ~/.ssh/known_hosts (or pass its line as known hosts text)",
		ErrHostKeyUnknown, addr, offered, strings.Join(files, ", "), knownhosts.Normalize(addr), port, host)
}
