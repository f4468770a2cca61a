package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The differential test: the same raw requests go to Go's own net/http
// server and to each front of the proxy (with a Go server as the app), and
// wherever Go refuses a request (an answer of 400 or more, or none), the
// proxy must refuse it too. The proxy may be stricter; the cases where it
// is are logged.

// bodyHandler reads the whole body and answers 200, or 400 when the body
// did not read cleanly: what an app does.
var bodyHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if _, err := io.ReadAll(r.Body); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	io.WriteString(w, "ok")
})

// verdict sends raw on a fresh connection to addr, ends the sending side,
// and reads every answer until the server closes or goes quiet. It returns
// the statuses and whether the request was refused.
func verdict(t *testing.T, addr, raw string) (codes []int, refused bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, raw)
	c.(*net.TCPConn).CloseWrite()
	br := bufio.NewReader(c)
	for {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		codes = append(codes, res.StatusCode)
	}
	refused = len(codes) == 0
	for _, code := range codes {
		refused = refused || code >= 400
	}
	return codes, refused
}

// differentialCases are named malformed requests (issue 10's attack pass
// among them), before the generated ones.
var differentialCases = []struct{ name, req string }{
	{"length and chunked", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	{"folded Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"},
	{"chunked in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	{"two lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
	{"length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc"},
	{"signed length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc"},
	{"gzip coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"},
	{"chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	{"bare LF chunk line", chunkedHead + "3\nabc\r\n0\r\n\r\n"},
	{"CR CR chunk line", chunkedHead + "3\r\r\nabc\r\n0\r\n\r\n"},
	{"bare CR in extension", chunkedHead + "3;a\rb\r\nabc\r\n0\r\n\r\n"},
	{"chunk data without CRLF", chunkedHead + "3\r\nabcXX0\r\n\r\n"},
	{"chunk size overflow", chunkedHead + "10000000000000000\r\n"},
	{"negative chunk size", chunkedHead + "-3\r\nabc\r\n0\r\n\r\n"},
	{"space before chunk size", chunkedHead + " 3\r\nabc\r\n0\r\n\r\n"},
	{"huge trailer", chunkedHead + "0\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 100)+"\r\n", 100) + "\r\n"},
	{"no Host", "GET / HTTP/1.1\r\n\r\n"},
	{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
	{"bad Host", "GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n"},
	{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n"},
	{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n"},
	{"bad method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n"},
	{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
	{"HTTP/0.9", "GET /\r\n\r\n"},
	{"odd expectation", "GET / HTTP/1.1\r\nHost: a\r\nExpect: gold\r\n\r\n"},
	{"absolute form with userinfo", "GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"Connection: Host", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Host\r\n\r\n"},
}

// differentialTemplates are well-formed requests; the generated cases
// insert one troublesome byte sequence at every offset of each.
var differentialTemplates = []string{
	"GET /a?b=c HTTP/1.1\r\nHost: example.com:80\r\nX-A: 1, 2\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
	"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
}

var differentialInserts = []string{"\x00", "\r", "\n", "\r\n", " ", "\t", "\x7f", "\x80", "\r\n ", ";", "\"", "@"}

func TestDifferentialAgainstNetHTTP(t *testing.T) {
	goSrv := startApp(t, bodyHandler)
	a := startApp(t, bodyHandler)
	type target struct{ name, addr string }
	var targets []target
	for _, front := range fronts {
		p := New(Options{})
		p.Switch(a.b)
		targets = append(targets, target{front, strings.TrimPrefix(startProxy(t, p, front), "http://")})
	}

	type tcase struct{ name, req string }
	var cases []tcase
	for _, c := range differentialCases {
		cases = append(cases, tcase(c))
	}
	for ti, tmpl := range differentialTemplates {
		for _, ins := range differentialInserts {
			for at := 0; at <= len(tmpl); at++ {
				cases = append(cases, tcase{fmt.Sprintf("template %d, %q at %d", ti, ins, at), tmpl[:at] + ins + tmpl[at:]})
			}
		}
	}
	if testing.Short() {
		cases = cases[:len(differentialCases)]
	}
	stricter := 0
	for _, tc := range cases {
		goCodes, goRefused := verdict(t, goSrv.b.Addr(), tc.req)
		for _, tg := range targets {
			codes, refused := verdict(t, tg.addr, tc.req)
			switch {
			case goRefused && !refused:
				t.Errorf("%s: %s: Go's server refuses %q (%v), the proxy does not (%v)", tg.name, tc.name, tc.req, goCodes, codes)
			case refused && !goRefused:
				stricter++
				t.Logf("%s: %s: the proxy refuses (%v) what Go accepts (%v)", tg.name, tc.name, codes, goCodes)
			}
		}
	}
	t.Logf("%d requests, to Go's server and %d fronts; the proxy was stricter %d times", len(cases), len(targets), stricter)
}
