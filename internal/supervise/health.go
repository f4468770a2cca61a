package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// ErrUnhealthy means an instance never passed its health check.
// ErrExited means it exited (on its own) while it was expected to run.
// ErrPortTaken means another program listens on the port the app was
// given: start it again on another port.
var (
	ErrUnhealthy = errors.New("app not healthy")
	ErrExited    = errors.New("app exited")
	ErrPortTaken = errors.New("the app's port is taken by another program")
)

// healthEvery is the pause between health probes. Short: a reload waits for
// the first successful one, and the old instance serves meanwhile.
const healthEvery = 25 * time.Millisecond

// probeTimeout bounds one probe; a probe that hangs counts as a failure.
const probeTimeout = 2 * time.Second

// HealthError says why an instance was not healthy: it exited (Exit is set)
// or the wait ended first (Last is the last probe's error).
type HealthError struct {
	PID     int
	Waited  time.Duration
	Exit    *ExitStatus
	Last    error
	Tail    []string // the instance's last output lines
	Timeout bool     // the wait's context ended (start timeout or shutdown)
	Taken   int      // the port that answered was another program's
}

func (e *HealthError) Error() string {
	if e.Taken != 0 {
		return fmt.Sprintf("port %d answers, but another program listens there, not the app", e.Taken)
	}
	if e.Exit != nil {
		return fmt.Sprintf("app exited before it was healthy (%s after %s)", e.Exit, e.Waited.Round(time.Millisecond))
	}
	msg := fmt.Sprintf("not healthy within %s", e.Waited.Round(100*time.Millisecond))
	if e.Last != nil {
		msg += " (" + e.Last.Error() + ")"
	}
	return msg
}

func (e *HealthError) Unwrap() []error {
	if e.Taken != 0 {
		return []error{ErrUnhealthy, ErrPortTaken}
	}
	if e.Exit != nil {
		return []error{ErrUnhealthy, ErrExited}
	}
	return []error{ErrUnhealthy}
}

// WaitHealthy waits until the instance at addr ("127.0.0.1:PORT") is
// healthy: with an empty path, a TCP connection is accepted; with a path, a
// GET answers 2xx, from a socket of p's process group (ErrPortTaken when
// another program's answered). It returns a *HealthError (matching
// ErrUnhealthy) when p exits first or ctx ends first; ctx carries the
// start timeout.
func WaitHealthy(ctx context.Context, p *Process, addr, path string) error {
	begin := time.Now()
	probe := tcpProbe(addr)
	if path != "" {
		probe = httpProbe(addr, path)
	}
	defer probe.close()

	tick := time.NewTicker(healthEvery)
	defer tick.Stop()
	var last error
	for {
		err := probe.check(ctx)
		if err == nil {
			if mine, ok := listenerIn(p.Port(), p.PID()); ok && !mine {
				return &HealthError{PID: p.PID(), Waited: time.Since(begin), Tail: p.Tail(), Taken: p.Port()}
			}
			return nil
		}
		// A probe cut short by ctx says nothing about the app: keep the
		// reason from the one before ("connection refused", "→ 500").
		// (A dial sees the deadline a moment before ctx.Err does.)
		if !ended(ctx) || last == nil {
			last = err
		}
		select {
		case <-p.Done():
			st := p.Wait()
			return &HealthError{PID: p.PID(), Waited: time.Since(begin), Exit: &st, Last: last, Tail: p.Tail()}
		case <-ctx.Done():
			// A process that exited at the same moment is reported as exited.
			if st, _, ok := p.Exited(); ok {
				return &HealthError{PID: p.PID(), Waited: time.Since(begin), Exit: &st, Last: last, Tail: p.Tail()}
			}
			return &HealthError{PID: p.PID(), Waited: time.Since(begin), Last: last, Tail: p.Tail(), Timeout: true}
		case <-tick.C:
		}
	}
}

type prober struct {
	check func(ctx context.Context) error
	close func()
}

func tcpProbe(addr string) prober {
	var d net.Dialer
	return prober{
		check: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return shortNetErr(err)
			}
			return c.Close()
		},
		close: func() {},
	}
}

func httpProbe(addr, path string) prober {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	url := "http://" + addr + path
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	client := &http.Client{Transport: tr, Timeout: probeTimeout}
	return prober{
		check: func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			req.Header.Set("User-Agent", "ship-receiver health check")
			resp, err := client.Do(req)
			if err != nil {
				var uerr interface{ Unwrap() error }
				if errors.As(err, &uerr) {
					err = uerr.Unwrap()
				}
				return fmt.Errorf("GET %s: %w", path, shortNetErr(err))
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode < 200 || resp.StatusCode > 299 {
				return fmt.Errorf("GET %s → %s", path, resp.Status)
			}
			return nil
		},
		close: tr.CloseIdleConnections,
	}
}

// shortNetErr drops the "dial tcp 127.0.0.1:4123:" prefix of a connect error:
// "connection refused" is what a person needs.
func shortNetErr(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return fmt.Errorf("%s %s: %w", op.Op, op.Addr, op.Err)
	}
	return err
}

// ended reports whether ctx is done or past its deadline.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}
