package shipcmd

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/release"
)

// actionsReporter is deploy.Reporter as the Actions log shows it.
//
// With one host: a group per stage holding that stage's output. A stage
// opens its group when it starts and streams its output live (a long build
// shows as it goes), fenced with stop-commands; its time and note close it.
//
// With several hosts, whose lines come at once: a line per stage and host
// as it ends, and a group per host holding all its output, printed when the
// run ends (groups cannot interleave in the log).
type actionsReporter struct {
	mu    sync.Mutex
	w     io.Writer
	fleet bool
	open  string              // one host: the open group's stop-commands token
	held  map[string][]string // several hosts: each host's output, by stage
	order []string
	plan  deploy.Plan
}

func newActionsReporter(w io.Writer) *actionsReporter {
	return &actionsReporter{w: w, held: map[string][]string{}}
}

func (r *actionsReporter) Begin(p deploy.Plan) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fleet = len(p.Hosts) > 1
	r.order, r.plan = p.Hosts, p
	guardLine(r.w, fmt.Sprintf("ship → %s:%s   %s", strings.Join(p.Hosts, " "), p.Root, p.Source))
}

func (r *actionsReporter) StageStart(host, stage string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fleet {
		r.held[host] = append(r.held[host], fmt.Sprintf("── %s %s", r.plan.Label(stage), stage))
		return
	}
	r.closeOpen("")
	r.open = randomToken()
	fmt.Fprintf(r.w, "::group::%s\n", escapeData(fmt.Sprintf("%s %s (%s)", r.plan.Label(stage), stage, host)))
	fmt.Fprintf(r.w, "::stop-commands::%s\n", r.open)
}

// closeOpen ends the open group, with last as its final (fenced) line.
// It reports whether a group was open. Called with r.mu held.
func (r *actionsReporter) closeOpen(last string) bool {
	if r.open == "" {
		return false
	}
	if last != "" {
		fmt.Fprintln(r.w, last)
	}
	fmt.Fprintf(r.w, "::%s::\n::endgroup::\n", r.open)
	r.open = ""
	return true
}

// Output goes into the open group as it comes, or is held for the host's.
func (r *actionsReporter) Output(host, line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fleet {
		r.held[host] = append(r.held[host], line)
		return
	}
	if r.open != "" {
		fmt.Fprintln(r.w, line)
	}
}

// label is the plan's label of stage.
func (r *actionsReporter) label(stage string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.plan.Label(stage)
}

func (r *actionsReporter) StageDone(host string, st deploy.StageResult, output []string) {
	title := fmt.Sprintf("%s %s %s", r.label(st.Name), st.Name, deploy.FormatDuration(st.Duration))
	if st.Note != "" {
		title += "  " + st.Note
	}
	// The closing line leaves out the install and build notes: they quote
	// the configured command, which the group's output already follows.
	last := title
	if st.Name == deploy.StageInstall || st.Name == deploy.StageBuild {
		last = fmt.Sprintf("%s %s %s", r.label(st.Name), st.Name, deploy.FormatDuration(st.Duration))
	}
	r.ended(host, title, last, output)
}

func (r *actionsReporter) StageFailed(host, stage string, d time.Duration, reason string, output []string) {
	title := fmt.Sprintf("%s %s failed after %s: %s", r.label(stage), stage, deploy.FormatDuration(d), reason)
	r.ended(host, title, title, output)
}

// ended closes a stage: its group (one host), or its line (several).
func (r *actionsReporter) ended(host, title, last string, output []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fleet {
		guardLine(r.w, host+" │ "+title)
		return
	}
	if r.closeOpen(last) {
		return
	}
	r.group(title+" ("+host+")", output)
}

func (r *actionsReporter) Note(host, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeOpen("")
	if host != "" && r.fleet {
		msg = host + " │ " + msg
	}
	guardLine(r.w, "  "+msg)
}

func (r *actionsReporter) End(res *deploy.FleetResult, err error) {
	r.flush()
	if err != nil || res == nil || len(res.Hosts) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	where := res.Hosts[0].Target
	if len(res.Hosts) > 1 {
		where = fmt.Sprintf("%d hosts", len(res.Hosts))
	}
	guardLine(r.w, fmt.Sprintf("✓ %s on release %d (%s) · %s", where, res.Release, release.ShortCommit(res.Commit), deploy.FormatDuration(res.Duration)))
}

// flush prints what is held: a group per host.
func (r *actionsReporter) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeOpen("")
	for _, h := range r.order {
		if lines := r.held[h]; len(lines) > 0 {
			r.group(h+": output", lines)
			delete(r.held, h)
		}
	}
}

func (r *actionsReporter) group(title string, lines []string) {
	fmt.Fprintf(r.w, "::group::%s\n", escapeData(title))
	fence(r.w, lines)
	fmt.Fprintf(r.w, "::endgroup::\n")
}
