package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The native front: Serve speaks HTTP/1.x to clients itself, with the same
// parsing-in-place as the upstream side, instead of going through
// http.Server. It is what makes the receiver's proxy as fast as nginx.

const (
	// DefaultIdleTimeout closes a Serve connection that sends no request
	// for this long (and bounds the wait for a request head). nginx uses 75s.
	DefaultIdleTimeout = 75 * time.Second

	clientReadBufSize  = 8 << 10 // also the limit for a request head (nginx: 8k)
	clientWriteBufSize = 4 << 10
)

// Connection states for Shutdown.
const (
	stateIdle int32 = iota
	stateActive
	stateClosed
)

// frontState is the native front's bookkeeping for Shutdown.
type frontState struct {
	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*frontConn]struct{}
	shutting  atomic.Bool
}

// Serve accepts connections on ln and serves HTTP/1.0 and HTTP/1.1 on them
// (TLS too, if ln hands out *tls.Conn; not HTTP/2: use ServeHTTP with an
// http.Server for that). It returns http.ErrServerClosed after Shutdown, or
// the error that made ln fail.
func (p *Proxy) Serve(ln net.Listener) error {
	fs := &p.front
	fs.mu.Lock()
	if fs.shutting.Load() {
		fs.mu.Unlock()
		return http.ErrServerClosed
	}
	if fs.listeners == nil {
		fs.listeners = map[net.Listener]struct{}{}
		fs.conns = map[*frontConn]struct{}{}
	}
	fs.listeners[ln] = struct{}{}
	fs.mu.Unlock()
	defer func() {
		fs.mu.Lock()
		delete(fs.listeners, ln)
		fs.mu.Unlock()
	}()

	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if fs.shutting.Load() {
				return http.ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait, as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			p.log.Warn("proxy: accept", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		fc := newFrontConn(p, c)
		fs.mu.Lock()
		if fs.shutting.Load() {
			fs.mu.Unlock()
			c.Close()
			return http.ErrServerClosed
		}
		fs.conns[fc] = struct{}{}
		fs.mu.Unlock()
		go fc.serve()
	}
}

// Shutdown stops Serve: it closes the listeners and the idle connections,
// lets the requests in progress finish, and returns when all connections
// are closed, or closes them all and returns ctx's error when ctx ends.
// Upgraded (WebSocket) connections count as in progress.
func (p *Proxy) Shutdown(ctx context.Context) error {
	fs := &p.front
	fs.shutting.Store(true)
	fs.mu.Lock()
	for ln := range fs.listeners {
		ln.Close()
	}
	fs.mu.Unlock()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		fs.mu.Lock()
		for fc := range fs.conns {
			if fc.state.CompareAndSwap(stateIdle, stateClosed) {
				fc.c.Close()
			}
		}
		left := len(fs.conns)
		fs.mu.Unlock()
		if left == 0 {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			fs.mu.Lock()
			for fc := range fs.conns {
				fc.c.Close()
			}
			fs.mu.Unlock()
			return ctx.Err()
		}
	}
}

// frontConn is one client connection of the native front.
type frontConn struct {
	p     *Proxy
	c     net.Conn
	raw   net.Conn // c, or the TCP connection under TLS: for peeks
	br    *bufio.Reader
	bw    *bufio.Writer // writes through Write, with the write deadline
	state atomic.Int32

	x exchange // the request being served and its response

	// An upload goroutine extends the client's read deadline as bytes
	// come; cutting the upload must win over that.
	uploadMu  sync.Mutex
	uploadCut bool

	renewAt      time.Time // when the idle (read) deadline is next renewed
	writeRenewAt time.Time // when the write deadline is next renewed
}

func newFrontConn(p *Proxy, c net.Conn) *frontConn {
	fc := &frontConn{
		p:   p,
		c:   c,
		raw: c,
		br:  bufio.NewReaderSize(c, clientReadBufSize),
	}
	fc.bw = bufio.NewWriterSize(fc, clientWriteBufSize)
	if tc, ok := c.(*tls.Conn); ok {
		fc.x.https = true
		fc.raw = tc.NetConn()
	}
	if host, _, err := net.SplitHostPort(c.RemoteAddr().String()); err == nil {
		fc.x.ip = host
	}
	return fc
}

// Write writes to the client under a write deadline, so that a client
// that takes no bytes for WriteTimeout loses its connection (and the app's
// with it) while one that reads a slow stream keeps it: the deadline only
// bounds a write in progress. It is renewed lazily, like the idle one: a
// write starts with at least half of WriteTimeout before it.
func (fc *frontConn) Write(b []byte) (int, error) {
	if now := time.Now(); now.After(fc.writeRenewAt) {
		fc.c.SetWriteDeadline(now.Add(fc.p.writeTimeout))
		fc.writeRenewAt = now.Add(fc.p.writeTimeout / 2)
	}
	return fc.c.Write(b)
}

