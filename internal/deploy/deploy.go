package deploy

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
)

// Deploy makes a new release on one connected host and switches to it: a
// fleet of one.
func Deploy(ctx context.Context, h host.Host, opts Options) (*Result, error) {
	res, err := Fleet(ctx, []Target{HostTarget(h)}, opts)
	if res == nil || len(res.Hosts) == 0 {
		return nil, err
	}
	return res.Hosts[0], err
}

// Fleet deploys one new release to every target, in two phases: each host
// locks, builds and stages the release (at most opts.Parallel at a time),
// and only when every host has it staged and healthy does any host switch;
// then all switch at once. A failure before that leaves every host as it
// was. With opts.LockWait, a run that finds a host locked is retried.
func Fleet(ctx context.Context, targets []Target, opts Options) (*FleetResult, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("%w: no hosts to deploy to", ErrBadInput)
	}
	p := newPlan(opts, "deploy")
	var upload *os.File
	var size int64
	if opts.Upload != "" {
		f, n, err := packTree(opts.Upload)
		if err != nil {
			return nil, fmt.Errorf("pack %s for upload: %w", opts.Upload, err)
		}
		defer os.Remove(f.Name())
		defer f.Close()
		upload, size = f, n
		p.uploadSize = n
	}
	opts.Report.Begin(Plan{Hosts: names(targets), Root: opts.Root, Source: describeSource(opts), Stages: stages})
	return runFleet(ctx, targets, opts, p, func(f *fleet) { f.upload, f.size = upload, size })
}

// A run that got some of the locks while a deploy that started with it got
// the others tries again at once, up to maxCollisions times (see
// LockedError.Collision); the holders' start is "with it" within
// collisionAge.
const (
	maxCollisions = 5
	collisionAge  = 30 * time.Second
)

// runFleet runs fleets until one is not stopped by a held lock, or
// opts.LockWait has passed (a collision is tried again without it).
func runFleet(ctx context.Context, targets []Target, opts Options, p *plan, setup func(*fleet)) (*FleetResult, error) {
	deadline := time.Now().Add(opts.LockWait)
	collisions := 0
	for noted := false; ; {
		p.id = newID()
		p.setID(opts)
		f := newFleet(targets, opts, p)
		setup(f)
		err := f.run(ctx)
		if err != nil && ctx.Err() != nil && !errors.Is(err, ErrInterrupted) {
			err = fmt.Errorf("%w: %w", ErrInterrupted, err)
		}
		f.close()
		res := f.result()
		if err == nil {
			opts.Report.End(res, nil)
			return res, nil
		}
		var le *LockedError
		if !errors.As(err, &le) {
			opts.Report.End(res, err)
			return res, err
		}
		wait := time.Second
		switch {
		case le.Collision && collisions < maxCollisions:
			// Two deploys started together, each got some locks, both
			// freed them: one of them should win, not both give up.
			if collisions++; collisions == 1 {
				opts.Report.Note("", fmt.Sprintf("another deploy took some of the locks at the same moment (%v): trying again", le))
			}
			wait = 100 * time.Millisecond
		case time.Now().After(deadline):
			opts.Report.End(res, err)
			return res, err
		case !noted:
			opts.Report.Note("", fmt.Sprintf("waiting for the lock (%v), up to %s", le, opts.LockWait))
			noted = true
		}
		// Jitter: two fleets that collide do not collide again.
		wait += time.Duration(rand.IntN(500)) * time.Millisecond
		select {
		case <-ctx.Done():
			err = fmt.Errorf("%w while waiting for the lock", ErrInterrupted)
			opts.Report.End(res, err)
			return res, err
		case <-time.After(wait):
		}
	}
}

// close ends every host's run: the scripts that wait see their input end
// and unwind; the connections close.
func (f *fleet) close() {
	f.each(f.runs, func(r *hostRun) (event, error) {
		r.finish(finishWait)
		if r.h != nil {
			r.h.Close()
		}
		return event{}, nil
	})
}

// result is the run as it stands.
func (f *fleet) result() *FleetResult {
	res := &FleetResult{Kind: f.p.mode, Release: f.number, Ref: f.opts.Ref, Commit: f.opts.Commit}
	for _, r := range f.runs {
		h := r.result(f.start)
		if h.Outcome == "" {
			h.Outcome = OutcomeAborted
		}
		if h.Commit != "" {
			res.Commit = h.Commit
		}
		res.Hosts = append(res.Hosts, h)
	}
	res.Spread = switchSpread(res.Hosts)
	res.Duration = time.Since(f.start)
	return res
}

// failure is the error of a run that did not finish everywhere. Hosts
// lost before the switch are asked how they ended first.
func (f *fleet) failure(err error, switched bool) error {
	if !switched { // after the switch, learn asked the lost hosts already
		f.settleLost(context.Background())
	}
	fe := &FleetError{Result: f.result(), Switched: switched, Err: err}
	if switched {
		fe.Realign = f.realign(fe.Result)
	}
	return fe
}

