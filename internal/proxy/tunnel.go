package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// tunnelCloseGrace is how long one direction of an upgraded connection may
// stay open after the other ended, before both are closed.
const tunnelCloseGrace = 10 * time.Second

// tunnel takes over the client connection of the net/http front after the
// app answered 101 (head, still in uc.br), hands the head on, and relays
// bytes both ways until both sides are done. The request stays in flight
// (for Drain) until then.
func (p *Proxy) tunnel(w http.ResponseWriter, uc *upConn, head []byte) *fwdError {
	defer uc.conn.Close()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return &fwdError{kind: failUpstream, err: fmt.Errorf("upgrade: hijack client connection: %w", err)}
	}
	defer conn.Close()
	conn.SetDeadline(time.Time{}) // the server's timeouts were for one request

	// The head goes as the app wrote it: Upgrade, Connection and the
	// handshake fields are exactly what the client must see.
	brw.Writer.Write(head)
	uc.br.Discard(len(head))
	if err := brw.Writer.Flush(); err != nil {
		return &fwdError{kind: failClient, err: fmt.Errorf("upgrade: write 101 to client: %w", err)}
	}
	relay(conn, brw.Reader, uc)
	return nil
}

// relay copies bytes between an upgraded client connection (whose reader
// may hold bytes read ahead) and the app until both directions ended.
func relay(client net.Conn, clientR io.Reader, uc *upConn) {
	uc.cut.Store(true) // no more watch ticks: deadlines are real from here
	uc.conn.SetDeadline(time.Time{})
	client.SetDeadline(time.Time{})

	done := make(chan error, 2)
	pipe := func(dst net.Conn, src io.Reader) {
		_, err := io.Copy(dst, src)
		if err == nil {
			closeWrite(dst) // pass the end of stream on, like TCP does
		}
		done <- err
	}
	go pipe(uc.conn, clientR) // client → app
	go pipe(client, uc.br)    // app → client (with bytes after the 101)

	first := <-done
	if first != nil && !errors.Is(first, net.ErrClosed) {
		// A reset or error on one side: end both now.
		client.Close()
		uc.conn.Close()
	} else {
		deadline := time.Now().Add(tunnelCloseGrace)
		client.SetDeadline(deadline)
		uc.conn.SetDeadline(deadline)
	}
	<-done
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}
