package deploy

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// liveEvery is how often the live lines are redrawn.
const liveEvery = 200 * time.Millisecond

// LiveReporter is the TextReporter for a terminal: below the finished lines
// it keeps a live line per host, redrawn in place, with the running stage,
// its elapsed time and the last line of its output. With one host the
// finished stages are printed as by TextReporter; with several, only the
// live lines move, and each host's outcome stays at the end.
type LiveReporter struct {
	text  *TextReporter
	w     io.Writer
	width int

	mu    sync.Mutex
	hosts []string
	plan  Plan
	state map[string]*liveHost
	drawn int // live lines on the screen now
	stop  chan struct{}
	done  chan struct{}
}

type liveHost struct {
	stage string
	since time.Time
	last  string // the last line of output
	end   string // set when the host is done (ok or not)
}

// NewReporter is a LiveReporter when w is a terminal, else a TextReporter.
func NewReporter(w io.Writer, verbose bool) Reporter {
	f, ok := w.(*os.File)
	if !ok || verbose {
		return NewTextReporter(w, verbose)
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return NewTextReporter(w, verbose)
	}
	width := 100
	if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 20 {
		width = int(ws.Col)
	}
	return &LiveReporter{text: NewTextReporter(w, false), w: w, width: width, state: map[string]*liveHost{}}
}

func (l *LiveReporter) Begin(p Plan) {
	l.text.Begin(p)
	l.mu.Lock()
	l.hosts, l.plan = p.Hosts, p
	for _, h := range p.Hosts {
		l.state[h] = &liveHost{since: time.Now(), stage: "connecting"}
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	l.mu.Unlock()
	go l.tick()
}

func (l *LiveReporter) tick() {
	defer close(l.done)
	t := time.NewTicker(liveEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			l.redraw()
			l.mu.Unlock()
		}
	}
}

func (l *LiveReporter) StageStart(host, stage string) {
	l.update(host, func(h *liveHost) { h.stage, h.since, h.last = stage, time.Now(), "" })
}

func (l *LiveReporter) Output(host, line string) {
	l.update(host, func(h *liveHost) { h.last = line })
}

func (l *LiveReporter) StageDone(host string, st StageResult, output []string) {
	l.update(host, func(h *liveHost) { h.stage, h.last = "", "" })
	if len(l.hosts) == 1 {
		l.above(func() { l.text.StageDone(host, st, output) })
	}
}

func (l *LiveReporter) StageFailed(host, stage string, d time.Duration, reason string, output []string) {
	if len(l.hosts) == 1 {
		l.above(func() { l.text.StageFailed(host, stage, d, reason, output) })
	}
	l.update(host, func(h *liveHost) {
		h.end = fmt.Sprintf("✗ %s failed after %s: %s", stage, FormatDuration(d), reason)
	})
}

func (l *LiveReporter) Note(host, msg string) { l.above(func() { l.text.Note(host, msg) }) }

// End stops the live lines, leaves each host's last state (with several
// hosts) and prints the closing line of a run that worked.
func (l *LiveReporter) End(res *FleetResult, err error) {
	l.mu.Lock()
	if l.stop != nil {
		close(l.stop)
	}
	l.mu.Unlock()
	if l.done != nil {
		<-l.done
	}
	l.mu.Lock()
	l.clear()
	if len(l.hosts) > 1 && res != nil {
		for _, h := range res.Hosts {
			fmt.Fprintf(l.w, "%s\n", l.fit(fmt.Sprintf("%-*s │ %s", l.nameWidth(), h.Target, hostEnd(res, h))))
		}
	}
	l.mu.Unlock()
	l.text.End(res, err)
}

// update changes a host's state; the ticker draws it.
func (l *LiveReporter) update(host string, fn func(*liveHost)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.state[host]; h != nil {
		fn(h)
	}
}

// above prints a finished line above the live ones.
func (l *LiveReporter) above(print func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clear()
	print()
	l.redraw()
}

// clear takes the live lines off the screen. Called with l.mu held.
func (l *LiveReporter) clear() {
	for ; l.drawn > 0; l.drawn-- {
		fmt.Fprint(l.w, "\x1b[1A\x1b[2K")
	}
}

// redraw puts the live lines back, fresh. Called with l.mu held.
func (l *LiveReporter) redraw() {
	l.clear()
	var b strings.Builder
	for _, name := range l.hosts {
		h := l.state[name]
		if len(l.hosts) == 1 && h.stage == "" && h.end == "" {
			continue // between two stages: the finished lines say it
		}
		line := liveLine(l.plan, h)
		if len(l.hosts) > 1 {
			line = fmt.Sprintf("%-*s │ %s", l.nameWidth(), name, line)
		}
		if line == "" {
			continue
		}
		b.WriteString(l.fit(line) + "\n")
		l.drawn++
	}
	fmt.Fprint(l.w, b.String())
}

func liveLine(p Plan, h *liveHost) string {
	switch {
	case h.end != "":
		return h.end
	case h.stage == "":
		return "  … waiting for the other hosts"
	}
	line := fmt.Sprintf("  %s %-8s %6s", p.Label(h.stage), h.stage, FormatDuration(time.Since(h.since)))
	if h.stage == "connecting" {
		line = fmt.Sprintf("  connecting %s", FormatDuration(time.Since(h.since)))
	}
	if h.last != "" {
		line += "   │ " + h.last
	}
	return line
}

func (l *LiveReporter) nameWidth() int {
	w := 0
	for _, h := range l.hosts {
		w = max(w, len(h))
	}
	return w
}

// fit cuts a line to the terminal's width, so a redraw moves up exactly
// one screen line per live line.
func (l *LiveReporter) fit(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) < l.width {
		return s
	}
	r := []rune(s)
	return string(r[:l.width-2]) + "…"
}

// hostEnd is a host's final line: its outcome and its slowest stages.
func hostEnd(res *FleetResult, h *Result) string {
	if h.Outcome != OutcomeOK {
		return fmt.Sprintf("✗ %s: %s", h.Outcome, h.Error)
	}
	st := append([]StageResult(nil), h.Stages...)
	sort.Slice(st, func(i, j int) bool { return st[i].Duration > st[j].Duration })
	var parts []string
	for i := 0; i < len(st) && i < 3; i++ {
		parts = append(parts, fmt.Sprintf("%s %s", st[i].Name, FormatDuration(st[i].Duration)))
	}
	return fmt.Sprintf("✓ release %d · %s (%s)", res.Release, FormatDuration(h.Duration), strings.Join(parts, ", "))
}
