package testenv_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/testenv"
)

// echoServer echoes every connection until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				io.Copy(conn, conn)
			}()
		}
	}()
	return ln.Addr().String()
}

func echo(t *testing.T, conn net.Conn, data []byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { _, err := conn.Write(data); errc <- err }()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("echo returned other bytes")
	}
}

func TestCutterForwardsConcurrently(t *testing.T) {
	cut := testenv.NewCutter(t, echoServer(t))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", cut.Addr())
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			data := make([]byte, 1<<20)
			rand.Read(data)
			echo(t, conn, data)
		}()
	}
	wg.Wait()
}

func TestCutterCut(t *testing.T) {
	cut := testenv.NewCutter(t, echoServer(t))
	conn, err := net.Dial("tcp", cut.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echo(t, conn, []byte("before"))
	cut.Cut()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after Cut: %v, want the connection closed", err)
	}
	// New connections still go through.
	again, err := net.Dial("tcp", cut.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	echo(t, again, []byte("after"))
}

func TestCutterBlackhole(t *testing.T) {
	cut := testenv.NewCutter(t, echoServer(t))
	conn, err := net.Dial("tcp", cut.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echo(t, conn, []byte("before"))
	cut.Blackhole()
	if _, err := conn.Write([]byte("lost")); err != nil {
		t.Fatalf("write into the black hole: %v, want it accepted", err)
	}
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := conn.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after Blackhole: %d bytes, %v, want silence", n, err)
	}
}

func TestCutterLatency(t *testing.T) {
	cut := testenv.NewCutter(t, echoServer(t))
	conn, err := net.Dial("tcp", cut.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const oneWay = 40 * time.Millisecond
	cut.SetLatency(oneWay)
	start := time.Now()
	echo(t, conn, []byte("ping"))
	if d := time.Since(start); d < 2*oneWay || d > 2*oneWay+500*time.Millisecond {
		t.Errorf("round trip took %s, want about %s", d, 2*oneWay)
	}
	// Latency, not a narrower pipe: 4 MiB (128 reads of 32 KiB) must not
	// wait the latency once per piece, which would take over 5s.
	data := make([]byte, 4<<20)
	start = time.Now()
	echo(t, conn, data)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("4 MiB took %s with %s latency each way", d, oneWay)
	}
}

// TestCutterBlackholeKeepsTheFarEndOpen: a silent link loses the close as
// well: the server does not learn that the client left until Cut.
func TestCutterBlackholeKeepsTheFarEndOpen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			accepted <- conn
		}
	}()
	cut := testenv.NewCutter(t, ln.Addr().String())
	client, err := net.Dial("tcp", cut.Addr())
	if err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	defer server.Close()
	cut.Blackhole()
	client.Close()
	server.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, err := server.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server read %d bytes, %v after the client closed a silent link; want silence", n, err)
	}
	cut.Cut()
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := server.Read(make([]byte, 10)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after Cut: %v, want the connection closed", err)
	}
}
