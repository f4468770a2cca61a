package deploy

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shipdeploy/ship/internal/release"
)

// handle takes one line of the host script's output: it keeps the books,
// tells the reporter, and forwards milestones to the fleet.
func (r *hostRun) handle(line string) {
	e := parseEvent(r.p.tag, line)
	r.mu.Lock()
	r.lastLine = time.Now()
	forward := r.record(&e)
	r.mu.Unlock()
	if forward {
		r.ms <- e
	}
}

// record applies e to the run's state. Called with r.mu held; it reports
// whether e is a milestone for the fleet.
func (r *hostRun) record(e *event) bool {
	switch e.Kind {
	case evOutput:
		r.out.add(e.Text)
		r.stageOut = append(r.stageOut, e.Text)
		r.rep.Output(r.name, e.Text)
	case evStage:
		r.endStage()
		r.stage, r.stageStart = e.Text, time.Now()
		r.rep.StageStart(r.name, e.Text)
		r.sample() // a round trip per stage: the shortest is the link's (commitLead)
	case evPong:
		r.pong(e.N, e.Time)
	case evTakeover:
		r.rep.Note(r.name, fmt.Sprintf("took over a stale lock (its heartbeat stopped %ds ago): %s", e.N, describeHolder(e.Holder)))
	case evNote:
		r.rep.Note(r.name, e.Text)
	case evAborted:
		r.res.Outcome, r.res.Error = OutcomeAborted, e.Text
	case evFail:
		r.res.Outcome, r.res.Error = OutcomeFailed, e.Text
		r.failStage(e.Text)
	case evDone:
		r.endStage()
		r.res.Outcome = OutcomeOK
	default:
		r.recordSurvey(e)
		return r.recordProgress(e)
	}
	return milestones[e.Kind]
}

// recordSurvey keeps what the survey said: the releases, current, the
// receiver's state and the host's clock.
func (r *hostRun) recordSurvey(e *event) {
	switch e.Kind {
	case evCurrent:
		r.survey.CurrentRaw = e.Text
		r.survey.Current, _ = release.ParseCurrentTarget(e.Text)
		r.res.Previous = r.survey.Current
	case evRelease:
		rel := release.Release{Number: e.N}
		if e.Finished {
			rel.Info = &release.Info{Number: e.N}
		}
		if e.Bad {
			rel.Bad = &release.Bad{}
		}
		r.survey.Releases = append(r.survey.Releases, rel)
	case evSwept:
		r.swept = append(r.swept, e.N)
	case evState:
		r.state = e.State
		if e.State != nil && e.State.Maintenance != nil {
			r.rep.Note(r.name, "maintenance is on: visitors keep getting the maintenance page, after this deploy too, until ship maintenance TARGET off (or deploy --maintenance-off)")
		}
	case evNow:
		r.hostNow = e.Time
	case evNext:
		// The survey lists folders in the shell's text order ("10" before
		// "7"): releases are ordered by number, always.
		sort.Slice(r.survey.Releases, func(i, j int) bool { return r.survey.Releases[i].Number < r.survey.Releases[j].Number })
		r.next = e.N
	}
}

// recordProgress keeps what the build, the stage and the switch said.
func (r *hostRun) recordProgress(e *event) bool {
	switch e.Kind {
	case evCommit:
		r.res.Commit = e.Text
	case evLinked:
		r.linked = append(r.linked, e.Text)
	case evReused:
		r.reused = true
	case evEnv:
		r.envMerged, r.envWritten = e.Text == "merged", true
	case evReleased:
		r.released = true
	case evBuilt:
		r.res.Release = e.N
		r.endStage()
	case evStaged:
		r.endStage()
	case evSwitched:
		r.res.Release = e.N
	case evPruned:
		r.res.Removed = append([]int{}, e.Nums...)
	case evAnswer:
		return r.recordAnswer(e)
	}
	return milestones[e.Kind]
}

// recordAnswer keeps the receiver's answers; "staged" is the milestone the
// fleet's barrier waits for.
func (r *hostRun) recordAnswer(e *event) bool {
	a := e.Answer
	if a == nil {
		a = &release.Answer{}
	}
	switch e.Word {
	case release.AnswerStaged:
		r.staged = a
		r.endStage()
		e.Kind = evStaged
		return true
	case release.AnswerFailed, release.AnswerAborted:
		if r.stage == StageStage || r.stage == StageSwitch {
			r.staged = a
		}
	case release.AnswerCommitted:
		r.committed = a
	case release.AnswerDrained:
		r.drained = a
		if r.committed == nil { // the drain was done before the host looked
			r.committed = a
		}
		r.endStage()
	}
	return false
}

// endStage reports the stage that just finished. Called with r.mu held.
func (r *hostRun) endStage() {
	if r.stage == "" {
		return
	}
	st := StageResult{Name: r.stage, Duration: time.Since(r.stageStart), Note: r.noteFor(r.stage)}
	r.res.Stages = append(r.res.Stages, st)
	r.rep.StageDone(r.name, st, r.stageOut)
	r.out = lastLines{max: 40}
	r.stageOut = nil
	r.stage = ""
}

