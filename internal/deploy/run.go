package deploy

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
)

// ErrUnhealthy means the receiver refused the new release; ship rolled back.
var ErrUnhealthy = errors.New("the new release did not become healthy")

// ErrLocked is release.ErrLocked, here for callers of this package.
var ErrLocked = release.ErrLocked

// StepError is a deploy that failed at one step.
type StepError struct {
	Step    string
	Target  string
	Release int      // the release being made, 0 if none was numbered
	Current int      // what current points to now
	Output  []string // the failing command's last lines
	Err     error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("%s failed on %s: %v", e.Step, e.Target, e.Err)
}
func (e *StepError) Unwrap() error { return e.Err }

// StageResult is one line of the report.
type StageResult struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration_ns"`
	Note     string        `json:"note,omitempty"`
}

// Result is a finished deploy.
type Result struct {
	Target   string                `json:"target"`
	Release  int                   `json:"release"`
	Previous int                   `json:"previous"`
	Commit   string                `json:"commit"`
	Ref      string                `json:"ref"`
	Stages   []StageResult         `json:"stages"`
	Reload   *release.ReloadResult `json:"reload,omitempty"`
	Kept     []int                 `json:"kept"`
	Removed  []int                 `json:"removed"`
	Duration time.Duration         `json:"duration_ns"`
}

// plan is everything the build script needs, decided before it runs.
type plan struct {
	tag        string
	id         string
	layout     release.Layout
	lockJSON   string
	repo, ref  string
	upload     bool
	uploadSize int64
	commit     string
	shared     []string
	install    string
	build      string
	infoJSON   [4]string
	env        []string
	// finishInline: end in the build script when nobody waits for a
	// receiver (noWait: --wait 0); logJSON is its audit line in fragments.
	finishInline bool
	noWait       bool
	keep         int
	logJSON      [5]string
}

// Deploy makes a new release on h and switches to it.
func Deploy(ctx context.Context, h host.Host, opts Options) (*Result, error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	id := newID()
	p := &plan{
		tag:     "@@ship-" + id[:12] + " ",
		id:      id,
		layout:  release.Layout{Root: opts.Root},
		repo:    opts.Repo,
		ref:     opts.Ref,
		upload:  opts.Upload != "",
		commit:  opts.Commit,
		shared:  opts.Shared,
		install: opts.Install,
		build:   opts.Build,
		env:     opts.Env,
		keep:    opts.Keep,
		noWait:  opts.Wait <= 0,
		// Always possible; the script checks for a live receiver.
		finishInline: true,
	}
	p.lockJSON = release.MarshalLine(release.LockInfo{
		ID: id, Who: opts.By, From: hostname(), PID: os.Getpid(), Command: opts.Command, Since: time.Now().UTC(),
	})
	source := opts.Repo
	if p.upload {
		source = "upload"
	}
	p.infoJSON = infoFragments(opts.Ref, source, opts.By)
	p.logJSON = logFragments(id, opts.Ref, opts.By)

	var upload *os.File
	if p.upload {
		f, size, err := packTree(opts.Upload)
		if err != nil {
			return nil, fmt.Errorf("pack %s for upload: %w", opts.Upload, err)
		}
		defer os.Remove(f.Name())
		defer f.Close()
		upload, p.uploadSize = f, size
	}

	r := newRun(h, opts, p)
	r.start = start
	opts.Report.Begin(fmt.Sprintf("%s:%s", h, opts.Root), r.describeSource())

	deadline := time.Now().Add(opts.LockWait)
	for {
		if upload != nil {
			if _, err := upload.Seek(0, io.SeekStart); err != nil {
				return nil, err
			}
		}
		var in io.Reader // a nil *os.File in an interface is not a nil reader
		if upload != nil {
			in = upload
		}
		err := r.build(ctx, in)
		var locked *release.LockedError
		if errors.As(err, &locked) && time.Now().Before(deadline) {
			if !r.waitedOnce {
				opts.Report.Note(fmt.Sprintf("waiting for the lock (%v), up to %s", locked, opts.LockWait))
				r.waitedOnce = true
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Second):
			}
			r.reset()
			continue
		}
		if err != nil {
			return nil, r.failed(ctx, err)
		}
		break
	}

	if r.finished {
		// Nobody to wait for: the script pruned, logged and unlocked.
		note := "requested; not waiting (--wait 0)"
		if opts.Wait > 0 {
			note = "no receiver running (no fresh .ship/state.json): the app was not reloaded"
		}
		r.addStage(StageReload, time.Since(r.reloadStart), note)
		r.addStage(StagePrune, 0, pruneNote(r.res.Removed, r.res.Kept))
	} else {
		// The switch happened: wait for the receiver, roll back on a no.
		if err := r.awaitReload(ctx); err != nil {
			return nil, err
		}
		if err := r.finish(ctx); err != nil {
			return nil, err
		}
	}
	r.res.Duration = time.Since(start)
	opts.Report.Done(&r.res)
	return &r.res, nil
}

// infoFragments is release.json around the three values only the host knows
// (number, commit, build time), so the script can print it with printf.
func infoFragments(ref, source, by string) [4]string {
	js := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	return [4]string{
		`{"number":`,
		`,"commit":"`,
		`","ref":` + js(ref) + `,"source":` + js(source) + `,"by":` + js(by) + `,"built_at":"`,
		`"}`,
	}
}

// logFragments is the audit line of a deploy that finishes in the script,
// around its time, release, previous release and commit.
func logFragments(id, ref, by string) [5]string {
	js := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	return [5]string{
		`{"time":"`,
		`","kind":"deploy","id":` + js(id) + `,"result":"ok","release":`,
		`,"previous":`,
		`,"commit":"`,
		`","ref":` + js(ref) + `,"by":` + js(by) + `,"detail":"finished on the host"}`,
	}
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

func short(commit string) string {
	if len(commit) > 7 {
		return commit[:7]
	}
	if commit == "" {
		return "no commit"
	}
	return commit
}

// lastLines keeps the tail of a stage's output.
type lastLines struct {
	lines []string
	max   int
}

func (l *lastLines) add(s string) {
	l.lines = append(l.lines, s)
	if len(l.lines) > l.max {
		l.lines = l.lines[len(l.lines)-l.max:]
	}
}

// scanLines calls fn for each line of r, keeping lines of any length.
func scanLines(r io.Reader, fn func(string)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			fn(strings.TrimRight(line, "\r\n"))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}
