package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
)

// How the host is told to reach the receiver (the MODE of `go`).
const (
	modeStage  = "stage"  // a live receiver stages, then commits
	modeReload = "reload" // --wait 0: ask for a reload after the switch, do not wait
	modeNone   = "none"   // no receiver runs: switch only
)

// Bounds of the fleet's own waits, beyond what the hosts bound.
const (
	// abortWait: how long ship waits for hosts to confirm an abort (the
	// receiver's confirmation is bounded by ackWait on the host).
	abortWait = (ackWait + 10) * time.Second
	// commitWait: how long a host may take from `commit` to done.
	commitWait = (ackWait + drainWait + 30) * time.Second
	// finishWait: how long ship waits for a host's run to return at the end.
	finishWait = 10 * time.Second
)

// Target is one host of a run: its name for people, and how to connect.
type Target struct {
	Name string
	Dial func(ctx context.Context) (host.Host, error)
}

// HostTarget is a Target over a host that is already connected.
func HostTarget(h host.Host) Target {
	return Target{Name: h.String(), Dial: func(context.Context) (host.Host, error) { return h, nil }}
}

// fleet is one run over several hosts, in two phases: every host prepares
// (lock, build, stage), and only when all are ready does any switch.
type fleet struct {
	opts   Options
	p      *plan
	rep    Reporter
	runs   []*hostRun
	upload *os.File
	size   int64
	start  time.Time
	number int // the release, the same on every host
}

func newFleet(targets []Target, opts Options, p *plan) *fleet {
	f := &fleet{opts: opts, p: p, rep: opts.Report, start: time.Now()}
	for _, t := range targets {
		f.runs = append(f.runs, newHostRun(t, p, f.rep))
	}
	return f
}

// run takes the fleet through both phases. It returns when every host has
// finished, or the run failed and every host was told to stop.
func (f *fleet) run(ctx context.Context) error {
	if err := f.connect(ctx); err != nil {
		return err
	}
	if err := f.surveyed(ctx); err != nil {
		return err
	}
	groups := [][]*hostRun{f.runs}
	if f.opts.Canary && len(f.runs) > 1 {
		groups = [][]*hostRun{f.runs[:1], f.runs[1:]}
	}
	for i, g := range groups {
		if err := f.prepare(ctx, g); err != nil {
			return err
		}
		if err := f.commit(ctx, g); err != nil {
			return err
		}
		if i == 0 && len(groups) > 1 {
			f.rep.Note("", fmt.Sprintf("canary %s is on release %d: the other %d hosts follow", g[0].name, f.number, len(f.runs)-1))
		}
	}
	return nil
}

