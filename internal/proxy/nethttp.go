package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The net/http front: ServeHTTP makes the Proxy an http.Handler, for an
// http.Server that must do HTTP/2 or sit behind middleware. The request
// that net/http parsed is written back into a head and parsed by the same
// rules as the native front's (request.fromHTTP); the exchange with the app
// is the same one. What net/http already took apart before ServeHTTP runs
// (obsolete line folding, Transfer-Encoding with Content-Length or in
// HTTP/1.0) it cannot see: the native front refuses those.

// httpClient is one request of the net/http front: the client side of its
// exchange. They are pooled.
type httpClient struct {
	x   exchange
	buf []byte // the head written from the request
	p   *Proxy
	w   http.ResponseWriter
	r   *http.Request

	deadlined    bool // a write deadline is set on the client's connection
	writeRenewAt time.Time
}

var httpClients = sync.Pool{New: func() any { return new(httpClient) }}

// ServeHTTP forwards r to the current backend: the net/http front, for an
// http.Server (HTTP/2, TLS, middleware). Serve is the faster native front.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	hc := httpClients.Get().(*httpClient)
	hc.p, hc.w, hc.r = p, w, r
	defer func() {
		if hc.deadlined {
			hc.setWriteDeadline(time.Time{}) // the server's again
		}
		*hc = httpClient{x: exchange{req: request{fields: hc.x.req.fields[:0]}, rfields: hc.x.rfields[:0]}, buf: hc.buf[:0]}
		httpClients.Put(hc)
	}()
	x := &hc.x
	x.now, x.ip, x.https = time.Now(), clientIP(r.RemoteAddr), r.TLS != nil
	code, err := x.req.fromHTTP(r, hc.buf)
	hc.buf = x.req.buf
	if err != nil {
		p.log.Debug("proxy: bad request", "client", x.ip, "err", err)
		w.Header().Set("Connection", "close")
		http.Error(w, err.Error(), code)
		return
	}
	if h := p.route(x.req.pathOnly()); h != nil {
		h.ServeHTTP(w, r)
		return
	}
	_, f := run(p, r.Context(), hc)
	if f == nil {
		return
	}
	switch {
	case f.kind == failNoBackend:
		p.log.Warn("proxy: no backend", "method", r.Method, "path", r.URL.Path, "waited", p.wait)
		http.Error(w, "503 no backend is serving yet, try again", http.StatusServiceUnavailable)
	case f.kind == failUpstream && r.Context().Err() == nil:
		http.Error(w, "502 bad gateway: the app did not answer", http.StatusBadGateway)
	case f.kind == failBadRequest && !x.began:
		w.Header().Set("Connection", "close")
		http.Error(w, "400 bad request: "+f.err.Error(), http.StatusBadRequest)
	default:
		// The client left, or the response had begun: cut the connection
		// so that a truncated body cannot pass for a whole one.
		panic(http.ErrAbortHandler)
	}
}

func clientIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return ""
	}
	return host
}

func (hc *httpClient) ex() *exchange            { return &hc.x }
func (hc *httpClient) dialCtx() context.Context { return hc.r.Context() }
func (hc *httpClient) watch(uc *upConn)         { uc.watch(hc.r.Context(), nil, hc.x.now) }
func (hc *httpClient) sent() error              { return nil }

func (hc *httpClient) sendBody(uc *upConn) *fwdError {
	if !hc.x.req.hasBody() {
		if err := uc.bw.Flush(); err != nil {
			// At most part of the head went out: the app cannot act on that.
			return &fwdError{kind: failRetry, err: fmt.Errorf("send request to %s: %w", uc.b.addr, err)}
		}
		return nil
	}
	// net/http answers 100-continue itself when the body is read.
	_ = http.NewResponseController(hc.w).EnableFullDuplex() // interleave body reads with response writes
	hc.x.startUpload(hc, uc)
	return nil
}

// bodyCutGrace is how long an upload cut short on the app's side may take
// to notice, before the read from the client is cut too: that leaves the
// client's connection unusable.
const bodyCutGrace = 100 * time.Millisecond

