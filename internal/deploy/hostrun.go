package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
)

// How ship keeps a host's script company.
const (
	// pingEvery: ship's sign of life to the host (see goneAfter).
	pingEvery = 2 * time.Second
	// frozenAfter: no line at all from the host (it answers every ping)
	// for this long means the link froze: ship closes the connection and
	// treats it as lost.
	frozenAfter = 15 * time.Second
	// clockSlack: a host's clock offset within half its round trip and
	// this much is taken as none (the host reads its clock in ms).
	clockSlack = 10 * time.Millisecond
	// clockNote: a host's clock this far off gets a line in the output.
	clockNote = 50 * time.Millisecond
)

// evExit is not printed by the script: its run ended (Err says how).
const evExit eventKind = -1

// hostRun is one host's part of a run: its script, the words ship sends it,
// and what it said. A goroutine reads the script's output; the fleet waits
// on the milestones it forwards.
type hostRun struct {
	name string
	t    Target
	h    host.Host
	p    *plan
	rep  Reporter

	wmu   sync.Mutex // one writer of words at a time (pings, words, the upload)
	words *io.PipeWriter
	ms    chan event    // milestones for the fleet
	ended chan struct{} // closed when the script's run returned
	final *event        // the terminal milestone, once seen by wait

	mu         sync.Mutex
	lastLine   time.Time
	stage      string
	stageStart time.Time
	stageOut   []string
	out        lastLines
	res        Result
	survey     release.Snapshot
	state      *release.State
	hostNow    time.Time
	next       int
	linked     []string
	swept      []int
	reused     bool
	envWritten bool          // the release's .env was written from ship.yml's env:
	envMerged  bool          // … after the lines of the .env it had
	released   bool          // the release command ran here and succeeded
	releasedOn string        // the host it ran on, when not this one
	heldFor    time.Duration // in the release stage, waiting for ship's word
	staged     *release.Answer
	committed  *release.Answer
	drained    *release.Answer
	runErr     error
	lost       bool          // the connection broke (or froze) while the script ran
	began      bool          // the script was started
	number     int           // the release, once ship said go
	pingAt     time.Time     // a numbered ping in flight since
	pingSeq    int           // its number
	rtt        time.Duration // the shortest ping to pong seen: the link's own
	offset     time.Duration // the host's clock minus ship's, read at that ping
	mode       string        // how the host reaches the receiver (modeStage, …)
}

// milestones are the events the fleet acts on; the rest is bookkeeping.
var milestones = map[eventKind]bool{
	evLocked: true, evNext: true, evBuilt: true, evReleased: true, evStaged: true, evDone: true, evFail: true, evAborted: true,
}

// terminal events end a host's run.
func (e event) terminal() bool {
	switch e.Kind {
	case evLocked, evDone, evFail, evAborted, evExit:
		return true
	}
	return false
}

func newHostRun(t Target, p *plan, rep Reporter) *hostRun {
	r := &hostRun{name: t.Name, t: t, p: p, rep: rep, ms: make(chan event, 64), ended: make(chan struct{})}
	r.res = Result{Target: t.Name, Ref: p.ref, Commit: p.commit}
	r.out = lastLines{max: 40}
	return r
}

// start runs the script on h and returns at once. upload, when set, is
// sent first on the script's input.
func (r *hostRun) start(ctx context.Context, h host.Host, upload io.ReaderAt, size int64) {
	r.h, r.began = h, true
	pr, pw := io.Pipe()
	r.words = pw
	outR, outW := io.Pipe()
	r.mu.Lock()
	r.lastLine, r.stageStart = time.Now(), time.Now()
	r.mu.Unlock()
	parsed := make(chan struct{})
	go func() {
		defer close(parsed)
		_ = scanLines(outR, r.handle)
	}()
	go func() {
		err := h.Run(ctx, host.Command{Script: script(r.p), Stdin: pr, Stdout: outW, Stderr: outW})
		outW.Close()
		<-parsed
		pr.Close()
		r.mu.Lock()
		r.runErr = err
		r.mu.Unlock()
		r.ms <- event{Kind: evExit}
		close(r.ended)
	}()
	// What goes first on the input is sent before any ping: the lock on
	// the words is taken here, and let go once it is written.
	r.wmu.Lock()
	go r.sendFirst(upload, size)
	go r.keepCompany()
}

