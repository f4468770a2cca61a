package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Tests of the native front's own HTTP/1.x handling (Serve).

// dialProxy opens a raw client connection to a native front.
func dialProxy(t *testing.T, url string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func readResponse(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	res, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read response body: %v", err)
	}
	return res, string(b)
}

// closedByPeer reports whether the proxy closed the connection.
func closedByPeer(c net.Conn, br *bufio.Reader) bool {
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := br.ReadByte()
	return errors.Is(err, io.EOF)
}

func TestServeRejectsAmbiguousRequests(t *testing.T) {
	var reached atomic.Int64
	a := startApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		io.Copy(io.Discard, r.Body)
	}))
	p := newTestProxy(t, Options{})
	p.Switch(a.b)
	url := startProxy(t, p, "native")

	tests := []struct {
		name string
		req  string
		want int
	}{
		{"length and chunked", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"two lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
		{"signed length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 400},
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"folded line", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
		{"control character", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\x002\r\n\r\n", 400},
		{"unknown coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"chunked coding listed twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"chunked in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"bad method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"http2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
		{"connect", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 405},
		{"odd expectation", "GET / HTTP/1.1\r\nHost: a\r\nExpect: gold\r\n\r\n", 417},
		{"head too large", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", clientReadBufSize) + "\r\n\r\n", 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, br := dialProxy(t, url)
			io.WriteString(c, tt.req)
			res, _ := readResponse(t, br, "GET")
			if res.StatusCode != tt.want {
				t.Errorf("status %d, want %d", res.StatusCode, tt.want)
			}
			if !closedByPeer(c, br) {
				t.Error("connection left open after a bad request")
			}
		})
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("%d bad requests reached the app", n)
	}
}

// pathApp answers with the request's method, Host and URI.
func pathApp() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Method+" "+r.Host+" "+r.RequestURI+" "+string(b))
	})
}

func TestServeKeepAliveAndPipelining(t *testing.T) {
	a := startApp(t, pathApp())
	p := newTestProxy(t, Options{})
	p.Switch(a.b)
	url := startProxy(t, p, "native")

	t.Run("pipelined", func(t *testing.T) {
		c, br := dialProxy(t, url)
		io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"+
			"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody"+
			"HEAD /3 HTTP/1.1\r\nHost: a\r\n\r\n"+
			"GET /4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		for _, want := range []struct{ method, body string }{
			{"GET", "GET a /1 "}, {"POST", "POST a /2 body"}, {"HEAD", ""}, {"GET", "GET a /4 "},
		} {
			res, body := readResponse(t, br, want.method)
			if res.StatusCode != 200 || body != want.body {
				t.Fatalf("got %d %q, want 200 %q", res.StatusCode, body, want.body)
			}
		}
		if !closedByPeer(c, br) {
			t.Error("Connection: close left the connection open")
		}
	})
	t.Run("HTTP/1.0", func(t *testing.T) {
		c, br := dialProxy(t, url)
		io.WriteString(c, "GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		res, body := readResponse(t, br, "GET")
		if !strings.HasPrefix(body, "GET ") || res.Header.Get("Connection") != "keep-alive" {
			t.Fatalf("keep-alive: %q %v", body, res.Header)
		}
		io.WriteString(c, "GET /close HTTP/1.0\r\n\r\n")
		if _, body := readResponse(t, br, "GET"); !strings.HasSuffix(body, "/close ") {
			t.Fatalf("second request: %q", body)
		}
		if !closedByPeer(c, br) {
			t.Error("HTTP/1.0 without keep-alive left the connection open")
		}
	})
	t.Run("absolute form", func(t *testing.T) {
		c, br := dialProxy(t, url)
		io.WriteString(c, "GET http://public.example/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n"+
			"GET http://public.example?q=2 HTTP/1.1\r\nHost: other\r\n\r\n")
		for _, want := range []string{"GET public.example /p?q=1 ", "GET public.example /?q=2 "} {
			if _, body := readResponse(t, br, "GET"); body != want {
				t.Fatalf("got %q, want %q", body, want)
			}
		}
	})
	t.Run("expect 100-continue", func(t *testing.T) {
		c, br := dialProxy(t, url)
		io.WriteString(c, "PUT /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		line, err := br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("got %q, %v; want 100 Continue before the body", line, err)
		}
		br.ReadString('\n')
		io.WriteString(c, "hello")
		if _, body := readResponse(t, br, "PUT"); body != "PUT a /e hello" {
			t.Fatalf("got %q", body)
		}
	})
	t.Run("chunked upload with trailer", func(t *testing.T) {
		c, br := dialProxy(t, url)
		io.WriteString(c, "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"+
			"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n")
		if _, body := readResponse(t, br, "POST"); body != "POST a /c abcde" {
			t.Fatalf("got %q", body)
		}
	})
}

func TestServeRelaysEveryFraming(t *testing.T) {
	// An app of the old school: answers framed by closing the connection,
	// and chunked ones, to HTTP/1.1 and HTTP/1.0 clients.
	addr := rawApp(t, func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		if req.URL.Path == "/chunked" {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n")
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until close")
	})
	p := newTestProxy(t, Options{})
	p.Switch(NewBackend(addr))
	url := startProxy(t, p, "native")

	tests := []struct {
		name, req, body string
		closes          bool
	}{
		{"until close to 1.1", "GET /close HTTP/1.1\r\nHost: a\r\n\r\n", "body until close", false},
		{"until close to 1.0", "GET /close HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "body until close", true},
		{"chunked to 1.1", "GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n", "body", false},
		{"chunked to 1.0", "GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "body", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, br := dialProxy(t, url)
			io.WriteString(c, tt.req)
			res, body := readResponse(t, br, "GET")
			if res.StatusCode != 200 || body != tt.body {
				t.Fatalf("got %d %q", res.StatusCode, body)
			}
			if closed := closedByPeer(c, br); closed != tt.closes {
				t.Errorf("connection closed: %v, want %v", closed, tt.closes)
			}
		})
	}
}

func TestServeShutdown(t *testing.T) {
	started := make(chan struct{})
	a := startApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			time.Sleep(300 * time.Millisecond)
		}
		io.WriteString(w, "done")
	}))
	p := newTestProxy(t, Options{})
	p.Switch(a.b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	url := "http://" + ln.Addr().String()

	idle, idleBR := dialProxy(t, url)
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	readResponse(t, idleBR, "GET")

	busy, busyBR := dialProxy(t, url)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("Shutdown returned after %v, before the slow request ended", took)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	res, body := readResponse(t, busyBR, "GET")
	if res.StatusCode != 200 || body != "done" || res.Header.Get("Connection") != "" && !res.Close {
		t.Errorf("request in progress at Shutdown: %d %q", res.StatusCode, body)
	}
	if !closedByPeer(idle, idleBR) {
		t.Error("idle connection left open by Shutdown")
	}
	if !closedByPeer(busy, busyBR) {
		t.Error("connection left open after its last request")
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("listener still accepts after Shutdown")
	}
}
