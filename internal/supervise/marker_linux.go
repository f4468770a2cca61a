//go:build linux

package supervise

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// markerEnv marks every process an app is made of with the supervisor that
// started it and the release folder it runs from: "PID:START:DIR", START
// being the supervisor's start time in clock ticks since boot, so that a
// reused pid is never taken for it. The app's own children inherit it, which
// is how processes that left the app's process group are found too.
// /proc/PID/environ shows the environment a process was started with, so a
// running app cannot drop it by accident.
const markerEnv = "SHIP_SUPERVISOR"

// stopPoll is the pause between two looks at what is left to stop.
const stopPoll = 50 * time.Millisecond

// marker says who started a process and from where.
type marker struct {
	pid   int
	start uint64
	dir   string
}

// supervisor names the supervising process alone: "PID:START".
func (m marker) supervisor() string {
	return strconv.Itoa(m.pid) + ":" + strconv.FormatUint(m.start, 10)
}

func (m marker) String() string { return m.supervisor() + ":" + m.dir }

func parseMarker(s string) (marker, bool) {
	f := strings.SplitN(s, ":", 3)
	if len(f) != 3 || f[2] == "" {
		return marker{}, false
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return marker{}, false
	}
	return marker{pid: pid, start: start, dir: f[2]}, true
}

// self is this process as a supervisor; read once.
var self = sync.OnceValues(func() (marker, error) {
	st, err := readStat(os.Getpid())
	if err != nil {
		return marker{}, fmt.Errorf("read own start time: %w", err)
	}
	return marker{pid: os.Getpid(), start: st.start}, nil
})

// appMarker is the markerEnv entry for an app started from dir.
func appMarker(dir string) (string, error) {
	me, err := self()
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	me.dir = abs
	return markerEnv + "=" + me.String(), nil
}

// procInfo is what this package reads from /proc/PID/stat.
type procInfo struct {
	state byte   // R, S, D, Z, …
	pgid  int    // process group
	start uint64 // start time, clock ticks since boot
}

func readStat(pid int) (procInfo, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, err
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields after it start past the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procInfo{}, errors.New("malformed stat")
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 {
		return procInfo{}, errors.New("malformed stat")
	}
	// f[0] is field 3 (state), f[2] field 5 (pgrp), f[19] field 22 (starttime).
	pgid, err1 := strconv.Atoi(f[2])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil || f[0] == "" {
		return procInfo{}, errors.New("malformed stat")
	}
	return procInfo{state: f[0][0], pgid: pgid, start: start}, nil
}

// running reports whether the supervisor m names still runs: a zombie or a
// process with another start time under its pid is not it.
func (m marker) running() bool {
	st, err := readStat(m.pid)
	return err == nil && st.start == m.start && st.state != 'Z'
}

// markerOf returns the marker in pid's environment, if any.
func markerOf(pid int) (marker, bool) {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return marker{}, false // gone, or another user's: not ours either way
	}
	for _, kv := range bytes.Split(env, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte(markerEnv+"=")); ok {
			return parseMarker(string(v))
		}
	}
	return marker{}, false
}

// sameNamespaces reports whether pid shares this process's pid and mount
// namespaces. Outside them a marker's pid and folder mean something else
// (another container's receiver under the same path).
func sameNamespaces(pid int) bool {
	for _, ns := range []string{"pid", "mnt"} {
		mine, err1 := os.Readlink("/proc/self/ns/" + ns)
		theirs, err2 := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + ns)
		if err1 != nil || err2 != nil || mine != theirs {
			return false
		}
	}
	return true
}

// markedProc is a process whose marker matched, held by a handle that on
// Linux 5.3+ is a pidfd (os.FindProcess opens one): a signal sent through it
// never reaches another process that reused the pid.
type markedProc struct {
	pid  int
	mark marker
	proc *os.Process
}

// findMarked lists the processes in this process's namespaces whose marker
// match accepts. The marker is read again after the handle is open, so the
// handle is known to hold a process that carried it.
func findMarked(match func(marker) bool) []markedProc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []markedProc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if m, ok := markerOf(pid); !ok || !match(m) || !sameNamespaces(pid) {
			continue
		}
		p, err := os.FindProcess(pid)
		if err != nil {
			continue
		}
		m, ok := markerOf(pid)
		if !ok || !match(m) {
			p.Release()
			continue
		}
		out = append(out, markedProc{pid: pid, mark: m, proc: p})
	}
	return out
}

// stopMarked stops the processes match accepts: SIGTERM to each, then
// SIGKILL to any still there after grace. It looks again every stopPoll, so
// that a process forked meanwhile is stopped too, until none is left or
// killWait has passed since the SIGKILL. It returns the pids it signalled.
func stopMarked(match func(marker) bool, grace time.Duration) []int {
	killAt := time.Now().Add(grace)
	termed := map[int]bool{}
	var pids []int
	for {
		procs := findMarked(match)
		now := time.Now()
		for _, p := range procs {
			switch {
			case !termed[p.pid]:
				termed[p.pid] = true
				pids = append(pids, p.pid)
				_ = p.proc.Signal(syscall.SIGTERM)
			case now.After(killAt):
				_ = p.proc.Signal(syscall.SIGKILL)
			}
			p.proc.Release()
		}
		if len(procs) == 0 || now.After(killAt.Add(killWait)) {
			return pids
		}
		time.Sleep(stopPoll)
	}
}

// StopLeftovers stops what a previous supervisor left running from release
// folders under root when it died without stopping its apps (SIGKILL, the
// OOM killer, and its guard gone too): processes whose marker names a
// supervisor that no longer runs. A supervisor that still runs (a second
// receiver on the same root) keeps its apps; processes of other users, other
// roots and other namespaces are not looked at. Each gets SIGTERM, then
// SIGKILL after grace. It returns the pids it stopped.
//
// The receiver calls it at start, before it starts anything.
func StopLeftovers(root string, grace time.Duration) ([]int, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("stop leftovers under %s: %w", root, err)
	}
	// Release folders are recorded resolved (current is read through its
	// symlinks); a root that is itself a link must match them.
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		abs = resolved
	}
	under := func(m marker) bool {
		rel, err := filepath.Rel(abs, m.dir)
		return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
	}
	return stopMarked(func(m marker) bool { return under(m) && !m.running() }, grace), nil
}
