package receivercmd

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/release"
)

// TestStartAnswersWhatAPreviousReceiverLeft: a receiver killed in the middle
// of a deploy leaves answers that promise more ("starting", "committed").
// The next receiver answers them at start, so that the host waiting on them
// hears at once (the staged process died with the old receiver; the old
// process of a switch was stopped with it) instead of waiting out ship's
// --wait. A STAGE still waiting in releases/ is taken as usual.
func TestStartAnswersWhatAPreviousReceiverLeft(t *testing.T) {
	l := appRoot(t, "version=v1", "version=v2")
	write := func(word string, a release.Answer) {
		t.Helper()
		a.At = time.Now().UTC()
		if err := release.WriteAnswer(lfs, l, word, a); err != nil {
			t.Fatal(err)
		}
	}
	write(release.AnswerStarting, release.Answer{ID: "was-starting", Release: 2})
	write(release.AnswerStaged, release.Answer{ID: "was-staged", Release: 2})
	write(release.AnswerCommitted, release.Answer{ID: "was-committed", Release: 1})
	write(release.AnswerFailed, release.Answer{ID: "was-failed", Release: 2, Error: "boom"})
	// Queued behind another start when the old receiver died: still pending.
	write(release.AnswerStarting, release.Answer{ID: "queued", Release: 2, Note: "queued"})
	if err := release.WriteJSON(lfs, l.Request(release.RequestStage), release.ReloadRequest{ID: "queued", Release: 2}); err != nil {
		t.Fatal(err)
	}

	startReceiver(t, testOptions(t, l))
	want := map[string]string{
		"was-starting":  release.AnswerAborted,
		"was-staged":    release.AnswerAborted,
		"was-committed": release.AnswerDrained,
		"was-failed":    release.AnswerFailed,
		"queued":        release.AnswerStaged,
	}
	deadline := time.Now().Add(10 * time.Second)
	for id, w := range want {
		for {
			word, a, err := release.ReadAnswer(lfs, l, id)
			if err == nil && word == w {
				if w == release.AnswerAborted && a.Release != 2 {
					t.Errorf("%s: aborted answer names release %d, want 2", id, a.Release)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("answer to %s is %q (%v), want %q", id, word, err, w)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestRestartAfterTheSwitchCommitsWhatServes: the receiver restarts while
// a deploy switches: the host renamed current to release 2 and writes
// COMMIT for it; the new receiver started current (release 2) at boot. The
// COMMIT is answered as done, not "failed" (which would make the host put
// current back on release 1 while release 2 serves).
func TestRestartAfterTheSwitchCommitsWhatServes(t *testing.T) {
	for _, tc := range []struct {
		name string
		conf string // release 2's
	}{
		{"serving already", "version=v2"},
		{"still starting", "version=v2\ndelay=1500ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := appRoot(t, "version=v1", tc.conf)
			swap(t, l, 2)
			startReceiver(t, testOptions(t, l))
			if tc.name == "serving already" {
				waitState(t, l, 10*time.Second, "release 2 serving", servingRelease(2))
			}
			if err := release.WriteJSON(lfs, l.Request(release.RequestCommit), release.ReloadRequest{ID: "switched", Release: 2}); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(15 * time.Second)
			for {
				word, a, _ := release.ReadAnswer(lfs, l, "switched")
				if word == release.AnswerCommitted || word == release.AnswerDrained {
					break
				}
				if word == release.AnswerFailed || time.Now().After(deadline) {
					t.Fatalf("COMMIT of the release that serves after a restart: answer %q %+v", word, a)
				}
				time.Sleep(20 * time.Millisecond)
			}
			waitState(t, l, 10*time.Second, "release 2 serving", servingRelease(2))
		})
	}
}

// TestStartTakesBackARequestMovedAside: a receiver killed while it took a
// request (moved aside as releases/.KIND.handled.tmp-…, not yet acted on)
// lost it. The next receiver puts it back and takes it, and nothing is
// left aside.
func TestStartTakesBackARequestMovedAside(t *testing.T) {
	l := appRoot(t, "version=v1", "version=v2")
	aside := filepath.Join(l.Releases(), ".STAGE.handled.tmp-4242-abc")
	if err := os.WriteFile(aside, []byte(`{"id":"lost","release":2}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	startReceiver(t, testOptions(t, l))
	deadline := time.Now().Add(15 * time.Second)
	for {
		if word, _, _ := release.ReadAnswer(lfs, l, "lost"); word == release.AnswerStaged {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the STAGE request a killed receiver moved aside was never taken")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if left, _ := filepath.Glob(filepath.Join(l.Releases(), ".*.handled.tmp-*")); len(left) > 0 {
		t.Errorf("left aside: %v", left)
	}
}
