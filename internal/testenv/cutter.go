package testenv

import (
	"github.com/shipdeploy/ship/internal/remote"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Cutter is a loopback TCP forwarder in front of a server, for fault and
// latency tests: Cut breaks the live connections as a network failure
// would, Blackhole makes them go silent, SetLatency delays the data.
type Cutter struct {
	ln       net.Listener
	upstream string
	latency  atomic.Int64 // time.Duration, each way

	mu     sync.Mutex
	links  map[*link]struct{}
	closed bool
	wg     sync.WaitGroup
}

// link is one forwarded connection.
type link struct {
	client, server net.Conn
	silent         atomic.Bool
	once           sync.Once
}

func (l *link) close() {
	l.once.Do(func() {
		l.client.Close()
		l.server.Close()
	})
}

// chunk is data read at one moment, due for writing latency later.
type chunk struct {
	data []byte
	due  time.Time
}

// NewCutter forwards connections made to its Addr to upstream until the
// test ends.
func NewCutter(t testing.TB, upstream string) *Cutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cutter{ln: ln, upstream: upstream, links: map[*link]struct{}{}}
	c.wg.Add(1)
	go c.accept()
	t.Cleanup(c.Close)
	return c
}

// Addr is where to connect instead of upstream.
func (c *Cutter) Addr() string { return c.ln.Addr().String() }

// SetLatency delays each direction's data by d from now on: 25ms makes a
// 50ms round trip. Bandwidth is not limited.
func (c *Cutter) SetLatency(d time.Duration) { c.latency.Store(int64(d)) }

// Cut closes every live connection; later connections go through.
func (c *Cutter) Cut() {
	for _, l := range c.take() {
		l.close()
	}
}

// Blackhole makes every live connection drop all data from now on without
// closing, as a network that went silent; later connections go through.
// A close is dropped too: when one end closes a silent connection, the
// other sees nothing until Cut or Close (a real dead link carries no FIN).
func (c *Cutter) Blackhole() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for l := range c.links {
		l.silent.Store(true)
	}
}

// Close stops accepting, closes every connection and waits for the
// forwarding to end.
func (c *Cutter) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.ln.Close()
	c.Cut()
	c.wg.Wait()
}

// take removes and returns the live links.
func (c *Cutter) take() []*link {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ls []*link
	for l := range c.links {
		ls = append(ls, l)
		delete(c.links, l)
	}
	return ls
}

func (c *Cutter) accept() {
	defer c.wg.Done()
	for {
		conn, err := c.ln.Accept()
		if err == nil {
			conn = remote.QuickAck(conn)
		}
		if err != nil {
			return // closed
		}
		up, err := net.Dial("tcp", c.upstream)
		if err == nil {
			up = remote.QuickAck(up)
		}
		if err != nil {
			conn.Close()
			continue
		}
		l := &link{client: conn, server: up}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			l.close()
			return
		}
		c.links[l] = struct{}{}
		c.wg.Add(2)
		c.mu.Unlock()
		go c.forward(l, up, conn)
		go c.forward(l, conn, up)
	}
}

// forward copies src to dst, each piece written when it is due. A reader
// and a writer run apart so that delayed pieces do not slow the reading:
// latency, not a lower bandwidth.
func (c *Cutter) forward(l *link, dst, src net.Conn) {
	defer c.wg.Done()
	queue := make(chan chunk, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ch := range queue {
			if wait := time.Until(ch.due); wait > 0 {
				time.Sleep(wait)
			}
			if l.silent.Load() {
				continue
			}
			if _, err := dst.Write(ch.data); err != nil {
				l.close()
				for range queue { // let the reader finish
				}
				return
			}
		}
	}()
	for {
		buf := make([]byte, 32*1024)
		n, err := src.Read(buf)
		if n > 0 {
			queue <- chunk{buf[:n], time.Now().Add(time.Duration(c.latency.Load()))}
		}
		if err != nil {
			break
		}
	}
	close(queue)
	<-done
	if l.silent.Load() {
		return // the close is lost with the data: Cut or Close ends the link
	}
	c.drop(l)
	l.close()
}

// drop forgets a link that ended by itself.
func (c *Cutter) drop(l *link) {
	c.mu.Lock()
	delete(c.links, l)
	c.mu.Unlock()
}
