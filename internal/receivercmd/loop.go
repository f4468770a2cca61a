package receivercmd

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/shipdeploy/ship/internal/proxy"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/supervise"
)

// logTailLines is how many of a failed instance's last output lines go into
// an answer.
const logTailLines = 20

// settleDelay is the pause between a reload trigger and reading RELOAD: a
// hand-made RELOAD (echo > RELOAD) is created empty and then written.
const settleDelay = 30 * time.Millisecond

// defaultStageTimeout: a staged release not committed within this is
// stopped and recorded as aborted (ship died between its two phases).
const defaultStageTimeout = 10 * time.Minute

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

// receiver is the loop's state. Only the loop goroutine touches it; work
// that takes time (a health check, a drain) runs in goroutines that report
// back on channels.
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

	cur     *instance    // serving
	staged  *stage       // at most one release out of traffic
	restart *restartPlan // nothing serves: start again at
	maint   maintenanceState

	started chan startResult  // health checks that ended
	retired chan retireResult // drains that ended
	busy    sync.WaitGroup    // goroutines that stop processes
}

// loop runs until ctx ends: it serves what current points to, takes
// requests (STAGE, COMMIT, ABORT, RELOAD, SIGHUP), and watches the serving
// instance, the staged one and a due restart.
func (r *receiver) loop(ctx context.Context) error {
	r.started = make(chan startResult, 4)
	r.retired = make(chan retireResult, 4)
	r.boot(ctx)
	stable := time.NewTicker(r.heartbeat())
	defer stable.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.trig.c:
			// ship's requests are renamed into place whole; a hand-made
			// RELOAD may still be being written: give it a moment.
			if _, err := os.Lstat(r.l.Reload()); err == nil && !sleepCtx(ctx, settleDelay) {
				return nil
			}
			r.takeRequests(ctx)
		case <-r.trig.maint:
			r.checkMaintenance()
		case res := <-r.started:
			r.startDone(ctx, res)
		case res := <-r.retired:
			r.drainDone(res)
		case <-r.curExited():
			r.exited()
		case <-r.stagedExited():
			r.stagedDied()
		case <-r.restartDue():
			r.doRestart(ctx)
		case <-r.stageExpired():
			r.expire()
		case <-r.commitDue():
			r.commitStage(ctx, r.staged)
		case <-stable.C:
			r.checkStable()
			r.checkMaintenance() // the safety net under the watcher
		}
	}
}

func (r *receiver) curExited() <-chan struct{} {
	if r.cur == nil {
		return nil
	}
	return r.cur.proc.Done()
}

func (r *receiver) stagedExited() <-chan struct{} {
	if s := r.staged; s != nil && s.inst != nil && s.healthy {
		return s.inst.proc.Done()
	}
	return nil
}

func (r *receiver) restartDue() <-chan time.Time {
	if r.restart == nil {
		return nil
	}
	return time.After(time.Until(r.restart.at))
}

func (r *receiver) stageExpired() <-chan time.Time {
	if r.staged == nil || r.staged.commit || !r.staged.commitAt.IsZero() {
		return nil
	}
	return time.After(time.Until(r.staged.deadline))
}

func (r *receiver) heartbeat() time.Duration {
	if r.opts.Heartbeat > 0 {
		return r.opts.Heartbeat
	}
	return release.HeartbeatInterval
}

// boot serves what is there at start: a waiting RELOAD, or current.
func (r *receiver) boot(ctx context.Context) {
	if back := takeBackAside(r.l); len(back) > 0 {
		r.log.Warn("requests a killed receiver had moved aside are taken again", "kinds", back)
	}
	r.answerOrphans()
	if _, ok, _ := readRequest(r.l, release.RequestReload); ok {
		r.takeRequests(ctx)
		return
	}
	dir, n, err := resolveCurrent(r.l)
	if err != nil {
		r.log.Warn("nothing to serve yet: waiting for a deploy", "err", err)
		r.takeRequests(ctx) // a STAGE may already wait
		return
	}
	r.beginStage(ctx, &stage{release: n, dir: dir, commit: true, boot: true})
}

func (r *receiver) copySupervision(s *release.State) {
	s.Restarts = r.backoff.Restarts()
	s.CrashLoop = r.backoff.CrashLoop()
	s.LastExit = r.backoff.LastExit()
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
