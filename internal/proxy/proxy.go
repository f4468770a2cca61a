package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultWaitTimeout is how long a request waits for a backend when none is
// set and Options.WaitTimeout is zero.
const DefaultWaitTimeout = 10 * time.Second

// maxAttempts bounds how often one request is sent, counting the retries
// after failures that provably left the app untouched (see failRetry).
const maxAttempts = 5

// retryBackoff is the first pause before trying the same backend again after
// it refused a connection; it doubles with each attempt (10, 20, 40, 80 ms).
const retryBackoff = 10 * time.Millisecond

// Options configures a Proxy. The zero value is usable.
type Options struct {
	// WaitTimeout: while no backend is set (first boot, crash), a request
	// waits up to this long for one before answering 503. Default 10s.
	WaitTimeout time.Duration
	// TrustForwarded keeps X-Forwarded-Proto and X-Forwarded-Host as the
	// client sent them, for a receiver that sits behind a TLS terminator or
	// load balancer that sets them. By default this hop sets them.
	// X-Forwarded-For is appended to either way.
	TrustForwarded bool
	// IdleTimeout (Serve only) closes a client connection that sends no
	// request for this long; it also bounds the wait for a request head
	// and every wait for request body bytes. Default 75s.
	IdleTimeout time.Duration
	// WriteTimeout closes a client connection, and the app's connection
	// that serves it, when a write to the client makes no progress for
	// this long (at least half of it): a client that stops reading. A
	// stream that is merely slow (Server-Sent Events) is not cut: only a
	// write in progress is timed. Default 60s, as nginx's send_timeout.
	WriteTimeout time.Duration
	// Handlers serves requests whose path (without the query) is exactly
	// one of its keys in the proxy itself instead of the app: the
	// receiver's webhook. They get the request as net/http would give
	// it, on either front; the native front buffers their answer, so
	// they are for small ones.
	Handlers map[string]http.Handler
	Logger   *slog.Logger // may be nil
}

// Stats counts what the proxy did since New.
type Stats struct {
	// Requests is every request that reached the proxy (Serve or ServeHTTP).
	Requests uint64 `json:"requests"`
	// UpstreamErrors counts requests the backend failed: answered 502, or cut
	// off after the response had begun. Client disconnects are not counted.
	UpstreamErrors uint64 `json:"upstream_errors"`
	// Retries counts requests sent again after a failure that left the
	// backend untouched (refused connection, stale keep-alive connection).
	Retries uint64 `json:"retries"`
	// NoBackend counts requests answered 503 because no backend was set
	// within WaitTimeout.
	NoBackend uint64 `json:"no_backend"`
}

// Proxy forwards every request to the current Backend over pooled HTTP/1.1
// keep-alive connections. It serves clients itself (Serve, the fast path) or
// as an http.Handler (ServeHTTP); both can be used at once.
type Proxy struct {
	cur            atomic.Pointer[Backend]
	wait           time.Duration
	trustForwarded bool
	idleTimeout    time.Duration
	writeTimeout   time.Duration
	routes         map[string]http.Handler
	override       atomic.Pointer[http.Handler] // answers in place of the app (Override)
	log            *slog.Logger
	front          frontState

	mu    sync.Mutex    // guards ready
	ready chan struct{} // closed while a backend is set

	requests, upstreamErrors, retries, noBackend atomic.Uint64
}

// New returns a Proxy with no backend: requests wait until Switch sets one.
func New(opts Options) *Proxy {
	p := &Proxy{
		wait:           opts.WaitTimeout,
		trustForwarded: opts.TrustForwarded,
		idleTimeout:    opts.IdleTimeout,
		writeTimeout:   opts.WriteTimeout,
		routes:         opts.Handlers,
		log:            opts.Logger,
		ready:          make(chan struct{}),
	}
	if p.wait <= 0 {
		p.wait = DefaultWaitTimeout
	}
	if p.idleTimeout <= 0 {
		p.idleTimeout = DefaultIdleTimeout
	}
	if p.writeTimeout <= 0 {
		p.writeTimeout = DefaultWriteTimeout
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	return p
}

// DefaultWriteTimeout is Options.WriteTimeout's default.
const DefaultWriteTimeout = 60 * time.Second

// route returns the handler of Options.Handlers for a request path, else
// the override, else nil: the app's. One atomic load on the hot path.
func (p *Proxy) route(path []byte) http.Handler {
	if len(p.routes) > 0 {
		if h := p.routes[string(path)]; h != nil {
			return h
		}
	}
	if o := p.override.Load(); o != nil {
		return *o
	}
	return nil
}

// Override makes h answer every request that Options.Handlers does not
// route, in the app's place (the receiver's maintenance page): the
// backends stay as they are, and requests already sent to the app finish
// there. nil sends new requests to the app again.
func (p *Proxy) Override(h http.Handler) {
	if h == nil {
		p.override.Store(nil)
		return
	}
	p.override.Store(&h)
}

// Switch makes b the target for every new request, atomically, and returns
// the previous backend (nil if none). Requests already bound to the previous
// backend finish there; Drain it before stopping its process. b may be nil to
// mean "no backend now": new requests then wait up to WaitTimeout.
func (p *Proxy) Switch(b *Backend) (old *Backend) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b != nil {
		b.closed.Store(false) // a drained backend may come back (rollback)
	}
	old = p.cur.Swap(b)
	select {
	case <-p.ready:
		if b == nil {
			p.ready = make(chan struct{})
		}
	default:
		if b != nil {
			close(p.ready)
		}
	}
	return old
}

