package remote_test

import (
	"bufio"
	"context"
	"io"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/remote"
	"github.com/shipdeploy/ship/internal/testenv"
)

// testTimeout bounds each test's remote work, so a hang fails with a
// message instead of running into go test's global timeout.
const testTimeout = 60 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// dial connects with cfg and closes the client when the test ends.
func dial(t *testing.T, cfg remote.Config) *remote.Client {
	t.Helper()
	c, err := remote.Dial(testContext(t), cfg)
	if err != nil {
		t.Fatalf("Dial(%s): %v", cfg.Target, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// connect starts an sshd and dials it.
func connect(t *testing.T) (*testenv.SSHD, *remote.Client) {
	t.Helper()
	s := testenv.StartSSHD(t)
	return s, dial(t, s.Config())
}

// ioPipe is a pipe whose reader reads lines.
func ioPipe() (*bufio.Reader, *io.PipeWriter) {
	r, w := io.Pipe()
	return bufio.NewReader(r), w
}
