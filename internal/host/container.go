package host

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/shipdeploy/ship/internal/shell"
)

// Engines that Container knows: their exec and inspect take the same flags.
const (
	EngineDocker = "docker"
	EnginePodman = "podman"
)

// containerKillTimeout bounds killing a cancelled command in the container.
const containerKillTimeout = 5 * time.Second

// containerName is what docker and podman accept as a container's name (an
// id is a name of hex digits): nothing an engine could read as a flag.
var containerName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// fsScript carries out the file operations inside the container.
//
//go:embed container.sh
var fsScript string

// Container is a running container on another host: every command and
// every file operation runs inside it, through the engine's exec (`docker
// exec -i NAME sh -c …`) over the host's own connection. A deploy then
// builds with the image's bun, as the image's user, and leaves files that
// user owns; the receiver in the container sees them as it would its own.
//
// File operations are container.sh's small commands rather than SFTP,
// which sees the host's filesystem, not the container's. They go through
// one exec that lasts as long as the Container (see session), so each
// costs a round trip and a few processes in the container (3.8 ms over
// loopback SSH into podman, against 0.37 ms for SFTP on the host and
// 190 ms for an engine exec of its own: BenchmarkContainerFileOp).
type Container struct {
	On     Host   // the machine the container runs on
	Engine string // EngineDocker or EnginePodman
	Name   string

	// direct runs the commands on On itself, for tests of container.sh
	// on a machine without an engine.
	direct bool

	sessMu    sync.Mutex
	sess      *session // the file operations' exec, once started
	sessBroke bool     // it broke: one exec per operation from then on
}

// OpenContainer checks that the engine runs container name on h and
// returns the Host inside it. h is not closed on failure.
func OpenContainer(ctx context.Context, h Host, engine, name string) (*Container, error) {
	if engine != EngineDocker && engine != EnginePodman {
		return nil, fmt.Errorf("engine %q: want %s or %s", engine, EngineDocker, EnginePodman)
	}
	if !containerName.MatchString(name) {
		return nil, fmt.Errorf("container name %q: give a name or id as `%s ps` shows it", name, engine)
	}
	c := &Container{On: h, Engine: engine, Name: name}
	script := "command -v " + shell.Quote(engine) + " >/dev/null 2>&1 || exit 127\n" +
		shell.Join(engine, "container", "inspect", "--format", "{{.State.Running}}", name)
	out, err := Output(ctx, h, script)
	var ee *ExitError
	switch running := strings.TrimSpace(string(out)); {
	case errors.As(err, &ee) && ee.Status == 127:
		return nil, fmt.Errorf("%s is not installed on %s (or not on the PATH of a non-interactive session): --engine chooses docker or podman", engine, h)
	case err != nil && strings.Contains(strings.ToLower(err.Error()), "no such"):
		return nil, fmt.Errorf("%s on %s has no container %s: `%s ps` lists the running ones (--engine chooses docker or podman)",
			engine, h, name, engine)
	case err != nil:
		return nil, fmt.Errorf("ask %s on %s about container %s: %w", engine, h, name, err)
	case running != "true":
		return nil, fmt.Errorf("container %s on %s is not running: start it (%s start %s)", name, h, engine, name)
	}
	return c, nil
}

func (c *Container) String() string { return fmt.Sprintf("%s (%s %s)", c.On, c.Engine, c.Name) }

// Close ends the file session and closes the host.
func (c *Container) Close() error {
	c.sessMu.Lock()
	s := c.sess
	c.sess, c.sessBroke = nil, true
	c.sessMu.Unlock()
	if s != nil {
		s.close()
	}
	return c.On.Close()
}

// Run runs the script with sh in the container, as the image's user in its
// working folder. When ctx ends first, every process the script started is
// killed, as remote.Client and Local do: the engine's exec client dying
// does not stop them.
func (c *Container) Run(ctx context.Context, cmd Command) error {
	id, err := newExecID()
	if err != nil {
		return err
	}
	cmd.Script = c.exec(cmd.Stdin != nil, "SHIP_EXEC="+id, "sh", "-c", cmd.Script)
	err = c.On.Run(ctx, cmd)
	if ctx.Err() != nil {
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), containerKillTimeout)
		defer cancel()
		_, _ = c.execOp(kctx, "kill", nil, id)
	}
	return err
}

// exec is the host's command line that runs words in the container, with
// the environment variable env ("" for none); -i passes standard input on.
func (c *Container) exec(stdin bool, env string, words ...string) string {
	if c.direct {
		if env != "" {
			words = append([]string{"env", env}, words...)
		}
		return shell.Join(words...)
	}
	line := []string{c.Engine, "exec"}
	if stdin {
		line = append(line, "-i")
	}
	if env != "" {
		line = append(line, "--env", env)
	}
	line = append(line, c.Name)
	return shell.Join(append(line, words...)...)
}

// Exit statuses of container.sh.
var fsErrors = map[int]error{
	3: fs.ErrNotExist,
	4: fs.ErrExist,
	5: fs.ErrPermission,
	6: errNotDir,
	7: errNotLink,
}

var (
	errNotDir  = errors.New("not a directory")
	errNotLink = errors.New("not a symlink")
)

// fsOp runs one operation of container.sh and returns its stdout. A known
// exit status becomes its error; any other failure carries the message.
func (c *Container) fsOp(op string, stdin []byte, args ...string) ([]byte, error) {
	if s := c.session(); s != nil {
		status, out, errb, err := s.do(op, stdin, args)
		switch {
		case errors.Is(err, errSessionEnded):
			c.dropSession(s)
			return c.execOp(context.Background(), op, stdin, args...)
		case err != nil:
			c.dropSession(s)
			return nil, err
		case status != 0:
			return nil, opError(&ExitError{Status: status}, errb)
		}
		return out, nil
	}
	return c.execOp(context.Background(), op, stdin, args...)
}

// execOp runs one operation with an exec of its own.
func (c *Container) execOp(ctx context.Context, op string, stdin []byte, args ...string) ([]byte, error) {
	var out, errb bytes.Buffer
	cmd := Command{Stdout: &out, Stderr: &errb}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.Script = c.exec(stdin != nil, "", append([]string{"sh", "-c", fsScript, "ship-fs", op}, args...)...)
	if err := c.On.Run(ctx, cmd); err != nil {
		return nil, opError(err, errb.Bytes())
	}
	return out.Bytes(), nil
}

// opError is the error of a failed operation: a known exit status as its
// fs error, else the failure with the operation's message.
func opError(err error, stderr []byte) error {
	var ee *ExitError
	if errors.As(err, &ee) {
		if known, ok := fsErrors[ee.Status]; ok {
			return known
		}
		if msg := strings.TrimSpace(string(stderr)); msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
	}
	return err
}

// session returns the file session, starting it on first use; nil once
// one broke.
func (c *Container) session() *session {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	if c.sess == nil && !c.sessBroke {
		c.sess = c.startSession()
	}
	return c.sess
}

func (c *Container) dropSession(s *session) {
	c.sessMu.Lock()
	if c.sess == s {
		c.sess, c.sessBroke = nil, true
	}
	c.sessMu.Unlock()
	s.close()
}

func newExecID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make a command id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

var _ Host = (*Container)(nil)
