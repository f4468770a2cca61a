package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Local handlers (Options.Handlers) on the native front: the request,
// parsed and checked like any other, is handed to an http.Handler with its
// body read from the connection as the handler asks, and the handler's
// answer is buffered and written with a length. The receiver's webhook is
// served this way, so that the public port has one front.

// maxLocalAnswer bounds a local handler's buffered answer.
const maxLocalAnswer = 1 << 20

var errLocalAnswerTooLong = errors.New("proxy: local handler answer larger than 1 MiB")

// serveLocal answers the current request with h and reports whether the
// connection can carry another: only when h read the body to its end.
func (fc *frontConn) serveLocal(h http.Handler) (keep bool) {
	rq := &fc.x.req
	r, body, err := fc.localRequest()
	if err != nil {
		fc.writeError(http.StatusBadRequest, err.Error(), true)
		return false
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r = r.WithContext(ctx)
	// The handler may set its own read deadline (through the
	// ResponseController); until then the idle timeout bounds each wait.
	fc.c.SetReadDeadline(time.Now().Add(fc.p.idleTimeout))
	fc.renewAt = time.Time{}
	w := &localWriter{fc: fc, h: http.Header{}}
	if !callLocal(h, w, r) {
		return false // it panicked: cut the connection
	}
	rq.bodyDone = body.done
	if !rq.bodyDone || fc.p.front.shutting.Load() {
		rq.closeAfter = true // what is left of the body is not read
	}
	w.finish()
	return !rq.closeAfter
}

// callLocal runs h and reports false if it panicked.
func callLocal(h http.Handler, w http.ResponseWriter, r *http.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil && v != http.ErrAbortHandler {
			panic(v) // serve logs it
		}
	}()
	h.ServeHTTP(w, r)
	return true
}

// localRequest builds the *http.Request a handler gets, as net/http's
// server would: canonical header names, Host taken out of the header.
func (fc *frontConn) localRequest() (*http.Request, *localBody, error) {
	rq := &fc.x.req
	u, err := url.ParseRequestURI(string(rq.path))
	if err != nil {
		return nil, nil, fmt.Errorf("malformed request target %q", rq.target)
	}
	h := make(http.Header, len(rq.fields))
	for _, f := range rq.fields {
		k, _ := canonicalName(string(f.name(rq.buf))) // names were checked by parse
		if k != "Host" {
			h[k] = append(h[k], string(f.value(rq.buf)))
		}
	}
	body := &localBody{fc: fc, n: max(rq.contentLength, 0), chunked: rq.chunked, expect100: rq.expect100}
	r := &http.Request{
		Method: string(rq.method), URL: u, Header: h, Host: string(rq.host),
		Proto: "HTTP/1.0", ProtoMajor: 1, RequestURI: string(rq.target),
		RemoteAddr: fc.c.RemoteAddr().String(), Close: rq.closeAfter,
		ContentLength: max(rq.contentLength, 0), Body: body,
	}
	if rq.http11 {
		r.Proto, r.ProtoMinor = "HTTP/1.1", 1
	}
	switch {
	case rq.chunked:
		r.ContentLength, r.TransferEncoding = -1, []string{"chunked"}
	case !rq.hasBody():
		r.Body, body.done = http.NoBody, true
	}
	return r, body, nil
}

// localBody is a local handler's request body, read from the client's
// connection: as many bytes as Content-Length says, or the chunks.
type localBody struct {
	fc        *frontConn
	n         int64 // bytes left: of the body, or of the current chunk
	chunked   bool
	expect100 bool
	done      bool // read to its end
	err       error
}

func (b *localBody) Read(p []byte) (int, error) {
	switch {
	case b.done:
		return 0, io.EOF
	case b.err != nil:
		return 0, b.err
	}
	n, err := b.read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (b *localBody) read(p []byte) (int, error) {
	br := b.fc.br
	if b.expect100 {
		b.expect100 = false
		b.fc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if err := b.fc.bw.Flush(); err != nil {
			return 0, err
		}
	}
	if b.chunked && b.n == 0 {
		size, err := readChunkSize(br)
		if err != nil {
			return 0, err
		}
		if size == 0 {
			if err := readTrailers(br, dropTrailers{}); err != nil {
				return 0, err
			}
			b.done = true
			return 0, io.EOF
		}
		b.n = size
	}
	n, err := br.Read(p[:min(int64(len(p)), b.n)])
	b.n -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && b.n == 0 {
		if b.chunked {
			err = readChunkEnd(br)
		} else {
			b.done = true
		}
	}
	return n, err
}

// Close leaves what is left of the body unread: the connection is then
// closed after the answer.
func (b *localBody) Close() error { return nil }

type dropTrailers struct{}

func (dropTrailers) Trailer(name, value []byte) {}

// localWriter buffers a local handler's answer.
type localWriter struct {
	fc   *frontConn
	h    http.Header
	code int
	body bytes.Buffer
}

func (w *localWriter) Header() http.Header { return w.h }

func (w *localWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *localWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.body.Len()+len(p) > maxLocalAnswer {
		return 0, errLocalAnswerTooLong
	}
	return w.body.Write(p)
}

// SetReadDeadline bounds the handler's reads of the body (through
// http.ResponseController).
func (w *localWriter) SetReadDeadline(t time.Time) error { return w.fc.c.SetReadDeadline(t) }

// finish writes the answer with its length.
func (w *localWriter) finish() {
	fc := w.fc
	rq := &fc.x.req
	w.WriteHeader(http.StatusOK)
	bw := fc.bw
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(w.code))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(w.code))
	bw.WriteString("\r\n")
	for k, vv := range w.h {
		if hopName([]byte(k)) || k == "Content-Length" || !tokenString(k) {
			continue
		}
		for _, v := range vv {
			if strings.ContainsAny(v, "\r\n\x00") {
				continue
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	withBody := w.code >= 200 && w.code != 204 && w.code != 304
	if withBody {
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.Itoa(w.body.Len()))
		bw.WriteString("\r\n")
	}
	endHead(bw, rq)
	if withBody && string(rq.method) != "HEAD" {
		bw.Write(w.body.Bytes())
	}
}

func tokenString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !tokenChar[s[i]] {
			return false
		}
	}
	return s != ""
}
