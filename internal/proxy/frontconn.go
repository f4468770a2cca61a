package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// The native front's side of the exchange (the client interface): the
// request body comes from the connection's read buffer, and the response
// goes to its write buffer.

// nilCtx is for dials of the native front: a dial to loopback is refused or
// made at once, and is bounded by the dialer's timeout.
var nilCtx = context.Background()

func (fc *frontConn) ex() *exchange             { return &fc.x }
func (fc *frontConn) dialCtx() context.Context  { return nilCtx }
func (fc *frontConn) watch(uc *upConn)          { uc.watch(nil, fc.raw, fc.x.now) }
func (fc *frontConn) cutUpload(done chan error) { fc.cutUploadNow() }

// sendBody sends a body that came with the head in the same write as the
// head; a longer one streams up in its own goroutine.
func (fc *frontConn) sendBody(uc *upConn) *fwdError {
	x := &fc.x
	rq := &x.req
	addr := uc.b.addr
	switch {
	case rq.bodyDone:
		if err := uc.bw.Flush(); err != nil {
			return &fwdError{kind: failRetry, err: fmt.Errorf("send request to %s: %w", addr, err)}
		}
	case !rq.chunked && int64(fc.br.Buffered()) >= rq.contentLength:
		n := int(rq.contentLength)
		body, _ := fc.br.Peek(n)
		uc.bw.Write(body)
		if err := uc.bw.Flush(); err != nil {
			// The body stays in br: the request can go again.
			return &fwdError{kind: failRetry, err: fmt.Errorf("send request to %s: %w", addr, err)}
		}
		fc.br.Discard(n)
		rq.bodyDone = true
	default:
		if rq.expect100 && fc.br.Buffered() == 0 {
			fc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if err := fc.bw.Flush(); err != nil {
				return &fwdError{kind: failClient, err: err}
			}
		}
		fc.uploadCut = false // no upload runs: no lock needed
		x.startUpload(fc, uc)
	}
	return nil
}

// sent flushes answers to earlier pipelined requests: they must not wait
// for this one.
func (fc *frontConn) sent() error {
	if fc.bw.Buffered() > 0 {
		return fc.bw.Flush()
	}
	return nil
}

// upload streams the request body from the client to the app after the
// head in uc.bw: as is when it has a length, re-chunked when chunked.
func (fc *frontConn) upload(uc *upConn) error {
	rq := &fc.x.req
	br, bw := fc.br, uc.bw
	if !rq.chunked {
		if err := fc.pump(bw, rq.contentLength); err != nil {
			return err
		}
		return flushBody(bw)
	}
	for {
		if err := fc.await(bw, lineBuffered(br)); err != nil {
			return err
		}
		size, err := readChunkSize(br)
		if err != nil {
			return clientBodyError{err}
		}
		if size == 0 {
			break
		}
		writeInt(bw, size, 16)
		bw.WriteString("\r\n")
		if err := fc.pump(bw, size); err != nil {
			return err
		}
		bw.WriteString("\r\n")
		if err := fc.await(bw, br.Buffered() >= 2); err != nil {
			return err
		}
		if err := readChunkEnd(br); err != nil {
			return clientBodyError{err}
		}
	}
	bw.WriteString("0\r\n")
	if err := fc.await(bw, br.Buffered() >= 2); err != nil {
		return err
	}
	if err := readTrailers(br, trailerWriter{bw}); err != nil {
		return clientBodyError{err}
	}
	bw.WriteString("\r\n")
	return flushBody(bw)
}

// await prepares a read from the client that may block (ready false): what
// is buffered for the app goes first, and the wait gets a fresh deadline.
func (fc *frontConn) await(bw *bufio.Writer, ready bool) error {
	if ready {
		return nil
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("send request body: %w", err)
	}
	if err := fc.waitClient(); err != nil {
		return clientBodyError{err}
	}
	return nil
}

func lineBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return bytes.IndexByte(b, '\n') >= 0
}

func flushBody(bw *bufio.Writer) error {
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("send request body: %w", err)
	}
	return nil
}

// trailerWriter writes trailer fields to the app.
type trailerWriter struct{ bw *bufio.Writer }

func (t trailerWriter) Trailer(name, value []byte) {
	t.bw.Write(name)
	t.bw.WriteString(": ")
	t.bw.Write(value)
	t.bw.WriteString("\r\n")
}

