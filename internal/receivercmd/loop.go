package receivercmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shipdeploy/ship/internal/proxy"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/supervise"
)

// logTailLines is how many of a failed instance's last output lines go into
// the reload result.
const logTailLines = 20

// settleDelay is the pause between a reload trigger and reading RELOAD.
const settleDelay = 30 * time.Millisecond

// instance is one running app process and where it serves.
type instance struct {
	proc    *supervise.Process
	release int
	dir     string
	addr    string         // 127.0.0.1:PORT
	backend *proxy.Backend // proxy mode
	since   time.Time      // when it took traffic
}

// restartPlan is a restart that is due: nothing serves.
type restartPlan struct {
	dir     string
	release int
	at      time.Time
}

// receiver is the loop's state. Only the loop goroutine touches it.
type receiver struct {
	opts    *options
	log     *slog.Logger
	l       release.Layout
	fsys    release.FS
	proxy   *proxy.Proxy // nil in restart mode
	appOut  io.Writer
	state   *stateStore
	trig    *triggers
	backoff supervise.Backoff

	// restart mode: the app binds the public port itself.
	publicPort int
	healthHost string

	cur     *instance
	restart *restartPlan
}

// loop runs until ctx ends: it starts what current points to, then waits for
// reload triggers, for the serving instance to exit, for a due restart.
func (r *receiver) loop(ctx context.Context) error {
	r.handleTrigger(ctx, true)
	stable := time.NewTicker(r.heartbeat())
	defer stable.Stop()
	for {
		var exited <-chan struct{}
		if r.cur != nil {
			exited = r.cur.proc.Done()
		}
		var due <-chan time.Time
		if r.restart != nil {
			due = time.After(time.Until(r.restart.at))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.trig.c:
			// A hand-made RELOAD (echo > RELOAD) is created empty and then
			// written: let the writer finish, so one write is one reload.
			if !sleepCtx(ctx, settleDelay) {
				return nil
			}
			r.handleTrigger(ctx, false)
		case <-exited:
			r.exited()
		case <-due:
			r.doRestart(ctx)
		case <-stable.C:
			r.checkStable()
		}
	}
}

func (r *receiver) heartbeat() time.Duration {
	if r.opts.Heartbeat > 0 {
		return r.opts.Heartbeat
	}
	return release.HeartbeatInterval
}

// handleTrigger reloads when there is a request: a RELOAD file, a SIGHUP, or
// the first start (boot).
func (r *receiver) handleTrigger(ctx context.Context, boot bool) {
	rq, fromFile, err := readRequest(r.l)
	if err != nil {
		r.log.Error("cannot read reload request", "err", err)
	}
	hup := r.trig.hup.Swap(false)
	if !fromFile && !hup && !boot {
		return // a poll or event for a request already handled
	}
	if boot && !fromFile {
		if _, _, err := resolveCurrent(r.l); err != nil {
			r.log.Warn("nothing to serve yet: waiting for a deploy", "err", err)
			return
		}
	}
	previous := 0
	if r.cur != nil {
		previous = r.cur.release
	}
	res := r.reload(ctx, rq.ReloadRequest)
	if ctx.Err() != nil {
		// Stopping: leave RELOAD for the next start to act on.
		res.OK, res.Error = false, "the receiver stopped during the reload"
	} else if fromFile {
		newer, err := settleRequest(r.l, rq.raw)
		if err != nil {
			r.log.Error("cannot remove the handled reload request", "err", err)
		}
		if newer {
			r.trig.poke()
		}
	}
	if r.cur == nil && r.restart == nil && ctx.Err() == nil {
		r.scheduleRestartOfCurrent(res.Error)
	}
	if fromFile || hup {
		r.record(res, previous)
	}
}

