package proxy

import (
	"bufio"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestServerSentEvents(t *testing.T) { eachFront(t, testServerSentEvents) }

func testServerSentEvents(t *testing.T, front string) {
	next := make(chan struct{})
	a := startApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			io.WriteString(w, "data: event "+string(rune('0'+i))+"\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	}))
	p := newTestProxy(t, Options{})
	p.Switch(a.b)
	url := startProxy(t, p, front)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	type result struct {
		res *http.Response
		err error
	}
	got := make(chan result, 1)
	go func() {
		res, err := testClient.Do(req)
		got <- result{res, err}
	}()
	var res *http.Response
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatal(r.err)
		}
		res = r.res
	case <-time.After(3 * time.Second):
		t.Fatal("the response head did not arrive while the stream was open: buffered")
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	br := bufio.NewReader(res.Body)
	for i := range 3 {
		// The backend holds the stream open until we ask for the next
		// event: each must arrive on its own.
		got := make(chan string, 1)
		go func() {
			line, _ := br.ReadString('\n')
			br.ReadString('\n')
			got <- line
		}()
		select {
		case line := <-got:
			if want := "data: event " + string(rune('0'+i)) + "\n"; line != want {
				t.Fatalf("event %d: got %q, want %q", i, line, want)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("event %d did not arrive while the stream was open: buffered", i)
		}
		next <- struct{}{}
	}
}

func TestUpgradeTunnel(t *testing.T) { eachFront(t, testUpgradeTunnel) }

func testUpgradeTunnel(t *testing.T, front string) {
	a := startApp(t, http.HandlerFunc(echoUpgrade))
	p := newTestProxy(t, Options{})
	p.Switch(a.b)
	url := startProxy(t, p, front)

	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade\r\n"+
		"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"+
		"Sec-WebSocket-Version: 13\r\n\r\nearly")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Upgrade") != "websocket" ||
		res.Header.Get("Sec-Websocket-Accept") != "accepted" {
		t.Fatalf("handshake: %d %v", res.StatusCode, res.Header)
	}
	if n := a.b.InFlight(); n != 1 {
		t.Errorf("InFlight = %d during the upgraded connection, want 1", n)
	}
	for _, msg := range []string{"hello", strings.Repeat("x", 100_000), "bye"} {
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		if msg == "hello" {
			msg = "early" + msg // bytes sent with the handshake come first
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatalf("echo of %d bytes: %v", len(msg), err)
		}
		if string(got) != msg {
			t.Fatalf("echo: got %.20q…, want %.20q…", got, msg)
		}
	}
	conn.(*net.TCPConn).CloseWrite()
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("after close: %q, %v", rest, err)
	}
	waitFor(t, func() bool { return a.b.InFlight() == 0 })
}

// echoUpgrade is the smallest WebSocket-like server: it accepts the upgrade
// and echoes bytes until the client closes.
func echoUpgrade(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "websocket" || !tokenIn([]byte(r.Header.Get("Connection")), "upgrade") {
		http.Error(w, "upgrade required", http.StatusUpgradeRequired)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"+
		"Connection: Upgrade\r\nSec-WebSocket-Accept: accepted\r\n\r\n")
	brw.Flush()
	io.Copy(conn, brw.Reader)
}

func TestLargeBodies(t *testing.T) { eachFront(t, testLargeBodies) }

func testLargeBodies(t *testing.T, front string) {
	a := startApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("X-Length", strconv.FormatInt(n, 10))
		w.Write(h.Sum(nil))
		if r.URL.Query().Get("echo") != "" {
			w.Write(make([]byte, 20<<20)) // a large download too
		}
	}))
	p := newTestProxy(t, Options{})
	p.Switch(a.b)
	url := startProxy(t, p, front)

	body := make([]byte, 20<<20)
	for i := range body {
		body[i] = byte(rand.N(256))
	}
	want := sha256.Sum256(body)
	tests := []struct {
		name   string
		reader func() io.Reader
	}{
		{"content-length", func() io.Reader { return strings.NewReader(string(body)) }},
		{"chunked", func() io.Reader { return struct{ io.Reader }{strings.NewReader(string(body))} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := testClient.Post(url+"/?echo=1", "application/octet-stream", tt.reader())
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			sum := make([]byte, 32)
			if _, err := io.ReadFull(res.Body, sum); err != nil {
				t.Fatal(err)
			}
			if string(sum) != string(want[:]) || res.Header.Get("X-Length") != strconv.Itoa(len(body)) {
				t.Fatalf("app got %s bytes with another checksum", res.Header.Get("X-Length"))
			}
			n, err := io.Copy(io.Discard, res.Body)
			if err != nil || n != 20<<20 {
				t.Fatalf("download: %d bytes, %v", n, err)
			}
		})
	}
}

func TestEarlyAnswerCutsUpload(t *testing.T) { eachFront(t, testEarlyAnswerCutsUpload) }

func testEarlyAnswerCutsUpload(t *testing.T, front string) {
	// The app refuses a large upload at once, without reading it, while
	// the client is still (slowly) sending: the answer must still come.
	a := startApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	}))
	p := newTestProxy(t, Options{})
	p.Switch(a.b)
	url := startProxy(t, p, front)
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n")
	c.Write(make([]byte, 64<<10)) // then nothing more
	start := time.Now()
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer while the upload stalled: %v", err)
	}
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", res.StatusCode)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("answer took %v", took)
	}
	waitFor(t, func() bool { return a.b.InFlight() == 0 })
	if s := p.Stats(); s.UpstreamErrors != 0 {
		t.Errorf("Stats = %+v, want no upstream error", s)
	}
}
