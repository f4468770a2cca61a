package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/shipdeploy/ship/internal/remote"
)

const (
	sshdPath       = "/usr/sbin/sshd" // sshd must be started by absolute path
	sshdStartLimit = 10 * time.Second
)

// SSHD is a throwaway OpenSSH server on 127.0.0.1, with its own host keys,
// a client key allowed to log in as the current user, and a known_hosts file
// that trusts it.
type SSHD struct {
	Host string // "127.0.0.1"
	Port int
	Addr string // "127.0.0.1:PORT"
	User string

	KeyFile string // the client's private key
	KeyText string // its content

	// KnownHostsFile holds a `[127.0.0.1]:PORT type key` line for each of
	// the server's host keys, as they were when it started.
	KnownHostsFile string
	// HostKeyFingerprint is the SHA256 fingerprint of the first host key.
	HostKeyFingerprint string
	HostKeys           []HostKey

	Dir string // the temp folder holding its files

	t          testing.TB
	opts       sshdOptions
	configFile string
	logFile    string
	cmd        *exec.Cmd
	exited     chan struct{}
}

// HostKey is one of the server's host keys.
type HostKey struct {
	Type           string // "ssh-ed25519", "ecdsa-sha2-nistp256", …
	File           string // the private key
	PublicKey      string // "TYPE BASE64", as in authorized_keys
	Fingerprint    string // "SHA256:…"
	KnownHostsLine string // "[127.0.0.1]:PORT TYPE BASE64"
}

// SSHDOption changes how StartSSHD sets the server up.
type SSHDOption func(*sshdOptions)

type sshdOptions struct {
	hostKeyTypes []string
	extra        []string
	env          []string
	shellRC      bool
	clientKey    string    // a private key to accept instead of a new one
	mount        [2]string // in a mount namespace of its own: bind [0] over [1]
}

// WithHostKeyTypes gives the server a host key of each type, as
// ssh-keygen -t names them ("ed25519", "ecdsa", "rsa"). The default is
// one ed25519 key.
func WithHostKeyTypes(types ...string) SSHDOption {
	return func(o *sshdOptions) { o.hostKeyTypes = types }
}

// WithShellRC lets bash source ~/.bashrc for each command, as it does by
// default under sshd. Without it, sessions skip it (SHLVL=1): login scripts
// vary between machines and may be slow (pyenv init takes a second here).
func WithShellRC() SSHDOption {
	return func(o *sshdOptions) { o.shellRC = true }
}

// WithClientKey makes the server accept this private key's public half
// (file.pub) instead of a key of its own: several servers, one key.
func WithClientKey(file string) SSHDOption {
	return func(o *sshdOptions) { o.clientKey = file }
}

// WithMount runs the server in a mount namespace of its own where the
// folder src is bind-mounted over dst: what its sessions see at dst is
// src. Needs root and unshare (util-linux).
func WithMount(src, dst string) SSHDOption {
	return func(o *sshdOptions) { o.mount = [2]string{src, dst} }
}

// WithEnv sets NAME=VALUE variables in every session (sshd's SetEnv: only
// its first line counts, so variables go here, not in WithConfig). A PATH
// given here replaces the default one.
func WithEnv(vars ...string) SSHDOption {
	return func(o *sshdOptions) { o.env = append(o.env, vars...) }
}

// WithConfig adds lines to sshd_config.
func WithConfig(lines ...string) SSHDOption {
	return func(o *sshdOptions) { o.extra = append(o.extra, lines...) }
}