// reload starts what current points to and makes it serve.
func (r *receiver) reload(ctx context.Context, req release.ReloadRequest) (res release.ReloadResult) {
	res = release.ReloadResult{ID: req.ID, Release: req.Release, Started: time.Now().UTC()}
	defer func() { res.Finished = time.Now().UTC() }()
	dir, n, err := resolveCurrent(r.l)
	if err != nil {
		res.Error = err.Error()
		r.log.Error("reload failed", "id", req.ID, "err", err)
		return res
	}
	res.Release = n
	r.log.Info("reload", "id", req.ID, "release", n, "dir", dir)

	var note string
	if req.Release != 0 && req.Release != n {
		// ship swaps current before it writes RELOAD, so this means someone
		// swapped it since: serve what current says, and say so.
		note = fmt.Sprintf("note: the request named release %d but current is release %d; serving release %d", req.Release, n, n)
		r.log.Warn("reload request and current disagree", "id", req.ID, "requested", req.Release, "release", n)
	}
	if r.opts.Mode == modeRestart {
		r.reloadRestart(ctx, dir, n, &res)
	} else {
		r.reloadProxy(ctx, dir, n, &res)
	}
	if res.OK && note != "" {
		res.Error = note
	}
	return res
}

func (r *receiver) reloadProxy(ctx context.Context, dir string, n int, res *release.ReloadResult) {
	before := r.proxy.Stats().UpstreamErrors
	inst, err := r.startInstance(ctx, dir, n)
	if err != nil {
		r.fail(res, n, err)
		return
	}
	res.HealthyAfter = seconds(time.Since(inst.proc.Started()))
	if old := r.activate(inst, true); old != nil {
		res.Drained = r.retire(ctx, old)
	}
	res.Dropped = int(r.proxy.Stats().UpstreamErrors - before)
	res.OK = true
	r.log.Info("reload done", "id", res.ID, "release", n, "pid", inst.proc.PID(),
		"healthy_after", time.Duration(res.HealthyAfter*float64(time.Second)).Round(time.Millisecond),
		"drained", res.Drained, "dropped", res.Dropped)
}

// reloadRestart is the seed's behaviour: stop, then start on the public port.
// If the new release fails, the old one is started again.
func (r *receiver) reloadRestart(ctx context.Context, dir string, n int, res *release.ReloadResult) {
	old := r.cur
	if old != nil {
		r.cur = nil
		r.stop(old)
	}
	inst, err := r.startInstance(ctx, dir, n)
	if err != nil {
		r.fail(res, n, err)
		if old != nil && ctx.Err() == nil {
			back, err := r.startInstance(ctx, old.dir, old.release)
			if err != nil {
				r.log.Error("cannot start the previous release again", "release", old.release, "err", err)
				r.restart = &restartPlan{dir: old.dir, release: old.release, at: time.Now().Add(r.backoff.Failed(err.Error()))}
				return
			}
			r.activate(back, false)
			res.Error += fmt.Sprintf("; release %d started again", old.release)
		}
		return
	}
	res.HealthyAfter = seconds(time.Since(inst.proc.Started()))
	r.activate(inst, true)
	res.OK = true
	r.log.Info("reload done", "id", res.ID, "release", n, "pid", inst.proc.PID())
}

// fail fills a failed reload's result from the start error.
func (r *receiver) fail(res *release.ReloadResult, n int, err error) {
	res.Error = fmt.Sprintf("release %d: %v", n, err)
	var he *supervise.HealthError
	if errors.As(err, &he) {
		res.LogTail = he.Tail
		if len(res.LogTail) > logTailLines {
			res.LogTail = res.LogTail[len(res.LogTail)-logTailLines:]
		}
	}
	attrs := []any{"id", res.ID, "release", n, "err", err}
	if r.cur != nil {
		attrs = append(attrs, "serving", r.cur.release)
	}
	r.log.Error("reload failed", attrs...)
}

