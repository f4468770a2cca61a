package deploy

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/testenv"
)

// screen plays what a terminal does with the reporter's output: "\x1b[1A"
// moves up a line, "\x1b[2K" clears it; the result is the lines left.
func screen(out string) []string {
	var lines []string
	for _, part := range strings.SplitAfter(out, "\n") {
		for strings.HasPrefix(part, "\x1b[1A\x1b[2K") {
			part = strings.TrimPrefix(part, "\x1b[1A\x1b[2K")
			lines = lines[:len(lines)-1]
		}
		if part != "" {
			lines = append(lines, strings.TrimSuffix(part, "\n"))
		}
	}
	return lines
}

// draw redraws as the ticker does, without waiting for it.
func draw(l *LiveReporter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.redraw()
}

func TestLiveReporterOneHost(t *testing.T) {
	var out bytes.Buffer
	l := &LiveReporter{text: NewTextReporter(&out, false), w: &out, width: 60, state: map[string]*liveHost{}}
	l.Begin(Plan{Hosts: []string{"web1"}, Root: "/app", Source: "repo @ main", Stages: stages})
	l.StageStart("web1", StageBuild)
	l.Output("web1", "compiling a very long line of output that does not fit in sixty columns at all")
	draw(l)
	if s := screen(out.String()); !strings.Contains(s[len(s)-1], "[5/9] build") || !strings.Contains(s[len(s)-1], "compiling") {
		t.Fatalf("live line = %q, want the build with its last output", s)
	}
	for _, line := range screen(out.String()) {
		if len([]rune(line)) > 60 {
			t.Errorf("line wider than the terminal: %q", line)
		}
	}
	l.StageDone("web1", StageResult{Name: StageBuild, Duration: 1500 * time.Millisecond, Note: "bun run build"}, nil)
	l.End(&FleetResult{Release: 4, Commit: "abcdef0123", Hosts: []*Result{{Target: "web1", Outcome: OutcomeOK}}}, nil)
	got := screen(out.String())
	want := []string{"ship → web1:/app   repo @ main", "  [5/9] build      1.5s   bun run build", "✓ web1 is on release 4 (abcdef0) · 0.0s"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("screen:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLiveReporterFleet(t *testing.T) {
	var out bytes.Buffer
	l := &LiveReporter{text: NewTextReporter(&out, false), w: &out, width: 100, state: map[string]*liveHost{}}
	l.Begin(Plan{Hosts: []string{"web1", "web2"}, Root: "/app", Source: "repo @ main", Stages: stages})
	l.StageStart("web1", StageInstall)
	l.StageStart("web2", StageBuild)
	draw(l)
	s := screen(out.String())
	if len(s) != 3 || !strings.HasPrefix(s[1], "web1 │   [4/9] install") || !strings.HasPrefix(s[2], "web2 │   [5/9] build") {
		t.Fatalf("live lines:\n%s", strings.Join(s, "\n"))
	}
	l.Note("", "canary web1 is on release 3")
	l.StageFailed("web2", StageBuild, time.Second, "build command failed", nil)
	res := &FleetResult{Release: 3, Hosts: []*Result{{Target: "web1", Outcome: OutcomeAborted, Error: "stopped: web2 failed"},
		{Target: "web2", Outcome: OutcomeFailed, Error: "build command failed"}}}
	l.End(res, ErrUnhealthy)
	s = screen(out.String())
	want := []string{"ship → 2 hosts (web1 web2):/app   repo @ main", "  canary web1 is on release 3",
		"web1 │ ✗ aborted: stopped: web2 failed", "web2 │ ✗ failed: build command failed"}
	if strings.Join(s, "\n") != strings.Join(want, "\n") {
		t.Errorf("screen:\n%s\nwant:\n%s", strings.Join(s, "\n"), strings.Join(want, "\n"))
	}
}

// Elsewhere than a terminal, a long stage says it is still running every
// StillEvery; its end stops that.
func TestTextReporterStillRunning(t *testing.T) {
	out := &testenv.SyncBuffer{}
	r := NewTextReporter(out, false)
	r.StillEvery = 50 * time.Millisecond
	r.Begin(Plan{Hosts: []string{"web1"}, Root: "/app", Source: "repo @ main", Stages: stages})
	r.StageStart("web1", StageBuild)
	time.Sleep(180 * time.Millisecond)
	r.StageDone("web1", StageResult{Name: StageBuild, Duration: 180 * time.Millisecond}, nil)
	time.Sleep(120 * time.Millisecond)
	got := out.String()
	// About 3; a loaded machine may delay a tick past the stage's end.
	if n := strings.Count(got, "[5/9] build    still running"); n < 1 || n > 4 {
		t.Errorf("%d still-running lines, want 1 to 4 (about 3):\n%s", n, got)
	}
	if i, j := strings.LastIndex(got, "still running"), strings.Index(got, "[5/9] build      0.2s"); i > j {
		t.Errorf("a still-running line after the stage ended:\n%s", got)
	}
}
