package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/shipdeploy/ship/internal/release"
)

// Request is one deploy the webhook asks for.
type Request struct {
	Commit   string // the full commit id to deploy (the push's after)
	Ref      string // the pushed ref, refs/heads/BRANCH
	Delivery string // X-GitHub-Delivery
	Pusher   string
	Received time.Time
	// Forced: the push rewrote the branch (git push --force), so an older
	// commit than the one deployed may be meant.
	Forced bool
	// MayGoBack: a forced push, signed as pushed after every push accepted
	// before it. Only such a push may deploy a commit older than the live
	// one; a late or replayed delivery never can.
	MayGoBack bool
}

// ErrSuperseded is returned by a RunFunc that skips a push whose commit is
// older than the one already deployed (a late delivery): it is recorded as
// ignored, not failed.
var ErrSuperseded = errors.New("an older commit than the one deployed")

// By is who the deploy is recorded as in release.json, the lock and the
// log: "webhook (alice, delivery 72d3162e)".
func (r Request) By() string {
	who := "webhook"
	d := r.Delivery
	if len(d) > 8 {
		d = d[:8]
	}
	switch {
	case r.Pusher != "" && d != "":
		who += " (" + r.Pusher + ", delivery " + d + ")"
	case d != "":
		who += " (delivery " + d + ")"
	case r.Pusher != "":
		who += " (" + r.Pusher + ")"
	}
	return who
}

// RunFunc deploys one request and returns the release it made (0 when it
// is not known).
type RunFunc func(ctx context.Context, r Request) (release int, err error)

// Queue runs deploys one at a time. It holds at most one waiting request:
// a newer one replaces it, so after a burst of pushes the newest commit is
// deployed once, after the deploy that was running.
type Queue struct {
	run RunFunc
	log *slog.Logger

	mu       sync.Mutex
	audit    func(release.LogEntry)
	pending  *Request
	running  *Request
	started  int
	finished int
	changed  chan struct{} // closed and replaced on each change
	wake     chan struct{}
}

// QueueStatus is a snapshot of the queue.
type QueueStatus struct {
	Running  *Request
	Pending  *Request
	Started  int // deploys started since NewQueue
	Finished int
}

// NewQueue returns a queue that runs deploys with run once Run is called.
func NewQueue(run RunFunc, logger *slog.Logger) *Queue {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Queue{
		run:     run,
		log:     logger,
		audit:   func(release.LogEntry) {},
		changed: make(chan struct{}),
		wake:    make(chan struct{}, 1),
	}
}

// setAudit makes the queue write deploy outcomes to the handler's trail.
func (q *Queue) setAudit(f func(release.LogEntry)) {
	q.mu.Lock()
	q.audit = f
	q.mu.Unlock()
}

// Submit queues r. If a request was already waiting, r replaces it and the
// old one is returned: it will not be deployed.
func (q *Queue) Submit(r Request) (replaced *Request) {
	q.mu.Lock()
	replaced, q.pending = q.pending, &r
	q.changedLocked()
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return replaced
}

// Run deploys queued requests until ctx ends; it is the queue's only
// worker. A deploy running when ctx ends is cancelled (the pipeline frees
// its lock), and a waiting request is dropped with a log line.
func (q *Queue) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			q.mu.Lock()
			dropped := q.pending
			q.pending = nil
			q.changedLocked()
			q.mu.Unlock()
			if dropped != nil {
				q.log.Warn("webhook deploy dropped at shutdown", "delivery", dropped.Delivery, "commit", dropped.Commit)
			}
			return nil
		case <-q.wake:
		}
		for ctx.Err() == nil {
			req, ok := q.take()
			if !ok {
				break
			}
			q.deploy(ctx, req)
		}
	}
}

func (q *Queue) take() (Request, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pending == nil {
		return Request{}, false
	}
	r := *q.pending
	q.pending, q.running = nil, &r
	q.started++
	q.changedLocked()
	return r, true
}

func (q *Queue) deploy(ctx context.Context, r Request) {
	start := time.Now()
	q.log.Info("webhook deploy started", "delivery", r.Delivery, "commit", r.Commit, "ref", r.Ref, "by", r.Pusher)
	n, err := q.safeRun(ctx, r)
	secs := time.Since(start).Seconds()
	e := release.LogEntry{
		Time: time.Now().UTC(), Kind: "webhook", ID: r.Delivery, Commit: r.Commit, Ref: r.Ref,
		By: r.By(), Release: n, Seconds: secs,
	}
	if errors.Is(err, ErrSuperseded) {
		e.Result, e.Detail = "ignored", err.Error()
		q.log.Info("webhook deploy skipped", "delivery", r.Delivery, "commit", r.Commit, "reason", err)
	} else if err != nil {
		e.Result, e.Error, e.Detail = "failed", err.Error(), "deploy failed"
		q.log.Error("webhook deploy failed", "delivery", r.Delivery, "commit", r.Commit, "err", err, "seconds", secs)
	} else {
		e.Result, e.Detail = "ok", "deployed"
		if n > 0 {
			e.Detail = fmt.Sprintf("deployed release %d", n)
		}
		q.log.Info("webhook deploy done", "delivery", r.Delivery, "commit", r.Commit, "release", n, "seconds", secs)
	}
	q.mu.Lock()
	audit := q.audit
	q.mu.Unlock()
	audit(e) // before the queue says idle: waiters see the outcome
	q.mu.Lock()
	q.running = nil
	q.finished++
	q.changedLocked()
	q.mu.Unlock()
}

// safeRun keeps a panicking deploy from taking the worker (and with it all
// later deploys) down.
func (q *Queue) safeRun(ctx context.Context, r Request) (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("deploy panicked: %v", p)
		}
	}()
	return q.run(ctx, r)
}

func (q *Queue) changedLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// Status returns what runs and what waits.
func (q *Queue) Status() QueueStatus {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := QueueStatus{Started: q.started, Finished: q.finished}
	if q.running != nil {
		r := *q.running
		s.Running = &r
	}
	if q.pending != nil {
		r := *q.pending
		s.Pending = &r
	}
	return s
}

// Idle reports whether nothing runs and nothing waits.
func (q *Queue) Idle() bool {
	s := q.Status()
	return s.Running == nil && s.Pending == nil
}

// WaitIdle returns when nothing runs and nothing waits, or with ctx's error.
func (q *Queue) WaitIdle(ctx context.Context) error {
	return q.wait(ctx, func() bool { return q.running == nil && q.pending == nil })
}

// WaitRunning returns once a deploy is running, or with ctx's error.
func (q *Queue) WaitRunning(ctx context.Context) error {
	return q.wait(ctx, func() bool { return q.running != nil })
}

func (q *Queue) wait(ctx context.Context, done func() bool) error {
	for {
		q.mu.Lock()
		ok, ch := done(), q.changed
		q.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}
