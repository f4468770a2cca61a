package deploy

import (
	"fmt"
	"io"
	"time"
)

// Reporter receives a deploy's progress. The text reporter prints the lines
// a person reads in a terminal; `ship` inside GitHub Actions wraps stages in
// collapsible groups and writes the job summary.
type Reporter interface {
	// Begin: a deploy to target (host:root) of source starts.
	Begin(target, source string)
	// StageStart: the host began a stage; its Output follows.
	StageStart(stage string)
	// Output is one line of the host's output, as it arrives.
	Output(line string)
	// StageDone: a stage finished; output is what the host printed during it.
	StageDone(st StageResult, output []string)
	// StageFailed: a stage failed after d; reason may be empty when the
	// output says it.
	StageFailed(stage string, d time.Duration, reason string, output []string)
	// Note is a line of its own: waiting for a lock, a warning.
	Note(msg string)
	// Done: the deploy succeeded.
	Done(res *Result)
}

// TextReporter prints for a terminal or a plain log.
type TextReporter struct {
	W       io.Writer
	Verbose bool // print the host's output as it arrives
}

func (t *TextReporter) Begin(target, source string) {
	fmt.Fprintf(t.W, "ship → %s   %s\n", target, source)
}

func (t *TextReporter) StageStart(string) {}

func (t *TextReporter) Output(line string) {
	if t.Verbose {
		fmt.Fprintf(t.W, "      │ %s\n", line)
	}
}

func (t *TextReporter) StageDone(st StageResult, _ []string) {
	fmt.Fprintf(t.W, "  %s %-8s %5.1fs   %s\n", StageLabel(st.Name), st.Name, st.Duration.Seconds(), st.Note)
}

func (t *TextReporter) StageFailed(stage string, d time.Duration, reason string, output []string) {
	if reason == "" {
		fmt.Fprintf(t.W, "  %s %-8s failed after %.1fs\n", StageLabel(stage), stage, d.Seconds())
	} else {
		fmt.Fprintf(t.W, "  %s %-8s failed: %s\n", StageLabel(stage), stage, reason)
	}
	if !t.Verbose { // with -v the lines were shown as they came
		for _, l := range tail(output, 12) {
			fmt.Fprintf(t.W, "      │ %s\n", l)
		}
	}
}

func (t *TextReporter) Note(msg string) { fmt.Fprintf(t.W, "  %s\n", msg) }

func (t *TextReporter) Done(res *Result) {
	fmt.Fprintf(t.W, "✓ %s is on release %d (%s) · %.1fs\n", res.Target, res.Release, short(res.Commit), res.Duration.Seconds())
}

// StageLabel is "[4/8]" for the install stage.
func StageLabel(name string) string {
	return fmt.Sprintf("[%d/%d]", stageIndex(name), len(stages))
}
