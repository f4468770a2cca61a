//go:build linux

package supervise

import (
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenerIn reports whether the socket listening on TCP port belongs to a
// process of group pgid (an app and its children). ok is false when it
// cannot tell (the kernel lists no listener there, or does not answer):
// the caller trusts its probe.
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

// listeningInodes are the inodes of the TCP sockets listening on port,
// from the kernel's socket diagnostics (netlink): it lists listening
// sockets only, a few however many connections the machine has, where
// /proc/net/tcp lists them all (19 ms a look on a machine under load).
// nil when the kernel does not answer.
func listeningInodes(port int) map[string]bool {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	inodes := map[string]bool{}
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if err := dumpListeners(fd, family, port, inodes); err != nil {
			return nil
		}
	}
	return inodes
}

// dumpListeners asks for family's listening TCP sockets and keeps the
// inodes of those on port (struct inet_diag_req_v2 and inet_diag_msg, see
// sock_diag(7)).
func dumpListeners(fd int, family uint8, port int, inodes map[string]bool) error {
	const hdr, reqLen = 16, 56
	req := make([]byte, hdr+reqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	req[hdr], req[hdr+1] = family, unix.IPPROTO_TCP
	ne.PutUint32(req[hdr+4:], 1<<tcpListen) // the states wanted
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				return errors.New("sock_diag refused the request")
			}
			// family, state, timer, retrans; then the socket's id, whose
			// first field is the local port (network order); the inode
			// comes after expires, rqueue, wqueue and uid.
			if d := m.Data; len(d) >= 72 && int(binary.BigEndian.Uint16(d[4:6])) == port {
				inodes[strconv.FormatUint(uint64(ne.Uint32(d[68:72])), 10)] = true
			}
		}
	}
}

// tcpListen is TCP_LISTEN in the kernel's numbering of TCP states.
const tcpListen = 10

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
