package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// app is a backend server on a real loopback socket: what `bun start` is to
// the receiver.
type app struct {
	srv *http.Server
	ln  net.Listener
	b   *Backend
}

func startApp(t *testing.T, h http.Handler) *app {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &app{srv: &http.Server{Handler: h}, ln: ln, b: NewBackend(ln.Addr().String())}
	go a.srv.Serve(ln)
	t.Cleanup(func() { a.stop(t) })
	return a
}

// stop is the old process exiting: the server and its listener close.
func (a *app) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("shut down app %s: %v", a.b.Addr(), err)
	}
	a.ln.Close()
}

// kill is the old process ending hard once drained: the listener and every
// connection close at once, requests still running included, so a request
// the drain missed fails.
func (a *app) kill() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a.srv.Shutdown(ctx) // closes the listener and idle connections, no wait
	a.srv.Close()       // and the active ones
}

// text answers every request with body.
func text(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, body)
	})
}

// fronts are the two ways to serve a Proxy; behaviour tests run on both.
var fronts = []string{"native", "nethttp"}

// eachFront runs f as a subtest per front.
func eachFront(t *testing.T, f func(t *testing.T, front string)) {
	t.Helper()
	for _, front := range fronts {
		t.Run(front, func(t *testing.T) { f(t, front) })
	}
}

// startProxy serves p on a real loopback socket, natively (Serve) or with
// an http.Server (ServeHTTP), and returns its base URL.
func startProxy(t *testing.T, p *Proxy, front string) string {
	t.Helper()
	if front == "nethttp" {
		srv := httptest.NewServer(p)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func newTestProxy(t *testing.T, opts Options) *Proxy {
	t.Helper()
	if opts.Logger == nil {
		w := &testWriter{t: t}
		t.Cleanup(func() {
			w.mu.Lock()
			w.done = true
			w.mu.Unlock()
		})
		opts.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return New(opts)
}

// testWriter sends log lines to t.Log, so that they show only on failure,
// and drops those written after the test ended.
type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(b)))
	}
	return len(b), nil
}

// testClient bounds every request of the tests: a proxy that hangs fails
// the test instead of stalling it.
var testClient = &http.Client{Timeout: 20 * time.Second}

// get fetches url with a fresh client and returns status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := testClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return res.StatusCode, string(body)
}

// deadApp returns the address of a port nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// rawApp is a backend written at the byte level, for what net/http would
// not send: serve handles each connection, which is closed after it. It
// returns the address; the listener closes when the test ends.
func rawApp(tb testing.TB, serve func(c net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}