// connect dials every host and starts its script, all at once. A host that
// cannot be reached fails the run before anything changed.
func (f *fleet) connect(ctx context.Context) error {
	errs := make([]error, len(f.runs))
	var wg sync.WaitGroup
	for i, r := range f.runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := r.t.Dial(ctx)
			if err != nil {
				errs[i] = err
				return
			}
			// The script's life is not ctx's: it is ended by words (abort)
			// or by its input closing, so that it can unwind cleanly.
			r.start(context.WithoutCancel(ctx), h, f.uploadReader(), f.size)
		}()
	}
	wg.Wait()
	var failed []string
	for i, err := range errs {
		if err != nil {
			f.runs[i].never(err)
			failed = append(failed, fmt.Sprintf("%s: %v", f.runs[i].name, err))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	err := fmt.Errorf("cannot reach %s", strings.Join(failed, "; "))
	f.abort(ctx, "another host cannot be reached")
	return f.failure(err, false)
}

// uploadReader is the packed upload, or a nil interface (not a nil *os.File).
func (f *fleet) uploadReader() io.ReaderAt {
	if f.upload == nil {
		return nil
	}
	return f.upload
}

// surveyed waits until every host holds its lock and has looked around,
// then settles the release number: one more than the highest on any host.
func (f *fleet) surveyed(ctx context.Context) error {
	ends := f.each(f.runs, func(r *hostRun) (event, error) { return r.wait(ctx, evNext) })
	var locked *LockedError
	var firstErr error
	for i, r := range f.runs {
		e, err := ends[i].e, ends[i].err
		switch {
		case err == nil && e.Kind == evNext:
			f.number = max(f.number, e.N)
		case err == nil && e.Kind == evLocked:
			r.res.Outcome = OutcomeLocked
			if locked == nil {
				locked = &LockedError{}
			}
			locked.Hosts = append(locked.Hosts, r.name)
			locked.Holders = append(locked.Holders, e.Holder)
		case firstErr == nil:
			firstErr = f.hostErr(r, e, err)
		}
	}
	if locked != nil {
		sortLocked(locked)
		locked.Collision = len(locked.Hosts) < len(f.runs) && firstErr == nil && startedTogether(locked.Holders)
		f.abort(ctx, "another host is locked")
		return f.failure(locked, false)
	}
	if firstErr != nil {
		f.abort(ctx, "another host failed")
		return f.failure(firstErr, false)
	}
	if f.p.mode == "rollback" {
		return f.pickRollback()
	}
	if f.opts.Number > 0 {
		f.number = f.opts.Number // a retry: the fleet's number
	}
	return nil
}

// prepare builds (or, in a rollback, checks) the release on the hosts of g
// and stages it, at most --parallel hosts at a time. With a release
// command there is one more sync point between the two: once every host
// of g is built, the fleet's first host runs it (in the group that holds
// that host), and only when it succeeded do the hosts stage. On the first
// failure every host of the fleet is told to stop.
func (f *fleet) prepare(ctx context.Context, g []*hostRun) error {
	if f.p.release == "" {
		return f.phase(ctx, g, evStaged, f.prepareOne)
	}
	if err := f.phase(ctx, g, evBuilt, f.build); err != nil {
		return err
	}
	var ran *hostRun
	if g[0] == f.runs[0] {
		ran = g[0]
		if err := f.release(ctx, ran); err != nil {
			return f.stop(ctx, err, ran)
		}
	}
	return f.phase(ctx, g, evStaged, func(ctx context.Context, r *hostRun) (event, error) {
		if r != ran {
			r.mu.Lock()
			r.releasedOn = f.runs[0].name
			r.mu.Unlock()
			r.sayRelease("skip")
		}
		return f.staged(ctx, r)
	})
}

// phase runs fn on every host of g, at most --parallel at a time, until
// each reached the milestone want. On the first failure every host of the
// fleet is told to stop.
func (f *fleet) phase(ctx context.Context, g []*hostRun, want eventKind, fn func(context.Context, *hostRun) (event, error)) error {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	slots := make(chan struct{}, f.parallel())
	var once sync.Once
	var first error
	var culprit *hostRun
	f.each(g, func(r *hostRun) (event, error) {
		select {
		case slots <- struct{}{}:
		case <-pctx.Done():
			return event{}, pctx.Err()
		}
		defer func() { <-slots }()
		e, err := fn(pctx, r)
		if err == nil && e.Kind != want {
			err = f.hostErr(r, e, nil)
		}
		if err != nil {
			once.Do(func() { first, culprit = err, r; cancel() })
		}
		return e, err
	})
	if first == nil {
		return nil
	}
	return f.stop(ctx, first, culprit)
}

// stop tells every host to stop after culprit failed with err (or ctx
// ended) before any host switched.
func (f *fleet) stop(ctx context.Context, err error, culprit *hostRun) error {
	reason := fmt.Sprintf("stopped: %s failed", culprit.name)
	if ctx.Err() != nil {
		err, culprit = fmt.Errorf("%w: stopped before any host switched", ErrInterrupted), nil
	}
	f.abort(ctx, reason)
	if culprit != nil {
		culprit.blame(err)
	}
	return f.failure(err, false)
}

// prepareOne tells r the release number and waits until it is staged.
func (f *fleet) prepareOne(ctx context.Context, r *hostRun) (event, error) {
	e, err := f.build(ctx, r)
	if err != nil || e.Kind != evBuilt {
		return e, err
	}
	return f.staged(ctx, r)
}

// build tells r the release number and waits until it is built.
func (f *fleet) build(ctx context.Context, r *hostRun) (event, error) {
	r.goAhead(f.number, f.modeFor(r))
	return r.wait(ctx, evBuilt)
}

// release has r run the release command, and waits until it succeeded.
// Nothing bounds it but ctx: a migration takes what it takes, and the
// reporter says it is still running.
func (f *fleet) release(ctx context.Context, r *hostRun) error {
	r.sayRelease("run")
	e, err := r.wait(ctx, evReleased)
	if err == nil && e.Kind != evReleased {
		err = f.hostErr(r, e, nil)
	}
	return err
}

// staged waits until r's release is staged and healthy, bounded by --wait.
func (f *fleet) staged(ctx context.Context, r *hostRun) (event, error) {
	r.mu.Lock()
	mode := r.mode
	r.mu.Unlock()
	wctx := ctx
	if mode == modeStage {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, f.opts.Wait)
		defer cancel()
	}
	e, err := r.wait(wctx, evStaged)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return e, fmt.Errorf("%w: release %d on %s was not healthy within --wait %s", ErrUnhealthy, f.number, r.name, f.opts.Wait)
	}
	return e, err
}

