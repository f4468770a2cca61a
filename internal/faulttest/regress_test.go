package faulttest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/testenv"
)

// slowStart commits a version of the app that takes d to listen: the
// receiver stages it for that long.
func (w *world) slowStart(t *testing.T, d time.Duration) {
	t.Helper()
	index := filepath.Join(w.repo, "src", "index.ts")
	src, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	slow := []byte(fmt.Sprintf("await Bun.sleep(%d);\n", d.Milliseconds()))
	if err := os.WriteFile(index, append(slow, src...), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.GitRun(t, w.repo, "commit", "-qam", "slow start")
	t.Cleanup(func() { _ = os.WriteFile(index, src, 0o644) })
}

// TestWithdrawOnFullDisk: the disk fills while the receiver stages the new
// release; ship's --wait runs out and the host unwinds. The staged process
// must be stopped then, not left running out of traffic until the
// receiver's --stage-timeout (10 minutes): the host's ABORT request must
// reach the receiver on a disk where no new file can be written.
func TestWithdrawOnFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	w := newWorld(t)
	if !w.tmpfs {
		testenv.SkipOrFail(t, "needs the app root on a tmpfs: run the tests as root")
	}
	w.slowStart(t, 8*time.Second)
	r := w.start(t, "deploy", "local", "--path", w.root, "--repo", w.repo, "-v", "--wait", "3s")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if st := w.state(); st != nil && st.Staged != nil && st.Staged.Release == 2 {
			break
		}
		if time.Now().After(deadline) || r.ended() {
			t.Fatalf("the receiver never staged release 2:\n%s", r.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	fill := w.fill(false, 0)
	defer fill.remove()
	if fill.err != nil {
		t.Fatal(fill.err)
	}
	if code, ok := r.wait(time.Minute); !ok || code != 1 {
		t.Fatalf("ship: exit %d (ended %v), want 1 (not healthy within --wait):\n%s", code, ok, r.out.String())
	}
	// The disk is still full. The staged process stops within the
	// receiver's --stop-timeout (3s) of the ABORT.
	deadline = time.Now().Add(10 * time.Second)
	for {
		stray := w.strays(1)
		if len(stray) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the staged release still runs 10s after ship gave up on it: %v\nship:\n%s", stray, r.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
