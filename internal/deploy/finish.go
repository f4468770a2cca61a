package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
)

// finishTimeout bounds the last trip (prune, log, unlock) even when the
// deploy's own context is already cancelled: the lock must not leak.
const finishTimeout = 30 * time.Second

// pollInterval is how often ship reads state.json while it waits.
const pollInterval = 200 * time.Millisecond

// failed handles a build-script error: report where, free the lock, log.
func (r *run) failed(ctx context.Context, err error) error {
	var locked *release.LockedError
	if errors.As(err, &locked) {
		return &StepError{Step: StageLock, Target: r.h.String(), Current: r.survey.Current, Err: locked}
	}
	r.mu.Lock()
	step := r.stage
	if step == "" {
		step = StageLock
	}
	d := time.Since(r.stageStart)
	out := append([]string(nil), r.out.lines...)
	switched := r.switched
	r.mu.Unlock()

	r.opts.Report.StageFailed(step, d, "", out)
	current := r.survey.Current
	if switched {
		// The failure came after the switch (writing RELOAD): put the old
		// release back so nothing half-done is live.
		if r.survey.Current > 0 {
			if serr := release.SwapCurrent(r.h, r.p.layout, r.survey.Current); serr != nil {
				err = fmt.Errorf("%w; switching back to release %d also failed: %v", err, r.survey.Current, serr)
				current = r.res.Release
			}
		} else {
			current = r.res.Release
		}
	}
	r.cleanup(ctx, release.LogEntry{Result: "failed", Step: step, Error: err.Error()}, nil)
	return &StepError{Step: step, Target: r.h.String(), Release: r.res.Release, Current: current, Output: tail(out, 12), Err: err}
}

// awaitReload waits for the receiver's answer to our RELOAD and rolls back
// when it is no.
func (r *run) awaitReload(ctx context.Context) error {
	start := r.reloadStart
	alive := r.state.Alive(r.hostNow())
	if r.opts.Wait <= 0 || !alive {
		note := "requested; not waiting (--wait 0)"
		if !alive {
			note = "no receiver running (no fresh .ship/state.json): the app was not reloaded"
		}
		r.addStage(StageReload, time.Since(start), note)
		return nil
	}
	res, err := r.waitFor(ctx, r.p.id, r.opts.Wait)
	if err == nil && res.OK {
		r.res.Reload = res
		r.addStage(StageReload, time.Since(start), fmt.Sprintf("healthy after %.1fs · drained %d requests · %d dropped", res.HealthyAfter, res.Drained, res.Dropped))
		return nil
	}
	reason := "did not answer"
	var logTail []string
	if err != nil {
		reason = err.Error()
	} else {
		reason, logTail = res.Error, res.LogTail
		r.res.Reload = res
	}
	r.opts.Report.StageFailed(StageReload, time.Since(start), reason, logTail)
	back := r.rollBack(ctx, reason)
	return &StepError{Step: StageReload, Target: r.h.String(), Release: r.res.Release, Current: back, Output: tail(logTail, 12),
		Err: fmt.Errorf("%w: %s", ErrUnhealthy, reason)}
}