// Current returns the backend new requests go to, or nil.
func (p *Proxy) Current() *Backend { return p.cur.Load() }

// Stats returns the counters so far.
func (p *Proxy) Stats() Stats {
	return Stats{
		Requests:       p.requests.Load(),
		UpstreamErrors: p.upstreamErrors.Load(),
		Retries:        p.retries.Load(),
		NoBackend:      p.noBackend.Load(),
	}
}

// acquire binds the request to the current backend: it counts the request
// in flight there and returns the backend, waiting for one until deadline.
//
// The count is taken before the second look at the current backend, and
// Switch replaces the backend before the caller drains the old one, so a
// Drain that sees zero in flight can never be followed by a request that
// still picks the old backend.
func (p *Proxy) acquire(ctx context.Context, deadline *time.Time) (*Backend, error) {
	for {
		b := p.cur.Load()
		if b == nil {
			if err := p.waitBackend(ctx, deadline); err != nil {
				return nil, err
			}
			continue
		}
		b.inflight.Add(1)
		if p.cur.Load() == b {
			return b, nil
		}
		b.release()
	}
}

// errNoBackend is returned by waitBackend when WaitTimeout passes.
var errNoBackend = errors.New("no backend")

func (p *Proxy) waitBackend(ctx context.Context, deadline *time.Time) error {
	if deadline.IsZero() {
		*deadline = time.Now().Add(p.wait)
	}
	p.mu.Lock()
	ready := p.ready
	p.mu.Unlock()
	if p.cur.Load() != nil {
		return nil
	}
	d := time.Until(*deadline)
	if d <= 0 {
		return errNoBackend
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ready:
		return nil
	case <-t.C:
		return errNoBackend
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run binds the request of c to the current backend and sends it, again
// on a failure that left the app untouched (see the package doc), until it
// succeeds or fails for good. On failNoBackend no backend came within
// WaitTimeout.
func run(p *Proxy, ctx context.Context, c client) (*Backend, *fwdError) {
	var deadline time.Time
	var refused *Backend // the backend that just refused a connection
	for attempt := 1; ; attempt++ {
		b, err := p.acquire(ctx, &deadline)
		if err != nil {
			if errors.Is(err, errNoBackend) {
				p.noBackend.Add(1)
				return nil, &fwdError{kind: failNoBackend, err: err}
			}
			return nil, &fwdError{kind: failClient, err: err}
		}
		if b == refused {
			// It refused a connection just now: give it a moment (a
			// starting or restarting process) unless a Switch comes first.
			b.release()
			if !sleepCtx(ctx, retryBackoff<<(attempt-2)) {
				return nil, &fwdError{kind: failClient, err: ctx.Err()}
			}
			if b, err = p.acquire(ctx, &deadline); err != nil {
				continue // reported by the next acquire
			}
		}
		f := p.exchange(c, b, attempt > 1)
		if f == nil {
			return b, nil
		}
		refused = nil
		if f.dial {
			refused = b
		}
		if f.kind == failRetry && attempt < maxAttempts && ctx.Err() == nil {
			p.retries.Add(1)
			p.log.Debug("proxy: retry", "backend", b.addr, "attempt", attempt, "err", f.err)
			continue
		}
		if f.kind == failRetry {
			f.kind = failUpstream
		}
		if f.kind == failUpstream || f.kind == failAbort {
			p.upstreamErrors.Add(1)
			p.log.Warn("proxy: upstream error", "backend", b.addr, "err", f.err)
		}
		return b, f
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
