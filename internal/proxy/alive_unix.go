//go:build linux || darwin || freebsd || netbsd || openbsd

package proxy

import (
	"net"
	"syscall"
)

// peek looks at a connection without blocking and without consuming: has
// the peer sent bytes, has it closed? It costs one system call.
func peek(c net.Conn) (data, closed bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, true
	}
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n > 0:
			data = true
		case n == 0 && err == nil: // orderly close (EOF)
			closed = true
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR:
			// nothing to read: open and quiet
		default:
			closed = true
		}
		return true // never wait for readiness
	})
	return data, closed || err != nil
}

// connAlive reports whether an idle pooled connection is still usable: the
// app has neither closed it nor sent anything unasked.
func connAlive(c net.Conn) bool {
	data, closed := peek(c)
	return !data && !closed
}

// peerClosed reports whether the client closed its connection.
func peerClosed(c net.Conn) bool {
	_, closed := peek(c)
	return closed
}