func (f *fleet) modeFor(r *hostRun) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case f.opts.Wait <= 0:
		return modeReload
	case !r.state.Alive(r.hostNow):
		return modeNone
	}
	return modeStage
}

func (f *fleet) parallel() int {
	if f.opts.Parallel > 0 {
		return f.opts.Parallel
	}
	return len(f.runs)
}

// commit tells every host of g to switch, all at once, and waits for them
// to finish.
func (f *fleet) commit(ctx context.Context, g []*hostRun) error {
	moment := time.Now().Add(commitLead(g))
	for _, r := range g {
		at := ""
		if len(g) > 1 {
			at = fmt.Sprintf("at=%d ", r.hostMoment(moment).UnixMilli())
		}
		r.say("commit " + at + joinInts(r.prunePlan(f.opts.Keep)))
	}
	// Once `commit` is out, the hosts finish by themselves: an interrupt
	// does not stop the wait (it is bounded by commitWait).
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitWait)
	defer cancel()
	ends := f.each(g, func(r *hostRun) (event, error) { return r.wait(cctx, evDone) })
	var first error
	for i, r := range g {
		if ends[i].err == nil && ends[i].e.Kind == evDone {
			continue
		}
		err := f.learn(ctx, r, ends[i].e, ends[i].err)
		if err != nil && r.unwound() {
			err = f.retry(ctx, r)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	if first == nil {
		return nil
	}
	return f.failure(first, true)
}

// abort tells every host still running to stop, and waits (bounded) for
// each to confirm.
func (f *fleet) abort(ctx context.Context, reason string) {
	if ctx.Err() != nil {
		reason = "interrupted: ship was stopped (Ctrl-C or SIGTERM)"
	}
	reason = strings.ReplaceAll(reason, "\n", " ")
	for _, r := range f.runs {
		r.say("abort " + reason)
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortWait)
	defer cancel()
	f.each(f.runs, func(r *hostRun) (event, error) {
		e, err := r.wait(actx, evAborted)
		if err != nil {
			r.mu.Lock()
			if r.res.Outcome == "" {
				r.res.Outcome, r.res.Error = OutcomeAborted, "told to stop; no confirmation within "+abortWait.String()+" (the host unwinds by itself)"
			}
			r.mu.Unlock()
		}
		return e, err
	})
}

type end struct {
	e   event
	err error
}

// each runs fn for every run of g at once and returns their ends, in order.
func (f *fleet) each(g []*hostRun, fn func(*hostRun) (event, error)) []end {
	ends := make([]end, len(g))
	var wg sync.WaitGroup
	for i, r := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := fn(r)
			ends[i] = end{e, err}
		}()
	}
	wg.Wait()
	return ends
}

