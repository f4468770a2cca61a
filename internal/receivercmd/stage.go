package receivercmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/supervise"
)

// stage is a release started next to the serving one, out of traffic: by
// STAGE (ship's first phase; COMMIT moves traffic, ABORT stops it), or by
// RELOAD, SIGHUP or the boot, which commit it as soon as it is healthy.
type stage struct {
	id       string
	release  int
	dir      string
	note     string    // the request and current disagreed
	inst     *instance // nil until started (always nil in restart mode)
	cancel   context.CancelFunc
	healthy  bool
	after    time.Duration // how long it took to become healthy
	commit   bool          // commit when healthy
	commitAt time.Time     // commit at this moment (a fleet's), once healthy
	record   bool          // a reload request: record its result (not the boot)
	boot     bool
	asked    bool // someone waits for answers under id
	started  time.Time
	deadline time.Time
	previous int // what served when it was asked for
	respawns int // starts again on another port (supervise.ErrPortTaken)
}

// portRetries bounds the starts again of an app whose port another
// program took between its pick and the app's bind.
const portRetries = 3

// otherPort reports whether a start of release n that ended with err,
// after tries starts again, is made once more on another port (and logs
// it): the one rule for stages and for restarts.
func (r *receiver) otherPort(err error, tries, n int) bool {
	if !errors.Is(err, supervise.ErrPortTaken) || tries >= portRetries {
		return false
	}
	r.log.Warn("starting the release again on another port", "release", n, "err", err)
	return true
}

type startResult struct {
	s    *stage
	inst *instance
	err  error
}

type retireResult struct {
	s       *stage
	a       release.Answer
	drained int
	dropped int
}

// takeRequests reads the request files and acts on them: ABORT and COMMIT
// first (they finish what is under way), then STAGE, then RELOAD or a
// SIGHUP. A start waits while another is under way: its file stays, and
// the end of that start looks again.
func (r *receiver) takeRequests(ctx context.Context) {
	for _, kind := range requestKinds {
		rq, ok, err := readRequest(r.l, kind)
		if err != nil {
			r.log.Error("cannot read a request", "kind", kind, "err", err)
			continue
		}
		rq.kind = kind
		hup := kind == release.RequestReload && r.trig.hup.Load()
		if !ok && !hup {
			continue
		}
		if !r.canStart(rq) {
			if kind == release.RequestStage && rq.ID != "" {
				r.answer(rq.ID, release.AnswerStarting, release.Answer{Release: rq.Release, Note: "queued: another release is starting"})
			}
			continue
		}
		if kind == release.RequestReload {
			r.trig.hup.Store(false)
		}
		if ok {
			if newer, err := settleRequest(r.l, kind, rq.raw); err != nil {
				r.log.Error("cannot remove a handled request", "kind", kind, "err", err)
			} else if newer {
				r.trig.poke()
			}
		}
		r.act(ctx, rq, ok)
	}
}

// canStart reports whether rq may go ahead now. A STAGE replaces a staged
// release of another id (its ship is gone or gave up), but waits for a
// reload that is starting; a RELOAD waits for any stage to end.
func (r *receiver) canStart(rq request) bool {
	s := r.staged
	switch {
	case s == nil:
		return true
	case rq.kind == release.RequestStage:
		return !s.commit || s.healthy
	case rq.kind == release.RequestReload:
		return false
	}
	return true
}

func (r *receiver) act(ctx context.Context, rq request, fromFile bool) {
	switch rq.kind {
	case release.RequestAbort:
		if s := r.staged; s != nil && s.id == rq.ID && rq.ID != "" {
			r.abortStage(s, "ship asked to stop (ABORT)")
			return
		}
		r.answer(rq.ID, release.AnswerAborted, release.Answer{Release: rq.Release, Note: "nothing was staged under this id"})
	case release.RequestCommit:
		r.commitRequest(ctx, rq)
	case release.RequestStage:
		r.stageRequest(ctx, rq)
	case release.RequestReload:
		r.reloadRequest(ctx, rq, fromFile)
	}
}

func (r *receiver) stageRequest(ctx context.Context, rq request) {
	if s := r.staged; s != nil {
		if s.id == rq.ID {
			return // the same request again
		}
		r.abortStage(s, "replaced by a newer stage request "+rq.ID)
	}
	dir, err := resolveRelease(r.l, rq.Release)
	if err != nil {
		r.log.Error("cannot stage", "id", rq.ID, "release", rq.Release, "err", err)
		r.answer(rq.ID, release.AnswerFailed, release.Answer{Release: rq.Release, Error: err.Error()})
		return
	}
	r.beginStage(ctx, &stage{id: rq.ID, release: rq.Release, dir: dir, asked: rq.ID != ""})
}

