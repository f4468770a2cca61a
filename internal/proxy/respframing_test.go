package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// Responses are framed by the proxy, not passed through: whatever the app
// writes, a client gets a response it can delimit, and bytes the app sends
// after a response's end never reach another request.

// keepAliveApp is a byte-level app that serves requests on a connection
// until it closes, answering each with answers[path] as raw bytes ("plain"
// when the path has none).
func keepAliveApp(t *testing.T, answers map[string]string) string {
	return rawApp(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			a, ok := answers[req.URL.Path]
			if !ok {
				a = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain"
			}
			if _, err := io.WriteString(c, a); err != nil {
				return
			}
		}
	})
}

func TestResponseFraming(t *testing.T) { eachFront(t, testResponseFraming) }

func testResponseFraming(t *testing.T, front string) {
	tests := []struct {
		name, method, answer string
		want                 int
		body                 string
	}{
		{"Connection names Content-Length", "GET",
			"HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\nhello", 200, "hello"},
		{"Connection names Transfer-Encoding", "GET",
			"HTTP/1.1 200 OK\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 200, "hello"},
		{"bytes after the body", "GET",
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled", 200, "hello"},
		{"a body on HEAD", "HEAD",
			"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled", 200, ""},
		{"a body on 304", "GET",
			"HTTP/1.1 304 Not Modified\r\nContent-Length: 8\r\n\r\nsmuggled", 304, ""},
		{"a body on 204", "GET",
			"HTTP/1.1 204 No Content\r\n\r\nsmuggled", 204, ""},
		{"bytes after a chunked body", "GET",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nsmuggled", 200, "hello"},
		{"two Content-Lengths", "GET",
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 502, ""},
		{"Content-Length and chunked", "GET",
			"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 502, ""},
		{"chunked in HTTP/1.0", "GET",
			"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 502, ""},
		{"chunk line with a bare LF", "GET",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := keepAliveApp(t, map[string]string{"/case": tt.answer})
			p := newTestProxy(t, Options{})
			p.Switch(NewBackend(addr))
			url := startProxy(t, p, front)

			// Twice on one client connection, then from another client:
			// each answer must be its own.
			c, br := dialProxy(t, url)
			io.WriteString(c, tt.method+" /case HTTP/1.1\r\nHost: a\r\n\r\n")
			res, err := http.ReadResponse(br, &http.Request{Method: tt.method})
			if tt.want < 0 {
				// The body is cut short: the client must see a broken
				// response, never a complete one.
				if err == nil {
					b, rerr := io.ReadAll(res.Body)
					if rerr == nil {
						t.Fatalf("a malformed chunked body passed as complete: %q", b)
					}
				}
				if code, body := get(t, url+"/next"); code != 200 || body != "plain" {
					t.Errorf("next client got %d %q, want 200 plain", code, body)
				}
				return
			}
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			body, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			if res.StatusCode != tt.want || (tt.want < 500 && string(body) != tt.body) {
				t.Fatalf("got %d %q, want %d %q", res.StatusCode, body, tt.want, tt.body)
			}
			if res.StatusCode < 500 && res.ContentLength < 0 && !res.Close && len(res.TransferEncoding) == 0 &&
				tt.method != "HEAD" && res.StatusCode != 304 && res.StatusCode != 204 {
				t.Errorf("response with no framing on a kept connection: %+v", res)
			}
			if res.StatusCode < 500 {
				io.WriteString(c, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
				_, body := readResponse(t, br, "GET")
				if body != "plain" {
					t.Errorf("the next request on the client's connection got %q, want plain", body)
				}
			}
			for range 3 {
				if code, body := get(t, url+"/next"); code != 200 || body != "plain" {
					t.Errorf("another client got %d %q, want 200 plain", code, body)
				}
			}
			if strings.Contains(tt.name, "Content-Length") && tt.want == 200 {
				if got := res.Header.Get("Content-Length"); got != "" && got != "5" {
					t.Errorf("Content-Length %q", got)
				}
			}
		})
	}
}