// sendFirst writes the repository's password (see splitSecret), the app's
// environment and the upload, then lets other words through. Called with
// r.wmu held.
func (r *hostRun) sendFirst(upload io.ReaderAt, size int64) {
	defer r.wmu.Unlock()
	if _, secret := splitSecret(r.p.repo); secret != "" {
		if _, err := io.WriteString(r.words, "cred "+secret+"\n"); err != nil {
			return
		}
	}
	if len(r.p.dotenv) > 0 {
		if _, err := fmt.Fprintf(r.words, "env %d\n%s", len(r.p.dotenv), r.p.dotenv); err != nil {
			return
		}
	}
	if upload == nil {
		return
	}
	if _, err := fmt.Fprintf(r.words, "upload %d\n", size); err != nil {
		return
	}
	_, _ = io.Copy(r.words, io.NewSectionReader(upload, 0, size))
}

// never marks a run that could not start (the host was not reached).
func (r *hostRun) never(err error) {
	r.mu.Lock()
	r.runErr = err
	r.res.Outcome, r.res.Error = OutcomeFailed, err.Error()
	r.mu.Unlock()
	r.final = &event{Kind: evExit}
	close(r.ended)
}

// sayRelease says the release word ("run" or "skip"), noting how long the
// host waited in the release stage for it (the fleet's builds, and on the
// other hosts the command itself): the stage's time is mostly that wait.
func (r *hostRun) sayRelease(word string) {
	r.mu.Lock()
	if r.stage == StageRelease {
		r.heldFor = time.Since(r.stageStart)
	}
	r.mu.Unlock()
	r.say("release " + word)
}

// say sends one word to the host script. A run that ended takes no words.
func (r *hostRun) say(word string) {
	if r.words == nil {
		return
	}
	select {
	case <-r.ended:
		return
	default:
	}
	go func() {
		r.wmu.Lock()
		defer r.wmu.Unlock()
		_, _ = io.WriteString(r.words, word+"\n")
	}()
}

// keepCompany pings the host, and closes the connection when the host has
// printed nothing (not even a pong) for frozenAfter: a frozen link.
func (r *hostRun) keepCompany() {
	tick := time.NewTicker(pingEvery)
	defer tick.Stop()
	r.ping() // at once: the round trip is known early (see commitLead)
	for {
		select {
		case <-r.ended:
			return
		case <-tick.C:
		}
		r.ping()
		r.mu.Lock()
		quiet := time.Since(r.lastLine)
		r.mu.Unlock()
		if quiet > frozenAfter {
			r.mu.Lock()
			r.lost = true
			r.mu.Unlock()
			r.rep.Note(r.name, fmt.Sprintf("no answer from the host for %s: the link seems frozen; closing it", quiet.Round(time.Second)))
			_ = r.h.Close()
			return
		}
	}
}

// ping sends a ping: a measured one (numbered) when none is in flight,
// else a plain sign of life.
func (r *hostRun) ping() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.sample() {
		r.say("ping")
	}
}

// sample sends a numbered ping when none is in flight, one more measure of
// the round trip and the host's clock, and reports whether it did. Only
// the pong with its number counts: a pong of an earlier ping, answered
// before this one was sent, would read as a short trip from a clock
// behind. Called with r.mu held.
func (r *hostRun) sample() bool {
	if !r.pingAt.IsZero() {
		return false
	}
	r.pingSeq++
	r.pingAt = time.Now()
	r.say("ping " + strconv.Itoa(r.pingSeq))
	return true
}

// pong takes the answer to ping seq, and the host's clock when it
// answered (zero: unknown). Called with r.mu held.
func (r *hostRun) pong(seq int, hostTime time.Time) {
	if r.pingAt.IsZero() || seq != r.pingSeq {
		return
	}
	if d := time.Since(r.pingAt); r.rtt == 0 || d < r.rtt {
		r.rtt = d
		r.offset = 0
		if !hostTime.IsZero() {
			// The host read its clock between the ping and the pong: at
			// the midpoint, give or take half the round trip.
			r.offset = hostTime.Sub(r.pingAt.Add(d / 2))
		}
	}
	r.pingAt = time.Time{}
}

// hostMoment is the fleet's switch moment by the host's clock, which its
// receiver reads; a clock far off is noted.
func (r *hostRun) hostMoment(moment time.Time) time.Time {
	ahead := r.clockAhead()
	if ahead.Abs() >= clockNote {
		way := "ahead of"
		if ahead < 0 {
			way = "behind"
		}
		r.rep.Note(r.name, fmt.Sprintf("its clock is %s %s this machine's: the switch moment sent is by its clock (keep the hosts' clocks in sync: NTP, e.g. chrony)",
			ahead.Abs().Round(time.Millisecond), way))
	}
	r.mu.Lock()
	r.res.ClockAhead = ahead
	r.mu.Unlock()
	return moment.Add(ahead)
}

