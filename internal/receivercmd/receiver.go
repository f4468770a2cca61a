package receivercmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shipdeploy/ship/internal/proxy"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/supervise"
)

// --webhook-listen's server: a request head within 30 s and 8 KiB (the
// public front's limits).
const (
	readHeaderTimeout = 30 * time.Second
	webhookMaxHeader  = 8 << 10
)

// runReceiver runs until ctx ends (SIGTERM, SIGINT), then stops the app
// within the stop timeout and returns nil.
func runReceiver(ctx context.Context, opts *options) error {
	r, closeLog, err := newReceiver(opts)
	if err != nil {
		return err
	}
	defer closeLog()
	pulls, err := newPullSide(opts, r.l, r.fsys, r.log)
	forgetPrivateEnv() // read: no child process gets them
	if err != nil {
		return err
	}
	front, err := r.openFront(pulls)
	if err != nil {
		return err
	}
	r.state = newStateStore(r.fsys, r.l, r.log, release.State{
		PID: os.Getpid(), Mode: opts.Mode, Listen: front.addr, StartedAt: time.Now().UTC(),
	})
	r.state.update(nil)
	defer r.state.final()
	// Before the front serves: a restarted receiver keeps the page up.
	r.checkMaintenance()
	r.log.Info("receiver started", "root", opts.Root, "mode", opts.Mode, "listen", front.addr, "pid", os.Getpid())

	g, gctx := errgroup.WithContext(ctx)
	if front.serve != nil {
		g.Go(func() error {
			if err := front.serve(); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve %s: %w", front.addr, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		return watchReload(gctx, r.l, or(opts.PollEvery, defaultPollEvery), r.trig, r.log)
	})
	if pulls.hook != nil {
		g.Go(func() error { return pulls.queue.Run(gctx) })
		r.serveWebhook(gctx, g, pulls, front.serve != nil)
	}
	g.Go(func() error { return forwardHup(gctx, opts.Hup, r.trig) })
	g.Go(func() error { return r.state.beat(gctx, r.heartbeat()) })
	g.Go(func() error {
		pulls.firstStart(gctx, r.log)
		err := r.loop(gctx)
		r.shutdown(front.stop)
		return err
	})
	err = g.Wait()
	r.log.Info("receiver stopped", "err", err)
	return err
}

// newReceiver prepares the app root and the logs, and stops what a killed
// receiver left running. closeLog closes the app's log file.
func newReceiver(opts *options) (r *receiver, closeLog func(), err error) {
	logw := opts.LogTo
	if logw == nil {
		logw = opts.Stdout
	}
	log := newLogger(logw, opts.LogFormat)
	l := release.Layout{Root: opts.Root}
	if err := prepareRoot(l, opts.Create); err != nil {
		return nil, nil, err
	}
	// Before anything starts (or listens): an app a killed receiver left
	// may hold the port, and would serve an old release besides.
	if pids, err := supervise.StopLeftovers(opts.Root, opts.StopTimeout); err != nil {
		log.Warn("cannot look for a previous receiver's apps", "err", err)
	} else if len(pids) > 0 {
		log.Warn("stopped app processes a previous receiver left running", "pids", pids)
	}
	appOut, closeLog := opts.Stdout, func() {}
	if !opts.NoAppLogFile {
		f, err := supervise.OpenRotatingFile(l.AppLog(), 0, 0)
		if err != nil {
			return nil, nil, err
		}
		appOut, closeLog = teeWriter{opts.Stdout, f}, func() { f.Close() }
	}
	return &receiver{
		opts: opts, log: log, l: l, fsys: release.LocalFS{}, appOut: appOut,
		trig: newTriggers(), backoff: opts.Backoff,
	}, closeLog, nil
}

// front is the receiver's public side: the proxy (serve and stop), or, in
// restart mode, nothing of its own (the app listens on the port itself).
type front struct {
	addr  string
	serve func() error
	stop  func(context.Context) error
}

// openFront listens for the public. The public front is the proxy's own
// HTTP/1.1 server, always: the webhook's path, when it shares the port,
// is routed inside it, so that every request there is read by the same
// strict parser.
func (r *receiver) openFront(pulls *pullSide) (front, error) {
	opts := r.opts
	if opts.Mode != modeProxy {
		host, port, err := splitListen(opts.Listen)
		if err != nil {
			return front{}, err
		}
		r.healthHost, r.publicPort = host, port
		return front{addr: opts.Listen}, nil
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return front{}, fmt.Errorf("listen on %s: %w", opts.Listen, err)
	}
	popts := proxy.Options{Logger: r.log}
	if pulls.hook != nil && opts.WebhookListen == "" {
		popts.Handlers = map[string]http.Handler{opts.WebhookPath: pulls.hook}
	}
	r.proxy = proxy.New(popts)
	return front{addr: ln.Addr().String(), serve: func() error { return r.proxy.Serve(ln) }, stop: r.proxy.Shutdown}, nil
}

// serveWebhook serves the webhook on its own listener when it has one
// (--webhook-listen); otherwise it says where the webhook is, if anywhere.
func (r *receiver) serveWebhook(ctx context.Context, g *errgroup.Group, pulls *pullSide, onFront bool) {
	addr := r.opts.WebhookListen
	switch {
	case addr == "" && onFront:
		r.log.Info("webhook on the public listener", "path", r.opts.WebhookPath)
		return
	case addr == "":
		r.log.Warn("WEBHOOK_SECRET is set but restart mode has no proxy to carry the webhook: give --webhook-listen")
		return
	}
	srv := &http.Server{
		Addr: addr, Handler: pulls.hook,
		ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: proxy.DefaultIdleTimeout,
		MaxHeaderBytes: webhookMaxHeader, // net/http's default is 1 MB per connection
	}
	g.Go(func() error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("webhook: listen on %s: %w", addr, err)
		}
		go func() { <-ctx.Done(); _ = srv.Close() }()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("webhook: serve %s: %w", addr, err)
		}
		return nil
	})
	r.log.Info("webhook listening", "addr", addr)
}

