//go:build linux

package supervise

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// listenerIn reports whether the socket listening on TCP port belongs to a
// process of group pgid (an app and its children). ok is false when /proc
// cannot tell (no listener found there): the caller trusts its probe.
//
// A probe that gets an answer on the app's port proves only that something
// listens there: a port that was free when it was picked can be taken by
// another program before the app binds it, and then the app fails to
// listen while the other program passes its health check.
func listenerIn(port, pgid int) (mine, ok bool) {
	inodes := listeningInodes(port)
	if len(inodes) == 0 {
		return false, false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false, false
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err != nil || st.pgid != pgid {
			continue
		}
		if holdsSocket(pid, inodes) {
			return true, true
		}
	}
	return false, true
}

// listeningInodes are the inodes of the sockets in LISTEN state on port,
// from /proc/net/tcp and tcp6 (this network namespace's).
func listeningInodes(port int) map[string]bool {
	want := ":" + strings.ToUpper(strconv.FormatInt(int64(port), 16))
	inodes := map[string]bool{}
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fl := strings.Fields(sc.Text())
			if len(fl) > 9 && fl[3] == "0A" && strings.HasSuffix(fl[1], want) {
				inodes[fl[9]] = true
			}
		}
		f.Close()
	}
	return inodes
}

// holdsSocket reports whether process pid has one of the socket inodes open.
func holdsSocket(pid int, inodes map[string]bool) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		link, err := os.Readlink(dir + fd.Name())
		if err == nil && strings.HasPrefix(link, "socket:[") && inodes[strings.TrimSuffix(link[len("socket:["):], "]")] {
			return true
		}
	}
	return false
}
