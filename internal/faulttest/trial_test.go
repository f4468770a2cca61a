package faulttest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/testenv"
)

// Bounds the design documents, with room for a busy 2-core machine.
const (
	// settleWithin: after ship died or lost its link, the host ends the
	// deploy by itself (unwinds before the commit, finishes after it).
	settleWithin = 45 * time.Second
	// settleFrozen: a frozen link is noticed after 30s of silence.
	settleFrozen = 80 * time.Second
	// shipWithin: how long ship may take to exit after a fault: a frozen
	// link costs 15s to notice plus up to 110s to learn the outcome.
	shipWithin = 150 * time.Second
	// servesWithin: after the host is done, the receiver serves current.
	servesWithin = 25 * time.Second
	// quietFor: the host counts as done when nothing was held this long.
	quietFor = 300 * time.Millisecond
)

// trial is one fault and the checks after it.
type trial struct {
	t    *testing.T
	w    *world
	f    fault
	i    int
	seed uint64
	rng  *rand.Rand
	keep int // --keep of this trial's deploys
	// lockWait is --lock-wait for the next deploy ("": none; only a dead
	// host's lock needs it: it is taken over once 60s stale).
	lockWait string

	landed     bool          // the fault struck while its target ran
	struckIn   string        // the stage ship was in then
	recovery   time.Duration // fault → the host ended the deploy by itself
	requests   int64
	failed     int64
	exits      []string // how each faulted ship ended: "0", "4", "killed", …
	violations []string
	story      []string // one line for the log
	broken     bool     // the world cannot go on
	load       *testenv.Load
	shipRuns   []*shipRun // the faulted ones, for the log
}

func (tr *trial) run() {
	tr.keep = 2 + tr.rng.IntN(3)
	tr.f.run(tr)
	state := "ok"
	if len(tr.violations) > 0 {
		state = fmt.Sprintf("%d VIOLATIONS", len(tr.violations))
	}
	tr.t.Logf("trial %d %s: %s; %s", tr.i, tr.f.name, strings.Join(tr.story, "; "), state)
	if len(tr.violations) > 0 || os.Getenv("SHIP_FAULT_VERBOSE") != "" {
		for _, r := range tr.shipRuns {
			tr.t.Logf("ship %s:\n%s", strings.Join(r.args, " "), r.tail(60))
		}
	}
}

// violate records a broken promise and fails the trial.
func (tr *trial) violate(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	tr.violations = append(tr.violations, msg)
	tr.t.Errorf("VIOLATION: %s\n(replay: SHIP_FAULT_SEED=%d SHIP_FAULT_TRIAL=%d)", msg, tr.seed, tr.i)
}

func (tr *trial) say(format string, args ...any) {
	tr.story = append(tr.story, fmt.Sprintf(format, args...))
}

// deployArgs is `ship deploy` to the world, locally or over SSH.
func (tr *trial) deployArgs(local bool, extra ...string) []string {
	target := tr.w.target
	if local {
		target = "local"
	}
	// A build of a few hundred milliseconds, as a real one takes longer
	// than the example's: faults land in it too.
	build := fmt.Sprintf("sleep 0.%d && bun run build", tr.rng.IntN(5))
	args := []string{"deploy", target, "--path", tr.w.root, "--repo", tr.w.repo, "-v", "--keep", strconv.Itoa(tr.keep),
		"--wait", "20s", "--timeout", "5s", "--build", build}
	return append(args, extra...)
}

// deploy runs one deploy of a new version to its end.
func (tr *trial) deploy(local bool, extra ...string) *shipRun {
	tr.w.commit(tr.t)
	r := tr.w.start(tr.t, tr.deployArgs(local, extra...)...)
	if _, ok := r.wait(shipWithin); !ok {
		tr.violate("ship deploy did not end within %s:\n%s", shipWithin, r.tail(20))
		r.signal(syscall.SIGKILL)
		<-r.done
	}
	return r
}

func (tr *trial) startLoad() {
	tr.load = testenv.StartLoad(tr.t, tr.w.url(), 2, 1, 2*time.Millisecond)
}

// stopLoad ends the load: not one request may have failed.
func (tr *trial) stopLoad() {
	if tr.load == nil {
		return
	}
	res := tr.load.Finish(tr.t)
	tr.load = nil
	tr.requests += res.Total
	tr.failed += res.Failed
	if res.Failed > 0 {
		tr.violate("%d of %d requests failed (longest gap %.0f ms): %v", res.Failed, res.Total, res.MaxGapMS, firstN(res.Errors, 3))
	}
}

