package proxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"
)

// cannedApp is a backend that answers every request on a keep-alive
// connection with the same bytes, allocating nothing: what is left in a
// benchmark against it is the proxy's own cost.
func cannedApp(b *testing.B) string {
	b.Helper()
	resp := []byte("HTTP/1.1 200 OK\r\ncontent-type: text/plain;charset=utf-8\r\n" +
		"Date: Wed, 25 Nov 2026 21:00:00 GMT\r\nContent-Length: 13\r\n\r\nHello, World!")
	return rawApp(b, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			// Requests here have no body: the head ends the request.
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if len(line) <= 2 {
					break
				}
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	})
}

// nopWriter is a reusable http.ResponseWriter that keeps nothing.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}
func (w *nopWriter) Flush()                      {}

// SetWriteDeadline is there as on net/http's own writer.
func (w *nopWriter) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkServeHTTP measures the proxy's own work per request: ServeHTTP
// called directly, over a real loopback connection to cannedApp.
func BenchmarkServeHTTP(b *testing.B) {
	p := New(Options{})
	p.Switch(NewBackend(cannedApp(b)))
	r := httptest.NewRequest("GET", "http://public.example/hello?x=1", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	r.Header.Set("User-Agent", "bench")
	r.Header.Set("Accept", "*/*")
	w := &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		p.ServeHTTP(w, r)
	}
}

// BenchmarkProxy runs whole requests through a proxy on a real socket, ours
// and, for comparison, net/http/httputil's with a tuned Transport.
func BenchmarkProxy(b *testing.B) {
	addr := cannedApp(b)
	ours := New(Options{})
	ours.Switch(NewBackend(addr))
	u, _ := url.Parse("http://" + addr)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}

	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"ship", ours}, {"httputil", rp}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := httptest.NewServer(bc.h)
			defer srv.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					res, err := client.Get(srv.URL + "/hello")
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
			})
		})
	}
}

// BenchmarkServe measures the native front end to end: keep-alive
// connections from a client that allocates nothing, through Serve, to
// cannedApp. What allocates is the proxy.
func BenchmarkServe(b *testing.B) {
	p := New(Options{})
	p.Switch(NewBackend(cannedApp(b)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go p.Serve(ln)
	b.Cleanup(func() { p.Shutdown(context.Background()) })
	req := []byte("GET /hello HTTP/1.1\r\nHost: public.example\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			n := -1
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					b.Error(err)
					return
				}
				if len(line) <= 2 {
					break
				}
				if len(line) > 15 && lowerIs(line[:15], "content-length:") {
					v, _ := parseUint(bytes.TrimSpace(line[15:]))
					n = int(v)
				}
			}
			if _, err := br.Discard(n); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