func (fc *frontConn) serve() {
	fs := &fc.p.front
	defer func() {
		if v := recover(); v != nil {
			fc.p.log.Error("proxy: panic serving a connection", "err", v, "stack", string(debug.Stack()))
		}
		fc.c.Close()
		fs.mu.Lock()
		delete(fs.conns, fc)
		fs.mu.Unlock()
	}()
	for {
		// The idle deadline is renewed lazily, like the watch ticks (see
		// upConn.watch): a busy connection keeps one set a while ago.
		if now := time.Now(); now.After(fc.renewAt) {
			fc.c.SetReadDeadline(now.Add(fc.p.idleTimeout))
			fc.renewAt = now.Add(fc.p.idleTimeout / 8)
		}
		head, err := readHead(fc.br)
		if err != nil {
			if errors.Is(err, errHeadTooLarge) {
				fc.writeError(http.StatusRequestHeaderFieldsTooLarge, "request head too large", true)
				fc.lingeringClose()
			}
			fc.bw.Flush() // answers to the requests before
			return        // closed, timed out or broken: nothing to answer
		}
		if !fc.state.CompareAndSwap(stateIdle, stateActive) {
			return // Shutdown closed it just now
		}
		fc.x.now = time.Now()
		keep := fc.serveRequest(head)
		if !keep || fs.shutting.Load() {
			fc.lingeringClose()
			return
		}
		// Answers to pipelined requests go out together, but never wait
		// for a request that has not fully come.
		if !headBuffered(fc.br) {
			if err := fc.bw.Flush(); err != nil {
				return
			}
		}
		fc.state.Store(stateIdle)
		if fs.shutting.Load() {
			return
		}
	}
}

// headBuffered reports whether a whole request head is in br's buffer.
func headBuffered(br *bufio.Reader) bool {
	if br.Buffered() == 0 {
		return false
	}
	b, _ := br.Peek(br.Buffered())
	return bytes.Contains(b, []byte("\n\r\n")) || bytes.Contains(b, []byte("\n\n"))
}

// serveRequest answers one request and reports whether the connection can
// carry another.
func (fc *frontConn) serveRequest(head []byte) (keep bool) {
	p := fc.p
	p.requests.Add(1)
	rq := &fc.x.req
	rq.buf = append(rq.buf[:0], head...) // the head must outlive br's buffer
	fc.br.Discard(len(head))
	if code, err := rq.parse(rq.buf); err != nil {
		p.log.Debug("proxy: bad request", "client", fc.x.ip, "err", err)
		fc.writeError(code, err.Error(), true)
		return false
	}
	if h := p.route(rq.pathOnly()); h != nil {
		return fc.serveLocal(h)
	}
	_, f := run(p, nilCtx, fc)
	if f == nil {
		return !rq.closeAfter
	}
	switch f.kind {
	case failNoBackend:
		p.log.Warn("proxy: no backend", "method", string(rq.method), "waited", p.wait)
		fc.writeError(http.StatusServiceUnavailable, "503 no backend is serving yet, try again", !rq.bodyDone)
		return rq.bodyDone && !rq.closeAfter
	case failUpstream:
		fc.writeError(http.StatusBadGateway, "502 bad gateway: the app did not answer", !rq.bodyDone)
		return rq.bodyDone && !rq.closeAfter
	case failBadRequest:
		p.log.Debug("proxy: bad request body", "client", fc.x.ip, "err", f.err)
		if !fc.x.began {
			fc.writeError(http.StatusBadRequest, "400 bad request: "+f.err.Error(), true)
		}
	}
	return false // the client left, or the response had begun: cut
}

// lingerTime bounds how long a closing connection reads what the client
// still sends, so that the close does not reset the connection (which can
// destroy the answer before the client read it).
const lingerTime = 500 * time.Millisecond

// lingeringClose sends what is buffered, ends the sending side, and reads
// and drops what the client still sends, for a while; serve closes the
// connection after.
func (fc *frontConn) lingeringClose() {
	if fc.bw.Flush() != nil {
		return
	}
	cw, ok := fc.c.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	fc.c.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, fc.br, 256<<10)
}

// writeError answers with a short plain-text body.
func (fc *frontConn) writeError(code int, msg string, closeConn bool) {
	bw := fc.bw
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(code))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(code))
	bw.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ")
	bw.WriteString(strconv.Itoa(len(msg) + 1))
	if closeConn {
		bw.WriteString("\r\nConnection: close")
	}
	bw.WriteString("\r\n\r\n")
	if string(fc.x.req.method) != "HEAD" {
		bw.WriteString(msg)
		bw.WriteByte('\n')
	}
}