// hostErr is the error of a host whose run ended with e (or err).
func (f *fleet) hostErr(r *hostRun, e event, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", r.name, err)
	case e.Kind == evFail:
		if strings.Contains(e.Text, "did not become healthy") {
			return fmt.Errorf("%w: %s on %s", ErrUnhealthy, e.Text, r.name)
		}
		return fmt.Errorf("%s failed on %s: %s", r.failedStage(), r.name, e.Text)
	case e.Kind == evAborted:
		return fmt.Errorf("%s stopped: %s", r.name, e.Text)
	case e.Kind == evExit:
		return fmt.Errorf("%s: the deploy script ended early: %v", r.name, r.exitErr())
	}
	return fmt.Errorf("%s: unexpected %v", r.name, e.Kind)
}

// startedTogether reports whether every holder started less than
// collisionAge ago (by its clock): a deploy that began with this one.
func startedTogether(holders []*release.LockInfo) bool {
	for _, h := range holders {
		if h == nil || time.Since(h.Since).Abs() > collisionAge {
			return false
		}
	}
	return true
}

// sortLocked puts the locked hosts in sorted order, so that the one named
// first is the same whatever order the answers came in.
func sortLocked(l *LockedError) {
	idx := make([]int, len(l.Hosts))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return l.Hosts[idx[a]] < l.Hosts[idx[b]] })
	hosts, holders := make([]string, len(idx)), make([]*release.LockInfo, len(idx))
	for i, j := range idx {
		hosts[i], holders[i] = l.Hosts[j], l.Holders[j]
	}
	l.Hosts, l.Holders = hosts, holders
}

// retry runs the release again on a host that did not take the switch (its
// connection broke before the word reached it, so it unwound while the
// others switched): alone, with the same release number.
func (f *fleet) retry(ctx context.Context, r *hostRun) error {
	f.rep.Note(r.name, fmt.Sprintf("did not take the switch; running release %d there again", f.number))
	opts := f.opts
	opts.Number, opts.To, opts.Canary, opts.Parallel = f.number, f.number, false, 0
	opts.Report = quietEnd{f.rep}
	p := *f.p
	p.release, p.releasedOn = "", f.runs[0].name // it ran, once, for the fleet
	res, err := runFleet(ctx, []Target{r.t}, opts, &p, func(g *fleet) { g.upload, g.size = f.upload, f.size })
	if err != nil {
		return fmt.Errorf("%s did not take the switch, and running release %d there again failed: %w", r.name, f.number, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	again := res.Hosts[0]
	again.Target, again.Retried = r.name, true
	r.res = *again
	r.staged, r.committed, r.drained = again.Staged, again.Switch, nil
	return nil
}

// quietEnd passes a reporter on, but for the end of a retry's run: the
// fleet's own end says how it went.
type quietEnd struct{ Reporter }

func (quietEnd) End(*FleetResult, error) {}

// commitLead is how far ahead the fleet's switch moment is set: time for
// the word to reach every host and for each to rename current and write
// its request. The word takes half a round trip; the lead is a whole one
// (the slowest host's shortest ping to pong: its link, not a moment the
// host was busy building) and 25ms more. So the fleet waits about that
// much beyond the slowest host's own arrival, and every receiver moves
// traffic at the same moment, not when its word arrived; one whose word
// comes late switches at once.
func commitLead(g []*hostRun) time.Duration {
	var rtt time.Duration
	for _, r := range g {
		r.mu.Lock()
		rtt = max(rtt, r.rtt)
		r.mu.Unlock()
	}
	return min(25*time.Millisecond+rtt, 2*time.Second)
}
