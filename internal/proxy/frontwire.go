package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// writeHead writes the request head for the app into bw (not flushed):
// the client's fields as sent, minus hop-by-hop ones, plus this hop's.
func (fc *frontConn) writeHead(bw *bufio.Writer, addr string) {
	rq := &fc.req
	buf := rq.buf
	bw.Write(rq.method)
	bw.WriteByte(' ')
	bw.Write(rq.path)
	bw.WriteString(" HTTP/1.1\r\n")
	if rq.absolute || !rq.hasHost {
		bw.WriteString("Host: ")
		if rq.hasHost {
			bw.Write(rq.host)
		} else {
			bw.WriteString(addr)
		}
		bw.WriteString("\r\n")
	}
	trust := fc.p.trustForwarded
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
			if rq.absolute && lowerIs(name, "host") {
				continue
			}
		case 6:
			if lowerIs(name, "expect") {
				continue // answered here
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
				if !trust {
					continue
				}
			}
		case 17:
			if lowerIs(name, "x-forwarded-proto") {
				xfProto = true
				if !trust {
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

	if xff || fc.ip != "" {
		bw.WriteString("X-Forwarded-For: ")
		sep := false
		if xff {
			for _, f := range rq.fields {
				if lowerIs(f.name(buf), "x-forwarded-for") {
					if sep {
						bw.WriteString(", ")
					}
					bw.Write(f.value(buf))
					sep = true
				}
			}
		}
		if fc.ip != "" {
			if sep {
				bw.WriteString(", ")
			}
			bw.WriteString(fc.ip)
		}
		bw.WriteString("\r\n")
	}
	if !trust || !xfProto {
		if fc.https {
			bw.WriteString("X-Forwarded-Proto: https\r\n")
		} else {
			bw.WriteString("X-Forwarded-Proto: http\r\n")
		}
	}
	if rq.hasHost && (!trust || !xfHost) {
		bw.WriteString("X-Forwarded-Host: ")
		bw.Write(rq.host)
		bw.WriteString("\r\n")
	}

	switch m := string(rq.method); {
	case rq.chunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case rq.contentLength > 0 || (rq.contentLength == 0 && m != "GET" && m != "HEAD"):
		var num [20]byte
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(num[:0], rq.contentLength, 10))
		bw.WriteString("\r\n")
	case m == "POST" || m == "PUT" || m == "PATCH":
		bw.WriteString("Content-Length: 0\r\n")
	}
	if rq.upgrade {
		bw.WriteString("Connection: Upgrade\r\n")
		for _, f := range rq.fields {
			if lowerIs(f.name(buf), "upgrade") {
				bw.WriteString("Upgrade: ")
				bw.Write(f.value(buf))
				bw.WriteString("\r\n")
			}
		}
	}
	bw.WriteString("\r\n")
}

// upload streams the request body from the client to the app after the head
// in bw: as is when it has a length, re-chunked when chunked.
func (fc *frontConn) upload(bw *bufio.Writer) error {
	rq := &fc.req
	br := fc.br
	if !rq.chunked {
		if err := fc.pump(bw, rq.contentLength); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("send request body: %w", err)
		}
		return nil
	}
	var num [16]byte
	for {
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("send request body: %w", err)
			}
			if err := fc.waitClient(); err != nil {
				return clientBodyError{err}
			}
		}
		size, err := readChunkSize(br)
		if err != nil {
			return clientBodyError{err}
		}
		if size == 0 {
			break
		}
		bw.Write(strconv.AppendInt(num[:0], size, 16))
		bw.WriteString("\r\n")
		if err := fc.pump(bw, size); err != nil {
			return err
		}
		bw.WriteString("\r\n")
		if err := readCRLF(br); err != nil {
			return clientBodyError{err}
		}
	}
	bw.WriteString("0\r\n")
	for { // trailer fields, as sent
		line, err := br.ReadSlice('\n')
		if err != nil {
			return clientBodyError{err}
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || bytes.ContainsAny(bytes.TrimRight(line, "\r\n"), "\r\n\x00") {
			return clientBodyError{fmt.Errorf("malformed trailer %q", line)}
		}
		for _, c := range line[:colon] {
			if !tokenChar[c] {
				return clientBodyError{fmt.Errorf("malformed trailer %q", line)}
			}
		}
		bw.Write(bytes.TrimRight(line, "\r\n"))
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("send request body: %w", err)
	}
	return nil
}

// pump copies n bytes from the client's br to the app's bw, out of br's
// buffer, flushing bw before it would wait for the client. A client that
// sends nothing for IdleTimeout fails the upload.
func (fc *frontConn) pump(bw *bufio.Writer, n int64) error {
	br := fc.br
	for n > 0 {
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("send request body: %w", err)
			}
			if err := fc.waitClient(); err != nil {
				return clientBodyError{err}
			}
			if _, err := br.Peek(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return clientBodyError{err}
			}
		}
		k := min(int64(br.Buffered()), n)
		buf, _ := br.Peek(int(k))
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("send request body: %w", err)
		}
		br.Discard(int(k))
		n -= k
	}
	return nil
}
