package proxy

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxIdleConns bounds the pooled keep-alive connections per backend.
	maxIdleConns = 128
	// maxIdleTime retires a pooled connection before the app's own idle
	// timeout closes it under us (Node's is 5 s, Bun's 10 s).
	maxIdleTime = 4 * time.Second
	// checkIdleAfter: a connection idle longer than this is checked for a
	// close from the app before it is used again (one non-blocking peek).
	checkIdleAfter = 20 * time.Millisecond
	// dialTimeout bounds connecting to the app on loopback.
	dialTimeout = 5 * time.Second

	readBufSize  = 16 << 10 // also the limit for a response head
	writeBufSize = 4 << 10
)

// Backend is one app process's address ("127.0.0.1:PORT") with its pool of
// keep-alive connections and its count of requests in flight.
type Backend struct {
	addr   string
	dialer net.Dialer

	inflight atomic.Int64
	draining atomic.Int32 // Drain calls waiting
	closed   atomic.Bool  // drained: connections are closed, not pooled

	waitMu  sync.Mutex
	waiters []chan struct{} // closed when inflight drops to zero

	poolMu sync.Mutex
	idle   []*upConn // LIFO: the warmest connection first
}

// NewBackend returns a backend for the app listening on addr.
func NewBackend(addr string) *Backend {
	return &Backend{
		addr:   addr,
		dialer: net.Dialer{Timeout: dialTimeout, KeepAlive: -1},
	}
}

// Addr returns the address given to NewBackend.
func (b *Backend) Addr() string { return b.addr }

// InFlight returns how many requests (and upgraded connections) are bound to
// b and not finished.
func (b *Backend) InFlight() int { return int(b.inflight.Load()) }

func (b *Backend) release() {
	if b.inflight.Add(-1) == 0 && b.draining.Load() > 0 {
		b.waitMu.Lock()
		for _, c := range b.waiters {
			close(c)
		}
		b.waiters = nil
		b.waitMu.Unlock()
	}
}