// attempt is one faulted deploy: ship runs locally or over SSH, and fault
// strikes at moment at.
type attempt struct {
	local  bool
	at     moment
	fault  func(*shipRun)
	settle time.Duration // how long the host may take to end the deploy by itself
	extra  []string      // more flags for ship
	// undo takes the fault back once ship has exited (frees the disk).
	undo func()
}

// faulted is the common trial: one deploy with a fault, then every check
// and the next deploy, under load all along.
func (tr *trial) faulted(a attempt) {
	w := tr.w
	pre := w.look()
	tr.startLoad()
	defer tr.stopLoad()
	w.commit(tr.t)
	var hw *hostWatch
	if a.at.stage == before {
		hw = w.watchHost(time.Now(), a.settle)
		a.fault(nil)
	}
	r := w.start(tr.t, tr.deployArgs(a.local, a.extra...)...)
	stage, landed := before, true
	if a.at.stage != before {
		stage, landed = r.at(a.at, func() { hw = w.watchHost(time.Now(), a.settle); a.fault(r) })
	}
	if !landed {
		hw = w.watchHost(time.Now(), a.settle)
	}
	tr.landed, tr.struckIn = landed, stage
	tr.say("%s at %s (in %s)", via(a.local), a.at, stage)
	if _, ok := r.wait(shipWithin); !ok {
		tr.violate("ship did not exit within %s of the fault:\n%s", shipWithin, r.tail(20))
		r.signal(syscall.SIGKILL)
		<-r.done
	}
	if a.undo != nil {
		a.undo()
	}
	tr.ended(r)
	tr.settle(hw)
	tr.checkClaim(r, pre)
	tr.checkServing()
	tr.next()
}

func via(local bool) string {
	if local {
		return "local"
	}
	return "ssh"
}

// ended notes how ship ended.
func (tr *trial) ended(r *shipRun) {
	tr.shipRuns = append(tr.shipRuns, r)
	e := strconv.Itoa(r.code)
	if r.killed {
		e = "killed"
	}
	tr.exits = append(tr.exits, e)
	tr.say("ship: %s", e)
}

// hostWatch notes when the host ended a deploy by itself: the lock free
// and no run folder left, for quietFor (a local script that ship started
// just before it was killed may still be on its way).
type hostWatch struct {
	from, at time.Time // at: zero when the host was still busy at the bound
	done     chan struct{}
}

