package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// failKind says what ServeHTTP does with a failed forwarding attempt.
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
	// failClient: the client went away or sent a broken body.
	failClient
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

// bodyCutGrace is how long an upload cut short on the app's side may take
// to notice, before the read from the client is cut too.
const bodyCutGrace = 100 * time.Millisecond

// bodyGrace is how long a finished response waits for the request body
// upload to end before cutting it (an app that answered early).
const bodyGrace = time.Second

// forward sends r to b once and relays the answer to w: the net/http
// front. It releases b's in-flight count when done.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, b *Backend, fresh bool) (fe *fwdError) {
	defer b.release()
	ctx := r.Context()

	upgrade := r.Header["Upgrade"] != nil && hasToken(r.Header["Connection"], "upgrade")
	hasBody := r.Body != nil && r.Body != http.NoBody
	// Only a GET or HEAD may be sent twice, and only when it carried no body.
	replayable := (r.Method == http.MethodGet || r.Method == http.MethodHead) && !hasBody

	now := time.Now()
	uc, err := b.get(ctx, fresh, now)
	if err != nil {
		if ctx.Err() != nil {
			return &fwdError{kind: failClient, err: err}
		}
		return &fwdError{kind: failRetry, err: fmt.Errorf("connect to %s: %w", b.addr, err), dial: true}
	}
	uc.watch(ctx, nil, now)
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

	chunked := hasBody && r.ContentLength < 0
	p.writeHead(uc.bw, r, b.addr, hasBody, chunked, upgrade)

	// The body goes up in its own goroutine so that an app that streams its
	// answer while it reads (or answers early) cannot deadlock the exchange.
	var bodyDone chan error
	var rc *http.ResponseController
	if hasBody {
		rc = http.NewResponseController(w)
		_ = rc.EnableFullDuplex() // interleave body reads with response writes
		bodyDone = make(chan error, 1)
		go func() { bodyDone <- writeBody(uc.bw, r, chunked) }()
	} else if err := uc.bw.Flush(); err != nil {
		// At most part of the head went out: the app cannot act on that.
		return &fwdError{kind: failRetry, err: fmt.Errorf("send request to %s: %w", b.addr, err)}
	}
	// endBody waits for the upload and returns its error. With cut, an
	// upload still running is cut short first: the client's connection is
	// given up too, and the error then says nothing about the client.
	endBody := func(cut bool) error {
		if bodyDone == nil {
			return nil
		}
		if cut {
			select {
			case err := <-bodyDone:
				return err
			default:
			}
			uc.cutShort() // its writes fail now
			t := time.NewTimer(bodyCutGrace)
			select {
			case <-bodyDone:
			case <-t.C:
				// Still waiting for the client to send: stop that too.
				// The client's connection cannot be reused after this.
				_ = rc.SetReadDeadline(aLongTimeAgo)
				<-bodyDone
			}
			t.Stop()
			return errBodyCut
		}
		return <-bodyDone
	}

	var rh respHead
	var fa [32]field
	var head []byte
	var fields []field
	for {
		head, err = readHead(uc.br)
		if err == nil {
			fields, err = rh.parseResponse(head, fa[:0])
		}
		if err != nil {
			berr := endBody(true)
			switch {
			case ctx.Err() != nil || errors.Is(err, errClientGone) || isClientErr(berr):
				return &fwdError{kind: failClient, err: err}
			case errors.Is(err, errNoResponse) && uc.reused && replayable:
				return &fwdError{kind: failRetry, err: fmt.Errorf("read response from %s: %w", b.addr, err)}
			}
			return &fwdError{kind: failUpstream, err: fmt.Errorf("read response from %s: %w", b.addr, err)}
		}
		if rh.code >= 200 || rh.code == http.StatusSwitchingProtocols {
			break
		}
		// 100 Continue, 103 Early Hints: the final answer follows.
		uc.br.Discard(len(head))
		replayable = false
	}

	if rh.code == http.StatusSwitchingProtocols {
		if !upgrade {
			endBody(true)
			return &fwdError{kind: failUpstream, err: fmt.Errorf("%s switched protocols unasked", b.addr)}
		}
		if err := endBody(false); err != nil {
			return &fwdError{kind: failUpstream, err: err}
		}
		owned = true
		return p.tunnel(w, uc, head)
	}

	h := w.Header()
	if err := setHeader(h, &rh, head, fields); err != nil {
		clear(h)
		endBody(true)
		return &fwdError{kind: failUpstream, err: fmt.Errorf("response from %s: %w", b.addr, err)}
	}
	uc.br.Discard(len(head))
	noBody := rh.noBody(r.Method == http.MethodHead)
	if !noBody && !rh.hasContentType {
		h["Content-Type"] = nil // relay as is: no sniffing by net/http
	}
	w.WriteHeader(rh.code)
	if rh.chunked && rh.trailers {
		// Announced trailers need a chunked response: flush now so that
		// net/http does not frame a short body with a Content-Length.
		if err := flush(w); err != nil {
			endBody(true)
			return &fwdError{kind: failClient, err: err}
		}
	}

	var cerr *fwdError
	switch {
	case noBody:
	case rh.chunked:
		cerr = copyChunked(rwSink{w}, uc.br)
	default:
		cerr = copyBody(rwSink{w}, uc.br, rh.contentLength)
	}
	berr := endBody(cerr != nil || !bodyReady(bodyDone))
	if cerr != nil {
		return cerr
	}
	untilClose := !noBody && !rh.chunked && rh.contentLength < 0
	reuse = rh.keepAlive && !untilClose && berr == nil && !uc.cut.Load()
	return nil
}

// bodyReady waits up to bodyGrace for the upload to end by itself.
func bodyReady(done chan error) bool {
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
