package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// request is a request as both fronts see it, parsed in place: every slice
// points into buf, the exchange's copy of the head. The native front
// copies the head off the wire; the net/http front writes one from an
// *http.Request (fromHTTP). Either way parse applies the same rules and
// writeHead the same hop-by-hop ones.
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
	if code, err := rq.parseLine(line); err != nil {
		return code, err
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
	if !validHost(rq.host) {
		return 400, fmt.Errorf("malformed Host %q", rq.host)
	}
	switch {
	case hosts > 1 || (hosts == 0 && rq.http11):
		return 400, errors.New("missing or repeated Host")
	case tes > 1 || (rq.chunked && !rq.http11):
		return 400, errors.New("bad Transfer-Encoding")
	case rq.chunked && rq.contentLength >= 0:
		// RFC 9112 §6.1: both may be a smuggling attempt; a server that
		// answers must close the connection after. Refusing does both.
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

// parseLine reads the request line: method, target and version.
func (rq *request) parseLine(line []byte) (int, error) {
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
		if bytes.IndexByte(rest[:end], '@') >= 0 {
			// RFC 9110 §4.2.4: userinfo in an http(s) URI is an error.
			return fmt.Errorf("userinfo in the request target %q", t)
		}
		rq.host, rq.hasHost, rq.absolute = rest[:end], true, true
		rq.path = rest[end:]
		if len(rq.path) == 0 || rq.path[0] == '?' {
			rq.path = append([]byte("/"), rq.path...) // rare: may allocate
		}
	}
	return nil
}

// pathOnly is the target's path without its query, for routes.
func (rq *request) pathOnly() []byte {
	if i := bytes.IndexByte(rq.path, '?'); i >= 0 {
		return rq.path[:i]
	}
	return rq.path
}

// forwarding is what this hop adds to a request head.
type forwarding struct {
	backend string // the app's address: Host for a request without one
	ip      string // the client's address, appended to X-Forwarded-For
	https   bool
	trust   bool // keep the client's X-Forwarded-Proto and -Host
}

// writeHead writes the request head for the app into bw (not flushed):
// Host, the client's end-to-end fields as sent, this hop's forwarding
// fields, and the framing of the body as it will be sent.
func (rq *request) writeHead(bw *bufio.Writer, fw forwarding) {
	buf := rq.buf
	bw.Write(rq.method)
	bw.WriteByte(' ')
	bw.Write(rq.path)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	// Host is written here, never from the fields: a Connection field
	// naming it must not take it away.
	if rq.hasHost {
		bw.Write(rq.host)
	} else {
		bw.WriteString(fw.backend)
	}
	bw.WriteString("\r\n")
	var xff, xfProto, xfHost bool
	for _, f := range rq.fields {
		name, value := f.name(buf), f.value(buf)
		if hopName(name) {
			if lowerIs(name, "te") && tokenIn(value, "trailers") {
				bw.WriteString("TE: trailers\r\n") // gRPC and friends need it
			}
			continue
		}
		switch len(name) {
		case 4:
			if lowerIs(name, "host") {
				continue // written first
			}
		case 6:
			if lowerIs(name, "expect") {
				continue // answered by the front
			}
		case 14:
			if lowerIs(name, "content-length") {
				continue // framed below
			}
		case 15:
			if lowerIs(name, "x-forwarded-for") {
				xff = true
				continue // appended to below
			}
		case 16:
			if lowerIs(name, "x-forwarded-host") {
				xfHost = true
				if !fw.trust {
					continue
				}
			}
		case 17:
			if lowerIs(name, "x-forwarded-proto") {
				xfProto = true
				if !fw.trust {
					continue
				}
			}
		}
		if len(rq.conn) > 0 && connNamed(rq.conn, name) {
			continue
		}
		bw.Write(name)
		bw.WriteString(": ")
		bw.Write(value)
		bw.WriteString("\r\n")
	}
	rq.writeForwarded(bw, fw, xff, xfProto, xfHost)
	rq.writeFraming(bw)
	bw.WriteString("\r\n")
}

// writeForwarded writes X-Forwarded-For (the client's list, then this
// client), -Proto and -Host.
func (rq *request) writeForwarded(bw *bufio.Writer, fw forwarding, xff, xfProto, xfHost bool) {
	if xff || fw.ip != "" {
		bw.WriteString("X-Forwarded-For: ")
		sep := false
		if xff {
			for _, f := range rq.fields {
				if lowerIs(f.name(rq.buf), "x-forwarded-for") {
					if sep {
						bw.WriteString(", ")
					}
					bw.Write(f.value(rq.buf))
					sep = true
				}
			}
		}
		if fw.ip != "" {
			if sep {
				bw.WriteString(", ")
			}
			bw.WriteString(fw.ip)
		}
		bw.WriteString("\r\n")
	}
	if !fw.trust || !xfProto {
		if fw.https {
			bw.WriteString("X-Forwarded-Proto: https\r\n")
		} else {
			bw.WriteString("X-Forwarded-Proto: http\r\n")
		}
	}
	if rq.hasHost && (!fw.trust || !xfHost) {
		bw.WriteString("X-Forwarded-Host: ")
		bw.Write(rq.host)
		bw.WriteString("\r\n")
	}
}

// writeFraming writes how the body goes to the app (re-chunked when the
// client chunked it), and the upgrade fields of an upgrade request.
func (rq *request) writeFraming(bw *bufio.Writer) {
	switch m := string(rq.method); {
	case rq.chunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case rq.contentLength > 0 || (rq.contentLength == 0 && m != "GET" && m != "HEAD"):
		bw.WriteString("Content-Length: ")
		writeInt(bw, rq.contentLength, 10)
		bw.WriteString("\r\n")
	case m == "POST" || m == "PUT" || m == "PATCH":
		bw.WriteString("Content-Length: 0\r\n")
	}
	if rq.upgrade {
		bw.WriteString("Connection: Upgrade\r\n")
		for _, f := range rq.fields {
			if lowerIs(f.name(rq.buf), "upgrade") {
				bw.WriteString("Upgrade: ")
				bw.Write(f.value(rq.buf))
				bw.WriteString("\r\n")
			}
		}
	}
}

// fromHTTP writes the head of a request that net/http has parsed into buf,
// as it would be on the wire, and parses it: the net/http front then sends
// it with the same rules as the native one. net/http has already taken
// the framing fields apart: the body's framing is written from r.
func (rq *request) fromHTTP(r *http.Request, buf []byte) (int, error) {
	buf = append(buf[:0], r.Method...)
	buf = append(buf, ' ')
	buf = append(buf, r.RequestURI...)
	if r.ProtoMajor == 1 && r.ProtoMinor == 0 {
		buf = append(buf, " HTTP/1.0\r\n"...)
	} else {
		buf = append(buf, " HTTP/1.1\r\n"...) // HTTP/2 is framed anew as 1.1
	}
	if r.Host != "" {
		buf = append(buf, "Host: "...)
		buf = append(buf, r.Host...)
		buf = append(buf, "\r\n"...)
	}
	for k, vv := range r.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding":
			continue
		}
		for _, v := range vv {
			if strings.ContainsAny(k, "\r\n") || strings.ContainsAny(v, "\r\n") {
				// Not from a server (it refuses them): from a handler in
				// front, and it must not add fields this way.
				return 400, fmt.Errorf("line break in header field %q", k)
			}
			buf = append(buf, k...)
			buf = append(buf, ": "...)
			buf = append(buf, v...)
			buf = append(buf, "\r\n"...)
		}
	}
	switch hasBody := r.Body != nil && r.Body != http.NoBody; {
	case hasBody && r.ContentLength < 0:
		buf = append(buf, "Transfer-Encoding: chunked\r\n"...)
	case r.ContentLength > 0 || (hasBody && r.ContentLength == 0):
		buf = append(buf, "Content-Length: "...)
		buf = strconv.AppendInt(buf, r.ContentLength, 10)
		buf = append(buf, "\r\n"...)
	}
	buf = append(buf, "\r\n"...)
	if r.RequestURI == "" {
		return 400, errors.New("no request target") // a request not from a server
	}
	return rq.parse(buf)
}
