package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// This file is the one exchange with the app that both fronts share: send
// the request head and body, read the answer, relay it, decide whether the
// connection to the app can be used again. What differs between the native
// front and the net/http one (where bytes come from and go to) is behind
// the client interface; every rule about heads and framing is here or in
// head.go, request.go and chunked.go, once.

// failKind says what a front does with a failed forwarding attempt.
type failKind int

const (
	// failRetry: the app provably did not act on the request (no connection,
	// an incomplete request head, or a GET/HEAD on a keep-alive connection
	// the app had closed): send it again, to the current backend.
	failRetry failKind = iota + 1
	// failUpstream: the app failed before the response began: answer 502.
	failUpstream
	// failAbort: the app failed after the response began: cut the client.
	failAbort
	// failClient: the client went away or stopped sending its body.
	failClient
	// failBadRequest: the client's body is malformed (its chunked framing
	// or trailer): answer 400 unless the response began, and close.
	failBadRequest
	// failNoBackend: no backend was set within WaitTimeout: answer 503.
	failNoBackend
)

type fwdError struct {
	kind failKind
	err  error
	dial bool // the connection could not be made
}

func (e *fwdError) Error() string { return e.err.Error() }

// aLongTimeAgo is a deadline in the past: setting it makes blocked reads
// and writes on a connection return at once.
var aLongTimeAgo = time.Unix(1, 0)

var errBodyCut = errors.New("request body upload cut short")

// bodyGrace is how long a finished response waits for the request body
// upload to end before cutting it (an app that answered early).
const bodyGrace = time.Second

// client is the client side of one exchange: a connection of the native
// front (*frontConn) or a request of the net/http one (*httpClient).
type client interface {
	// ex returns the exchange's state: the parsed request and scratch.
	ex() *exchange
	// dialCtx is the context a dial to the app is bound to.
	dialCtx() context.Context
	// watch binds reads from the app on uc to this client (upConn.watch).
	watch(uc *upConn)
	// sendBody sends the request body after the head in uc.bw, or starts
	// an upload with ex().startUpload.
	sendBody(uc *upConn) *fwdError
	// upload streams the body to the app (in its own goroutine).
	upload(uc *upConn) error
	// cutUpload makes an upload still reading from the client stop; it
	// may wait for it a moment first. The upload's result stays in done.
	cutUpload(done chan error)
	// sent is called once the request is out, before waiting for the
	// answer (the native front flushes answers to pipelined requests).
	sent() error
	// switchProtocols relays an upgraded connection after the app's 101,
	// whose head is still in uc.br.
	switchProtocols(uc *upConn, head []byte) *fwdError
	// respond writes the response head and relays the body, framed as fr.
	respond(uc *upConn, head []byte, fr bodyFrame) *fwdError
}

// exchange is the state of one request and its response, kept by each
// client between requests so that it is not allocated per request.
type exchange struct {
	req     request
	resp    respHead
	rfields []field // the response head's fields
	now     time.Time
	ip      string // the client's address, for X-Forwarded-For
	https   bool
	upDone  chan error // the upload's result; nil: no upload runs
	began   bool       // the response head went to the client
}

// startUpload runs c.upload in its own goroutine, so that an app that
// streams its answer while it reads (or answers early) cannot deadlock the
// exchange. A client that sends a malformed body or stops sending cuts the
// exchange short: the app would wait for the rest, and the proxy for the
// app's answer, until the app's own timeout.
func (x *exchange) startUpload(c client, uc *upConn) {
	done := make(chan error, 1)
	x.upDone = done
	go func() {
		err := c.upload(uc)
		if isClientErr(err) {
			uc.cutShort()
		}
		done <- err
	}()
}

// endBody waits for the upload and returns its error. With cut, an upload
// still running is cut short first (and the client's connection with it).
func (x *exchange) endBody(c client, uc *upConn, cut bool) error {
	done := x.upDone
	if done == nil {
		return nil
	}
	x.upDone = nil
	if cut {
		select {
		case err := <-done:
			return err
		default:
		}
		uc.cutShort() // its writes to the app fail now
		c.cutUpload(done)
		if err := <-done; isClientErr(err) {
			return err
		}
		return errBodyCut
	}
	err := <-done
	x.req.bodyDone = err == nil
	return err
}

// bodyReady waits up to bodyGrace for the upload to end by itself.
func (x *exchange) bodyReady() bool {
	done := x.upDone
	if done == nil {
		return true
	}
	select {
	case err := <-done:
		done <- err // leave it for endBody
		return true
	default:
	}
	t := time.NewTimer(bodyGrace)
	defer t.Stop()
	select {
	case err := <-done:
		done <- err
		return true
	case <-t.C:
		return false
	}
}

