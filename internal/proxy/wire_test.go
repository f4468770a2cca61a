package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestStatusPassesThrough(t *testing.T) { eachFront(t, testStatusPassesThrough) }

func testStatusPassesThrough(t *testing.T, front string) {
	a := startApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "app broke", http.StatusInternalServerError)
	}))
	p := newTestProxy(t, Options{})
	p.Switch(a.b)
	url := startProxy(t, p, front)
	code, body := get(t, url)
	if code != 500 || body != "app broke\n" {
		t.Fatalf("got %d %q, want the app's 500", code, body)
	}
	if s := p.Stats(); s.UpstreamErrors != 0 || s.Requests != 1 {
		t.Errorf("Stats = %+v, want 1 request, 0 upstream errors", s)
	}
}

func TestBackendDown(t *testing.T) { eachFront(t, testBackendDown) }

func testBackendDown(t *testing.T, front string) {
	p := newTestProxy(t, Options{})
	p.Switch(NewBackend(deadAddr(t)))
	url := startProxy(t, p, front)
	start := time.Now()
	code, body := get(t, url)
	if code != http.StatusBadGateway || !strings.Contains(body, "502") {
		t.Fatalf("got %d %q, want 502", code, body)
	}
	s := p.Stats()
	if s.UpstreamErrors != 1 || s.Retries != maxAttempts-1 {
		t.Errorf("Stats = %+v, want 1 upstream error after %d retries", s, maxAttempts-1)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("502 took %v", took)
	}
}

func TestHeaders(t *testing.T) { eachFront(t, testHeaders) }

func testHeaders(t *testing.T, front string) {
	var got http.Header
	var gotHost string
	a := startApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		gotHost = r.Host
		w.Header().Set("Connection", "X-Secret")
		w.Header().Set("X-Secret", "hop")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.Header().Set("x-lower", "kept")
		io.WriteString(w, "ok")
	}))

	tests := []struct {
		name      string
		trust     bool
		wantProto string
		wantHost  string
	}{
		{"set by this hop", false, "http", "public.example"},
		{"trusted from the client", true, "https", "edge.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestProxy(t, Options{TrustForwarded: tt.trust})
			p.Switch(a.b)
			url := startProxy(t, p, front)
			req, _ := http.NewRequest("GET", url+"/path?q=1", nil)
			req.Host = "public.example"
			req.Header.Set("X-Forwarded-For", "203.0.113.7")
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header.Set("X-Forwarded-Host", "edge.example")
			req.Header.Set("Connection", "keep-alive, X-Hop")
			req.Header.Set("X-Hop", "must not pass")
			req.Header.Set("Proxy-Authorization", "Basic Zm9vOmJhcg==")
			req.Header.Set("Te", "trailers, deflate")
			req.Header.Set("X-App", "passes")
			res, err := testClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()

			if gotHost != "public.example" {
				t.Errorf("Host = %q, want the client's public.example", gotHost)
			}
			if xff := got.Get("X-Forwarded-For"); xff != "203.0.113.7, 127.0.0.1" {
				t.Errorf("X-Forwarded-For = %q, want the client's list with 127.0.0.1 appended", xff)
			}
			if v := got.Get("X-Forwarded-Proto"); v != tt.wantProto {
				t.Errorf("X-Forwarded-Proto = %q, want %q", v, tt.wantProto)
			}
			if v := got.Get("X-Forwarded-Host"); v != tt.wantHost {
				t.Errorf("X-Forwarded-Host = %q, want %q", v, tt.wantHost)
			}
			if n := len(got.Values("X-Forwarded-Proto")) + len(got.Values("X-Forwarded-Host")); n != 2 {
				t.Errorf("forwarded headers sent %d times, want once each", n)
			}
			for _, k := range []string{"X-Hop", "Proxy-Authorization"} {
				if v := got.Get(k); v != "" {
					t.Errorf("hop-by-hop request header %s reached the app: %q", k, v)
				}
			}
			if v := got.Get("Te"); v != "trailers" {
				t.Errorf("Te = %q, want only \"trailers\"", v)
			}
			if v := got.Get("X-App"); v != "passes" {
				t.Errorf("X-App = %q, want passes", v)
			}
			for _, k := range []string{"X-Secret", "Keep-Alive"} {
				if v := res.Header.Get(k); v != "" {
					t.Errorf("hop-by-hop response header %s reached the client: %q", k, v)
				}
			}
			if c := res.Header.Values("Set-Cookie"); len(c) != 2 || c[0] != "a=1" || c[1] != "b=2" {
				t.Errorf("Set-Cookie = %q, want both in order", c)
			}
			if v := res.Header.Get("X-Lower"); v != "kept" {
				t.Errorf("X-Lower = %q", v)
			}
		})
	}
}

