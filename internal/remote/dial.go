package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/shipdeploy/ship/internal/host"
)

// ErrConnectionLost is a connection that broke while in use: the network
// dropped, the server went away, or keepalives went unanswered.
var ErrConnectionLost = errors.New("lost the connection")

var _ host.Host = (*Client)(nil)

// Client is one SSH connection to a deploy target. It carries the SFTP
// session for file work and an exec session per command. It is safe for
// concurrent use.
type Client struct {
	name  string // user@host:port
	conn  *ssh.Client
	jumps []*ssh.Client // bastions, nearest first

	sftpOnce sync.Once     // the SFTP session starts at the first file operation
	sftpDone chan struct{} // closed when sftpc/sftpErr are set
	sftpc    *sftp.Client
	sftpErr  error

	spare     chan *session // at most one pre-opened session channel
	refilling sync.Mutex    // held by the one goroutine opening a spare

	dead      chan struct{} // closed when the connection is gone
	mu        sync.Mutex
	lostCause error // why dead: keepalives unanswered, or the read error
	closing   bool  // Close was called
	closeOnce sync.Once
	closeErr  error
}

// Dial connects to cfg.Target, through cfg.Jump when set, checks its host
// key and logs in. ctx bounds only the dialing.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg.setDefaults()
	target, jumps, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	hk, err := newHostKeys(&cfg)
	if err != nil {
		return nil, err
	}
	keys, err := newKeyring(&cfg)
	if err != nil {
		return nil, err
	}
	defer keys.close()

	var via *ssh.Client
	var hops []*ssh.Client
	fail := func(err error) (*Client, error) {
		for i := len(hops) - 1; i >= 0; i-- {
			hops[i].Close()
		}
		return nil, err
	}
	for _, j := range jumps {
		c, err := hop(ctx, &cfg, hk, keys, via, j)
		if err != nil {
			return fail(fmt.Errorf("jump host: %w", err))
		}
		hops, via = append(hops, c), c
	}
	conn, err := hop(ctx, &cfg, hk, keys, via, target)
	if err != nil {
		return fail(err)
	}
	c := &Client{
		name:     target.String(),
		conn:     conn,
		jumps:    hops,
		sftpDone: make(chan struct{}),
		spare:    make(chan *session, 1),
		dead:     make(chan struct{}),
	}
	go c.watch()
	if cfg.KeepAlive > 0 {
		go c.keepAlive(cfg.KeepAlive)
	}
	// Both take a round trip or more: start them now so that the first
	// Run and the first file operation find them ready.
	go c.refill()
	return c, nil
}

// hop connects to ep, directly or through via, and logs in.
func hop(ctx context.Context, cfg *Config, hk *hostKeys, keys *keyring, via *ssh.Client, ep endpoint) (*ssh.Client, error) {
	signers, names, err := keys.signers(ep)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	addr := ep.addr()
	var conn net.Conn
	if via == nil {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil {
			conn = QuickAck(conn)
		}
	} else {
		conn, err = via.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, dialError(ep, timeoutErr(ctx, cfg.Timeout, err))
	}
	// A server that accepts but never speaks must not hang us: the
	// deadline covers TCP conns, closing on ctx covers channels too (they
	// have no deadlines) and a caller's cancel.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })

	var keyErr errBox
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User:              ep.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signers...)},
		HostKeyCallback:   hk.callback(addr, &keyErr),
		HostKeyAlgorithms: hk.algorithms(addr),
	})
	if !stop() && err == nil {
		sc.Close()
		err = ctx.Err()
	}
	if err != nil {
		conn.Close()
		switch {
		case keyErr.get() != nil:
			return nil, keyErr.get()
		case ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded):
			return nil, fmt.Errorf("ssh handshake with %s: %w", addr, timeoutErr(ctx, cfg.Timeout, err))
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, fmt.Errorf("log in to %s: the server accepted none of the keys offered (%s); is the public key in ~%s/.ssh/authorized_keys there? (%w)", ep, strings.Join(names, ", "), ep.user, err)
		}
		return nil, fmt.Errorf("ssh handshake with %s: %w", addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), nil
}

// timeoutErr says "timed out after" when ctx's own deadline (or the conn's
// deadline, set to the same time, which may fire first) ended a dial.
func timeoutErr(ctx context.Context, d time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("timed out after %s: %w", d, context.DeadlineExceeded)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// watch marks the client dead when the connection ends.
func (c *Client) watch() {
	err := c.conn.Wait()
	c.mu.Lock()
	if c.lostCause == nil {
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("closed by the server or the network")
		}
		c.lostCause = err
	}
	c.mu.Unlock()
	close(c.dead)
}

// keepAlive asks the server for an answer every interval and closes the
// connection when keepAliveMax intervals pass without one, so that commands
// on a silently dropped network fail instead of hanging.
func (c *Client) keepAlive(interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-c.dead:
			return
		case <-tick.C:
		}
		answered := make(chan error, 1)
		go func() {
			_, _, err := c.conn.SendRequest("keepalive@openssh.com", true, nil)
			answered <- err
		}()
		for missed := 0; answered != nil; {
			select {
			case err := <-answered:
				if err != nil {
					return // the connection is gone; watch says why
				}
				answered = nil
			case <-tick.C:
				if missed++; missed >= keepAliveMax {
					c.mu.Lock()
					if c.lostCause == nil {
						c.lostCause = fmt.Errorf("no answer to %d keepalives in %s", keepAliveMax, keepAliveMax*interval)
					}
					c.mu.Unlock()
					c.conn.Close()
					return
				}
			case <-c.dead:
				return
			}
		}
	}
}

// lost is the error for work that failed because the connection is gone.
func (c *Client) lost() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return fmt.Errorf("connection to %s: %w", c.name, net.ErrClosed)
	}
	return fmt.Errorf("%w to %s: %v", ErrConnectionLost, c.name, c.lostCause)
}

// isDead reports, without waiting, whether the connection is gone.
func (c *Client) isDead() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

// String is user@host:port.
func (c *Client) String() string { return c.name }

// Close ends the SFTP session and the connection, then the bastions'.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		// The connection first: closing SFTP first would wait a round trip
		// for the server to confirm, for nothing.
		err := c.conn.Close()
		select {
		case <-c.sftpDone:
			if c.sftpc != nil {
				c.sftpc.Close()
			}
		default: // still starting: closing the connection ended it
		}
		if err != nil && !errors.Is(err, net.ErrClosed) && !c.isDead() {
			c.closeErr = fmt.Errorf("close connection to %s: %w", c.name, err)
		}
		for i := len(c.jumps) - 1; i >= 0; i-- {
			c.jumps[i].Close()
		}
		select {
		case s := <-c.spare:
			s.ch.Close()
		default:
		}
	})
	return c.closeErr
}
