package supervise

import (
	"fmt"
	"net"
	"sync"
)

// recentPorts remembers the last ports handed out, so that two instances
// started close together (the old one not yet stopped) never get the same
// port, even if the kernel offers it twice.
var recentPorts struct {
	sync.Mutex
	ports [16]int
	next  int
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now.
// The port is free when returned, not reserved: the app binds it a moment
// later, and another program could take it first (rare on a server; the
// health check then fails and the reload says so).
func FreePort() (int, error) {
	recentPorts.Lock()
	defer recentPorts.Unlock()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free loopback port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !recentlyUsed(port) {
			recentPorts.ports[recentPorts.next] = port
			recentPorts.next = (recentPorts.next + 1) % len(recentPorts.ports)
			return port, nil
		}
	}
	return 0, fmt.Errorf("find a free loopback port: the kernel keeps offering recent ones")
}

func recentlyUsed(port int) bool {
	for _, p := range recentPorts.ports {
		if p == port {
			return true
		}
	}
	return false
}