func TestLowerCaseResponseHeaders(t *testing.T) { eachFront(t, testLowerCaseResponseHeaders) }

func testLowerCaseResponseHeaders(t *testing.T, front string) {
	// Bun writes header names in lower case; the client must see them
	// canonical and the body framed right.
	addr := rawApp(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			io.WriteString(c, "HTTP/1.1 200 OK\r\ncontent-type: text/plain;charset=utf-8\r\n"+
				"x-custom-thing: 1\r\ntrailer: x-trailer\r\ntransfer-encoding: chunked\r\n\r\n"+
				"5\r\nHello\r\n8;ext=1\r\n, World!\r\n0\r\nx-trailer: t\r\n\r\n")
		}
	})
	p := newTestProxy(t, Options{})
	p.Switch(NewBackend(addr))
	url := startProxy(t, p, front)
	for range 3 { // the same pooled connection each time
		res, err := testClient.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != "Hello, World!" || res.Header.Get("Content-Type") != "text/plain;charset=utf-8" ||
			res.Header.Get("X-Custom-Thing") != "1" || res.Trailer.Get("X-Trailer") != "t" {
			t.Fatalf("got %q header %v trailer %v", b, res.Header, res.Trailer)
		}
	}
}

func TestStaleKeepAlive(t *testing.T) { eachFront(t, testStaleKeepAlive) }

func testStaleKeepAlive(t *testing.T, front string) {
	// An app that closes each connection right after its response,
	// without saying so: the pooled connection is dead on its next use.
	var served atomic.Int64
	addr := rawApp(t, func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		served.Add(1)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	p := newTestProxy(t, Options{})
	p.Switch(NewBackend(addr))
	url := startProxy(t, p, front)

	t.Run("GET right away is retried", func(t *testing.T) {
		for range 20 {
			if code, body := get(t, url); code != 200 || body != "ok" {
				t.Fatalf("got %d %q", code, body)
			}
		}
		if s := p.Stats(); s.Retries == 0 || s.UpstreamErrors != 0 {
			t.Errorf("Stats = %+v, want retries, no errors", s)
		}
	})
	t.Run("POST after a pause finds the close first", func(t *testing.T) {
		before := served.Load()
		for range 5 {
			time.Sleep(3 * checkIdleAfter)
			res, err := testClient.Post(url, "text/plain", strings.NewReader("body"))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("POST on a closed pooled connection: %d", res.StatusCode)
			}
		}
		if n := served.Load() - before; n != 5 {
			t.Errorf("app served %d POSTs, want exactly 5 (never sent twice)", n)
		}
	})
	t.Run("POST right away is not retried", func(t *testing.T) {
		get(t, url) // leaves a dead connection in the pool
		before := served.Load()
		res, err := testClient.Post(url, "text/plain", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		// 502 (sent on the dead connection, not sent again) or 200 (the
		// close was seen before the send): never served twice.
		if res.StatusCode != http.StatusBadGateway && res.StatusCode != 200 {
			t.Fatalf("POST: %d", res.StatusCode)
		}
		if n := served.Load() - before; n > 1 {
			t.Fatalf("app served the POST %d times", n)
		}
	})
}

func TestClientGoneIsNotUpstreamError(t *testing.T) { eachFront(t, testClientGoneIsNotUpstreamError) }

func testClientGoneIsNotUpstreamError(t *testing.T, front string) {
	a := startApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	p := newTestProxy(t, Options{})
	p.Switch(a.b)
	url := startProxy(t, p, front)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if _, err := testClient.Do(req); err == nil {
		t.Fatal("request did not time out")
	}
	waitFor(t, func() bool { return a.b.InFlight() == 0 })
	if s := p.Stats(); s.UpstreamErrors != 0 {
		t.Errorf("Stats = %+v, want no upstream error for a client that left", s)
	}
}
