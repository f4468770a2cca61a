package receivercmd

import (
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/release"
)

// writeRequest writes releases/KIND as the host script does (atomically).
func writeRequest(t *testing.T, l release.Layout, kind, id string, n int, at time.Time) {
	t.Helper()
	rq := release.ReloadRequest{ID: id, Release: n}
	if !at.IsZero() {
		rq.At = at.UnixMilli()
	}
	if err := release.WriteJSON(lfs, l.Request(kind), rq); err != nil {
		t.Fatal(err)
	}
}

// waitAnswer waits until the answer to id is word.
func waitAnswer(t *testing.T, l release.Layout, id, word string, d time.Duration) *release.Answer {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got, a, err := release.ReadAnswer(lfs, l, id)
		if err == nil && got == word {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("answer to %s is %q (%+v, %v) after %s, want %q", id, got, a, err, d, word)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// STAGE starts the release out of traffic; COMMIT moves traffic to it; the
// answers go starting → staged → committed → drained.
func TestStageThenCommit(t *testing.T) {
	l := appRoot(t, "version=v1", "version=v2\ndelay=300ms")
	rc := startReceiver(t, testOptions(t, l))
	waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))
	url := "http://" + rc.addr + "/"

	writeRequest(t, l, release.RequestStage, "s1", 2, time.Time{})
	waitAnswer(t, l, "s1", release.AnswerStarting, 5*time.Second)
	a := waitAnswer(t, l, "s1", release.AnswerStaged, 10*time.Second)
	if a.HealthyAfter < 0.3 {
		t.Errorf("healthy after %.2fs, want ≥ 0.3s (the app's delay)", a.HealthyAfter)
	}
	st, _ := release.ReadState(lfs, l)
	if st.Staged == nil || st.Staged.Release != 2 || !st.Staged.Healthy || st.Serving.Release != 1 {
		t.Errorf("state while staged: staged %+v serving %+v", st.Staged, st.Serving)
	}
	if body, _ := get(t, url); body != "v1" {
		t.Errorf("a staged release took traffic: %q", body)
	}
	writeRequest(t, l, release.RequestCommit, "s1", 2, time.Time{})
	a = waitAnswer(t, l, "s1", release.AnswerDrained, 10*time.Second)
	if a.SwitchedAt.IsZero() {
		t.Errorf("drained answer without the switch time: %+v", a)
	}
	if body, _ := get(t, url); body != "v2" {
		t.Errorf("after COMMIT / = %q, want v2", body)
	}
	if st, _ := release.ReadState(lfs, l); st.Staged != nil || st.LastReload == nil || st.LastReload.ID != "s1" || !st.LastReload.OK {
		t.Errorf("state after the commit: staged %+v last %+v", st.Staged, st.LastReload)
	}
}

// ABORT during a slow start stops it at once; its late "healthy" never
// moves traffic.
func TestAbortStopsAStartingRelease(t *testing.T) {
	l := appRoot(t, "version=v1", "version=v2\ndelay=1500ms")
	rc := startReceiver(t, testOptions(t, l))
	waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))
	writeRequest(t, l, release.RequestStage, "s2", 2, time.Time{})
	waitAnswer(t, l, "s2", release.AnswerStarting, 5*time.Second)
	st := waitState(t, l, 5*time.Second, "the staged process", func(s *release.State) bool { return s.Staged != nil && s.Staged.PID != 0 })
	pid := st.Staged.PID
	begin := time.Now()
	writeRequest(t, l, release.RequestAbort, "s2", 2, time.Time{})
	waitAnswer(t, l, "s2", release.AnswerAborted, 5*time.Second)
	if d := time.Since(begin); d > time.Second {
		t.Errorf("the abort took %s: it waited for the start", d)
	}
	if !gone(pid) {
		t.Errorf("the staged process %d still runs after the answer", pid)
	}
	time.Sleep(2 * time.Second) // past the start: nothing may switch now
	if body, _ := get(t, "http://"+rc.addr+"/"); body != "v1" {
		t.Errorf("after the abort / = %q, want v1", body)
	}
	if st, _ := release.ReadState(lfs, l); st.Staged != nil || st.Serving.Release != 1 {
		t.Errorf("state after the abort: staged %+v serving %+v", st.Staged, st.Serving)
	}
}

// A staged release that no COMMIT reaches is stopped after --stage-timeout;
// a COMMIT for it then fails; a newer STAGE replaces an older one.
func TestStageTimeoutAndReplacement(t *testing.T) {
	l := appRoot(t, "version=v1", "version=v2", "version=v3")
	opts := testOptions(t, l)
	opts.StageTimeout = 700 * time.Millisecond
	startReceiver(t, opts)
	waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))

	writeRequest(t, l, release.RequestStage, "old", 2, time.Time{})
	waitAnswer(t, l, "old", release.AnswerStaged, 10*time.Second)
	writeRequest(t, l, release.RequestStage, "new", 3, time.Time{})
	if a := waitAnswer(t, l, "old", release.AnswerAborted, 5*time.Second); a.Note == "" {
		t.Errorf("the replaced stage's answer says nothing of why: %+v", a)
	}
	waitAnswer(t, l, "new", release.AnswerStaged, 10*time.Second)
	a := waitAnswer(t, l, "new", release.AnswerAborted, 5*time.Second)
	if a.Note == "" {
		t.Errorf("the expired stage's answer says nothing of why: %+v", a)
	}
	writeRequest(t, l, release.RequestCommit, "new", 3, time.Time{})
	waitAnswer(t, l, "new", release.AnswerFailed, 5*time.Second)
	if st, _ := release.ReadState(lfs, l); st.Serving.Release != 1 || st.Staged != nil {
		t.Errorf("state: serving %+v staged %+v, want release 1 and nothing staged", st.Serving, st.Staged)
	}
}

// A COMMIT with a moment (a fleet's) moves traffic at that moment, not
// when it was read.
func TestCommitAtAMoment(t *testing.T) {
	l := appRoot(t, "version=v1", "version=v2")
	rc := startReceiver(t, testOptions(t, l))
	waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))
	writeRequest(t, l, release.RequestStage, "s3", 2, time.Time{})
	waitAnswer(t, l, "s3", release.AnswerStaged, 10*time.Second)
	// The request carries whole milliseconds: ask for one, so that the
	// check below measures against the moment the receiver was given.
	at := time.UnixMilli(time.Now().Add(600 * time.Millisecond).UnixMilli())
	writeRequest(t, l, release.RequestCommit, "s3", 2, at)
	time.Sleep(300 * time.Millisecond)
	if body, _ := get(t, "http://"+rc.addr+"/"); body != "v1" {
		t.Errorf("switched before the moment: %q", body)
	}
	a := waitAnswer(t, l, "s3", release.AnswerDrained, 5*time.Second)
	if off := a.SwitchedAt.Sub(at); off < 0 || off > 100*time.Millisecond {
		t.Errorf("switched at %s, %s from the moment asked", a.SwitchedAt, off)
	}
}
