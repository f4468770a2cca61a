package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// This file is the net/http front's side of the wire: the request head and
// body for the app from an *http.Request, and the response head into the
// ResponseWriter's header map.

// writeHead writes the request head for the app into bw (not flushed).
func (p *Proxy) writeHead(bw *bufio.Writer, r *http.Request, addr string, hasBody, chunked, upgrade bool) {
	uri := r.RequestURI
	if uri == "" || (uri[0] != '/' && uri != "*") {
		uri = r.URL.RequestURI() // absolute-form: send origin-form
	}
	host := r.Host
	if host == "" {
		host = addr
	}
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")

	var connNames []string
	if c := r.Header["Connection"]; c != nil {
		connNames = connectionNames(c)
	}
	for k, vv := range r.Header {
		if hopHeader(k) {
			if k == "Te" && hasToken(vv, "trailers") {
				bw.WriteString("Te: trailers\r\n") // gRPC and friends need it
			}
			continue
		}
		switch k {
		case "X-Forwarded-For", "Content-Length", "Expect":
			// Set below; net/http answers 100-continue itself when the
			// body is read.
			continue
		case "X-Forwarded-Proto", "X-Forwarded-Host":
			if !p.trustForwarded {
				continue
			}
		}
		if connNames != nil && contains(connNames, k) {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}

	prior := r.Header["X-Forwarded-For"]
	ip := clientIP(r.RemoteAddr)
	if len(prior) > 0 || ip != "" {
		bw.WriteString("X-Forwarded-For: ")
		for i, v := range prior {
			if i > 0 {
				bw.WriteString(", ")
			}
			bw.WriteString(v)
		}
		if ip != "" {
			if len(prior) > 0 {
				bw.WriteString(", ")
			}
			bw.WriteString(ip)
		}
		bw.WriteString("\r\n")
	}
	if !p.trustForwarded || r.Header["X-Forwarded-Proto"] == nil {
		if r.TLS != nil {
			bw.WriteString("X-Forwarded-Proto: https\r\n")
		} else {
			bw.WriteString("X-Forwarded-Proto: http\r\n")
		}
	}
	if r.Host != "" && (!p.trustForwarded || r.Header["X-Forwarded-Host"] == nil) {
		bw.WriteString("X-Forwarded-Host: ")
		bw.WriteString(r.Host)
		bw.WriteString("\r\n")
	}

	switch {
	case chunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case hasBody:
		var num [20]byte
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(num[:0], r.ContentLength, 10))
		bw.WriteString("\r\n")
	case r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch:
		bw.WriteString("Content-Length: 0\r\n")
	}
	if upgrade {
		bw.WriteString("Connection: Upgrade\r\nUpgrade: ")
		bw.WriteString(strings.Join(r.Header["Upgrade"], ", "))
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
}

func clientIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return ""
	}
	return host
}

// clientBodyError marks a failure to read the request body from the client.
type clientBodyError struct{ err error }

func (e clientBodyError) Error() string { return "read request body: " + e.err.Error() }
func (e clientBodyError) Unwrap() error { return e.err }

func isClientErr(err error) bool {
	var ce clientBodyError
	return errors.As(err, &ce)
}

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// writeBody streams the request body to the app after the head in bw, in
// chunked encoding when the client sent no length, and flushes.
func writeBody(bw *bufio.Writer, r *http.Request, chunked bool) error {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	if !chunked {
		for {
			n, rerr := r.Body.Read(buf)
			if n > 0 {
				if _, err := bw.Write(buf[:n]); err != nil {
					return fmt.Errorf("send request body: %w", err)
				}
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				return clientBodyError{rerr}
			}
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("send request body: %w", err)
		}
		return nil
	}
	var num [20]byte
	for {
		n, rerr := r.Body.Read(buf)
		if n > 0 {
			bw.Write(strconv.AppendInt(num[:0], int64(n), 16))
			bw.WriteString("\r\n")
			bw.Write(buf[:n])
			bw.WriteString("\r\n")
			// Flush each chunk: a streamed upload moves as it comes.
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("send request body: %w", err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return clientBodyError{rerr}
		}
	}
	bw.WriteString("0\r\n")
	for k, vv := range r.Trailer {
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("send request body: %w", err)
	}
	return nil
}

// setHeader fills h from the fields of a response head: end-to-end fields
// only, names canonical. Names and values are slices of one string copy of
// the head, and all the value slices share one array: a few allocations per
// response, not a few per field.
func setHeader(h http.Header, rh *respHead, head []byte, fields []field) error {
	s := string(head)
	vals := make([]string, len(fields))
	nv := 0
	sawLength := false
	for _, f := range fields {
		name := head[f.ns:f.ne]
		if rh.skipField(name) {
			continue
		}
		k, ok := canonicalName(s[f.ns:f.ne])
		if !ok {
			return fmt.Errorf("malformed field name %q", name)
		}
		if k == "Content-Length" {
			if rh.chunked || sawLength {
				continue // framing is net/http's; one length is enough
			}
			sawLength = true
		}
		v := s[f.vs:f.ve]
		if old := h[k]; old != nil {
			h[k] = append(old, v)
		} else {
			vals[nv] = v
			h[k] = vals[nv : nv+1 : nv+1]
			nv++
		}
	}
	return nil
}
