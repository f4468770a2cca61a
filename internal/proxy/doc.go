// Package proxy is the receiver's reverse proxy: it sits on the public port
// in front of the app process (`bun start` on a loopback port) and lets a
// deploy replace that process without failing a request.
//
// # Switching and draining
//
// A Proxy sends every new request to its current Backend. Switch replaces
// the current backend atomically and returns the previous one. A request is
// bound to the backend that was current when it started and finishes there,
// so the reload sequence is:
//
//	nb := proxy.NewBackend("127.0.0.1:" + port) // new process, healthy
//	old := p.Switch(nb)                          // new requests go to nb
//	ctx, cancel := context.WithTimeout(ctx, drainTimeout)
//	n, err := old.Drain(ctx)                     // in-flight requests finish on old
//	cancel()
//	// then stop the old process (SIGTERM, SIGKILL after a grace)
//
// Drain returns how many requests were in flight when it began, and
// ctx.Err() if some were still running when ctx ended. An upgraded
// (WebSocket) connection counts as in flight until it closes, so with
// long-lived sockets Drain ends with the timeout; stopping the old process
// then ends those sockets and their clients reconnect to the new one.
// A backend switched in again later (a rollback) works as before.
//
// Switch(nil) means "no backend now" (first boot, crash): new requests wait
// up to Options.WaitTimeout for a Switch to a backend, then get 503.
//
// # Retries
//
// A request is sent again, to whatever backend is current by then, only when
// the app provably did not act on it:
//   - the connection could not be made (refused: the process is gone or not
//     listening yet), or the request head could not be written whole;
//     the body has not been read at that point, so this holds for any method;
//   - a GET or HEAD without a body went out on a pooled keep-alive
//     connection that the app had closed, and not one response byte came
//     back (the stale keep-alive race).
//
// Anything else that fails before the response begins is answered 502 with a
// short plain-text body and counted in Stats.UpstreamErrors. A failure after
// the response began cuts the client connection (http.ErrAbortHandler), so a
// truncated body is never passed off as complete. A client that goes away is
// not an upstream error. Pooled connections idle for more than a few
// milliseconds are checked with a non-blocking peek before reuse, and
// retired after a few seconds, before the app's own idle timeout.
//
// # Two fronts, one exchange
//
// Serve(ln) is the fast path and what the receiver uses on its public
// port:
//
//	p := proxy.New(proxy.Options{Logger: log})
//	ln, err := net.Listen("tcp", ":3000")
//	go p.Serve(ln) // http.ErrServerClosed after p.Shutdown(ctx)
//
// The proxy speaks HTTP/1.0 and 1.1 to clients itself, parsing each
// request in place in the connection's read buffer and writing the app's
// response head through from the upstream connection's buffer, with no
// allocation per request. Shutdown(ctx) stops it the way http.Server's
// does. Options.IdleTimeout bounds idle keep-alive connections, the wait for
// a request head and every wait for request body bytes; Options.WriteTimeout
// closes a connection whose client takes no bytes for that long (a stream
// that is only slow, such as Server-Sent Events, is not cut).
//
// Options.Handlers serves a few exact paths in the proxy itself instead of
// the app (the receiver's webhook), so that the public port has one front:
// the handler gets an *http.Request checked by the same rules as any other.
//
// ServeHTTP makes the Proxy an http.Handler, for an http.Server that must
// do HTTP/2, or sit behind middleware. It costs about a third more CPU per
// request (net/http's server side: see bench/proxy). It writes the request
// net/http parsed back into a head and parses that by the same rules, and
// then runs the same exchange with the app (exchange.go): one head parser,
// one hop-by-hop rule, one framing check and one head writer for both
// fronts and the upstream side. What net/http takes apart before a handler
// runs it cannot see: obsolete line folding, Transfer-Encoding together
// with Content-Length or in HTTP/1.0, malformed trailer lines; the native
// front refuses those.
//
// The native front is strict where two HTTP parsers could disagree about
// where a request ends (request smuggling), and refuses with 4xx and a
// closed connection: Content-Length together with Transfer-Encoding,
// differing Content-Lengths, a Transfer-Encoding other than chunked or in
// HTTP/1.0, obsolete line folding, white space before a colon, control
// characters, a missing or repeated Host, a Host outside RFC 3986's host
// characters, userinfo in an absolute-form target; and in chunked bodies,
// chunk lines not ended by CRLF or with a stray CR, malformed sizes and
// extensions, chunk data not followed by CRLF, and malformed or oversized
// (4 KiB) trailer sections. A malformed body is answered 400 at once, and
// the exchange with the app is cut. Request heads are limited to 8 KiB
// (431), as nginx's default.
//
// # The wire to the app
//
// Both fronts speak HTTP/1.1 to the app themselves instead of going through
// http.Transport: the request head goes into a pooled connection's buffer
// and the response is relayed from that connection's read buffer. What a
// proxy must do is kept:
//   - Host as the client sent it (whatever Connection lists); X-Forwarded-For
//     appended to; X-Forwarded-Proto and X-Forwarded-Host set by this hop
//     (kept from the client with Options.TrustForwarded, behind a TLS
//     terminator);
//   - hop-by-hop fields (Connection and the names it lists, Keep-Alive,
//     Transfer-Encoding, Upgrade, TE except "trailers", Proxy-*) stripped
//     both ways; Expect: 100-continue is answered by the proxy, not
//     forwarded; the request is framed anew for the app;
//   - trailer fields pass both ways except framing, routing and the other
//     fields RFC 9110 §6.5.1 keeps out of trailers;
//   - bodies stream both ways and are never buffered whole: a body that
//     came with the head goes with it in one write, a longer one is
//     uploaded by its own goroutine while the response is read; the
//     response is flushed to the client whenever the next read would wait
//     for the app, so Server-Sent Events pass one by one while a response
//     that arrived whole is written in one go;
//   - "Upgrade: websocket" (any Upgrade) requests become a two-way byte
//     copy once the app answers 101.
//
// While a request waits for the app, the proxy checks every second that the
// client is still there; one that left ends the exchange (and frees the
// request's slot for Drain) without counting as an upstream error.
//
// Responses are framed by the proxy, never passed through: it writes its
// own Content-Length (the one it checked) or chunks a body with none.
// Response heads over 16 KiB, obsolete folded lines, Content-Length twice
// or with Transfer-Encoding, a Transfer-Encoding other than chunked or in
// HTTP/1.0, and malformed chunk lines are answered 502 (or cut the client,
// once the response began). A connection to the app goes back to the pool
// only when nothing the app sent is left unread: bytes after a response's
// end (more body than its length, a body on HEAD, 204 or 304) would be read
// as the answer to the next request, an unrelated client's. (After a
// response with no body the socket is peeked too. After one with a body
// only what arrived along with it is seen: stray bytes sent later in a
// segment of their own are found only by the peek before a connection
// idle for 20 ms is used again; a peek after every response would cost a
// system call and four allocations per request.)
// 1xx responses other than 101 are not relayed.
package proxy
