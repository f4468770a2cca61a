package deploy

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Reporter receives a run's progress, host by host. Its methods are called
// from several goroutines (one per host) and must be safe for that. host
// is "" for lines about the whole fleet.
type Reporter interface {
	// Begin: a run starts.
	Begin(p Plan)
	// StageStart: a host began a stage; its Output follows.
	StageStart(host, stage string)
	// Output is one line of a host's output, as it arrives.
	Output(host, line string)
	// StageDone: a stage finished; output is what the host printed in it.
	StageDone(host string, st StageResult, output []string)
	// StageFailed: a stage failed after d; output is its last lines.
	StageFailed(host, stage string, d time.Duration, reason string, output []string)
	// Note is a line of its own: waiting for a lock, a warning.
	Note(host, msg string)
	// End: the run is over; err is nil when every host finished (res may
	// be nil when no host was reached). A failure is explained by the
	// caller, which knows what to advise.
	End(res *FleetResult, err error)
}

// Plan is what a run is about to do, for its reporter.
type Plan struct {
	Hosts  []string
	Root   string
	Source string   // "repo @ main", "rollback"
	Stages []string // each host's stages, in order
}

// Label is "[4/9]" for the plan's fourth stage of nine.
func (p Plan) Label(stage string) string {
	for i, s := range p.Stages {
		if s == stage {
			return fmt.Sprintf("[%d/%d]", i+1, len(p.Stages))
		}
	}
	return "[-]"
}

// TextReporter prints for a terminal or a plain log: one line per stage.
// With several hosts each line starts with the host's name.
type TextReporter struct {
	W       io.Writer
	Verbose bool // print the hosts' output as it arrives
	// StillEvery: a stage running this long gets a "still running" line
	// (and another each time again), so a quiet log shows life.
	StillEvery time.Duration

	mu    sync.Mutex
	plan  Plan
	width int                    // of the host column; 0 with a single host
	still map[string]*time.Timer // per host, while a stage runs
}

// stillEvery is TextReporter.StillEvery's default.
const stillEvery = 30 * time.Second

// NewTextReporter is a TextReporter on w.
func NewTextReporter(w io.Writer, verbose bool) *TextReporter {
	return &TextReporter{W: w, Verbose: verbose, StillEvery: stillEvery}
}

func (t *TextReporter) Begin(p Plan) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.plan = p
	if len(p.Hosts) == 1 {
		fmt.Fprintf(t.W, "ship → %s:%s   %s\n", p.Hosts[0], p.Root, p.Source)
		return
	}
	for _, h := range p.Hosts {
		t.width = max(t.width, len(h))
	}
	fmt.Fprintf(t.W, "ship → %d hosts (%s):%s   %s\n", len(p.Hosts), strings.Join(p.Hosts, " "), p.Root, p.Source)
}

// label is the plan's label of stage.
func (t *TextReporter) label(stage string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.plan.Label(stage)
}

// line prints one line for host, with the host column on a fleet.
func (t *TextReporter) line(host, format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	prefix := ""
	if t.width > 0 && host != "" {
		prefix = fmt.Sprintf("%-*s │ ", t.width, host)
	}
	fmt.Fprintf(t.W, prefix+format+"\n", args...)
}

func (t *TextReporter) StageStart(host, stage string) {
	if t.Verbose { // the stage's line comes before its output
		t.line(host, "  %s %s …", t.label(stage), stage)
	}
	t.watch(host, stage)
}

// watch prints a "still running" line every StillEvery while host's stage
// runs; the stage's end (or the next stage) stops it.
func (t *TextReporter) watch(host, stage string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.still == nil {
		t.still = map[string]*time.Timer{}
	}
	if old := t.still[host]; old != nil {
		old.Stop()
	}
	if t.StillEvery <= 0 || stage == "" {
		delete(t.still, host)
		return
	}
	start := time.Now()
	var tick func()
	tick = func() {
		t.line(host, "  %s %-8s still running (%s)", t.label(stage), stage, FormatDuration(time.Since(start).Round(time.Second)))
		t.mu.Lock()
		if cur := t.still[host]; cur != nil {
			cur.Reset(t.StillEvery)
		}
		t.mu.Unlock()
	}
	t.still[host] = time.AfterFunc(t.StillEvery, tick)
}

func (t *TextReporter) Output(host, line string) {
	if t.Verbose {
		t.line(host, "      │ %s", line)
	}
}

func (t *TextReporter) StageDone(host string, st StageResult, _ []string) {
	t.watch(host, "")
	t.line(host, "  %s %-8s %6s   %s", t.label(st.Name), st.Name, FormatDuration(st.Duration), st.Note)
}

func (t *TextReporter) StageFailed(host, stage string, d time.Duration, reason string, output []string) {
	t.watch(host, "")
	t.line(host, "  %s %-8s failed after %s: %s", t.label(stage), stage, FormatDuration(d), reason)
	if !t.Verbose { // with -v the lines were shown as they came
		for _, l := range tail(output, 12) {
			t.line(host, "      │ %s", l)
		}
	}
}

func (t *TextReporter) Note(host, msg string) { t.line(host, "  %s", msg) }

func (t *TextReporter) End(res *FleetResult, err error) {
	t.mu.Lock()
	for h, timer := range t.still {
		timer.Stop()
		delete(t.still, h)
	}
	t.mu.Unlock()
	if err != nil || res == nil || len(res.Hosts) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(res.Hosts) == 1 {
		h := res.Hosts[0]
		fmt.Fprintf(t.W, "✓ %s is on release %d (%s) · %s\n", h.Target, res.Release, short(res.Commit), FormatDuration(res.Duration))
		return
	}
	spread := ""
	if res.Spread >= 0 {
		spread = fmt.Sprintf(" · switched within %s of each other", res.Spread.Round(time.Millisecond))
	}
	fmt.Fprintf(t.W, "✓ %d hosts are on release %d (%s)%s · %s\n", len(res.Hosts), res.Release, short(res.Commit), spread, FormatDuration(res.Duration))
}

// FormatDuration is how ship writes a duration for a person: 0.4s, 12.0s,
// 1m02s, 1h05m.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
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

// StageNames are the stages of a deploy, in order.
func StageNames() []string { return append([]string(nil), stages...) }
