package supervise

import (
	"bytes"
	"io"
	"sync"
)

// DefaultTailLines is how many output lines a Process keeps for errors.
const DefaultTailLines = 50

// maxLine bounds one line in the tail and the partial line kept while
// waiting for its newline; a longer line is cut there.
const maxLine = 64 << 10

// tailKeep bounds one line as kept in the tail: enough for an error message.
const tailKeep = 2 << 10

// tail is a ring of the last lines written to it.
type tail struct {
	mu    sync.Mutex
	lines []string
	next  int
	full  bool
}

func newTail(n int) *tail {
	if n <= 0 {
		n = DefaultTailLines
	}
	return &tail{lines: make([]string, n)}
}

func (t *tail) add(line []byte) {
	if len(line) > tailKeep {
		line = append(line[:tailKeep:tailKeep], "…"...)
	}
	t.mu.Lock()
	t.lines[t.next] = string(line)
	t.next = (t.next + 1) % len(t.lines)
	if t.next == 0 {
		t.full = true
	}
	t.mu.Unlock()
}

// Lines returns the kept lines, oldest first.
func (t *tail) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.full {
		return append([]string(nil), t.lines[:t.next]...)
	}
	out := make([]string, 0, len(t.lines))
	out = append(out, t.lines[t.next:]...)
	return append(out, t.lines[:t.next]...)
}

// copyLines reads r to EOF and hands out whole lines: to the tail one by one,
// and to out in one Write per read, so that two processes writing to the same
// out (old and new instance during a switch) never interleave inside a line.
// Write errors on out are ignored: the pipe must keep draining or the app
// blocks on its own output.
func copyLines(r io.Reader, out io.Writer, t *tail) {
	buf := make([]byte, 32<<10)
	var pending []byte
	for {
		n, err := r.Read(buf)
		if n > 0 {
			pending = append(pending, buf[:n]...)
			cut := bytes.LastIndexByte(pending, '\n') + 1
			if cut == 0 && len(pending) >= maxLine {
				pending = append(pending, '\n') // a line too long: cut it here
				cut = len(pending)
			}
			if cut > 0 {
				emit(pending[:cut], out, t)
				pending = append(pending[:0], pending[cut:]...)
			}
		}
		if err != nil {
			if len(pending) > 0 {
				emit(append(pending, '\n'), out, t)
			}
			return
		}
	}
}

func emit(chunk []byte, out io.Writer, t *tail) {
	for rest := chunk; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		t.add(bytes.TrimRight(rest[:i], "\r"))
		rest = rest[i+1:]
	}
	if out != nil {
		_, _ = out.Write(chunk)
	}
}
