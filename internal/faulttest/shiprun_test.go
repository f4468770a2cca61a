package faulttest

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/testenv"
)

// stages of a deploy as `ship -v` announces them ("  [4/9] install …"),
// after "start": ship was just started.
var stages = append([]string{"start"}, deploy.StageNames()...)

var stageLine = regexp.MustCompile(`\[\d+/\d+\] (\w+) …$`)

// shipRun is one ship process.
type shipRun struct {
	args    []string
	cmd     *exec.Cmd
	out     testenv.SyncBuffer
	started time.Time

	mu     sync.Mutex
	seen   map[string]chan struct{} // closed when the stage's line appears
	last   string                   // the last stage announced
	done   chan struct{}
	code   int // exit status; -1 when a signal ended it
	killed bool
}

// start runs ship with args (plus the world's key and known hosts) and
// returns at once.
func (w *world) start(t *testing.T, args ...string) *shipRun {
	t.Helper()
	return w.startIn(t, os.Getenv("HOME"), args...)
}

// startIn is start with another HOME (a local deploy's script looks for
// programs in $HOME/.bun/bin first).
func (w *world) startIn(t *testing.T, home string, args ...string) *shipRun {
	t.Helper()
	args = append(args, "--key", w.sshd.KeyFile, "--known-hosts", w.knownHosts)
	r := &shipRun{args: args, seen: map[string]chan struct{}{}, done: make(chan struct{}), last: "start"}
	for _, s := range stages {
		r.seen[s] = make(chan struct{})
	}
	close(r.seen["start"])
	r.cmd = exec.Command(w.ship, args...)
	r.cmd.Dir = t.TempDir() // no ship.yml
	r.cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home, "USER=" + w.sshd.User}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.cmd.Stdout, r.cmd.Stderr = pw, pw
	r.started = time.Now()
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() { r.signal(syscall.SIGKILL); <-r.done })
	go r.read(pr)
	return r
}

// read takes ship's output line by line, noting the stages, until the
// process ends.
func (r *shipRun) read(pr io.ReadCloser) {
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		r.out.Write([]byte(line + "\n"))
		if m := stageLine.FindStringSubmatch(line); m != nil {
			r.mu.Lock()
			if ch, ok := r.seen[m[1]]; ok {
				r.last = m[1]
				select {
				case <-ch:
				default:
					close(ch)
				}
			}
			r.mu.Unlock()
		}
	}
	_, _ = io.Copy(io.Discard, pr)
	pr.Close()
	err := r.cmd.Wait()
	r.code = r.cmd.ProcessState.ExitCode()
	if err != nil && r.code == -1 {
		r.killed = true
	}
	close(r.done)
}

// ended reports whether ship has exited.
func (r *shipRun) ended() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// wait waits up to limit for ship to exit and returns its status; false
// when it did not.
func (r *shipRun) wait(limit time.Duration) (int, bool) {
	select {
	case <-r.done:
		return r.code, true
	case <-time.After(limit):
		return 0, false
	}
}

func (r *shipRun) signal(sig syscall.Signal) {
	if !r.ended() {
		_ = r.cmd.Process.Signal(sig)
	}
}

func (r *shipRun) stage() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

var (
	claimLine  = regexp.MustCompile(`✓ \S+ is on release (\d+) `)
	failedLine = regexp.MustCompile(`\[\d+/\d+\] (\w+)\s+failed after`)
)

// failedAt is the stage ship reported as failed ("" when none).
func (r *shipRun) failedAt() string {
	if m := failedLine.FindStringSubmatch(r.out.String()); m != nil {
		return m[1]
	}
	return ""
}

// claimed is the release ship said it deployed (0: it said no such thing).
func (r *shipRun) claimed() int {
	m := claimLine.FindStringSubmatch(r.out.String())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// before is the moment before ship starts (a fault already there).
const before = "before"

// moment is when a fault strikes: delay after ship announced stage.
type moment struct {
	stage string
	delay time.Duration
}

func (m moment) String() string {
	return fmt.Sprintf("%s+%dms", m.stage, m.delay.Milliseconds())
}

// randomMoment picks a stage of a deploy and a delay into it: half of the
// time within its first 25 ms (most stages take only that long), else
// within 250 ms (the build, the stage and the switch take longer).
func randomMoment(rng *rand.Rand) moment {
	within := 250
	if rng.IntN(2) == 0 {
		within = 25
	}
	return moment{stage: stages[rng.IntN(len(stages))], delay: time.Duration(rng.IntN(within)) * time.Millisecond}
}

// at runs fault at moment m of r. It returns the stage ship was in when
// the fault struck, and false when ship had ended before (fault is not
// run then).
func (r *shipRun) at(m moment, fault func()) (string, bool) {
	select {
	case <-r.seen[m.stage]:
	case <-r.done:
		return "ended", false
	}
	select {
	case <-time.After(m.delay):
	case <-r.done:
		return "ended", false
	}
	st := r.stage()
	fault()
	return st, true
}

// tail is the last n lines of ship's output.
func (r *shipRun) tail(n int) string {
	lines := strings.Split(strings.TrimRight(r.out.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