// failStage reports the stage that failed, with its last output.
func (r *hostRun) failStage(msg string) {
	stage := r.stage
	if stage == "" {
		stage = StageLock
	}
	out := r.out.lines
	if r.staged != nil && len(r.staged.LogTail) > 0 {
		out = r.staged.LogTail // the app's own last words say more than ours
	}
	r.res.FailedStage, r.res.Output = stage, tail(out, 12)
	r.rep.StageFailed(r.name, stage, time.Since(r.stageStart), msg, tail(out, 12))
	r.stage, r.stageOut = "", nil
}

func (r *hostRun) noteFor(stage string) string {
	switch stage {
	case StageLock:
		if len(r.swept) > 0 {
			return "swept unfinished " + joinInts(r.swept)
		}
	case StageSource:
		note := fmt.Sprintf("release %d ← %s", r.number, short(r.res.Commit))
		if r.p.dirtyFiles > 0 {
			note += fmt.Sprintf(" + %d uncommitted changes", r.p.dirtyFiles)
		}
		if r.p.upload {
			note += fmt.Sprintf(" · upload of %s", sizeText(r.p.uploadSize))
		}
		return note
	case StageShared:
		return r.sharedNote()
	case StageInstall:
		if r.reused {
			return r.p.install + " (node_modules shared: dependencies unchanged)"
		}
		return r.p.install
	case StageBuild:
		return r.p.build
	case StageRelease:
		return r.releaseNote()
	case StageStage:
		return r.stageNote()
	case StageSwitch:
		return r.switchNote()
	case StagePrune:
		return pruneNote(r.res.Removed, r.res.Kept)
	}
	return ""
}

// sharedNote lists what shared/ gave the release, and its own .env.
func (r *hostRun) sharedNote() string {
	entries := append([]string(nil), r.linked...)
	if r.envWritten {
		from := fmt.Sprintf("%d from ship.yml env:", r.p.envNames)
		if r.p.envFrom > 0 {
			from = fmt.Sprintf("ship.yml env: as release %d had it", r.p.envFrom)
		}
		env := ".env (" + from + ")"
		if r.envMerged {
			env = ".env (" + from + " over the lines it had)"
		}
		entries = slices.DeleteFunc(entries, func(e string) bool { return e == ".env" })
		entries = append(entries, env)
	}
	if len(entries) == 0 {
		return "nothing in shared/"
	}
	return strings.Join(entries, " ")
}

func (r *hostRun) releaseNote() string {
	on := cmp.Or(r.releasedOn, r.p.releasedOn)
	held := r.heldFor >= 100*time.Millisecond // worth saying where the time went
	switch {
	case r.released && held:
		return fmt.Sprintf("%s (after %s waiting for every host's build)", r.p.release, FormatDuration(r.heldFor))
	case r.released:
		return r.p.release
	case on != "" && held:
		return "ran once, on " + on + " (this host waited for the builds and the command)"
	case on != "":
		return "ran once, on " + on
	case r.p.release == "":
		return "no release command (set release: in ship.yml to run migrations here)"
	}
	return ""
}

func (r *hostRun) stageNote() string {
	switch r.mode {
	case modeReload:
		return "not staged (--wait 0): the receiver reloads after the switch"
	case modeNone:
		return "no receiver running (no fresh .ship/state.json): nothing to start"
	}
	if a := r.staged; a != nil {
		return fmt.Sprintf("healthy after %.1fs (release %d started next to %d, out of traffic)", a.HealthyAfter, r.res.Release, r.servingRelease())
	}
	return ""
}

func (r *hostRun) switchNote() string {
	note := fmt.Sprintf("current → releases/%d", r.res.Release)
	switch {
	case r.mode == modeReload:
		return note + " · reload requested; not waiting (--wait 0)"
	case r.mode == modeNone:
		return note + " · no receiver running: the app was not reloaded"
	case r.drained != nil:
		return note + fmt.Sprintf(" · traffic moved · drained %d requests · %d dropped", r.drained.Drained, r.drained.Dropped)
	case r.committed != nil:
		return note + " · traffic moved"
	}
	return note
}

// servingRelease is what the receiver served when the survey looked.
func (r *hostRun) servingRelease() int {
	if r.state != nil && r.state.Serving != nil {
		return r.state.Serving.Release
	}
	return r.survey.Current
}

func describeHolder(h *release.LockInfo) string {
	if h == nil {
		return "holder unknown (its info is unreadable; `ship unlock` removes it)"
	}
	return fmt.Sprintf("%s on %s (pid %d) since %s: %s", h.Who, h.From, h.PID, release.TimeText(h.Since), h.Command)
}

func pruneNote(removed, kept []int) string {
	note := "kept " + joinInts(kept)
	if len(removed) > 0 {
		note = fmt.Sprintf("removed %s · %s", joinInts(removed), note)
	}
	return note
}

// sizeText is a byte count for a person: 840 B, 12.3 KB, 4.5 MB.
func sizeText(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f KB", float64(n)/1000)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1000/1000)
}
