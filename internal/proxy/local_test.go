package proxy

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// Options.Handlers: paths the proxy answers itself (the receiver's webhook).

func TestHandlers(t *testing.T) { eachFront(t, testHandlers) }

func testHandlers(t *testing.T, front string) {
	var appHits atomic.Int64
	a := startApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		appHits.Add(1)
		io.WriteString(w, "app")
	}))
	local := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("read") == "no" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("deadline") != "" {
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		}
		b, err := io.ReadAll(r.Body)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			w.WriteHeader(http.StatusRequestTimeout)
			return
		}
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Host", r.Host)
		io.WriteString(w, r.Method+" "+string(b))
	})
	p := newTestProxy(t, Options{Handlers: map[string]http.Handler{"/hook": local}})
	p.Switch(a.b)
	url := startProxy(t, p, front)

	t.Run("served here, the rest goes to the app", func(t *testing.T) {
		c, br := dialProxy(t, url)
		io.WriteString(c, "POST /hook?x=1 HTTP/1.1\r\nHost: pub\r\nContent-Length: 4\r\n\r\nbody"+
			"POST /hook HTTP/1.1\r\nHost: pub\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n"+
			"GET /hook/x HTTP/1.1\r\nHost: pub\r\n\r\n")
		res, body := readResponse(t, br, "POST")
		if res.StatusCode != 200 || body != "POST body" || res.Header.Get("X-Host") != "pub" {
			t.Fatalf("got %d %q %v", res.StatusCode, body, res.Header)
		}
		if _, body := readResponse(t, br, "POST"); body != "POST abc" {
			t.Fatalf("chunked: got %q", body)
		}
		if _, body := readResponse(t, br, "GET"); body != "app" || appHits.Load() != 1 {
			t.Fatalf("another path: got %q, %d app hits", body, appHits.Load())
		}
	})
	t.Run("a body left unread closes the connection", func(t *testing.T) {
		c, br := dialProxy(t, url)
		io.WriteString(c, "POST /hook?read=no HTTP/1.1\r\nHost: pub\r\nContent-Length: 10000000\r\n\r\n")
		res, _ := readResponse(t, br, "POST")
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d", res.StatusCode)
		}
		if !closedByPeer(c, br) {
			t.Error("connection left open with a body unread")
		}
	})
	t.Run("the handler's read deadline holds", func(t *testing.T) {
		c, br := dialProxy(t, url)
		io.WriteString(c, "POST /hook?deadline=1 HTTP/1.1\r\nHost: pub\r\nContent-Length: 100\r\n\r\nsome")
		start := time.Now()
		res, _ := readResponse(t, br, "POST")
		if res.StatusCode != http.StatusRequestTimeout || time.Since(start) > 5*time.Second {
			t.Fatalf("status %d after %v", res.StatusCode, time.Since(start))
		}
	})
	t.Run("refused like any request", func(t *testing.T) {
		c, br := dialProxy(t, url)
		io.WriteString(c, "POST /hook HTTP/1.1\r\nHost: pub\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
		res, _ := readResponse(t, br, "POST")
		if want := 400; front == "native" && res.StatusCode != want {
			t.Fatalf("status %d, want %d", res.StatusCode, want)
		}
		if front == "native" && !closedByPeer(c, br) {
			t.Error("connection left open after a bad request")
		}
	})
}

// Override answers every request in the app's place but the Handlers'
// routes, and gives them back to the app when it is taken away.
func TestOverride(t *testing.T) { eachFront(t, testOverride) }

func testOverride(t *testing.T, front string) {
	a := startApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") }))
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hook") })
	p := newTestProxy(t, Options{Handlers: map[string]http.Handler{"/hook": hook}})
	p.Switch(a.b)
	url := startProxy(t, p, front)
	p.Override(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "down for maintenance")
	}))
	c, br := dialProxy(t, url)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: pub\r\n\r\nGET /hook HTTP/1.1\r\nHost: pub\r\n\r\nHEAD /x HTTP/1.1\r\nHost: pub\r\n\r\n")
	if res, body := readResponse(t, br, "GET"); res.StatusCode != 503 || body != "down for maintenance" || res.Header.Get("Retry-After") != "120" {
		t.Errorf("overridden: %d %q %v", res.StatusCode, body, res.Header)
	}
	if _, body := readResponse(t, br, "GET"); body != "hook" {
		t.Errorf("a Handlers route: %q", body)
	}
	if res, body := readResponse(t, br, "HEAD"); res.StatusCode != 503 || body != "" {
		t.Errorf("HEAD: %d %q", res.StatusCode, body)
	}
	p.Override(nil)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: pub\r\n\r\n")
	if res, body := readResponse(t, br, "GET"); res.StatusCode != 200 || body != "app" {
		t.Errorf("after the override: %d %q (the same connection)", res.StatusCode, body)
	}
}
