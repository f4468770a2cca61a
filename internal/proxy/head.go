package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// This file reads HTTP/1.x message heads straight out of a bufio.Reader's
// buffer and splits them into fields by offset, so that a head costs no
// allocation: both fronts and the upstream side use it.

var (
	errNoResponse   = errors.New("connection closed before any response byte")
	errHeadTooLarge = errors.New("message head too large")
)

// readHead returns the next message head (start line, field lines, blank
// line) as it sits in br's buffer, without consuming it: the slice is valid
// until the next read from br, and the caller Discards len(head) when done.
// A head must fit br's buffer. An error when not one byte came is wrapped
// around errNoResponse.
func readHead(br *bufio.Reader) ([]byte, error) {
	scanned := 0 // bytes of complete lines already looked at
	for {
		buf, _ := br.Peek(br.Buffered())
		for {
			i := bytes.IndexByte(buf[scanned:], '\n')
			if i < 0 {
				break
			}
			line := buf[scanned : scanned+i]
			scanned += i + 1
			if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
				// The blank line that ends the head; one before the
				// start line makes a head with no start line, refused
				// by the parser, as Go's server does.
				return buf[:scanned], nil
			}
		}
		if len(buf) >= br.Size() {
			return nil, errHeadTooLarge
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			if len(buf) == 0 {
				return nil, fmt.Errorf("%w: %w", errNoResponse, err)
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// field is one header field of a head, by offsets into the head.
type field struct {
	ns, ne, vs, ve int // name [ns:ne], value [vs:ve] (trimmed)
}

func (f field) name(head []byte) []byte  { return head[f.ns:f.ne] }
func (f field) value(head []byte) []byte { return head[f.vs:f.ve] }

// startLine returns the head's first line without its line end, and where
// the field lines begin.
func startLine(head []byte) ([]byte, int) {
	i := bytes.IndexByte(head, '\n')
	return bytes.TrimSuffix(head[:i], []byte("\r")), i + 1
}

// scanFields splits the field lines of head (from offset at) into fields,
// appended to dst. It rejects what could let two parsers disagree on the
// message: names that are not tokens, white space before the colon, control
// characters in values, and obsolete line folding.
func scanFields(head []byte, at int, dst []field) ([]field, error) {
	for at < len(head) {
		end := at + bytes.IndexByte(head[at:], '\n') // a head ends in '\n'
		le := end
		if le > at && head[le-1] == '\r' {
			le--
		}
		if le == at {
			break // the blank line
		}
		if head[at] == ' ' || head[at] == '\t' {
			return dst, errors.New("obsolete line folding")
		}
		colon := at
		for colon < le && head[colon] != ':' {
			if !tokenChar[head[colon]] {
				return dst, fmt.Errorf("malformed field name %q", head[at:le])
			}
			colon++
		}
		if colon == at || colon == le {
			return dst, fmt.Errorf("malformed field line %q", head[at:le])
		}
		vs, ve := colon+1, le
		for vs < ve && (head[vs] == ' ' || head[vs] == '\t') {
			vs++
		}
		for ve > vs && (head[ve-1] == ' ' || head[ve-1] == '\t') {
			ve--
		}
		for _, c := range head[vs:ve] {
			if c < ' ' && c != '\t' || c == 0x7f {
				return dst, fmt.Errorf("control character in field %q", head[at:colon])
			}
		}
		dst = append(dst, field{at, colon, vs, ve})
		at = end + 1
	}
	return dst, nil
}

// lowerIs reports whether name equals lower (given in lower case), ignoring
// ASCII case.
func lowerIs(name []byte, lower string) bool {
	if len(name) != len(lower) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// hopName reports whether a field name (any case) is hop-by-hop. Trailer is
// not: it announces end-to-end trailer fields.
func hopName(name []byte) bool {
	switch len(name) {
	case 2:
		return lowerIs(name, "te")
	case 7:
		return lowerIs(name, "upgrade")
	case 10:
		return lowerIs(name, "connection") || lowerIs(name, "keep-alive")
	case 16:
		return lowerIs(name, "proxy-connection")
	case 17:
		return lowerIs(name, "transfer-encoding")
	case 18:
		return lowerIs(name, "proxy-authenticate")
	case 19:
		return lowerIs(name, "proxy-authorization")
	}
	return false
}

// tokenIn reports whether a comma-separated list holds token, in any case.
func tokenIn(list []byte, token string) bool {
	for len(list) > 0 {
		var t []byte
		if i := bytes.IndexByte(list, ','); i >= 0 {
			t, list = list[:i], list[i+1:]
		} else {
			t, list = list, nil
		}
		if lowerIs(bytes.Trim(t, " \t"), token) {
			return true
		}
	}
	return false
}

// connNamed reports whether name is listed in a Connection field value other
// than as keep-alive, close or upgrade: such a field is hop-by-hop too.
func connNamed(conn [][]byte, name []byte) bool {
	for _, list := range conn {
		for len(list) > 0 {
			var t []byte
			if i := bytes.IndexByte(list, ','); i >= 0 {
				t, list = list[:i], list[i+1:]
			} else {
				t, list = list, nil
			}
			if bytes.EqualFold(bytes.Trim(t, " \t"), name) {
				return true
			}
		}
	}
	return false
}

// parseUint reads a decimal Content-Length.
func parseUint(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// respHead is what the proxy needs to know about a response head.
type respHead struct {
	code           int
	status         []byte // "200 OK": code and reason as the app sent them
	keepAlive      bool
	chunked        bool
	contentLength  int64 // -1: not given
	hasContentType bool
	trailers       bool     // a Trailer field announces trailers
	conn           [][]byte // Connection field values
}

// parseResponse reads the status line and framing fields of a response head
// and returns its fields (appended to dst). Framing that two parsers could
// read two ways is an error (RFC 9112 §6.3): Content-Length twice or
// together with Transfer-Encoding, Transfer-Encoding in HTTP/1.0 or other
// than chunked.
func (rh *respHead) parseResponse(head []byte, dst []field) ([]field, error) {
	line, at := startLine(head)
	// HTTP/1.x SP 3DIGIT [SP reason]
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || (line[7] != '0' && line[7] != '1') ||
		line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return dst, fmt.Errorf("malformed status line %q", line)
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return dst, fmt.Errorf("malformed status line %q", line)
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return dst, fmt.Errorf("malformed status line %q", line)
	}
	conn := rh.conn[:0]
	*rh = respHead{
		code:          code,
		status:        line[9:],
		keepAlive:     line[7] == '1', // HTTP/1.1 keeps the connection unless told
		contentLength: -1,
		conn:          conn,
	}
	http10 := line[7] == '0'
	fields, err := scanFields(head, at, dst)
	if err != nil {
		return fields, err
	}
	for _, f := range fields[len(dst):] {
		name, value := f.name(head), f.value(head)
		switch len(name) {
		case 10:
			if lowerIs(name, "connection") {
				rh.conn = append(rh.conn, value)
				if tokenIn(value, "close") {
					rh.keepAlive = false
				} else if http10 && tokenIn(value, "keep-alive") {
					rh.keepAlive = true
				}
			}
		case 12:
			if lowerIs(name, "content-type") {
				rh.hasContentType = true
			}
		case 7:
			if lowerIs(name, "trailer") {
				rh.trailers = true
			}
		case 14:
			if lowerIs(name, "content-length") {
				n, ok := parseUint(value)
				if !ok || rh.contentLength >= 0 {
					return fields, fmt.Errorf("bad or repeated Content-Length %q", value)
				}
				rh.contentLength = n
			}
		case 17:
			if lowerIs(name, "transfer-encoding") {
				if !lowerIs(value, "chunked") || rh.chunked || http10 {
					return fields, fmt.Errorf("unsupported Transfer-Encoding %q", value)
				}
				rh.chunked = true
			}
		}
	}
	if rh.chunked && rh.contentLength >= 0 {
		return fields, errors.New("both Transfer-Encoding and Content-Length")
	}
	return fields, nil
}

// bodyFrame is how a message body is delimited (RFC 9112 §6.3).
type bodyFrame uint8

const (
	frameNone    bodyFrame = iota // no body, whatever the fields say
	frameLength                   // Content-Length bytes
	frameChunked                  // the chunked coding
	frameClose                    // until the connection closes
)

// frame says how the body of this response to a request (HEAD or not)
// is delimited.
func (rh *respHead) frame(head bool) bodyFrame {
	switch {
	case head || rh.code < 200 || rh.code == 204 || rh.code == 304:
		return frameNone
	case rh.chunked:
		return frameChunked
	case rh.contentLength >= 0:
		return frameLength
	}
	return frameClose
}

// endToEnd reports whether a response field goes on to the client as the
// app wrote it: not hop-by-hop, and not framing, which the proxy writes.
func (rh *respHead) endToEnd(name []byte) bool {
	if len(name) == 14 && lowerIs(name, "content-length") {
		return false
	}
	return !hopName(name) && (len(rh.conn) == 0 || !connNamed(rh.conn, name))
}

// hostChar marks the bytes a Host (or an absolute-form target's authority)
// may hold: RFC 3986's reg-name, IP-literal and port characters, as Go's
// server allows.
var hostChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!$%&'()*+,-.:;=[]_~" {
		t[c] = true
	}
	return t
}()

func validHost(h []byte) bool {
	for _, c := range h {
		if !hostChar[c] {
			return false
		}
	}
	return true
}

// tokenChar marks the bytes allowed in a field name (RFC 9110 tchar).
var tokenChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