// startInstance starts the app in dir and waits until it is healthy, bounded
// by the start timeout. A process that does not become healthy is stopped.
func (r *receiver) startInstance(ctx context.Context, dir string, n int) (*instance, error) {
	port, host := r.publicPort, r.healthHost
	if r.proxy != nil {
		var err error
		if port, err = supervise.FreePort(); err != nil {
			return nil, err
		}
		host = "127.0.0.1"
	}
	proc, err := supervise.Start(ctx, supervise.Spec{Dir: dir, Command: r.opts.Start, Port: port, Output: r.appOut})
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	r.log.Info("app starting", "release", n, "pid", proc.PID(), "port", port)
	hctx, cancel := context.WithTimeout(ctx, r.opts.StartTimeout)
	defer cancel()
	if err := supervise.WaitHealthy(hctx, proc, addr, r.opts.HealthPath); err != nil {
		if stopErr := proc.Stop(context.Background(), r.opts.StopTimeout); stopErr != nil {
			r.log.Warn("stopping the unhealthy instance", "release", n, "pid", proc.PID(), "err", stopErr)
		}
		return nil, err
	}
	inst := &instance{proc: proc, release: n, dir: dir, addr: addr}
	if r.proxy != nil {
		inst.backend = proxy.NewBackend(addr)
	}
	return inst, nil
}

// activate makes inst the serving instance and returns the one it replaces.
// reset says a new release was switched to: its restart count starts at 0.
func (r *receiver) activate(inst *instance, reset bool) (old *instance) {
	inst.since = time.Now().UTC()
	if r.proxy != nil {
		r.proxy.Switch(inst.backend)
	}
	old, r.cur, r.restart = r.cur, inst, nil
	if reset {
		r.backoff.Reset()
	}
	r.log.Info("serving", "release", inst.release, "pid", inst.proc.PID(), "addr", inst.addr)
	r.state.update(func(s *release.State) {
		s.Serving = &release.Serving{
			Release: inst.release, Dir: inst.dir, PID: inst.proc.PID(),
			Port: inst.proc.Port(), Since: inst.since,
		}
		r.copySupervision(s)
	})
	return old
}

// retire lets a replaced instance finish its requests (bounded by the drain
// timeout), then stops it. It returns how many requests it drained.
func (r *receiver) retire(ctx context.Context, old *instance) int {
	dctx, cancel := context.WithTimeout(ctx, r.opts.DrainTimeout)
	defer cancel()
	drained, err := old.backend.Drain(dctx)
	if err != nil {
		r.log.Warn("drain cut short: stopping with requests in flight", "release", old.release, "pid", old.proc.PID(),
			"in_flight", old.backend.InFlight(), "err", err)
	}
	r.stop(old)
	return drained
}

// stop stops an instance: SIGTERM, then SIGKILL after the stop timeout.
func (r *receiver) stop(inst *instance) {
	begin := time.Now()
	err := inst.proc.Stop(context.Background(), r.opts.StopTimeout)
	attrs := []any{"release", inst.release, "pid", inst.proc.PID(), "took", time.Since(begin).Round(time.Millisecond)}
	if err != nil {
		r.log.Warn("app stopped", append(attrs, "err", err)...)
		return
	}
	r.log.Info("app stopped", append(attrs, "status", inst.proc.Wait().String())...)
}

// exited handles the serving instance exiting on its own: requests wait
// (proxy mode) while a restart comes after the backoff.
func (r *receiver) exited() {
	inst := r.cur
	r.cur = nil
	if r.proxy != nil {
		r.proxy.Switch(nil)
	}
	st := inst.proc.Wait()
	delay := r.backoff.Exited(inst.proc.Uptime(), st)
	r.restart = &restartPlan{dir: inst.dir, release: inst.release, at: time.Now().Add(delay)}
	r.log.Warn("app exited: restarting", "release", inst.release, "pid", inst.proc.PID(), "status", st.String(),
		"uptime", inst.proc.Uptime().Round(time.Millisecond), "restart_in", delay,
		"restarts", r.backoff.Restarts(), "crash_loop", r.backoff.CrashLoop(),
		"last_output", strings.Join(lastN(inst.proc.Tail(), 3), " | "))
	r.state.update(func(s *release.State) {
		s.Serving = nil
		r.copySupervision(s)
	})
}

