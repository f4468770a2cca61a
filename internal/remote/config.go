package remote

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Defaults for Config fields left zero.
const (
	DefaultTimeout   = 15 * time.Second
	DefaultKeepAlive = 15 * time.Second
	// keepAliveMax is how many keepalives may go unanswered before the
	// connection is given up, as OpenSSH's ServerAliveCountMax.
	keepAliveMax = 3
)

// Config says where to connect and how. Callers fill it from flags and the
// environment; fields given here win over ~/.ssh/config.
type Config struct {
	// Target is [user@]host[:port], [user@][v6addr]:port, or a Host alias
	// from the ssh config.
	Target string
	// User is used when Target names none; then the ssh config's User, then
	// the local user.
	User string

	// KeyFile is a private key file; KeyText a private key's text, where the
	// two characters `\n` may stand for newlines (as keys are put in .env
	// files). With either, only that key is offered. With neither: the keys
	// of ssh-agent (SSH_AUTH_SOCK), then the ssh config's IdentityFile, else
	// ~/.ssh/id_ed25519, id_ecdsa and id_rsa.
	KeyFile    string
	KeyText    string
	Passphrase string
	// AskPassphrase, when set, is asked for the passphrase of a protected
	// key that Passphrase does not open (a terminal's prompt).
	AskPassphrase func(key string) (string, error)

	// KnownHostsFile and KnownHostsText (a known_hosts file's content) hold
	// the host keys to trust. With neither, ~/.ssh/known_hosts is used.
	KnownHostsFile string
	KnownHostsText string
	// InsecureIgnoreHostKey accepts any host key, with a warning to Warn on
	// every connection.
	InsecureIgnoreHostKey bool

	// Jump is a bastion, [user@]host[:port], or several separated by commas;
	// "none" disables the ssh config's ProxyJump.
	Jump string

	// Timeout bounds the TCP connect and the SSH handshake, per hop
	// (default 15s).
	Timeout time.Duration
	// KeepAlive is the interval of keepalive requests; after 3 unanswered
	// the connection is closed (default 15s; negative disables).
	KeepAlive time.Duration

	// SSHConfigFile is the OpenSSH client config to read (default
	// ~/.ssh/config; "none" reads none).
	SSHConfigFile string

	// Warn receives warnings for a person (default os.Stderr).
	Warn io.Writer
}

// endpoint is one host to log in to, resolved through the ssh config.
type endpoint struct {
	host          string // name or address to connect to
	port          int
	user          string
	identityFiles []string // from the ssh config, expanded
	jump          string   // the ssh config's ProxyJump
}

func (e endpoint) addr() string { return net.JoinHostPort(e.host, strconv.Itoa(e.port)) }

func (e endpoint) String() string { return e.user + "@" + e.addr() }

// SplitTarget is splitTarget, for commands that name a host of a target.
func SplitTarget(s string) (userName, host string, port int, err error) { return splitTarget(s) }

// splitTarget parses [user@]host[:port] and [user@][v6addr]:port. A bare
// IPv6 address without brackets has no port. port is 0 when not given.
func splitTarget(s string) (userName, host string, port int, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", "", 0, fmt.Errorf("no host given")
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		userName, s = s[:i], s[i+1:]
		if userName == "" {
			return "", "", 0, fmt.Errorf("empty user in %q", s)
		}
	}
	host = s
	var portText string
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return "", "", 0, fmt.Errorf("missing ] in %q", s)
		}
		host, portText = s[1:end], strings.TrimPrefix(s[end+1:], ":")
		if rest := s[end+1:]; rest != "" && !strings.HasPrefix(rest, ":") {
			return "", "", 0, fmt.Errorf("unexpected %q after ] in %q", rest, s)
		}
	case strings.Count(s, ":") == 1:
		host, portText, _ = strings.Cut(s, ":")
	}
	if host == "" {
		return "", "", 0, fmt.Errorf("no host in %q", s)
	}
	if portText != "" {
		port, err = parsePort(portText)
		if err != nil {
			return "", "", 0, err
		}
	}
	return userName, host, port, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return p, nil
}

func (cfg *Config) setDefaults() {
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.Warn == nil {
		cfg.Warn = os.Stderr
	}
}

// resolve turns Target and Jump into endpoints, the bastions first.
func (cfg *Config) resolve() (target endpoint, jumps []endpoint, err error) {
	sc, err := loadSSHConfig(cfg.SSHConfigFile)
	if err != nil {
		return endpoint{}, nil, err
	}
	target, err = resolveEndpoint(sc, cfg.Target, cfg.User)
	if err != nil {
		return endpoint{}, nil, fmt.Errorf("target %q: %w", cfg.Target, err)
	}
	jump := cfg.Jump
	if jump == "" {
		jump = target.jump
	}
	if jump == "" || strings.EqualFold(jump, "none") {
		return target, nil, nil
	}
	for _, j := range strings.Split(jump, ",") {
		// As OpenSSH's -J: a bastion's user comes from its own spec or
		// the ssh config, not from the target's.
		ep, err := resolveEndpoint(sc, j, "")
		if err != nil {
			return endpoint{}, nil, fmt.Errorf("jump host %q: %w", j, err)
		}
		jumps = append(jumps, ep)
	}
	return target, jumps, nil
}

func resolveEndpoint(sc *sshConfig, spec, defaultUser string) (endpoint, error) {
	userName, alias, port, err := splitTarget(spec)
	if err != nil {
		return endpoint{}, err
	}
	o := sc.lookup(alias)
	ep := endpoint{host: alias, port: port, user: userName, jump: o.proxyJump}
	if o.hostName != "" {
		ep.host = strings.ReplaceAll(o.hostName, "%h", alias)
	}
	if ep.port == 0 && o.port != "" {
		if ep.port, err = parsePort(o.port); err != nil {
			return endpoint{}, fmt.Errorf("ssh config for %s: %w", alias, err)
		}
	}
	if ep.port == 0 {
		ep.port = 22
	}
	for _, u := range []string{defaultUser, o.user} {
		if ep.user == "" {
			ep.user = u
		}
	}
	if ep.user == "" {
		if ep.user, err = localUser(); err != nil {
			return endpoint{}, err
		}
	}
	for _, f := range o.identityFiles {
		ep.identityFiles = append(ep.identityFiles, expandHome(f))
	}
	return ep, nil
}

func localUser() (string, error) {
	if u := os.Getenv("USER"); u != "" {
		return u, nil
	}
	u, err := user.Current()
	if err != nil {
		return "", fmt.Errorf("no user given and the local user is unknown: %w", err)
	}
	return u.Username, nil
}

// expandHome expands a leading ~/ and OpenSSH's %d (the home folder).
func expandHome(p string) string {
	home, err := os.UserHomeDir()
	if err != nil {
		return p
	}
	p = strings.ReplaceAll(p, "%d", home)
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}
