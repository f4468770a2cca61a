package proxy

import (
	"errors"
	"io"
	"net"
	"time"
)

// tunnelCloseGrace is how long one direction of an upgraded connection may
// stay open after the other ended, before both are closed.
const tunnelCloseGrace = 10 * time.Second

// relay copies bytes between an upgraded client connection (whose reader
// may hold bytes read ahead) and the app until both directions ended. A
// write to the client that makes no progress for writeTimeout ends it, as
// on any other response.
func relay(client net.Conn, clientR io.Reader, uc *upConn, writeTimeout time.Duration) {
	uc.cut.Store(true) // no more watch ticks: deadlines are real from here
	uc.conn.SetDeadline(time.Time{})
	client.SetDeadline(time.Time{})

	done := make(chan error, 2)
	pipe := func(dst net.Conn, w io.Writer, src io.Reader) {
		_, err := io.Copy(w, src)
		if err == nil {
			closeWrite(dst) // pass the end of stream on, like TCP does
		}
		done <- err
	}
	go pipe(uc.conn, uc.conn, clientR)                           // client → app
	go pipe(client, progressWriter{client, writeTimeout}, uc.br) // app → client (with bytes after the 101)

	first := <-done
	if first != nil && !errors.Is(first, net.ErrClosed) {
		// A reset or error on one side: end both now.
		client.Close()
		uc.conn.Close()
	} else {
		deadline := time.Now().Add(tunnelCloseGrace)
		client.SetReadDeadline(deadline)
		uc.conn.SetDeadline(deadline)
	}
	<-done
}

// progressWriter gives each write its own deadline: a peer that takes no
// bytes for d fails the write.
type progressWriter struct {
	c net.Conn
	d time.Duration
}

func (w progressWriter) Write(p []byte) (int, error) {
	w.c.SetWriteDeadline(time.Now().Add(w.d))
	return w.c.Write(p)
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}