// scheduleRestartOfCurrent plans a start of current after a failed first
// start, so that a transient failure (a database down at boot) heals.
func (r *receiver) scheduleRestartOfCurrent(reason string) {
	dir, n, err := resolveCurrent(r.l)
	if err != nil {
		return // nothing deployed: wait for a deploy
	}
	delay := r.backoff.Failed(reason)
	r.restart = &restartPlan{dir: dir, release: n, at: time.Now().Add(delay)}
	r.log.Warn("nothing serving: will start again", "release", n, "in", delay, "crash_loop", r.backoff.CrashLoop())
	r.state.update(r.copySupervision)
}

// doRestart runs a due restart. A release folder that is gone (pruned) is
// replaced by what current points to.
func (r *receiver) doRestart(ctx context.Context) {
	plan := r.restart
	dir, n := plan.dir, plan.release
	if _, err := os.Stat(dir); err != nil {
		if dir, n, err = resolveCurrent(r.l); err != nil {
			r.log.Error("cannot restart: release folder gone and current unresolved", "err", err)
			r.restart = nil
			return
		}
	}
	inst, err := r.startInstance(ctx, dir, n)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		delay := r.backoff.Failed(err.Error())
		r.restart = &restartPlan{dir: dir, release: n, at: time.Now().Add(delay)}
		r.log.Error("restart failed", "release", n, "err", err, "retry_in", delay, "crash_loop", r.backoff.CrashLoop())
		r.state.update(r.copySupervision)
		return
	}
	r.activate(inst, false)
}

// checkStable ends a crash loop once the instance has stayed up.
func (r *receiver) checkStable() {
	if r.cur == nil {
		return
	}
	was := r.backoff.CrashLoop()
	r.backoff.Up(r.cur.proc.Uptime())
	if was != r.backoff.CrashLoop() {
		r.log.Info("app stable again", "release", r.cur.release, "pid", r.cur.proc.PID())
		r.state.update(r.copySupervision)
	}
}

func (r *receiver) copySupervision(s *release.State) {
	s.Restarts = r.backoff.Restarts()
	s.CrashLoop = r.backoff.CrashLoop()
	s.LastExit = r.backoff.LastExit()
}

// record writes a reload's outcome to state.json and log.jsonl.
func (r *receiver) record(res release.ReloadResult, previous int) {
	r.state.update(func(s *release.State) { s.LastReload = &res })
	entry := release.LogEntry{
		Time: res.Finished, Kind: "reload", ID: res.ID, Result: "ok", Release: res.Release,
		Previous: previous, Seconds: seconds(res.Finished.Sub(res.Started)), Error: res.Error,
		Detail: fmt.Sprintf("healthy after %.2fs, drained %d, dropped %d", res.HealthyAfter, res.Drained, res.Dropped),
	}
	if !res.OK {
		entry.Result, entry.Step = "failed", "health"
		if res.Release == 0 {
			entry.Step = "resolve" // current names nothing to start
		}
		entry.Detail = strings.Join(lastN(res.LogTail, 5), "\n")
	}
	if err := release.AppendLog(r.fsys, r.l, entry); err != nil {
		r.log.Error("cannot append to the audit log", "path", r.l.Log(), "err", err)
	}
}

// shutdown stops serving within the stop timeout: the public listener closes
// and in-flight requests get half of it, the app the rest.
func (r *receiver) shutdown(closeListener func(context.Context) error) {
	begin := time.Now()
	if closeListener != nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.StopTimeout/2)
		if err := closeListener(ctx); err != nil {
			r.log.Warn("requests still in flight at shutdown", "err", err)
		}
		cancel()
	}
	if r.cur == nil {
		return
	}
	inst := r.cur
	r.cur = nil
	grace := max(r.opts.StopTimeout-time.Since(begin), r.opts.StopTimeout/2)
	err := inst.proc.Stop(context.Background(), grace)
	attrs := []any{"release", inst.release, "pid", inst.proc.PID(), "took", time.Since(begin).Round(time.Millisecond)}
	if err != nil {
		r.log.Warn("app stopped at shutdown", append(attrs, "err", err)...)
		return
	}
	r.log.Info("app stopped at shutdown", append(attrs, "status", inst.proc.Wait().String())...)
}

func seconds(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond)) / float64(time.Second)
}

func lastN(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