// prepareRoot makes the receiver's folders in root. A root that does not
// exist is a mistake (a typo waits forever for a deploy that goes elsewhere)
// unless create asks for it.
func prepareRoot(l release.Layout, create bool) error {
	switch fi, err := os.Stat(l.Root); {
	case os.IsNotExist(err) && !create:
		return usageError{fmt.Errorf("--root %s does not exist: create it (mkdir -p %s, owned by the user that deploys) or pass --create", l.Root, l.Root)}
	case err == nil && !fi.IsDir():
		return usageError{fmt.Errorf("--root %s is not a folder", l.Root)}
	}
	for _, dir := range []string{l.ShipDir(), l.Releases()} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			if errors.Is(err, fs.ErrPermission) {
				// A host folder mounted into a container, owned by root.
				return fmt.Errorf("prepare %s: %w: uid %d cannot write there; make the folder (a host folder mounted as %[1]s) writable by it, e.g. chown -R %[3]d:%d FOLDER",
					l.Root, err, os.Getuid(), os.Getgid())
			}
			return fmt.Errorf("prepare %s: %w", l.Root, err)
		}
	}
	return nil
}

// appHost is the host an app is started with. Behind the proxy it listens on
// loopback only, so nothing reaches it around the proxy; in restart mode it
// owns the public port, and the host the user configured stands.
func appHost(mode string) string {
	if mode == modeRestart {
		return supervise.KeepHost
	}
	return supervise.LoopbackHost
}

// splitListen returns the host to health-check and the port of a listen
// address, for restart mode, where the app binds it.
func splitListen(listen string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("--listen %q: %w", listen, err)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port <= 0 {
		return "", 0, fmt.Errorf("--listen %q: restart mode needs a fixed port", listen)
	}
	if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
		h = "127.0.0.1"
	}
	return h, port, nil
}

func newLogger(w io.Writer, format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// teeWriter writes to both, whatever happens to the first: a closed stdout
// must not stop the app log (io.MultiWriter would).
type teeWriter struct{ a, b io.Writer }

func (t teeWriter) Write(p []byte) (int, error) {
	_, _ = t.a.Write(p)
	return t.b.Write(p)
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