// StartSSHD starts an sshd for the test and stops it when the test ends;
// when the test failed, the tail of the server's log is printed. It skips
// (fails in strict mode) when openssh-server is missing.
func StartSSHD(t testing.TB, opts ...SSHDOption) *SSHD {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		SkipOrFail(t, "openssh-server is not installed: run scripts/setup")
	}
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		SkipOrFail(t, "ssh-keygen is not installed: run scripts/setup")
	}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("current user: %v", err)
	}
	// sshd refuses to start without its privilege separation folder.
	_ = os.MkdirAll("/run/sshd", 0o755)

	s := &SSHD{Host: "127.0.0.1", User: u.Username, Dir: t.TempDir(), t: t}
	s.opts.hostKeyTypes = []string{"ed25519"}
	for _, o := range opts {
		o(&s.opts)
	}
	s.configFile = filepath.Join(s.Dir, "sshd_config")
	s.logFile = filepath.Join(s.Dir, "sshd.log")
	s.KeyFile = filepath.Join(s.Dir, "id_client")
	s.KnownHostsFile = filepath.Join(s.Dir, "known_hosts")
	if s.opts.clientKey != "" {
		s.KeyFile = s.opts.clientKey
	} else {
		s.genKey("ed25519", s.KeyFile)
	}
	text, err := os.ReadFile(s.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	s.KeyText = string(text)
	pub, err := os.ReadFile(s.KeyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	s.makeHostKeys()

	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			s.logTail(40)
		}
	})
	// A free port found by listening may be taken again before sshd binds
	// it: try a few.
	for attempt := 1; ; attempt++ {
		s.setPort(freePort(t))
		err := s.start()
		if err == nil {
			break
		}
		if attempt == 3 {
			s.logTail(20)
			t.Fatalf("start sshd: %v", err)
		}
	}
	s.writeKnownHosts()
	return s
}

// Target is "user@127.0.0.1:PORT".
func (s *SSHD) Target() string { return s.User + "@" + s.Addr }

// Config is a remote.Config that logs in with the client key and trusts
// the host keys the server started with; no ssh config is read.
func (s *SSHD) Config() remote.Config {
	return remote.Config{
		Target:         s.Target(),
		KeyFile:        s.KeyFile,
		KnownHostsFile: s.KnownHostsFile,
		SSHConfigFile:  "none",
		Warn:           logWriter{s.t},
	}
}

// Stop kills the server and the processes serving its connections, which
// breaks every open connection.
func (s *SSHD) Stop() {
	if s.cmd == nil {
		return
	}
	for _, pid := range descendants(s.cmd.Process.Pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart stops the server and starts it again on the same port with the
// same keys.
func (s *SSHD) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.logTail(20)
		s.t.Fatalf("restart sshd: %v", err)
	}
}

// ChangeHostKey gives the server new host keys of the same types and
// restarts it, as a rebuilt server: KnownHostsFile keeps the old keys,
// HostKeys and HostKeyFingerprint describe the new.
func (s *SSHD) ChangeHostKey() {
	s.t.Helper()
	s.Stop()
	for _, k := range s.HostKeys {
		os.Remove(k.File)
		os.Remove(k.File + ".pub")
	}
	s.makeHostKeys()
	s.writeConfig()
	s.Restart()
}

func (s *SSHD) setPort(port int) {
	s.Port = port
	s.Addr = net.JoinHostPort(s.Host, strconv.Itoa(port))
	for i := range s.HostKeys {
		s.HostKeys[i].KnownHostsLine = knownhosts.Line([]string{s.Addr}, mustParsePub(s.t, s.HostKeys[i].PublicKey))
	}
	s.writeConfig()
}

func (s *SSHD) genKey(typ, file string) {
	s.t.Helper()
	out, err := exec.Command("ssh-keygen", "-q", "-t", typ, "-N", "", "-C", "ship-test", "-f", file).CombinedOutput()
	if err != nil {
		s.t.Fatalf("ssh-keygen -t %s: %v\n%s", typ, err, out)
	}
}

func (s *SSHD) makeHostKeys() {
	s.t.Helper()
	s.HostKeys = nil
	for _, typ := range s.opts.hostKeyTypes {
		file := filepath.Join(s.Dir, "ssh_host_"+typ+"_key")
		s.genKey(typ, file)
		pub, err := os.ReadFile(file + ".pub")
		if err != nil {
			s.t.Fatal(err)
		}
		key := mustParsePub(s.t, string(pub))
		k := HostKey{
			Type:        key.Type(),
			File:        file,
			PublicKey:   strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))),
			Fingerprint: ssh.FingerprintSHA256(key),
		}
		if s.Addr != "" {
			k.KnownHostsLine = knownhosts.Line([]string{s.Addr}, key)
		}
		s.HostKeys = append(s.HostKeys, k)
	}
	s.HostKeyFingerprint = s.HostKeys[0].Fingerprint
}

