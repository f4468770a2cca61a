package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
)

// request is a request of the native front, parsed in place: every slice
// points into buf, the connection's copy of the head.
type request struct {
	buf    []byte
	method []byte
	target []byte // as sent; path is what goes to the app
	path   []byte
	http11 bool
	fields []field

	host          []byte // from the absolute-form target, else the Host field
	hasHost       bool
	absolute      bool  // absolute-form target: its authority replaces Host
	contentLength int64 // -1: not given
	chunked       bool
	expect100     bool
	upgrade       bool
	closeAfter    bool // the client or the protocol ends the connection after this
	bodyDone      bool // the body is consumed (or there is none)
	conn          [][]byte
	connArr       [2][]byte
}

func (rq *request) hasBody() bool { return rq.chunked || rq.contentLength > 0 }

// parse reads the request head in buf. On error it returns the status to
// answer with. It is strict where a lax reading could make two parsers see
// two different requests (RFC 9112 §6.3, §11.2).
func (rq *request) parse(buf []byte) (int, error) {
	*rq = request{buf: buf, fields: rq.fields[:0], contentLength: -1}
	rq.conn = rq.connArr[:0]
	line, at := startLine(buf)
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 {
		return 400, fmt.Errorf("malformed request line %q", line)
	}
	rq.method, rq.target = line[:sp1], line[sp1+1:sp2]
	for _, c := range rq.method {
		if !tokenChar[c] {
			return 400, fmt.Errorf("malformed method %q", rq.method)
		}
	}
	for _, c := range rq.target {
		if c <= ' ' || c >= 0x7f {
			return 400, fmt.Errorf("malformed request target %q", rq.target)
		}
	}
	switch proto := line[sp2+1:]; string(proto) {
	case "HTTP/1.1":
		rq.http11 = true
	case "HTTP/1.0":
		rq.closeAfter = true // unless it asks for keep-alive
	default:
		if bytes.HasPrefix(proto, []byte("HTTP/")) {
			return http.StatusHTTPVersionNotSupported, fmt.Errorf("unsupported protocol %q", proto)
		}
		return 400, fmt.Errorf("malformed request line %q", line)
	}
	if string(rq.method) == "CONNECT" {
		return http.StatusMethodNotAllowed, errors.New("CONNECT: not a forward proxy")
	}
	if err := rq.parseTarget(); err != nil {
		return 400, err
	}

	fields, err := scanFields(buf, at, rq.fields)
	rq.fields = fields
	if err != nil {
		return 400, err
	}
	hosts, tes := 0, 0
	hasUpgrade := false
	for _, f := range fields {
		name, value := f.name(buf), f.value(buf)
		switch {
		case lowerIs(name, "host"):
			hosts++
			if !rq.absolute {
				rq.host, rq.hasHost = value, true
			}
		case lowerIs(name, "content-length"):
			n, ok := parseUint(value)
			if !ok || (rq.contentLength >= 0 && n != rq.contentLength) {
				return 400, fmt.Errorf("bad Content-Length %q", value)
			}
			rq.contentLength = n
		case lowerIs(name, "transfer-encoding"):
			tes++
			if !lowerIs(value, "chunked") {
				return http.StatusNotImplemented, fmt.Errorf("unsupported Transfer-Encoding %q", value)
			}
			rq.chunked = true
		case lowerIs(name, "connection"):
			rq.conn = append(rq.conn, value)
			if tokenIn(value, "close") {
				rq.closeAfter = true
			} else if !rq.http11 && tokenIn(value, "keep-alive") {
				rq.closeAfter = false
			}
		case lowerIs(name, "expect"):
			if !lowerIs(value, "100-continue") {
				return http.StatusExpectationFailed, fmt.Errorf("unsupported Expect %q", value)
			}
			rq.expect100 = rq.http11
		case lowerIs(name, "upgrade"):
			hasUpgrade = true
		}
	}
	for _, c := range rq.host {
		if c <= ' ' || c >= 0x7f || c == '/' || c == '\\' {
			return 400, fmt.Errorf("malformed Host %q", rq.host)
		}
	}
	switch {
	case hosts > 1 || (hosts == 0 && rq.http11):
		return 400, errors.New("missing or repeated Host")
	case tes > 1 || (rq.chunked && !rq.http11):
		return 400, errors.New("bad Transfer-Encoding")
	case rq.chunked && rq.contentLength >= 0:
		return 400, errors.New("both Transfer-Encoding and Content-Length")
	}
	rq.upgrade = hasUpgrade && rq.http11
	if rq.upgrade {
		rq.upgrade = false
		for _, v := range rq.conn {
			rq.upgrade = rq.upgrade || tokenIn(v, "upgrade")
		}
	}
	rq.bodyDone = !rq.hasBody()
	return 0, nil
}

// parseTarget sets path (and host, for the absolute form) from target.
func (rq *request) parseTarget() error {
	t := rq.target
	switch {
	case t[0] == '/':
		rq.path = t
	case string(t) == "*" && string(rq.method) == "OPTIONS":
		rq.path = t
	default:
		// absolute-form: http://host[:port][/path][?query]
		var rest []byte
		switch {
		case len(t) > 7 && lowerIs(t[:7], "http://"):
			rest = t[7:]
		case len(t) > 8 && lowerIs(t[:8], "https://"):
			rest = t[8:]
		default:
			return fmt.Errorf("malformed request target %q", t)
		}
		end := bytes.IndexAny(rest, "/?")
		if end < 0 {
			end = len(rest)
		}
		if end == 0 {
			return fmt.Errorf("malformed request target %q", t)
		}
		rq.host, rq.hasHost, rq.absolute = rest[:end], true, true
		rq.path = rest[end:]
		if len(rq.path) == 0 || rq.path[0] == '?' {
			rq.path = append([]byte("/"), rq.path...) // rare: may allocate
		}
	}
	return nil
}