// reloadRequest is RELOAD or SIGHUP: stage what current points to and
// commit it as soon as it is healthy.
func (r *receiver) reloadRequest(ctx context.Context, rq request, fromFile bool) {
	dir, n, err := resolveCurrent(r.l)
	if err != nil {
		r.log.Error("reload failed", "id", rq.ID, "err", err)
		now := time.Now().UTC()
		r.record(release.ReloadResult{ID: rq.ID, Error: err.Error(), Started: now, Finished: now}, r.serving())
		r.answer(rq.ID, release.AnswerFailed, release.Answer{Error: err.Error()})
		return
	}
	s := &stage{id: rq.ID, release: n, dir: dir, commit: true, record: true, asked: rq.ID != ""}
	if rq.Release != 0 && rq.Release != n {
		// ship swaps current before it writes RELOAD, so this means someone
		// swapped it since: serve what current says, and say so.
		s.note = fmt.Sprintf("note: the request named release %d but current is release %d; serving release %d", rq.Release, n, n)
		r.log.Warn("reload request and current disagree", "id", rq.ID, "requested", rq.Release, "release", n)
	}
	_ = fromFile
	r.beginStage(ctx, s)
}

// beginStage starts s's release next to what serves and checks its health
// in a goroutine; startDone takes the result.
func (r *receiver) beginStage(ctx context.Context, s *stage) {
	s.started = time.Now()
	s.deadline = s.started.Add(r.stageTimeout())
	s.previous = r.serving()
	r.staged = s
	r.log.Info("staging", "id", s.id, "release", s.release, "dir", s.dir, "commit_when_healthy", s.commit)
	r.answer(s.id, release.AnswerStarting, release.Answer{Release: s.release})
	if r.proxy == nil {
		// Restart mode: the app owns the port, so nothing can run next to
		// it; the release starts at the commit.
		s.healthy = true
		r.stagedState(s)
		if s.commit {
			r.commitStage(ctx, s)
			return
		}
		r.answer(s.id, release.AnswerStaged, release.Answer{Release: s.release, Note: "restart mode: the release starts at the switch"})
		return
	}
	r.spawnStaged(ctx, s)
}

// spawnStaged starts the staged release's app and checks its health in a
// goroutine (the answer comes to startDone).
func (r *receiver) spawnStaged(ctx context.Context, s *stage) {
	inst, err := r.spawn(ctx, s.dir, s.release)
	if err != nil {
		r.startDone(ctx, startResult{s: s, err: err})
		return
	}
	s.inst = inst
	r.stagedState(s)
	hctx, cancel := context.WithTimeout(ctx, r.opts.StartTimeout)
	s.cancel = cancel
	go func() {
		err := supervise.WaitHealthy(hctx, inst.proc, inst.addr, r.opts.HealthPath)
		cancel()
		select {
		case r.started <- startResult{s: s, inst: inst, err: err}:
		case <-ctx.Done():
			r.stopAsync(inst, nil)
		}
	}()
}

// startDone takes a health check's end. A stage aborted or replaced in the
// meantime was stopped there: its late "healthy" moves nothing.
func (r *receiver) startDone(ctx context.Context, res startResult) {
	s := res.s
	if r.staged != s {
		return
	}
	if r.otherPort(res.err, s.respawns, s.release) {
		s.respawns++
		r.stopAsync(res.inst, nil)
		r.spawnStaged(ctx, s)
		return
	}
	defer r.trig.poke() // a start that waited may go now
	if res.err != nil {
		r.staged = nil
		r.stagedState(nil)
		a := release.Answer{Release: s.release, Error: fmt.Sprintf("release %d: %v", s.release, res.err), LogTail: tailOf(res.err)}
		r.log.Error("release not healthy", "id", s.id, "release", s.release, "err", res.err, "serving", r.serving())
		if res.inst != nil {
			r.stopAsync(res.inst, nil)
		}
		r.answer(s.id, release.AnswerFailed, a)
		if s.record {
			now := time.Now().UTC()
			r.record(release.ReloadResult{ID: s.id, Release: s.release, Error: a.Error, LogTail: a.LogTail, Started: s.started.UTC(), Finished: now}, s.previous)
		}
		if r.cur == nil && r.restart == nil && ctx.Err() == nil {
			r.scheduleRestartOfCurrent(a.Error)
		}
		return
	}
	s.healthy, s.after = true, time.Since(s.started)
	r.stagedState(s)
	if s.commit {
		r.commitStage(ctx, s)
		return
	}
	r.log.Info("staged: healthy, out of traffic", "id", s.id, "release", s.release, "pid", s.inst.proc.PID(), "healthy_after", s.after.Round(time.Millisecond))
	r.answer(s.id, release.AnswerStaged, release.Answer{Release: s.release, HealthyAfter: seconds(s.after)})
}

