package host

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// sessionCloseTimeout bounds waiting for the session's exec to end on Close.
const sessionCloseTimeout = 5 * time.Second

// An engine's exec costs far more than a round trip (0.2-0.4 s with podman
// here, more under load), so the file operations go through one exec of
// `container.sh serve` that carries them one at a time. Should it break, a
// Container falls back to one exec per operation.

// session is one running `container.sh serve`.
type session struct {
	mu   sync.Mutex // one request at a time
	in   *io.PipeWriter
	out  *bufio.Reader
	done chan struct{} // closed when the exec ended
	errb bytes.Buffer  // its stderr, read once it ended
}

// errSessionEnded is a request that could not be sent: the operation did
// not run, and may run another way.
var errSessionEnded = errors.New("the file session ended")

func (c *Container) startSession() *session {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &session{in: inW, out: bufio.NewReader(outR), done: make(chan struct{})}
	go func() {
		err := c.On.Run(context.Background(), Command{
			Script: c.exec(true, "", "sh", "-c", fsScript, "ship-fs", "serve"),
			Stdin:  inR, Stdout: outW, Stderr: &s.errb,
		})
		// Run has returned: nothing writes errb any more.
		if msg := strings.TrimSpace(s.errb.String()); msg != "" {
			err = fmt.Errorf("%v: %s", err, msg)
		}
		inR.CloseWithError(errSessionEnded) // a writer blocked on a dead exec returns
		// Not errSessionEnded: an answer lost may follow an operation done.
		outW.CloseWithError(fmt.Errorf("the file session in the container ended: %v", err))
		close(s.done)
	}()
	return s
}

// do runs one operation. errSessionEnded means it did not run.
func (s *session) do(op string, stdin []byte, args []string) (status int, stdout, stderr []byte, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var req bytes.Buffer
	n := -1
	if stdin != nil {
		n = len(stdin)
	}
	fmt.Fprintf(&req, "%s %d %d\n", op, len(args), n)
	for _, a := range args {
		req.WriteString(printfEscape(a))
		req.WriteByte('\n')
	}
	req.Write(stdin)
	if _, err := s.in.Write(req.Bytes()); err != nil {
		return 0, nil, nil, errSessionEnded
	}
	// From here the operation may have run: a failure is not retried.
	line, err := s.out.ReadString('\n')
	if err != nil {
		return 0, nil, nil, err
	}
	var outLen, errLen int
	if _, err := fmt.Sscanf(line, "%d %d %d\n", &status, &outLen, &errLen); err != nil {
		return 0, nil, nil, fmt.Errorf("the file session answered %q", line)
	}
	body := make([]byte, outLen+errLen)
	if _, err := io.ReadFull(s.out, body); err != nil {
		return 0, nil, nil, err
	}
	return status, body[:outLen], body[outLen:], nil
}

// close ends the exec by closing its input, and waits a little for it.
func (s *session) close() {
	s.in.Close()
	select {
	case <-s.done:
	case <-time.After(sessionCloseTimeout):
	}
}

// printfEscape writes s for printf's %b: every byte but the plainest as
// \0NNN, so a newline or a quote is only data.
func printfEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/._-", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, `\0%03o`, c) // three digits: a digit after it is not read as its own
	}
	return b.String()
}
