package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
)

// run is one deploy in progress: what the script told us so far.
type run struct {
	h    host.Host
	opts Options
	p    *plan
	res  Result

	mu          sync.Mutex
	stage       string
	stageStart  time.Time
	out         lastLines
	failMsg     string
	lockedBy    string
	aborted     bool
	done        bool
	switched    bool
	survey      release.Snapshot
	swept       []int
	linked      []string
	state       *release.State
	waitedOnce  bool
	hostClock   time.Time
	reloadStart time.Time
	start       time.Time // when Deploy began, for the audit line
	reusedDeps  bool
	stageOut    []string // the current stage's output, for the reporter
	finished    bool     // the script pruned, logged and unlocked itself
}

func newRun(h host.Host, opts Options, p *plan) *run {
	r := &run{h: h, opts: opts, p: p}
	r.reset()
	return r
}

// reset forgets a previous attempt (after waiting for a held lock).
func (r *run) reset() {
	r.res = Result{Target: r.h.String(), Ref: r.opts.Ref, Commit: r.opts.Commit}
	r.stage, r.failMsg, r.lockedBy = "", "", ""
	r.aborted, r.done, r.switched = false, false, false
	r.survey = release.Snapshot{}
	r.swept, r.linked, r.state, r.reusedDeps, r.finished = nil, nil, nil, false, false
	r.out = lastLines{max: 40}
	r.stageOut = nil
}

func (r *run) describeSource() string {
	if r.p.upload {
		return fmt.Sprintf("upload of %s @ %s", r.opts.Upload, short(r.opts.Commit))
	}
	return fmt.Sprintf("%s @ %s", r.opts.Repo, r.opts.Ref)
}

// build runs the script up to the reload request.
func (r *run) build(ctx context.Context, upload io.Reader) error {
	pr, pw := io.Pipe()
	// Standard input: the upload, then nothing until we are done. The
	// script's watcher treats its end as "ship is gone".
	stdin, closeStdin := holdOpen(upload)
	defer closeStdin()

	r.mu.Lock()
	r.stageStart = time.Now()
	r.mu.Unlock()

	parsed := make(chan error, 1)
	go func() { parsed <- scanLines(pr, r.handleLine) }()
	err := r.h.Run(ctx, host.Command{Script: buildScript(r.p), Stdin: stdin, Stdout: pw, Stderr: pw})
	pw.Close()
	<-parsed

	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.lockedBy != "":
		var holder release.LockInfo
		le := &release.LockedError{Path: r.p.layout.Lock()}
		if json.Unmarshal([]byte(r.lockedBy), &holder) == nil {
			le.Holder = &holder
		}
		return le
	case r.done && err == nil:
		return nil
	case r.failMsg != "":
		return errors.New(r.failMsg)
	case err != nil:
		return err
	default:
		return errors.New("the deploy script ended early without saying why")
	}
}

// handleLine takes one line of the script's output: a marker or app output.
func (r *run) handleLine(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rest, ok := strings.CutPrefix(line, r.p.tag)
	if !ok {
		r.out.add(line)
		r.stageOut = append(r.stageOut, line)
		r.opts.Report.Output(line)
		return
	}
	kind, arg, _ := strings.Cut(rest, " ")
	switch kind {
	case "stage":
		r.endStage()
		r.stage, r.stageStart = arg, time.Now()
		r.opts.Report.StageStart(arg)
	case "locked":
		r.lockedBy = arg
	case "current":
		r.survey.CurrentRaw = arg
		r.survey.Current, _ = release.ParseCurrentTarget(arg)
		r.res.Previous = r.survey.Current
	case "release":
		f := strings.Fields(arg)
		if len(f) == 3 {
			rel := release.Release{Number: atoi(f[0])}
			if f[1] == "1" {
				rel.Info = &release.Info{Number: rel.Number}
			}
			if f[2] == "1" {
				rel.Bad = &release.Bad{}
			}
			r.survey.Releases = append(r.survey.Releases, rel)
		}
	case "swept":
		r.swept = append(r.swept, atoi(arg))
	case "state":
		var st release.State
		if json.Unmarshal([]byte(arg), &st) == nil {
			r.state = &st
		}
	case "now":
		r.hostClock = time.Unix(int64(atoi(arg)), 0)
	case "number":
		r.res.Release = atoi(arg)
	case "commit":
		r.res.Commit = arg
	case "pruned":
		f := strings.Fields(arg)
		for _, x := range f[1:] {
			r.res.Removed = append(r.res.Removed, atoi(x))
		}
	case "finished":
		for _, x := range strings.Fields(arg) {
			r.res.Kept = append(r.res.Kept, atoi(x))
		}
		r.finished = true
	case "reused":
		r.reusedDeps = true
	case "linked":
		r.linked = append(r.linked, arg)
	case "switched":
		r.switched = true
	case "done":
		// The reload stage goes on in Go (waiting for the receiver) and is
		// reported there, as one line.
		r.reloadStart, r.stage = r.stageStart, ""
		r.done = true
	case "fail":
		r.failMsg = arg
	case "aborted":
		r.aborted = true
	}
}

// endStage reports the stage that just finished. Called with r.mu held.
func (r *run) endStage() {
	if r.stage == "" {
		return
	}
	d := time.Since(r.stageStart)
	note := r.noteFor(r.stage)
	st := StageResult{Name: r.stage, Duration: d, Note: note}
	r.res.Stages = append(r.res.Stages, st)
	r.opts.Report.StageDone(st, r.stageOut)
	r.out = lastLines{max: 40}
	r.stageOut = nil
	r.stage = ""
}

func (r *run) noteFor(stage string) string {
	switch stage {
	case StageLock:
		if len(r.swept) > 0 {
			return fmt.Sprintf("swept unfinished %s", joinInts(r.swept))
		}
	case StageSource:
		return fmt.Sprintf("release %d ← %s", r.res.Release, short(r.res.Commit))
	case StageShared:
		if len(r.linked) == 0 {
			return "nothing in shared/"
		}
		return strings.Join(r.linked, " ")
	case StageInstall:
		if r.reusedDeps {
			return r.opts.Install + " (node_modules shared: dependencies unchanged)"
		}
		return r.opts.Install
	case StageBuild:
		return r.opts.Build
	case StageSwitch:
		return fmt.Sprintf("current → releases/%d", r.res.Release)
	}
	return ""
}

func stageIndex(name string) int {
	for i, s := range stages {
		if s == name {
			return i + 1
		}
	}
	return 0
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, " ")
}

// holdOpen returns a reader that yields upload (if any) and then blocks until
// closeFn is called, so the remote side sees its input end only when ship is
// done or gone.
func holdOpen(upload io.Reader) (io.Reader, func()) {
	pr, pw := io.Pipe()
	go func() {
		if upload != nil {
			if _, err := io.Copy(pw, upload); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	var once sync.Once
	return pr, func() { once.Do(func() { pw.Close(); pr.Close() }) }
}