func (r *receiver) commitRequest(ctx context.Context, rq request) {
	s := r.staged
	// After a restart between the host's switch and its COMMIT, this
	// receiver started current, the release asked for, by itself.
	const restarted = "the receiver restarted after the switch and started current, this release"
	switch {
	case s != nil && s.boot && s.id == "" && rq.ID != "" && rq.Release == s.release:
		s.id, s.asked, s.note = rq.ID, true, restarted // the boot's answers go to this COMMIT
	case (s == nil || s.id != rq.ID) && rq.ID != "" && rq.Release != 0 && rq.Release == r.serving():
		r.answer(rq.ID, release.AnswerDrained, release.Answer{Release: rq.Release, Note: restarted})
	case s == nil || s.id != rq.ID || rq.ID == "":
		r.answer(rq.ID, release.AnswerFailed, release.Answer{Release: rq.Release,
			Error: "nothing is staged under this id (stopped by ABORT, a newer STAGE, or --stage-timeout)"})
	case !s.healthy:
		s.commit = true // as soon as it is healthy
	default:
		if at := time.UnixMilli(rq.At); rq.At > 0 && time.Until(at) > 0 && time.Until(at) < release.MaxCommitDelay {
			s.commitAt = at // the fleet's moment: the loop's timer commits
			return
		}
		r.commitStage(ctx, s)
	}
}

// commitDue is the timer of a commit set for a moment (see ReloadRequest.At).
func (r *receiver) commitDue() <-chan time.Time {
	if r.staged == nil || r.staged.commitAt.IsZero() {
		return nil
	}
	return time.After(time.Until(r.staged.commitAt))
}

// commitStage moves traffic to the staged instance; the old one drains in
// a goroutine and drainDone records the end.
func (r *receiver) commitStage(ctx context.Context, s *stage) {
	r.staged = nil
	r.stagedState(nil)
	if r.proxy == nil {
		r.commitRestart(ctx, s)
		return
	}
	before := r.proxy.Stats().UpstreamErrors
	old := r.activate(s.inst, true)
	a := release.Answer{Release: s.release, HealthyAfter: seconds(s.after), SwitchedAt: s.inst.since, Note: s.note}
	r.answer(s.id, release.AnswerCommitted, a)
	r.busy.Add(1)
	go func() {
		defer r.busy.Done()
		drained := 0
		if old != nil {
			drained = r.retire(ctx, old)
		}
		dropped := int(r.proxy.Stats().UpstreamErrors - before)
		select {
		case r.retired <- retireResult{s: s, a: a, drained: drained, dropped: dropped}:
		case <-ctx.Done():
		}
	}()
}

// drainDone records a switch once the old instance is gone: state.json and
// the log first, then the answer, so that whoever reads the answer finds
// them done.
func (r *receiver) drainDone(res retireResult) {
	s, a := res.s, res.a
	a.Drained, a.Dropped = res.drained, res.dropped
	r.log.Info("reload done", "id", s.id, "release", s.release, "healthy_after", s.after.Round(time.Millisecond),
		"drained", a.Drained, "dropped", a.Dropped)
	if !s.boot {
		r.record(release.ReloadResult{ID: s.id, Release: s.release, OK: true, Error: s.note, Started: s.started.UTC(),
			Finished: time.Now().UTC(), HealthyAfter: a.HealthyAfter, Drained: a.Drained, Dropped: a.Dropped}, s.previous)
	}
	r.answer(s.id, release.AnswerDrained, a)
}

// abortStage stops a staged release; the answer is written once its
// process is gone, so "aborted" means it no longer runs.
func (r *receiver) abortStage(s *stage, why string) {
	r.staged = nil
	r.stagedState(nil)
	if s.cancel != nil {
		s.cancel()
	}
	r.log.Info("stage aborted", "id", s.id, "release", s.release, "why", why)
	a := release.Answer{Release: s.release, Note: why}
	if s.inst == nil {
		r.answer(s.id, release.AnswerAborted, a)
		return
	}
	r.stopAsync(s.inst, func() { r.answer(s.id, release.AnswerAborted, a) })
	r.trig.poke()
}