// watchHost starts watching the host from the moment of the fault, for
// within at most.
func (w *world) watchHost(from time.Time, within time.Duration) *hostWatch {
	hw := &hostWatch{from: from, done: make(chan struct{})}
	go func() {
		defer close(hw.done)
		var quiet time.Time
		for time.Since(from) < within {
			if held, runs := w.busy(); held || len(runs) > 0 {
				quiet = time.Time{}
			} else if quiet.IsZero() {
				quiet = time.Now()
			} else if time.Since(quiet) > quietFor {
				hw.at = quiet
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return hw
}

// settle waits for the host to end the deploy by itself. Nobody runs
// `ship unlock`: a lock still held at the bound is a violation.
func (tr *trial) settle(hw *hostWatch) {
	<-hw.done
	if hw.at.IsZero() {
		held, runs := tr.w.busy()
		tr.violate("%s after the fault the host still holds the lock (%v) or run folders %v", time.Since(hw.from).Round(time.Second), held, runs)
		tr.repair()
		return
	}
	took := hw.at.Sub(hw.from)
	tr.recovery = max(tr.recovery, took)
	tr.say("host done %.1fs after", took.Seconds())
}

// repair frees a leaked lock and removes the run folders left, so that
// later trials are judged on their own: the violation is already recorded.
func (tr *trial) repair() {
	r := tr.w.start(tr.t, "unlock", "local", "--path", tr.w.root, "--force")
	r.wait(time.Minute)
	_, runs := tr.w.busy()
	for _, id := range runs {
		_ = os.RemoveAll(tr.w.layout.Run(id))
	}
	tr.say("repaired: ship unlock --force (exit %d), %d run folders removed", r.code, len(runs))
	if held, _ := tr.w.busy(); held {
		tr.broken = true
	}
}

// checkClaim holds ship to what it said: a success names the release now
// current; a failure leaves the release current before it; an unknown
// outcome (exit 4) promises nothing; a killed ship said nothing.
func (tr *trial) checkClaim(r *shipRun, pre state) {
	if r.killed {
		return
	}
	cur := tr.w.current()
	switch r.code {
	case 0:
		n := r.claimed()
		if n == 0 || n != cur {
			tr.violate("ship exited 0 claiming release %d, but current is release %d:\n%s", n, cur, r.tail(15))
		}
	case 1, 3, 130:
		if cur != pre.current {
			tr.violate("ship exited %d (nothing deployed), but current moved from release %d to %d:\n%s", r.code, pre.current, cur, r.tail(15))
		}
	case 4:
		if !strings.Contains(r.out.String(), "ship status") {
			tr.violate("ship exited 4 without saying how to learn the outcome:\n%s", r.tail(10))
		}
	default:
		tr.violate("ship exited %d, not a documented exit code:\n%s", r.code, r.tail(15))
	}
}

// checkServing: current names a finished release, and the receiver serves
// it (after a switch the old one may take a moment to hand over).
func (tr *trial) checkServing() {
	w := tr.w
	cur := w.current()
	if cur == 0 || !w.finished(cur) {
		tr.violate("current (%q) does not name a finished release", w.currentRaw())
		return
	}
	deadline := time.Now().Add(servesWithin)
	for {
		n, body := w.serves()
		st := w.state()
		staged := st != nil && st.Staged != nil
		if n == cur && st != nil && st.Serving != nil && st.Serving.Release == cur && !staged {
			break
		}
		if time.Now().After(deadline) {
			tr.violate("current is release %d, but the receiver answers %q (state: %s)", cur, body, describeState(st))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tr.checkProcesses(cur)
}

// checkProcesses: no process runs in a release folder but the one served
// (a staged or old instance left running, a build that went on).
func (tr *trial) checkProcesses(serving int) {
	deadline := time.Now().Add(servesWithin)
	for {
		stray := tr.w.strays(serving)
		if len(stray) == 0 {
			return
		}
		if time.Now().After(deadline) {
			tr.violate("processes left running in other releases than %d: %v", serving, stray)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// next is the deploy after the fault: it must succeed without `ship
// unlock`, sweep every leftover, keep the newest --keep by number and
// serve the new release. It returns that release (0: it failed).
func (tr *trial) next() int {
	w := tr.w
	pre := w.look()
	local := tr.rng.IntN(2) == 0
	var extra []string
	if tr.lockWait != "" {
		extra = []string{"--lock-wait", tr.lockWait}
	}
	r := tr.deploy(local, extra...)
	if r.code != 0 {
		tr.violate("the next deploy (%s) failed: exit %d\n%s", via(local), r.code, r.tail(20))
		if held, _ := w.busy(); held {
			tr.repair()
		}
		return 0
	}
	n := r.claimed()
	tr.say("next deploy: release %d", n)
	if cur := w.current(); cur != n {
		tr.violate("the next deploy claimed release %d, current is %d", n, cur)
	}
	tr.checkServing()
	tr.checkSwept()
	tr.checkPrune(pre, n)
	return n
}

// checkSwept: after a deploy nothing of an earlier one is left.
func (tr *trial) checkSwept() {
	if left := tr.w.leftovers(); len(left) > 0 {
		tr.violate("left after the next deploy: %v", left)
		for _, f := range left { // so that later trials are judged alone
			_ = os.RemoveAll(filepath.Join(tr.w.root, f))
		}
	}
}

// checkPrune: the finished releases are the newest --keep by number of
// those before plus the new one, and the ones prune must never remove
// (the previous current, what served).
func (tr *trial) checkPrune(pre state, n int) {
	all := append(slices.Clone(pre.finished), n)
	slices.Sort(all)
	all = slices.Compact(all)
	want := slices.Clone(all[max(0, len(all)-tr.keep):])
	for _, p := range []int{pre.current, pre.serving} {
		if slices.Contains(all, p) && !slices.Contains(want, p) {
			want = append(want, p)
		}
	}
	slices.Sort(want)
	if got := tr.w.look().finished; !slices.Equal(got, want) {
		tr.violate("prune with --keep %d after release %d kept %v, want %v (before: %v)", tr.keep, n, got, want, pre.finished)
	}
}

func firstN(xs []string, n int) []string {
	if len(xs) > n {
		return xs[:n]
	}
	return xs
}