// clockAhead is how far the host's clock runs ahead of ship's (behind:
// negative), or 0 when that is within what the pings can tell apart.
func (r *hostRun) clockAhead() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.offset.Abs() <= r.rtt/2+clockSlack {
		return 0
	}
	return r.offset
}

// finish closes the script's input (it ends itself if still running) and
// waits up to d for its run to return.
func (r *hostRun) finish(d time.Duration) {
	if r.words == nil {
		return
	}
	r.wmu.Lock()
	r.words.Close()
	r.wmu.Unlock()
	select {
	case <-r.ended:
	case <-time.After(d):
	}
}

// wait returns the next milestone whose kind is in kinds, or the terminal
// one, or ctx's end.
func (r *hostRun) wait(ctx context.Context, kinds ...eventKind) (event, error) {
	if r.final != nil {
		return *r.final, nil
	}
	for {
		select {
		case <-ctx.Done():
			return event{}, ctx.Err()
		case e := <-r.ms:
			if e.terminal() {
				if e.Kind == evExit && r.final != nil {
					continue
				}
				r.final = &e
				r.drainExit()
				return e, nil
			}
			for _, k := range kinds {
				if e.Kind == k {
					return e, nil
				}
			}
		}
	}
}

// drainExit waits briefly for the run to return after a terminal event, so
// that its error (a lost connection) is known when the fleet looks.
func (r *hostRun) drainExit() {
	if r.final.Kind == evExit {
		return
	}
	select {
	case <-r.ended:
	case <-time.After(5 * time.Second):
	}
}

// outcome says how the run ended, for the fleet's decisions.
func (r *hostRun) connectionLost() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.began && (r.lost || isLost(r.runErr))
}

func isLost(err error) bool {
	if err == nil {
		return false
	}
	var ee *host.ExitError
	return !errors.As(err, &ee) || ee.Status < 0
}

// goAhead tells the host its release number and how to reach the receiver.
func (r *hostRun) goAhead(n int, mode string) {
	r.mu.Lock()
	r.number, r.mode = n, mode
	r.mu.Unlock()
	r.say(fmt.Sprintf("go %d %s", n, mode))
}

// prunePlan is what this host removes after the switch: release.PlanPrune
// over what the survey saw plus the new release, never the new one, the
// previous current or what the receiver serves. A rollback removes nothing.
func (r *hostRun) prunePlan(keep int) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p.mode != "deploy" {
		return nil
	}
	snap := r.survey
	snap.Releases = append(append([]release.Release(nil), snap.Releases...), release.Release{Number: r.number, Info: &release.Info{}})
	pl := release.PlanPrune(&snap, keep, 0, r.number, r.survey.Current, r.servingRelease())
	r.res.Kept = pl.Keep
	return pl.Remove
}

func (r *hostRun) failedStage() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.res.FailedStage != "" {
		return r.res.FailedStage
	}
	return "the deploy"
}

func (r *hostRun) exitErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runErr == nil {
		return errors.New("no word on how")
	}
	return r.runErr
}

// result is a copy of the host's result so far.
func (r *hostRun) result(start time.Time) *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.res
	res.Staged = r.staged
	if r.committed != nil {
		sw := *r.committed
		if r.drained != nil {
			sw.Drained, sw.Dropped = r.drained.Drained, r.drained.Dropped
		}
		res.Switch = &sw
	}
	if res.Kept == nil {
		res.Kept = []int{}
	}
	if res.Removed == nil {
		res.Removed = []int{}
	}
	if res.Stages == nil {
		res.Stages = []StageResult{}
	}
	res.Duration = time.Since(start)
	return &res
}

// blame records err as this host's own failure, whatever its script said
// when it was stopped (a --wait that ran out is the host's failure, not an
// abort).
func (r *hostRun) blame(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.res.Outcome == OutcomeFailed && r.res.Error != "" {
		return
	}
	r.res.Outcome, r.res.Error = OutcomeFailed, err.Error()
	if r.res.FailedStage == "" {
		r.res.FailedStage = StageStage
	}
}

// unwound reports that the host stopped before the switch: it never took
// the commit.
func (r *hostRun) unwound() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.res.Outcome == OutcomeAborted
}