// expire aborts a staged release that was not committed in time.
func (r *receiver) expire() {
	r.abortStage(r.staged, fmt.Sprintf("not committed within --stage-timeout %s", r.stageTimeout()))
}

// stagedDied handles a staged, healthy instance that exited before COMMIT.
func (r *receiver) stagedDied() {
	s := r.staged
	r.staged = nil
	r.stagedState(nil)
	st := s.inst.proc.Wait()
	r.log.Warn("staged instance exited before the switch", "id", s.id, "release", s.release, "status", st.String())
	r.answer(s.id, release.AnswerAborted, release.Answer{Release: s.release,
		Error: "the staged process exited before the switch: " + st.String(), LogTail: lastN(s.inst.proc.Tail(), logTailLines)})
	r.trig.poke()
}

// answerOrphans answers, at start, what a previous receiver left under way:
// the release it staged stopped with it ("aborted"), and the old process of
// a switch it made was stopped with it ("drained"). A host that waits on
// such an answer learns at once, not at the end of ship's --wait. A STAGE
// still waiting in releases/ is not an orphan: it is taken as usual.
func (r *receiver) answerOrphans() {
	entries, err := os.ReadDir(r.l.Answers())
	if err != nil {
		return
	}
	pending, _, _ := readRequest(r.l, release.RequestStage)
	const why = "the receiver restarted: what the previous one started stopped with it"
	for _, e := range entries {
		id := e.Name()
		if strings.HasPrefix(id, ".") || id == pending.ID {
			continue // a temp file, or a request still to take
		}
		word, a, err := release.ReadAnswer(r.fsys, r.l, id)
		if err != nil || a == nil {
			continue
		}
		switch word {
		case release.AnswerStarting, release.AnswerStaged:
			r.log.Warn("a stage the previous receiver left is aborted", "id", id, "release", a.Release)
			r.answer(id, release.AnswerAborted, release.Answer{Release: a.Release, Note: why})
		case release.AnswerCommitted:
			a.Note = why
			r.answer(id, release.AnswerDrained, *a)
		}
	}
}

// answer writes the answer to request id (a request without id gets none)
// and hands the same line to the deploy waiting for it (nudge): on a full
// disk, where the file cannot be written, the deploy still hears it.
func (r *receiver) answer(id, word string, a release.Answer) {
	if id == "" {
		return
	}
	a.ID, a.At = id, time.Now().UTC()
	line, err := release.AnswerLine(word, a)
	if err != nil {
		r.log.Error("cannot encode an answer", "id", id, "word", word, "err", err)
		return
	}
	if err := release.WriteAnswerLine(r.fsys, r.l, id, line); err != nil {
		r.log.Error("cannot write an answer: only a deploy still waiting hears it", "id", id, "word", word, "err", err)
	}
	nudge(r.l, id, line)
}

// nudge wakes the deploy waiting for an answer: "answer WORD {json}" in
// its run's words FIFO (see host.sh's await_answer), one write no longer
// than a pipe writes whole (else "answer" alone: the deploy reads the
// file). Without one (no such run, nobody reading) it does nothing: the
// deploy also looks every 2 seconds.
func nudge(l release.Layout, id, line string) {
	if strings.ContainsAny(id, "/.") {
		return
	}
	f, err := os.OpenFile(filepath.Join(l.Run(id), "words"), os.O_WRONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return // not our FIFO: never write into a plain file
	}
	msg := "answer " + line
	if len(msg) > pipeAtomic || strings.Count(msg, "\n") != 1 {
		msg = "answer\n"
	}
	_, _ = f.Write([]byte(msg))
}

// pipeAtomic: Linux's PIPE_BUF, the longest write a pipe never interleaves
// with another writer's (the watchdog's ticks, ship's words).
const pipeAtomic = 4096

// stagedState puts the staged release (or none) into state.json.
func (r *receiver) stagedState(s *stage) {
	r.state.update(func(st *release.State) {
		st.Staged = nil
		if s != nil && !s.boot {
			st.Staged = &release.Staged{ID: s.id, Release: s.release, Healthy: s.healthy, Since: s.started.UTC()}
			if s.inst != nil {
				st.Staged.PID = s.inst.proc.PID()
			}
		}
	})
}

func (r *receiver) serving() int {
	if r.cur == nil {
		return 0
	}
	return r.cur.release
}

func (r *receiver) stageTimeout() time.Duration {
	if r.opts.StageTimeout > 0 {
		return r.opts.StageTimeout
	}
	return defaultStageTimeout
}