func (hc *httpClient) cutUpload(done chan error) {
	t := time.NewTimer(bodyCutGrace)
	defer t.Stop()
	select {
	case err := <-done:
		done <- err
	case <-t.C:
		_ = http.NewResponseController(hc.w).SetReadDeadline(aLongTimeAgo)
	}
}

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// upload streams the request body to the app after the head in uc.bw, in
// chunked encoding when the client sent no length, and flushes.
func (hc *httpClient) upload(uc *upConn) error {
	bw, r := uc.bw, hc.r
	chunked := hc.x.req.chunked
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	for {
		n, rerr := r.Body.Read(buf)
		if n > 0 && chunked {
			writeInt(bw, int64(n), 16)
			bw.WriteString("\r\n")
			bw.Write(buf[:n])
			bw.WriteString("\r\n")
			// Flush each chunk: a streamed upload moves as it comes.
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("send request body: %w", err)
			}
		} else if n > 0 {
			if _, err := bw.Write(buf[:n]); err != nil {
				return fmt.Errorf("send request body: %w", err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return clientBodyError{bodyReadError(rerr)}
		}
	}
	if chunked {
		bw.WriteString("0\r\n")
		tw := trailerWriter{bw}
		for k, vv := range r.Trailer {
			if !trailerPasses([]byte(k)) {
				continue
			}
			for _, v := range vv {
				tw.Trailer([]byte(k), []byte(v))
			}
		}
		bw.WriteString("\r\n")
	}
	return flushBody(bw)
}

// bodyReadError tells a body net/http could not read because the client
// sent it malformed (its chunked framing or trailers: answered 400) from
// one the client stopped sending.
func bodyReadError(err error) error {
	var ne net.Error
	switch {
	case err == io.ErrUnexpectedEOF, errors.As(err, &ne), errors.Is(err, net.ErrClosed),
		errors.Is(err, context.Canceled), errors.Is(err, http.ErrBodyReadAfterClose):
		return err
	}
	return fmt.Errorf("%w body: %v", errMalformed, err)
}

// switchProtocols takes over the client connection after the app answered
// 101 (head, still in uc.br), hands the head on as the app wrote it, and
// relays bytes both ways until both sides are done. The request stays in
// flight (for Drain) until then.
func (hc *httpClient) switchProtocols(uc *upConn, head []byte) *fwdError {
	defer uc.conn.Close()
	conn, brw, err := http.NewResponseController(hc.w).Hijack()
	if err != nil {
		return &fwdError{kind: failUpstream, err: fmt.Errorf("upgrade: hijack client connection: %w", err)}
	}
	defer conn.Close()
	hc.deadlined = false
	conn.SetDeadline(time.Time{}) // the server's timeouts were for one request
	brw.Writer.Write(head)
	uc.br.Discard(len(head))
	if err := brw.Writer.Flush(); err != nil {
		return &fwdError{kind: failClient, err: fmt.Errorf("upgrade: write 101 to client: %w", err)}
	}
	relay(conn, brw.Reader, uc, hc.p.writeTimeout)
	return nil
}

// respond fills the ResponseWriter's header from the response head and
// relays the body; net/http frames it for the client.
func (hc *httpClient) respond(uc *upConn, head []byte, fr bodyFrame) *fwdError {
	rh := &hc.x.resp
	h := hc.w.Header()
	// A length the proxy checked; net/http holds the body to it. A HEAD
	// or 304 answer keeps the length of what it describes.
	withLength := rh.contentLength >= 0 && rh.code >= 200 && rh.code != 204
	if err := setHeader(h, rh, head, hc.x.rfields, withLength); err != nil {
		clear(h)
		return &fwdError{kind: failUpstream, err: fmt.Errorf("response from %s: %w", uc.b.addr, err)}
	}
	uc.br.Discard(len(head))
	if fr != frameNone && !rh.hasContentType {
		h["Content-Type"] = nil // relay as is: no sniffing by net/http
	}
	hc.x.began = true
	hc.w.WriteHeader(rh.code)
	if fr == frameChunked && rh.trailers {
		// Announced trailers need a chunked response: flush now so that
		// net/http does not frame a short body with a Content-Length.
		if err := hc.Flush(); err != nil {
			return &fwdError{kind: failClient, err: err}
		}
	}
	switch fr {
	case frameNone:
		return nil
	case frameChunked:
		return copyChunked(hc, uc.br)
	case frameClose:
		return copyBody(hc, uc.br, -1)
	}
	return copyBody(hc, uc.br, rh.contentLength)
}

// Write, Flush and Trailer make the client a sink for the response body.
// Writes and flushes renew the write deadline lazily, as the native
// front's do (Options.WriteTimeout).
func (hc *httpClient) Write(p []byte) (int, error) {
	hc.renewWrite()
	return hc.w.Write(p)
}

func (hc *httpClient) Flush() error {
	hc.renewWrite()
	if f, ok := hc.w.(interface{ FlushError() error }); ok {
		return f.FlushError() // net/http's own writer: no allocation
	}
	return http.NewResponseController(hc.w).Flush()
}

func (hc *httpClient) Trailer(name, value []byte) {
	if k, ok := canonicalName(string(name)); ok {
		hc.w.Header().Add(http.TrailerPrefix+k, string(value))
	}
}

func (hc *httpClient) renewWrite() {
	if now := time.Now(); now.After(hc.writeRenewAt) {
		hc.deadlined = hc.setWriteDeadline(now.Add(hc.p.writeTimeout)) == nil
		hc.writeRenewAt = now.Add(hc.p.writeTimeout / 2)
		if !hc.deadlined {
			hc.writeRenewAt = now.Add(time.Hour) // not supported: do not ask again
		}
	}
}

func (hc *httpClient) setWriteDeadline(t time.Time) error {
	if d, ok := hc.w.(interface{ SetWriteDeadline(time.Time) error }); ok {
		return d.SetWriteDeadline(t) // net/http's own writer: no allocation
	}
	return http.NewResponseController(hc.w).SetWriteDeadline(t)
}

// setHeader fills h from the fields of a response head: end-to-end fields
// only, names canonical, and with withLength the one Content-Length that
// parseResponse checked. Names and values are slices of one string copy of
// the head, and all the value slices share one array: a few allocations per
// response, not a few per field.
func setHeader(h http.Header, rh *respHead, head []byte, fields []field, withLength bool) error {
	s := string(head)
	vals := make([]string, len(fields))
	nv := 0
	for _, f := range fields {
		name := head[f.ns:f.ne]
		v := s[f.vs:f.ve]
		switch {
		case withLength && lowerIs(name, "content-length"):
			if len(v) > 1 && v[0] == '0' {
				v = strconv.FormatInt(rh.contentLength, 10)
			}
			vals[nv] = v
			h["Content-Length"] = vals[nv : nv+1 : nv+1]
			nv++
			continue
		case !rh.endToEnd(name):
			continue
		}
		k, ok := canonicalName(s[f.ns:f.ne])
		if !ok {
			return fmt.Errorf("malformed field name %q", s[f.ns:f.ne])
		}
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
