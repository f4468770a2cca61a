package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// attempt sends the request once to b and relays the answer: the native
// front's side of run.
func (fc *frontConn) attempt(b *Backend, fresh bool) (fe *fwdError) {
	defer b.release()
	rq := &fc.req
	replayable := (string(rq.method) == "GET" || string(rq.method) == "HEAD") && !rq.hasBody()

	uc, err := b.get(nilCtx, fresh, fc.now)
	if err != nil {
		return &fwdError{kind: failRetry, err: fmt.Errorf("connect to %s: %w", b.addr, err), dial: true}
	}
	uc.watch(nil, fc.raw, fc.now)
	reuse, owned := false, false
	defer func() {
		switch {
		case owned:
		case reuse:
			b.put(uc)
		default:
			uc.conn.Close()
		}
	}()

	fc.writeHead(uc.bw, b.addr)

	// A body already read along with the head goes in the same write; a
	// longer one streams up in its own goroutine (see forward).
	var bodyDone chan error
	switch {
	case rq.bodyDone:
		if err := uc.bw.Flush(); err != nil {
			return &fwdError{kind: failRetry, err: fmt.Errorf("send request to %s: %w", b.addr, err)}
		}
	case !rq.chunked && int64(fc.br.Buffered()) >= rq.contentLength:
		n := int(rq.contentLength)
		body, _ := fc.br.Peek(n)
		uc.bw.Write(body)
		if err := uc.bw.Flush(); err != nil {
			// The body stays in br: the request can go again.
			return &fwdError{kind: failRetry, err: fmt.Errorf("send request to %s: %w", b.addr, err)}
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
		bodyDone = make(chan error, 1)
		fc.uploadCut = false // no upload runs: no lock needed
		go func() { bodyDone <- fc.upload(uc.bw) }()
	}
	// endBody waits for the upload and returns its error; with cut it ends
	// an upload still running first, and the client's connection with it.
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
			uc.cutShort()
			fc.cutUpload()
			<-bodyDone
			return errBodyCut
		}
		err := <-bodyDone
		rq.bodyDone = err == nil
		return err
	}

	if fc.bw.Buffered() > 0 {
		// Answers to earlier pipelined requests must not wait for this one.
		if err := fc.bw.Flush(); err != nil {
			endBody(true)
			return &fwdError{kind: failClient, err: err}
		}
	}
	rh := &fc.rh
	var head []byte
	for {
		head, err = readHead(uc.br)
		if err == nil {
			fc.rfields, err = rh.parseResponse(head, fc.rfields[:0])
		}
		if err != nil {
			berr := endBody(true)
			switch {
			case errors.Is(err, errClientGone) || isClientErr(berr):
				return &fwdError{kind: failClient, err: err}
			case errors.Is(err, errNoResponse) && uc.reused && replayable:
				return &fwdError{kind: failRetry, err: fmt.Errorf("read response from %s: %w", b.addr, err)}
			}
			return &fwdError{kind: failUpstream, err: fmt.Errorf("read response from %s: %w", b.addr, err)}
		}
		if rh.code >= 200 || rh.code == http.StatusSwitchingProtocols {
			break
		}
		uc.br.Discard(len(head)) // 100 Continue, 103 Early Hints
		replayable = false
	}

	if rh.code == http.StatusSwitchingProtocols {
		if !rq.upgrade {
			endBody(true)
			return &fwdError{kind: failUpstream, err: fmt.Errorf("%s switched protocols unasked", b.addr)}
		}
		if err := endBody(false); err != nil {
			return &fwdError{kind: failUpstream, err: err}
		}
		fc.bw.Write(head) // as the app wrote it: the handshake fields matter
		uc.br.Discard(len(head))
		if err := fc.bw.Flush(); err != nil {
			return &fwdError{kind: failClient, err: err}
		}
		owned = true
		defer uc.conn.Close()
		relay(fc.c, fc.br, uc)
		rq.closeAfter = true
		return nil
	}

	noBody := rh.noBody(string(rq.method) == "HEAD")
	untilClose := !noBody && !rh.chunked && rh.contentLength < 0
	chunkOut := (rh.chunked || untilClose) && !noBody && rq.http11
	if (rh.chunked || untilClose) && !noBody && !rq.http11 {
		rq.closeAfter = true // an HTTP/1.0 client: the close ends the body
	}
	if !rq.bodyDone && bodyDone == nil {
		rq.closeAfter = true
	}
	fc.writeResponseHead(rh, head, fc.rfields, chunkOut)
	uc.br.Discard(len(head))

	var cerr *fwdError
	switch {
	case noBody:
	case chunkOut:
		ended := false
		cs := chunkSink{fc.bw, &ended}
		if rh.chunked {
			cerr = copyChunked(cs, uc.br)
		} else {
			cerr = copyBody(cs, uc.br, -1)
		}
		if cerr == nil {
			cs.end()
		}
	case rh.chunked:
		cerr = copyChunked(rawSink{fc.bw}, uc.br)
	default:
		cerr = copyBody(rawSink{fc.bw}, uc.br, rh.contentLength)
	}
	berr := endBody(cerr != nil || !bodyReady(bodyDone))
	if cerr != nil {
		return cerr
	}
	if berr != nil {
		rq.closeAfter = true
	}
	reuse = rh.keepAlive && !untilClose && berr == nil && !uc.cut.Load()
	return nil
}

// nilCtx is for dials of the native front: a dial to loopback is refused or
// made at once, and is bounded by the dialer's timeout.
var nilCtx = context.Background()

// writeResponseHead writes the app's response head to the client: its
// status and end-to-end fields as the app wrote them, and this hop's framing.
func (fc *frontConn) writeResponseHead(rh *respHead, head []byte, fields []field, chunkOut bool) {
	rq := &fc.req
	bw := fc.bw
	bw.WriteString("HTTP/1.1 ")
	bw.Write(rh.status)
	if len(rh.status) == 3 { // no reason phrase: the space before it is still due
		bw.WriteByte(' ')
		bw.WriteString(http.StatusText(rh.code))
	}
	bw.WriteString("\r\n")
	sawLength := false
	for _, f := range fields {
		name := f.name(head)
		if rh.skipField(name) {
			continue
		}
		if lowerIs(name, "content-length") {
			if rh.chunked || sawLength {
				continue
			}
			sawLength = true
		}
		bw.Write(head[f.ns:f.ve])
		bw.WriteString("\r\n")
	}
	if chunkOut {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if fc.p.front.shutting.Load() {
		rq.closeAfter = true
	}
	switch {
	case rq.closeAfter:
		bw.WriteString("Connection: close\r\n")
	case !rq.http11:
		bw.WriteString("Connection: keep-alive\r\n")
	}
	bw.WriteString("\r\n")
}