// pump copies n bytes from the client's br to the app's bw, out of br's
// buffer, flushing bw before it would wait for the client. A client that
// sends nothing for IdleTimeout fails the upload.
func (fc *frontConn) pump(bw *bufio.Writer, n int64) error {
	br := fc.br
	for n > 0 {
		if br.Buffered() == 0 {
			if err := fc.await(bw, false); err != nil {
				return err
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

// waitClient sets the read deadline for the next wait for body bytes, unless
// the upload was cut.
func (fc *frontConn) waitClient() error {
	fc.uploadMu.Lock()
	defer fc.uploadMu.Unlock()
	if fc.uploadCut {
		return errBodyCut
	}
	fc.renewAt = time.Time{} // serve renews the idle deadline next time
	return fc.c.SetReadDeadline(time.Now().Add(fc.p.idleTimeout))
}

// cutUploadNow makes the upload's reads from the client fail now.
func (fc *frontConn) cutUploadNow() {
	fc.uploadMu.Lock()
	fc.uploadCut = true
	fc.c.SetReadDeadline(aLongTimeAgo)
	fc.uploadMu.Unlock()
}

// switchProtocols hands the app's 101 on as the app wrote it (the
// handshake fields matter) and relays bytes both ways until both end.
func (fc *frontConn) switchProtocols(uc *upConn, head []byte) *fwdError {
	defer uc.conn.Close()
	fc.bw.Write(head)
	uc.br.Discard(len(head))
	if err := fc.bw.Flush(); err != nil {
		return &fwdError{kind: failClient, err: err}
	}
	relay(fc.c, fc.br, uc, fc.p.writeTimeout)
	fc.x.req.closeAfter = true
	return nil
}

// respond writes the response head and relays the body: as it came when
// it has a length, chunked to an HTTP/1.1 client when it has none, and
// delimited by closing the connection for an HTTP/1.0 one.
func (fc *frontConn) respond(uc *upConn, head []byte, fr bodyFrame) *fwdError {
	rq := &fc.x.req
	open := fr == frameChunked || fr == frameClose
	chunkOut := open && rq.http11
	if open && !rq.http11 {
		rq.closeAfter = true // an HTTP/1.0 client: the close ends the body
	}
	if !rq.bodyDone && fc.x.upDone == nil {
		rq.closeAfter = true
	}
	fc.writeResponseHead(head, fr, chunkOut)
	fc.x.began = true
	uc.br.Discard(len(head))
	switch {
	case fr == frameNone:
		return nil
	case chunkOut:
		ended := false
		cs := chunkSink{fc.bw, &ended}
		var f *fwdError
		if fr == frameChunked {
			f = copyChunked(cs, uc.br)
		} else {
			f = copyBody(cs, uc.br, -1)
		}
		if f == nil {
			cs.end()
		}
		return f
	case fr == frameChunked:
		return copyChunked(rawSink{fc.bw}, uc.br)
	case fr == frameClose:
		return copyBody(rawSink{fc.bw}, uc.br, -1)
	}
	return copyBody(rawSink{fc.bw}, uc.br, fc.x.resp.contentLength)
}

// writeResponseHead writes the app's response head to the client: its
// status and end-to-end fields as the app wrote them, and this hop's
// framing: a length the proxy checked, or chunked.
func (fc *frontConn) writeResponseHead(head []byte, fr bodyFrame, chunkOut bool) {
	rq, rh := &fc.x.req, &fc.x.resp
	bw := fc.bw
	bw.WriteString("HTTP/1.1 ")
	bw.Write(rh.status)
	if len(rh.status) == 3 { // no reason phrase: the space before it is still due
		bw.WriteByte(' ')
		bw.WriteString(http.StatusText(rh.code))
	}
	bw.WriteString("\r\n")
	for _, f := range fc.x.rfields {
		if name := f.name(head); rh.endToEnd(name) {
			bw.Write(head[f.ns:f.ve])
			bw.WriteString("\r\n")
		}
	}
	switch {
	case chunkOut:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case rh.contentLength >= 0 && (fr == frameLength || rh.code >= 200 && rh.code != 204):
		// A HEAD or 304 answer keeps the length of what it describes.
		bw.WriteString("Content-Length: ")
		writeInt(bw, rh.contentLength, 10)
		bw.WriteString("\r\n")
	}
	if fc.p.front.shutting.Load() {
		rq.closeAfter = true
	}
	endHead(bw, rq)
}

// endHead ends a response head to rq: whether the connection stays, and
// the blank line.
func endHead(bw *bufio.Writer, rq *request) {
	switch {
	case rq.closeAfter:
		bw.WriteString("Connection: close\r\n")
	case !rq.http11:
		bw.WriteString("Connection: keep-alive\r\n")
	}
	bw.WriteString("\r\n")
}