// realign is the command that puts a mixed fleet on one release again:
// back to the release the failed hosts still serve.
func (f *fleet) realign(res *FleetResult) string {
	for _, h := range res.Hosts {
		if h.Outcome != OutcomeOK && h.Previous > 0 {
			return fmt.Sprintf("ship rollback TARGET %d   (or deploy again: ship deploy TARGET)", h.Previous)
		}
	}
	return "ship deploy TARGET"
}

func names(targets []Target) []string {
	out := make([]string, len(targets))
	for i, t := range targets {
		out[i] = t.Name
	}
	return out
}

func describeSource(o Options) string {
	if o.Upload != "" {
		return fmt.Sprintf("upload of %s @ %s", o.Upload, short(o.Commit))
	}
	return fmt.Sprintf("%s @ %s", RedactURL(o.Repo), o.Ref)
}

func newID() string {
	b := make([]byte, 12)
	_, _ = cryptoRead(b)
	return hex.EncodeToString(b)
}

var cryptoRead = crand.Read

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// pickRollback settles the release a rollback goes to: N (or the newest
// good release older than current) must be finished and good on every host.
func (f *fleet) pickRollback() error {
	var common []int
	newestCurrent := 0
	for i, r := range f.runs {
		r.mu.Lock()
		snap := r.survey
		r.mu.Unlock()
		newestCurrent = max(newestCurrent, snap.Current)
		var good []int
		for _, rel := range snap.Releases {
			if rel.Good() {
				good = append(good, rel.Number)
			}
		}
		if i == 0 {
			common = good
		} else {
			common = slices.DeleteFunc(common, func(n int) bool { return !slices.Contains(good, n) })
		}
	}
	to := f.opts.To
	if to == 0 {
		for _, n := range common {
			if n < newestCurrent {
				to = n
			}
		}
		if to == 0 {
			return f.refuse(fmt.Errorf("%w: no finished, good release older than %d on every host", ErrNoTarget, newestCurrent))
		}
	}
	if missing := f.missing(to); len(missing) > 0 {
		return f.refuse(fmt.Errorf("%w: release %d is not a finished, good release on %s", ErrNoTarget, to, joinHosts(missing)))
	}
	if f.allCurrent(to) {
		return f.refuse(fmt.Errorf("%w: release %d is already current on every host", ErrNoTarget, to))
	}
	f.number = to
	return nil
}

// missing lists the hosts where release n is not finished and good, with why.
func (f *fleet) missing(n int) []string {
	var out []string
	for _, r := range f.runs {
		r.mu.Lock()
		rel, ok := r.survey.Find(n)
		r.mu.Unlock()
		switch {
		case !ok:
			out = append(out, r.name+" (no such release)")
		case !rel.Finished():
			out = append(out, r.name+" (unfinished)")
		case rel.Bad != nil:
			out = append(out, r.name+" (marked bad; remove its .ship/bad.json to allow it)")
		}
	}
	return out
}

func (f *fleet) allCurrent(n int) bool {
	for _, r := range f.runs {
		r.mu.Lock()
		cur := r.survey.Current
		r.mu.Unlock()
		if cur != n {
			return false
		}
	}
	return true
}

// refuse stops every host before anything happened.
func (f *fleet) refuse(err error) error {
	f.abort(context.Background(), err.Error())
	return f.failure(err, false)
}

func joinHosts(hs []string) string {
	out := ""
	for i, h := range hs {
		if i > 0 {
			out += ", "
		}
		out += h
	}
	return out
}

// RollbackOptions is one rollback of a fleet.
type RollbackOptions struct {
	Root     string
	To       int // 0: the newest good release older than current
	Wait     time.Duration
	LockWait time.Duration
	By       string
	Command  string
	Report   Reporter
	Verbose  bool
}

// Rollback points every host at an older finished release, in the same two
// phases as a deploy: stage it everywhere, then switch everywhere.
func Rollback(ctx context.Context, targets []Target, ro RollbackOptions) (*FleetResult, error) {
	opts := Options{Root: ro.Root, Wait: ro.Wait, LockWait: ro.LockWait, By: ro.By, Command: ro.Command,
		Report: ro.Report, Verbose: ro.Verbose, To: ro.To}
	opts.setDefaults()
	if err := opts.validateRoot(); err != nil {
		return nil, err
	}
	p := newPlan(opts, "rollback")
	opts.Report.Begin(Plan{Hosts: names(targets), Root: opts.Root, Source: "rollback", Stages: rollbackStages})
	return runFleet(ctx, targets, opts, p, func(*fleet) {})
}

// lockInfo is who holds the lock, for the plan.
func lockInfo(id string, o Options) release.LockInfo {
	return release.LockInfo{ID: id, Who: o.By, From: hostname(), PID: os.Getpid(), Command: o.Command, Since: time.Now().UTC()}
}
