package proxy

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of the request framing details a front must get right (RFC 9112
// §6, §7.1): raw requests in, the answer and what the app saw out.

// seen is what a recordApp saw of one request.
type seen struct {
	host     string
	body     string
	bodyErr  bool
	trailers []string // trailer names, canonical, sorted
}

// recordApp reads every request whole and records it; it answers 400 when
// the body did not read cleanly, as Go's server does for a handler that
// reads it.
type recordApp struct {
	mu  sync.Mutex
	got []seen
}

func (ra *recordApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	s := seen{host: r.Host, body: string(b), bodyErr: err != nil}
	for k := range r.Trailer {
		s.trailers = append(s.trailers, k)
	}
	slices.Sort(s.trailers)
	ra.mu.Lock()
	ra.got = append(ra.got, s)
	ra.mu.Unlock()
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	io.WriteString(w, "ok")
}

func (ra *recordApp) last() (seen, bool) {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	if len(ra.got) == 0 {
		return seen{}, false
	}
	return ra.got[len(ra.got)-1], true
}

func (ra *recordApp) reset() {
	ra.mu.Lock()
	ra.got = nil
	ra.mu.Unlock()
}

const chunkedHead = "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"

// requestFramingCases are raw requests with the answer a front must give.
// check, when set, looks at what the app saw (ok: the app saw the request
// and its body read cleanly).
var requestFramingCases = []struct {
	name  string
	req   string
	want  int
	check func(t *testing.T, s seen, ok bool)
	// nativeOnly: net/http takes the request apart before the net/http
	// front sees it, and decides itself.
	nativeOnly bool
}{
	// RFC 9112 §7.1: chunk lines end in CRLF; a bare LF, a second CR or a
	// CR inside an extension, and bytes an extension cannot hold, are
	// errors (Go's server refuses them too).
	{name: "chunk size line with a bare LF", req: chunkedHead + "3\nabc\r\n0\r\n\r\n", want: 400, check: noCleanBody},
	{name: "chunk size line with a double CR", req: chunkedHead + "3\r\r\nabc\r\n0\r\n\r\n", want: 400, check: noCleanBody},
	{name: "NUL in a chunk extension", req: chunkedHead + "3;a=\x00\r\nabc\r\n0\r\n\r\n", want: 400, check: noCleanBody, nativeOnly: true},
	{name: "bare CR in a chunk extension", req: chunkedHead + "3;a\rb\r\nabc\r\n0\r\n\r\n", want: 400, check: noCleanBody},
	{name: "chunk data ended by a bare LF", req: chunkedHead + "3\r\nabc\n0\r\n\r\n", want: 400, check: noCleanBody},
	{name: "last chunk line with a bare LF", req: chunkedHead + "3\r\nabc\r\n0\n\r\n", want: 400, check: noCleanBody},
	{name: "malformed chunk size", req: chunkedHead + "zz\r\nabc\r\n0\r\n\r\n", want: 400, check: noCleanBody},
	{name: "chunk size too large", req: chunkedHead + "fffffffffffffffff\r\n", want: 400, check: noCleanBody},
	{name: "white space before a chunk extension", req: chunkedHead + "3 ;a=b\r\nabc\r\n0\r\n\r\n", want: 400, check: noCleanBody},
	{name: "good chunk extensions", req: chunkedHead + "3;a=b ; c = \"d;\\\"e\" \r\nabc\r\n0\r\n\r\n", want: 200,
		check: func(t *testing.T, s seen, ok bool) {
			if !ok || s.body != "abc" {
				t.Errorf("app saw %+v (%v), want the body abc", s, ok)
			}
		}},

	// Trailer fields: framing and routing names never reach the app,
	// malformed ones are refused, and the section is bounded.
	{name: "trailers that frame or route are dropped",
		req: chunkedHead + "3\r\nabc\r\n0\r\nContent-Length: 99\r\nHost: evil\r\nTransfer-Encoding: gzip\r\nX-Sum: 5\r\n\r\n", want: 200,
		check: func(t *testing.T, s seen, ok bool) {
			if !ok || s.body != "abc" || !slices.Equal(s.trailers, []string{"X-Sum"}) {
				t.Errorf("app saw %+v (%v), want body abc and only the X-Sum trailer", s, ok)
			}
		}},
	{name: "control byte in a trailer", req: chunkedHead + "0\r\nX-Sum: 5\x01\r\n\r\n", want: 400, check: noCleanBody},
	{name: "folded trailer", req: chunkedHead + "0\r\nX-Sum: 5\r\n 6\r\n\r\n", want: 400, check: noCleanBody, nativeOnly: true},
	{name: "space before a trailer's colon", req: chunkedHead + "0\r\nX-Sum : 5\r\n\r\n", want: 400, check: noCleanBody, nativeOnly: true},
	{name: "trailer section too large", // net/http refuses it, then resets the connection
		req: chunkedHead + "0\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 100)+"\r\n", 100) + "\r\n", want: 400, check: noCleanBody, nativeOnly: true},

	// The Host the app sees is the request's, whatever Connection lists,
	// and never carries userinfo.
	{name: "Connection naming Host", req: "GET / HTTP/1.1\r\nHost: a\r\nConnection: Host\r\n\r\n", want: 200,
		check: func(t *testing.T, s seen, ok bool) {
			if !ok || s.host != "a" {
				t.Errorf("app saw Host %q (%v), want a", s.host, ok)
			}
		}},
	{name: "userinfo in an absolute-form target", req: "GET http://user:pw@a/ HTTP/1.1\r\nHost: a\r\n\r\n", want: 400, check: notReached},
	{name: "Host outside the URI host characters", req: "GET / HTTP/1.1\r\nHost: a<b\r\n\r\n", want: 400, check: notReached},
}

func noCleanBody(t *testing.T, s seen, ok bool) {
	t.Helper()
	if ok && !s.bodyErr {
		t.Errorf("the app read a clean body %q from a malformed request", s.body)
	}
}

func notReached(t *testing.T, s seen, ok bool) {
	t.Helper()
	if ok {
		t.Errorf("a refused request reached the app: %+v", s)
	}
}

func TestRequestFraming(t *testing.T) {
	eachFront(t, func(t *testing.T, front string) {
		ra := &recordApp{}
		a := startApp(t, ra)
		p := newTestProxy(t, Options{})
		p.Switch(a.b)
		url := startProxy(t, p, front)
		for _, tt := range requestFramingCases {
			if tt.nativeOnly && front != "native" {
				continue
			}
			t.Run(tt.name, func(t *testing.T) {
				ra.reset()
				c, br := dialProxy(t, url)
				c.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c, tt.req)
				res, _ := readResponse(t, br, "GET")
				if res.StatusCode != tt.want {
					t.Errorf("status %d, want %d", res.StatusCode, tt.want)
				}
				if tt.want >= 400 && !closedByPeer(c, br) {
					t.Error("connection left open after a bad request")
				}
				// The app may still be reading what it was sent.
				time.Sleep(20 * time.Millisecond)
				s, ok := ra.last()
				tt.check(t, s, ok)
			})
		}
	})
}
