//go:build linux

package supervise

import (
	"bufio"
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/testenv"
)

// listeners returns the addresses sockets listen on at port, from
// /proc/net/tcp and tcp6: what the kernel says, whatever the app says.
func listeners(t *testing.T, port int) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue // no IPv6
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			hexIP, hexPort, ok := strings.Cut(fields[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); !ok || err != nil || int(p) != port {
				continue
			}
			b, err := hex.DecodeString(hexIP)
			if err != nil || (len(b) != 4 && len(b) != 16) {
				t.Fatalf("%s: cannot read address %q", file, fields[1])
			}
			// The kernel prints each 32-bit word in host order (little endian here).
			for i := 0; i < len(b); i += 4 {
				b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
			}
			addr, _ := netip.AddrFromSlice(b)
			out = append(out, addr.Unmap())
		}
		f.Close()
	}
	return out
}

// otherAddr is an IPv4 address of this machine that is not loopback, if it
// has one.
func otherAddr() (netip.Addr, bool) {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			addr, _ := netip.AddrFromSlice(n.IP.To4())
			return addr, true
		}
	}
	return netip.Addr{}, false
}

// The example app under the default host listens on loopback only: its port
// does not answer on the machine's other addresses. The control (KeepHost,
// no HOST) shows the check sees an app that listens everywhere.
func TestExampleAppListensOnLoopbackOnly(t *testing.T) {
	dir, path := testenv.BuiltHello(t)
	tests := []struct {
		name         string
		host         string
		wantLoopback bool
	}{
		{"default host", "", true},
		{"control: KeepHost without HOST", KeepHost, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port, err := FreePort()
			if err != nil {
				t.Fatal(err)
			}
			p := start(t, Spec{Dir: dir, Command: "bun start", Port: port, Host: tt.host,
				Env: []string{"PATH=" + path, "HOST=", "HOSTNAME=", "NITRO_HOST="}})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := WaitHealthy(ctx, p, "127.0.0.1:"+itoa(port), "/healthz"); err != nil {
				t.Fatalf("the example app never answered: %v; output %q", err, p.Tail())
			}
			binds := listeners(t, port)
			if len(binds) == 0 {
				t.Fatalf("nothing listens on port %d in /proc/net/tcp*", port)
			}
			for _, b := range binds {
				if b.IsLoopback() != tt.wantLoopback {
					t.Errorf("the app listens on %s:%d, want loopback only: %v", b, port, tt.wantLoopback)
				}
			}
			other, ok := otherAddr()
			if !ok {
				t.Logf("no non-loopback address here: checked the listening address only")
				return
			}
			c, err := net.DialTimeout("tcp", netip.AddrPortFrom(other, uint16(port)).String(), 2*time.Second)
			if err == nil {
				c.Close()
			}
			if reached := err == nil; reached == tt.wantLoopback {
				t.Errorf("connect to %s:%d: %v, want reachable %v", other, port, err, !tt.wantLoopback)
			}
		})
	}
}