// rollBack returns current to the previous release after a refused reload,
// marks the new one bad, and asks the receiver to serve the old one again
// (it never stopped, but the request makes state.json say so). It returns
// the release current points to afterwards.
func (r *run) rollBack(ctx context.Context, reason string) int {
	l, n, prev := r.p.layout, r.res.Release, r.survey.Current
	if err := release.MarkBad(r.h, l, n, release.Bad{Reason: reason, At: time.Now().UTC()}); err != nil {
		r.opts.Report.Note(fmt.Sprintf("warning: could not mark release %d bad: %v", n, err))
	}
	if prev == 0 {
		r.cleanup(ctx, release.LogEntry{Result: "failed", Step: StageReload, Error: reason}, nil)
		return n
	}
	current := n
	if err := release.SwapCurrent(r.h, l, prev); err != nil {
		r.opts.Report.Note(fmt.Sprintf("error: could not switch current back to release %d: %v", prev, err))
	} else {
		current = prev
		// The receiver kept the old release serving while the new one
		// failed; only when it serves something else is a reload needed.
		if st, _ := release.ReadState(r.h, l); st == nil || st.Serving == nil || st.Serving.Release != prev {
			id := newID()
			if err := release.WriteReload(r.h, l, release.ReloadRequest{ID: id, Release: prev}); err == nil {
				if res, err := r.waitFor(ctx, id, r.opts.Wait); err != nil || !res.OK {
					r.opts.Report.Note(fmt.Sprintf("warning: the receiver did not confirm release %d after the roll back", prev))
				}
			}
		}
	}
	r.cleanup(ctx, release.LogEntry{Result: "failed", Step: StageReload, Error: reason, Detail: fmt.Sprintf("rolled back to %d", current)}, nil)
	return current
}

func (r *run) waitFor(ctx context.Context, id string, limit time.Duration) (*release.ReloadResult, error) {
	return waitForReload(ctx, r.h, r.p.layout, id, limit)
}

// waitForReload polls state.json until the receiver records a result for id.
func waitForReload(ctx context.Context, fsys release.FS, l release.Layout, id string, limit time.Duration) (*release.ReloadResult, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		st, err := release.ReadState(fsys, l)
		if err == nil && st != nil && st.LastReload != nil && st.LastReload.ID == id {
			return st.LastReload, nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("the receiver did not answer within %s", limit)
			}
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// finish prunes, logs and unlocks after a good deploy.
func (r *run) finish(ctx context.Context) error {
	start := time.Now()
	snap := r.survey
	snap.Releases = append(snap.Releases, release.Release{Number: r.res.Release, Info: &release.Info{}})
	protect := []int{r.res.Release, r.survey.Current}
	if r.state != nil && r.state.Serving != nil {
		protect = append(protect, r.state.Serving.Release)
	}
	pl := release.PlanPrune(&snap, r.opts.Keep, 0, protect...)
	r.res.Kept, r.res.Removed = pl.Keep, pl.Remove
	if err := r.cleanup(ctx, release.LogEntry{Result: "ok"}, pl.Remove); err != nil {
		return &StepError{Step: StagePrune, Target: r.h.String(), Release: r.res.Release, Current: r.res.Release,
			Err: fmt.Errorf("release %d is live, but pruning or unlocking failed: %w (run `ship unlock` if the lock stayed)", r.res.Release, err)}
	}
	r.addStage(StagePrune, time.Since(start), pruneNote(pl.Remove, pl.Keep))
	return nil
}

// cleanup is the last trip: remove releases, append the audit line, unlock.
func (r *run) cleanup(ctx context.Context, e release.LogEntry, remove []int) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	e.Time = time.Now().UTC()
	e.Kind, e.ID, e.Release, e.Previous = "deploy", r.p.id, r.res.Release, r.survey.Current
	e.Commit, e.Ref, e.By = r.res.Commit, r.opts.Ref, r.opts.By
	e.Seconds = time.Since(r.start).Seconds()
	_, err := host.Output(ctx, r.h, finishScript(r.p.layout, r.p.id, remove, release.MarshalLine(e)))
	return err
}

func (r *run) addStage(name string, d time.Duration, note string) {
	st := StageResult{Name: name, Duration: d, Note: note}
	r.res.Stages = append(r.res.Stages, st)
	r.opts.Report.StageDone(st, nil)
}

// hostNow is the host's clock as the script saw it, so a heartbeat is
// judged by the clock that wrote it.
func (r *run) hostNow() time.Time {
	if r.hostClock.IsZero() {
		return time.Now()
	}
	return r.hostClock
}

func tail(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

func pruneNote(removed, kept []int) string {
	note := "kept " + joinInts(kept)
	if len(removed) > 0 {
		note = fmt.Sprintf("removed %s · %s", joinInts(removed), note)
	}
	return note
}
