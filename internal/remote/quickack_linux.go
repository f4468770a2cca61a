package remote

import (
	"net"
	"syscall"
)

// QuickAck turns off delayed ACKs on a TCP connection after every read.
// sshd does not set TCP_NODELAY on non-interactive sessions, so its small
// packets wait (Nagle) for our ACK of the previous one, which Linux delays
// by up to 40 ms; right after login that stalls the first command. Linux
// clears TCP_QUICKACK by itself, hence setting it after each read.
// (Exported for the test harness's latency proxy, whose hops must not add
// delayed ACKs of their own.)
type quickAckConn struct {
	net.Conn
	raw syscall.RawConn
}

func QuickAck(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	q := &quickAckConn{Conn: c, raw: raw}
	q.set()
	return q
}

func (q *quickAckConn) set() {
	_ = q.raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}

func (q *quickAckConn) Read(p []byte) (int, error) {
	n, err := q.Conn.Read(p)
	q.set()
	return n, err
}
