package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
)

// ErrNoTarget means there is no release to roll back to.
var ErrNoTarget = errors.New("no release to roll back to")

// RollbackOptions is one roll back on one host.
type RollbackOptions struct {
	Root    string
	To      int // 0: the newest good release older than current
	Wait    time.Duration
	By      string
	Command string
	Out     io.Writer
}

// RollbackResult says where current went.
type RollbackResult struct {
	Target string                `json:"target"`
	From   int                   `json:"from"`
	To     int                   `json:"to"`
	Reload *release.ReloadResult `json:"reload,omitempty"`
}

// Rollback points current at an older finished release and asks the
// receiver to serve it. It takes the deploy lock, so it never races a deploy.
func Rollback(ctx context.Context, h host.Host, opts RollbackOptions) (*RollbackResult, error) {
	if opts.Root == "" {
		opts.Root = DefaultRoot
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	l := release.Layout{Root: opts.Root}
	id := newID()
	info := release.LockInfo{ID: id, Who: opts.By, From: hostname(), PID: os.Getpid(), Command: opts.Command, Since: time.Now().UTC()}
	if err := release.Lock(h, l, info); err != nil {
		return nil, fmt.Errorf("roll back on %s: %w", h, err)
	}
	defer func() {
		if err := release.Unlock(h, l, id); err != nil {
			fmt.Fprintf(opts.Out, "  warning: %v\n", err)
		}
	}()

	snap, err := release.Read(h, l)
	if err != nil {
		return nil, fmt.Errorf("read releases on %s: %w", h, err)
	}
	res := &RollbackResult{Target: h.String(), From: snap.Current}
	target, err := pickRollback(snap, opts.To)
	if err != nil {
		return nil, err
	}
	res.To = target.Number
	if err := release.SwapCurrent(h, l, target.Number); err != nil {
		return nil, fmt.Errorf("switch current to release %d on %s: %w", target.Number, h, err)
	}
	fmt.Fprintf(opts.Out, "  current → releases/%d (was %d)\n", target.Number, snap.Current)

	logEntry := release.LogEntry{Kind: "rollback", ID: id, Release: target.Number, Previous: snap.Current,
		By: opts.By, Result: "ok", Commit: target.Info.Commit, Ref: target.Info.Ref}
	defer func() {
		logEntry.Time = time.Now().UTC()
		_ = release.AppendLog(h, l, logEntry)
	}()

	st, _ := release.ReadState(h, l)
	if err := release.WriteReload(h, l, release.ReloadRequest{ID: id, Release: target.Number}); err != nil {
		return res, fmt.Errorf("current is on release %d, but writing releases/RELOAD failed: %w", target.Number, err)
	}
	if opts.Wait <= 0 || !st.Alive(time.Now()) {
		fmt.Fprintf(opts.Out, "  reload requested; no receiver answer awaited\n")
		return res, nil
	}
	rr, err := waitForReload(ctx, h, l, id, opts.Wait)
	if err != nil {
		logEntry.Result, logEntry.Error = "failed", err.Error()
		return res, fmt.Errorf("current is on release %d, but %w", target.Number, err)
	}
	res.Reload = rr
	if !rr.OK {
		// Not swapped back: the receiver kept serving what it served, and the
		// person asked for this release; say so and let them choose.
		logEntry.Result, logEntry.Error = "failed", rr.Error
		return res, fmt.Errorf("%w: release %d: %s (the receiver kept serving the release it had; current is on %d)",
			ErrUnhealthy, target.Number, rr.Error, target.Number)
	}
	fmt.Fprintf(opts.Out, "  reload    healthy after %.1fs · drained %d · %d dropped\n", rr.HealthyAfter, rr.Drained, rr.Dropped)
	return res, nil
}

func pickRollback(snap *release.Snapshot, to int) (release.Release, error) {
	if to == 0 {
		r, ok := snap.Previous()
		if !ok {
			return r, fmt.Errorf("%w: no finished, good release older than %d", ErrNoTarget, snap.Current)
		}
		return r, nil
	}
	r, ok := snap.Find(to)
	switch {
	case !ok:
		return r, fmt.Errorf("%w: release %d does not exist", ErrNoTarget, to)
	case !r.Finished():
		return r, fmt.Errorf("%w: release %d is unfinished (its build failed or is running)", ErrNoTarget, to)
	case r.Bad != nil:
		return r, fmt.Errorf("%w: release %d is marked bad (%s); remove %s to allow it", ErrNoTarget, to, r.Bad.Reason, ".ship/bad.json")
	case to == snap.Current:
		return r, fmt.Errorf("%w: release %d is already current", ErrNoTarget, to)
	}
	return r, nil
}