func (s *SSHD) writeKnownHosts() {
	s.t.Helper()
	var b strings.Builder
	for _, k := range s.HostKeys {
		b.WriteString(k.KnownHostsLine + "\n")
	}
	if err := os.WriteFile(s.KnownHostsFile, []byte(b.String()), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

func (s *SSHD) writeConfig() {
	s.t.Helper()
	path := "/usr/local/bin:/usr/bin:/bin"
	if bun := findBun(); bun != "" {
		path += ":" + filepath.Dir(bun)
	}
	lines := []string{
		"ListenAddress " + s.Host,
		"Port " + strconv.Itoa(s.Port),
	}
	for _, k := range s.HostKeys {
		lines = append(lines, "HostKey "+k.File)
	}
	lines = append(lines,
		"AuthorizedKeysFile "+filepath.Join(s.Dir, "authorized_keys"),
		"PidFile "+filepath.Join(s.Dir, "sshd.pid"),
		"StrictModes no",
		"UsePAM no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"Subsystem sftp internal-sftp",
		"LogLevel VERBOSE",
	)
	// Non-interactive sessions get sshd's default PATH, without bun.
	env := "SetEnv PATH=" + path
	if !s.opts.shellRC {
		// bash sources ~/.bashrc for commands run by sshd unless SHLVL
		// says it is not the top shell. This machine's root .bashrc runs
		// `pyenv init`, which costs a second per command.
		env += " SHLVL=1"
	}
	for _, v := range s.opts.env {
		if p, ok := strings.CutPrefix(v, "PATH="); ok {
			env = strings.Replace(env, "PATH="+path, "PATH="+p, 1) // its own, in place of the default
			continue
		}
		if strings.ContainsAny(v, " \t") {
			v = `"` + v + `"` // sshd_config's quoting; no quote inside
		}
		env += " " + v
	}
	lines = append(lines, env)
	lines = append(lines, s.opts.extra...)
	if err := os.WriteFile(s.configFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// start runs sshd and waits until it answers with its SSH banner.
func (s *SSHD) start() error {
	cmd := InMount(s.opts.mount[0], s.opts.mount[1], sshdPath, "-D", "-e", "-f", s.configFile, "-E", s.logFile)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited

	deadline := time.Now().Add(sshdStartLimit)
	for {
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("sshd exited at start: %s", strings.TrimSpace(stderr.String()))
		default:
		}
		if banner(s.Addr) {
			return nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("sshd did not answer on %s within %s", s.Addr, sshdStartLimit)
		}
		time.Sleep(10 * time.Millisecond) // sshd gives no readiness signal but its port
	}
}

// InMount is exec.Command(name, args...) run in a mount namespace of its
// own where src is bind-mounted over dst (no namespace when src is "").
// The program keeps the process's pid: unshare and sh exec into it.
func InMount(src, dst, name string, args ...string) *exec.Cmd {
	if src == "" {
		return exec.Command(name, args...)
	}
	full := append([]string{"--mount", "--propagation", "private", "sh", "-c",
		`mount --bind "$1" "$2" && shift 2 && exec "$@"`, "sh", src, dst, name}, args...)
	return exec.Command("unshare", full...)
}

// banner reports whether an SSH server answers on addr.
func banner(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-2.0-")
}

func (s *SSHD) logTail(n int) {
	data, err := os.ReadFile(s.logFile)
	if err != nil {
		s.t.Logf("sshd log: %v", err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s.t.Logf("sshd log (%s), last %d lines:\n%s", s.logFile, len(lines), strings.Join(lines, "\n"))
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func mustParsePub(t testing.TB, line string) ssh.PublicKey {
	t.Helper()
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		t.Fatalf("parse public key %q: %v", line, err)
	}
	return key
}

// descendants lists the processes below pid, found through /proc: sshd's
// per-connection processes start their own sessions, so killing a process
// group would miss them.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The fields after the command name (in parentheses, which may
		// hold spaces) are: state ppid …
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(fields[1]); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// logWriter sends warnings to the test's log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// PID is the server's pid (0 when it is stopped).
func (s *SSHD) PID() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}