// Drain waits until b has no requests in flight, upgraded (WebSocket)
// connections included, or until ctx ends. It returns how many were in flight
// when it began, and ctx's error if ctx ended first. Call it after Switch has
// moved traffic away from b: then no new request can bind to b. Afterwards
// b's idle connections are closed and connections finishing later are not
// pooled again, until b is made current again.
func (b *Backend) Drain(ctx context.Context) (drained int, err error) {
	b.draining.Add(1)
	defer b.draining.Add(-1)
	drained = b.InFlight()
	for {
		b.waitMu.Lock()
		if b.inflight.Load() <= 0 {
			b.waitMu.Unlock()
			break
		}
		c := make(chan struct{})
		b.waiters = append(b.waiters, c)
		b.waitMu.Unlock()
		select {
		case <-c:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
	}
	b.closed.Store(true)
	b.closeIdle()
	return drained, err
}

func (b *Backend) closeIdle() {
	b.poolMu.Lock()
	idle := b.idle
	b.idle = nil
	b.poolMu.Unlock()
	for _, uc := range idle {
		uc.conn.Close()
	}
}

// upConn is one keep-alive connection to a backend with its buffers. Its
// reader watches the client while the app is slow to answer (see Read).
type upConn struct {
	b      *Backend
	conn   net.Conn
	br     *bufio.Reader // reads through the upConn
	bw     *bufio.Writer
	idleAt time.Time
	reused bool // served a request before: may have been closed by the app

	// Set per exchange by watch: who waits for the answer.
	ctx    context.Context // the net/http front's request context
	client net.Conn        // the native front's client connection
	cutMu  sync.Mutex      // orders cutShort against a watch tick's new deadline
	cut    atomic.Bool     // the exchange was cut short: deadlines are final
	tickAt time.Time       // the read deadline: the next watch tick
}

// watchInterval is how often a read that waits for the app checks that the
// client is still there, so that a request the client gave up on does not
// hold a connection (and Drain) until the app answers.
const watchInterval = time.Second

// errClientGone is returned by reads from the app when the client left.
var errClientGone = errors.New("client went away")

// watch starts an exchange on uc for a client: ctx (net/http front) or
// client (native front).
//
// The tick is a read deadline. Setting one costs a timer update, so one
// still at least half an interval away is kept: under load a connection
// gets a new deadline about twice a second, not per request. (A tick that
// comes during a quick exchange costs one peek.)
func (uc *upConn) watch(ctx context.Context, client net.Conn, now time.Time) {
	uc.ctx, uc.client = ctx, client
	uc.cut.Store(false)
	if uc.tickAt.Sub(now) < watchInterval/2 {
		uc.tickAt = now.Add(watchInterval)
		uc.conn.SetReadDeadline(uc.tickAt)
	}
}

// cutShort makes every blocked or later read and write on uc fail at once.
func (uc *upConn) cutShort() {
	uc.cutMu.Lock()
	uc.cut.Store(true)
	uc.conn.SetDeadline(aLongTimeAgo)
	uc.cutMu.Unlock()
}

// Read reads from the app. A read deadline passing means a watch tick: if
// the client is still there the read goes on, else it fails with
// errClientGone.
func (uc *upConn) Read(p []byte) (int, error) {
	for {
		n, err := uc.conn.Read(p)
		if err == nil || uc.cut.Load() || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		switch {
		case uc.ctx != nil && uc.ctx.Err() != nil:
			return n, errClientGone
		case uc.client != nil && peerClosed(uc.client):
			return n, errClientGone
		}
		uc.cutMu.Lock()
		if uc.cut.Load() {
			uc.cutMu.Unlock()
			return n, err
		}
		uc.tickAt = time.Now().Add(watchInterval)
		uc.conn.SetReadDeadline(uc.tickAt)
		uc.cutMu.Unlock()
	}
}

// get returns a pooled connection that still looks open, or dials a new one
// when fresh is set or the pool is empty.
func (b *Backend) get(ctx context.Context, fresh bool, now time.Time) (*upConn, error) {
	if !fresh {
		for {
			b.poolMu.Lock()
			n := len(b.idle)
			if n == 0 {
				b.poolMu.Unlock()
				break
			}
			uc := b.idle[n-1]
			b.idle[n-1] = nil
			b.idle = b.idle[:n-1]
			b.poolMu.Unlock()
			idle := now.Sub(uc.idleAt)
			if idle > maxIdleTime || (idle > checkIdleAfter && !connAlive(uc.conn)) {
				uc.conn.Close()
				continue
			}
			uc.reused = true
			return uc, nil
		}
	}
	c, err := b.dialer.DialContext(ctx, "tcp", b.addr)
	if err != nil {
		return nil, err
	}
	uc := &upConn{b: b, conn: c, bw: bufio.NewWriterSize(c, writeBufSize)}
	uc.br = bufio.NewReaderSize(uc, readBufSize)
	return uc, nil
}

// drained reports whether nothing the app sent is left unread on uc after
// a response framed as fr. Bytes after a response's end (more body than
// its length, a body on HEAD, 204 or 304) would otherwise be read as the
// answer to the next request on the connection, an unrelated client's.
// After a response with no body the socket is peeked too: the stray bytes
// may come in a segment of their own.
func (uc *upConn) drained(fr bodyFrame) bool {
	if uc.br.Buffered() > 0 {
		return false
	}
	return fr != frameNone || connAlive(uc.conn)
}

// put returns a connection whose last exchange ended cleanly to the pool.
func (b *Backend) put(uc *upConn) {
	uc.ctx, uc.client = nil, nil
	uc.idleAt = time.Now()
	var stale *upConn
	b.poolMu.Lock()
	// closed is read under poolMu: Drain sets it before emptying the pool.
	if b.closed.Load() || len(b.idle) >= maxIdleConns {
		b.poolMu.Unlock()
		uc.conn.Close()
		return
	}
	// Retire the coldest connection once it has sat too long, so that a
	// quiet pool does not keep sockets the app has long closed.
	if len(b.idle) > 0 && uc.idleAt.Sub(b.idle[0].idleAt) > maxIdleTime {
		stale = b.idle[0]
		copy(b.idle, b.idle[1:])
		b.idle[len(b.idle)-1] = nil
		b.idle = b.idle[:len(b.idle)-1]
	}
	b.idle = append(b.idle, uc)
	b.poolMu.Unlock()
	if stale != nil {
		stale.conn.Close()
	}
}