// exchange sends the request of c once to b and relays the answer. It
// releases b's in-flight count when done.
func (p *Proxy) exchange(c client, b *Backend, fresh bool) *fwdError {
	defer b.release()
	x := c.ex()
	x.began = false
	rq := &x.req
	// Only a GET or HEAD may be sent twice, and only when it has no body.
	replayable := (string(rq.method) == "GET" || string(rq.method) == "HEAD") && !rq.hasBody()

	uc, err := b.get(c.dialCtx(), fresh, x.now)
	if err != nil {
		if c.dialCtx().Err() != nil {
			return &fwdError{kind: failClient, err: err}
		}
		return &fwdError{kind: failRetry, err: fmt.Errorf("connect to %s: %w", b.addr, err), dial: true}
	}
	c.watch(uc)
	reuse, owned := false, false
	defer func() {
		switch {
		case owned: // the tunnel closed it
		case reuse:
			b.put(uc)
		default:
			uc.conn.Close()
		}
	}()

	rq.writeHead(uc.bw, p.forwarding(x, b.addr))
	if fe := c.sendBody(uc); fe != nil {
		return fe
	}
	if err := c.sent(); err != nil {
		x.endBody(c, uc, true)
		return &fwdError{kind: failClient, err: err}
	}
	head, fe := p.finalHead(c, uc, replayable)
	if fe != nil {
		return fe
	}
	rh := &x.resp
	if rh.code == http.StatusSwitchingProtocols {
		if !rq.upgrade {
			x.endBody(c, uc, true)
			return &fwdError{kind: failUpstream, err: fmt.Errorf("%s switched protocols unasked", b.addr)}
		}
		if err := x.endBody(c, uc, false); err != nil {
			return bodyFailure(err)
		}
		owned = true
		return c.switchProtocols(uc, head)
	}

	fr := rh.frame(string(rq.method) == "HEAD")
	cerr := c.respond(uc, head, fr)
	berr := x.endBody(c, uc, cerr != nil || !x.bodyReady())
	if cerr != nil {
		if isClientErr(berr) {
			return bodyFailure(berr) // the client's fault, not the app's
		}
		return cerr
	}
	if berr != nil {
		rq.closeAfter = true
	}
	reuse = rh.keepAlive && fr != frameClose && berr == nil && !uc.cut.Load() && uc.drained(fr)
	return nil
}

// finalHead reads the app's response head, skipping 1xx answers other than
// 101, into c's exchange and returns it (still in uc.br).
func (p *Proxy) finalHead(c client, uc *upConn, replayable bool) ([]byte, *fwdError) {
	x := c.ex()
	rh := &x.resp
	addr := uc.b.addr
	for {
		head, err := readHead(uc.br)
		if err == nil {
			x.rfields, err = rh.parseResponse(head, x.rfields[:0])
		}
		if err != nil {
			berr := x.endBody(c, uc, true)
			switch {
			case isClientErr(berr):
				return nil, bodyFailure(berr)
			case c.dialCtx().Err() != nil || errors.Is(err, errClientGone):
				return nil, &fwdError{kind: failClient, err: err}
			case errors.Is(err, errNoResponse) && uc.reused && replayable:
				return nil, &fwdError{kind: failRetry, err: fmt.Errorf("read response from %s: %w", addr, err)}
			}
			return nil, &fwdError{kind: failUpstream, err: fmt.Errorf("read response from %s: %w", addr, err)}
		}
		if rh.code >= 200 || rh.code == http.StatusSwitchingProtocols {
			return head, nil
		}
		uc.br.Discard(len(head)) // 100 Continue, 103 Early Hints: the answer follows
		replayable = false
	}
}

// bodyFailure is the outcome of an upload that failed: the client's
// fault when it read from the client, the app's otherwise.
func bodyFailure(err error) *fwdError {
	switch {
	case errors.Is(err, errMalformed):
		return &fwdError{kind: failBadRequest, err: err}
	case isClientErr(err):
		return &fwdError{kind: failClient, err: err}
	}
	return &fwdError{kind: failUpstream, err: err}
}

// forwarding is what this hop adds to the request head.
func (p *Proxy) forwarding(x *exchange, addr string) forwarding {
	return forwarding{backend: addr, ip: x.ip, https: x.https, trust: p.trustForwarded}
}

// clientBodyError marks a failure to read the request body from the client.
type clientBodyError struct{ err error }

func (e clientBodyError) Error() string { return "read request body: " + e.err.Error() }
func (e clientBodyError) Unwrap() error { return e.err }

func isClientErr(err error) bool {
	var ce clientBodyError
	return errors.As(err, &ce)
}
