package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A client that stops reading must not hold its connection, and the app's,
// for ever; one that reads a slow stream (Server-Sent Events with long
// gaps) must keep it.

func TestWriteTimeout(t *testing.T) { eachFront(t, testWriteTimeout) }

func testWriteTimeout(t *testing.T, front string) {
	const timeout = 300 * time.Millisecond
	t.Run("a client that never reads is cut", func(t *testing.T) {
		ended := make(chan struct{})
		a := startApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer close(ended)
			chunk := []byte(strings.Repeat("x", 32<<10))
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}))
		p := newTestProxy(t, Options{WriteTimeout: timeout})
		p.Switch(a.b)
		url := startProxy(t, p, front)
		c, _ := dialProxy(t, url)
		c.(*net.TCPConn).SetReadBuffer(4 << 10)
		io.WriteString(c, "GET /stream HTTP/1.1\r\nHost: a\r\n\r\n")
		select {
		case <-ended:
		case <-time.After(8 * time.Second):
			t.Fatal("the app still streams to a client that has not read for 8 s")
		}
		waitFor(t, func() bool { return a.b.InFlight() == 0 })
	})
	t.Run("a slow stream is kept", func(t *testing.T) {
		a := startApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				io.WriteString(w, "data: "+strings.Repeat("e", 1000)+string(rune('0'+i))+"\n\n")
				w.(http.Flusher).Flush()
				time.Sleep(3 * timeout)
			}
		}))
		p := newTestProxy(t, Options{WriteTimeout: timeout})
		p.Switch(a.b)
		url := startProxy(t, p, front)
		res, err := testClient.Get(url + "/events")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		br := bufio.NewReader(res.Body)
		for i := range 3 {
			line, err := br.ReadString('\n')
			br.ReadString('\n')
			if err != nil || !strings.HasSuffix(line, string(rune('0'+i))+"\n") {
				t.Fatalf("event %d: %q, %v", i, line, err)
			}
		}
	})
}
