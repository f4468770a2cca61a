//go:build linux

package supervise

import (
	"net"
	"os"
	"syscall"
	"testing"
)

// BenchmarkListenerIn: what the health check's ownership test costs (one
// /proc scan), with as many processes as the machine runs now.
func BenchmarkListenerIn(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	entries, _ := os.ReadDir("/proc")
	b.Logf("%d entries in /proc", len(entries))
	pgid := syscall.Getpgrp()
	for b.Loop() {
		if mine, ok := listenerIn(port, pgid); !ok || !mine {
			b.Fatalf("listenerIn(%d, %d) = %v, %v", port, pgid, mine, ok)
		}
	}
}

// TestListenerIn: a listener of this process's group is found, on IPv4 and
// on IPv6 (Bun listens on [::] by default), and one of another group is
// told apart.
func TestListenerIn(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::]:0"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		if mine, ok := listenerIn(port, syscall.Getpgrp()); !ok || !mine {
			t.Errorf("%s: listenerIn(own group) = %v, %v; want true, true", ln.Addr(), mine, ok)
		}
		if mine, ok := listenerIn(port, 1<<30); !ok || mine {
			t.Errorf("%s: listenerIn(another group) = %v, %v; want false, true", ln.Addr(), mine, ok)
		}
		ln.Close()
		if _, ok := listenerIn(port, syscall.Getpgrp()); ok {
			t.Errorf("%s: closed, yet a listener is seen", ln.Addr())
		}
	}
}
