package faulttest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shipdeploy/ship/internal/release"
)

// state is what the test sees on the host, read with its own eyes (not
// through ship or the release package's listing).
type state struct {
	current  int   // the release current names
	serving  int   // what the receiver's state.json says it serves
	finished []int // release folders with release.json, ascending
}

func (w *world) look() state {
	s := state{current: w.current()}
	if st := w.state(); st != nil && st.Serving != nil {
		s.serving = st.Serving.Release
	}
	entries, _ := os.ReadDir(w.layout.Releases())
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil || !e.IsDir() || !w.finished(n) {
			continue
		}
		s.finished = append(s.finished, n)
	}
	slices.Sort(s.finished)
	return s
}

func (w *world) currentRaw() string {
	link, err := os.Readlink(w.layout.Current())
	if err != nil {
		return "missing: " + err.Error()
	}
	return link
}

// current is the release number current names (0: none, or not a release).
func (w *world) current() int {
	n, ok := release.ParseCurrentTarget(w.currentRaw())
	if !ok {
		return 0
	}
	return n
}

func (w *world) finished(n int) bool {
	_, err := os.Stat(w.layout.InfoFile(n))
	return err == nil
}

func (w *world) state() *release.State {
	st, _ := release.ReadState(release.LocalFS{}, w.layout)
	return st
}

func describeState(st *release.State) string {
	if st == nil {
		return "none"
	}
	s := fmt.Sprintf("pid %d, heartbeat %s ago", st.PID, time.Since(st.Heartbeat).Round(time.Millisecond))
	if st.Serving != nil {
		s += fmt.Sprintf(", serving %d", st.Serving.Release)
	}
	if st.Staged != nil {
		s += fmt.Sprintf(", staged %d (healthy %v)", st.Staged.Release, st.Staged.Healthy)
	}
	return s
}

// busy reports whether a deploy still holds the lock, and the run folders
// left.
func (w *world) busy() (held bool, runs []string) {
	_, err := os.Lstat(w.layout.Lock())
	held = err == nil
	entries, _ := os.ReadDir(w.layout.Runs())
	for _, e := range entries {
		runs = append(runs, e.Name())
	}
	return held, runs
}

// leftovers lists what a deploy must not leave behind once the next one
// ran: temp links and requests, stale locks, run folders, unfinished
// release folders.
func (w *world) leftovers() []string {
	var out []string
	for _, pattern := range []string{".current.tmp-*", ".ship/lock.stale-*", ".ship/lock.tmp*", ".ship/runs/*",
		"releases/.*.tmp-*", ".ship/lock", "releases/STAGE", "releases/ABORT", "releases/COMMIT"} {
		m, _ := filepath.Glob(filepath.Join(w.root, pattern))
		for _, f := range m {
			out = append(out, strings.TrimPrefix(f, w.root+"/"))
		}
	}
	entries, _ := os.ReadDir(w.layout.Releases())
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil && !w.finished(n) {
			out = append(out, "releases/"+e.Name()) // unfinished
		}
	}
	return out
}

// strays are the processes whose working folder is a release other than
// serving: an app the receiver should have stopped, a build that went on.
func (w *world) strays(serving int) []string {
	prefix := w.layout.Releases() + "/"
	keep := w.layout.Dir(serving)
	procs, _ := os.ReadDir("/proc")
	var out []string
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", p.Name(), "cwd"))
		if err != nil || !strings.HasPrefix(cwd, prefix) {
			continue
		}
		if cwd == keep || strings.HasPrefix(cwd, keep+"/") {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		out = append(out, fmt.Sprintf("pid %d in %s (%s)", pid, strings.TrimPrefix(cwd, w.root+"/"),
			strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))))
	}
	return out
}
