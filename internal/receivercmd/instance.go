package receivercmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shipdeploy/ship/internal/proxy"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/supervise"
)

// spawn starts the app in dir, without waiting for it to be healthy.
func (r *receiver) spawn(ctx context.Context, dir string, n int) (*instance, error) {
	port, host := r.publicPort, r.healthHost
	if r.proxy != nil {
		var err error
		if port, err = supervise.FreePort(); err != nil {
			return nil, err
		}
		host = "127.0.0.1"
	}
	proc, err := supervise.Start(ctx, supervise.Spec{Dir: dir, Command: r.opts.Start, Port: port, Host: appHost(r.opts.Mode), Output: r.appOut})
	if err != nil {
		return nil, err
	}
	r.log.Info("app starting", "release", n, "pid", proc.PID(), "port", port)
	inst := &instance{proc: proc, release: n, dir: dir, addr: net.JoinHostPort(host, strconv.Itoa(port))}
	if r.proxy != nil {
		inst.backend = proxy.NewBackend(inst.addr)
	}
	return inst, nil
}

// startInstance starts the app in dir and waits until it is healthy,
// bounded by the start timeout. A process that does not become healthy is
// stopped. (Restarts and restart mode; stages check health in a goroutine.)
func (r *receiver) startInstance(ctx context.Context, dir string, n int) (*instance, error) {
	hctx, cancel := context.WithTimeout(ctx, r.opts.StartTimeout)
	defer cancel()
	for try := 0; ; try++ {
		inst, err := r.spawn(ctx, dir, n)
		if err != nil {
			return nil, err
		}
		err = supervise.WaitHealthy(hctx, inst.proc, inst.addr, r.opts.HealthPath)
		if err == nil {
			return inst, nil
		}
		r.stop(inst)
		if !r.otherPort(err, try, n) {
			return nil, err
		}
	}
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
// timeout), then stops it. It returns how many requests it drained. It
// runs outside the loop.
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

// stopAsync stops inst in a goroutine and then calls then (if any).
func (r *receiver) stopAsync(inst *instance, then func()) {
	r.busy.Add(1)
	go func() {
		defer r.busy.Done()
		r.stop(inst)
		if then != nil {
			then()
		}
	}()
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

// commitRestart is the switch in restart mode (the seed's behaviour): stop,
// then start on the public port. If the new release fails, the old one is
// started again.
func (r *receiver) commitRestart(ctx context.Context, s *stage) {
	a := release.Answer{Release: s.release, Note: s.note}
	old := r.cur
	if old != nil {
		r.cur = nil
		r.stop(old)
	}
	inst, err := r.startInstance(ctx, s.dir, s.release)
	if err != nil {
		a.Error, a.LogTail = fmt.Sprintf("release %d: %v", s.release, err), tailOf(err)
		r.log.Error("release not healthy", "id", s.id, "release", s.release, "err", err)
		if old != nil && ctx.Err() == nil {
			r.startAgain(ctx, old, &a)
		}
		r.answer(s.id, release.AnswerFailed, a)
		if s.record {
			r.record(release.ReloadResult{ID: s.id, Release: s.release, Error: a.Error, LogTail: a.LogTail,
				Started: s.started.UTC(), Finished: time.Now().UTC()}, s.previous)
		}
		return
	}
	s.after = time.Since(inst.proc.Started())
	r.activate(inst, true)
	a.HealthyAfter, a.SwitchedAt = seconds(s.after), inst.since
	r.answer(s.id, release.AnswerCommitted, a)
	r.drainDone(retireResult{s: s, a: a})
}

// startAgain brings the previous release back after a failed restart-mode
// switch, or plans a restart of it.
func (r *receiver) startAgain(ctx context.Context, old *instance, a *release.Answer) {
	back, err := r.startInstance(ctx, old.dir, old.release)
	if err != nil {
		r.log.Error("cannot start the previous release again", "release", old.release, "err", err)
		r.restart = &restartPlan{dir: old.dir, release: old.release, at: time.Now().Add(r.backoff.Failed(err.Error()))}
		return
	}
	r.activate(back, false)
	a.Error += fmt.Sprintf("; release %d started again", old.release)
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

// scheduleRestartOfCurrent plans a start of current after a failed start
// with nothing serving, so that a transient failure (a database down at
// boot) heals.
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

// record writes a reload's outcome to log.jsonl, then state.json.
func (r *receiver) record(res release.ReloadResult, previous int) {
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
	// The log line first: whoever sees the result in state.json finds it.
	r.state.update(func(s *release.State) { s.LastReload = &res })
}

// shutdown stops serving within the stop timeout: the public listener closes
// and in-flight requests get half of it, the app the rest. A staged
// instance and draining ones stop too.
func (r *receiver) shutdown(closeListener func(context.Context) error) {
	begin := time.Now()
	if s := r.staged; s != nil && s.inst != nil {
		r.stopAsync(s.inst, nil)
	}
	if closeListener != nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.StopTimeout/2)
		if err := closeListener(ctx); err != nil {
			r.log.Warn("requests still in flight at shutdown", "err", err)
		}
		cancel()
	}
	defer r.busy.Wait()
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

// tailOf is the app's last output carried by a failed health check.
func tailOf(err error) []string {
	var he *supervise.HealthError
	if errors.As(err, &he) {
		return lastN(he.Tail, logTailLines)
	}
	return nil
}
