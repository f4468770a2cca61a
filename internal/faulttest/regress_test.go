package faulttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
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

// TestFrozenLinkWithAChattyBuild: the link freezes while the build prints
// more than the SSH channel's window holds. The host's writes then block
// on a link nobody reads; it must still see that ship went silent, unwind
// and free the lock by itself (within gone_after, 30s), not hang until
// the lock goes stale and is taken over.
func TestFrozenLinkWithAChattyBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; waits for the host to notice a frozen link (30s)")
	}
	w := newWorld(t)
	chatty := `sleep 1; head -c 6000000 /dev/zero | tr '\0' x | fold -w 100; bun run build`
	r := w.start(t, "deploy", w.target, "--path", w.root, "--repo", w.repo, "-v", "--build", chatty)
	if _, ok := r.at(moment{"build", 200 * time.Millisecond}, w.cut.Blackhole); !ok {
		t.Fatalf("ship ended before the build:\n%s", r.out.String())
	}
	hw := w.watchHost(time.Now(), 50*time.Second)
	if code, ok := r.wait(shipWithin); !ok || code == 0 {
		t.Errorf("ship: exit %d (ended %v) after the link froze before the switch:\n%s", code, ok, r.tail(10))
	}
	<-hw.done
	if hw.at.IsZero() {
		held, runs := w.busy()
		t.Fatalf("50s after the link froze the host still holds the lock (%v), run folders %v; processes in releases/2: %v",
			held, runs, w.strays(1))
	}
	t.Logf("the host unwound %.1fs after the link froze", hw.at.Sub(hw.from).Seconds())
	if stray := w.strays(1); len(stray) > 0 {
		t.Errorf("left running: %v", stray)
	}
	w.cut.Cut()
	w.commit(t)
	next := w.start(t, "deploy", w.target, "--path", w.root, "--repo", w.repo)
	if code, _ := next.wait(shipWithin); code != 0 {
		t.Errorf("the next deploy: exit %d\n%s", code, next.tail(20))
	}
}

// TestPruneWithAReceiver: with a receiver answering (the usual case),
// every deploy keeps exactly the newest --keep releases. The host's waits
// for the receiver's answers read ship's words too, and once took the
// place of the list of releases to remove: nothing was ever pruned. The
// numbers cross 10 (9 to 12), where a survey in the glob's text order
// once had prune delete the newest.
func TestPruneWithAReceiver(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	w := newWorld(t)
	if err := os.WriteFile(filepath.Join(w.root, ".ship", "last-release"), []byte("8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	made := w.look().finished
	for i := range 4 {
		w.commit(t)
		r := w.start(t, "deploy", "local", "--path", w.root, "--repo", w.repo, "--keep", "2")
		if code, _ := r.wait(shipWithin); code != 0 {
			t.Fatalf("deploy %d: exit %d\n%s", i, code, r.out.String())
		}
		n := r.claimed()
		made = append(made, n)
		if got, want := w.look().finished, made[len(made)-2:]; !slices.Equal(got, want) {
			t.Fatalf("after release %d with --keep 2 the releases are %v, want %v:\n%s", n, got, want, r.out.String())
		}
	}
}

// TestSwitchBackOnAFullDisk: the disk runs out of inodes while the host
// switches, so it cannot write the COMMIT request. It must put current
// back (a rename of a link made ahead: no room needed), stop the staged
// release, and say so truly. Before, making the link back failed and ship
// said "current is back on releases/1" while current named release 2; and
// when the disk filled before the switch, creating a marker file with
// ':' (a special built-in: a failed redirection ends the shell) killed the
// host's script outright. A wrapper first on the script's PATH (mv or ln)
// fills the disk right after the command it wraps.
func TestSwitchBackOnAFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	for _, tc := range []struct{ name, wrap, after string }{
		{"after the switch", "mv", "*' current'"},           // mv -fT .current.tmp-ID current
		{"before the switch", "ln", "*.current.tmp-*-back"}, // the links made when staged
	} {
		t.Run(tc.name, func(t *testing.T) { switchBackOnAFullDisk(t, tc.wrap, tc.after) })
	}
}

func switchBackOnAFullDisk(t *testing.T, wrap, after string) {
	w := newWorld(t)
	if !w.tmpfs {
		testenv.SkipOrFail(t, "needs the app root on a tmpfs: run the tests as root")
	}
	real, err := exec.LookPath(wrap)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	bin := filepath.Join(home, ".bun", "bin")
	fillInodes := `mkdir -p .filler && i=0 && while true >".filler/$i"; do i=$((i + 1)); done 2>/dev/null`
	wrapper := "#!/bin/sh\n" + real + " \"$@\" || exit\ncase \"$*\" in " + after + ") " + fillInodes + " ;; esac\nexit 0\n"
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, wrap), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(filepath.Join(w.root, ".filler"))
	w.commit(t)
	r := w.startIn(t, home, "deploy", "local", "--path", w.root, "--repo", w.repo, "-v")
	// Whether the COMMIT found an inode (a file the receiver removed frees
	// one) or not, ship's word must hold: 0 with release 2 current, or 1
	// with current back on release 1.
	code, ok := r.wait(shipWithin)
	want := map[int]int{0: 2, 1: 1}[code]
	switch cur := w.current(); {
	case !ok || want == 0:
		t.Fatalf("ship: exit %d (ended %v), want 0 or 1:\n%s", code, ok, r.out.String())
	case cur != want:
		t.Errorf("ship exited %d, but current names release %d:\n%s", code, cur, r.tail(8))
	case code == 1 && !strings.Contains(r.out.String(), "current is back on releases/1"):
		t.Errorf("ship does not say current is back on release 1:\n%s", r.tail(8))
	}
	t.Logf("ship exited %d", code)
	// The staged release is stopped too, full disk or not.
	deadline := time.Now().Add(15 * time.Second)
	for stray := w.strays(want); len(stray) > 0; stray = w.strays(want) {
		if time.Now().After(deadline) {
			t.Fatalf("left running: %v", stray)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAnswersHeardWhenTheyCannotBeWritten: the receiver cannot write its
// answers (.ship/answers read-only here; a full disk in the fault suite).
// The deploy still hears them, through the run's words FIFO, and reports
// the drain at once. Before, it waited out the receiver's confirmation
// (10s) and its drain (60s) with the lock held, and said the switch was
// not confirmed.
func TestAnswersHeardWhenTheyCannotBeWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	w := newWorld(t)
	answers := filepath.Join(w.root, ".ship", "answers")
	if err := os.MkdirAll(answers, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(answers, answers, "", syscall.MS_BIND, ""); err != nil {
		testenv.SkipOrFail(t, "needs a read-only bind mount (run the tests as root): %v", err)
	}
	defer syscall.Unmount(answers, syscall.MNT_DETACH)
	if err := syscall.Mount("", answers, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	w.commit(t)
	r := w.start(t, "deploy", "local", "--path", w.root, "--repo", w.repo, "-v")
	code, ok := r.wait(shipWithin)
	out := r.out.String()
	if !ok || code != 0 {
		t.Fatalf("ship: exit %d (ended %v), want 0:\n%s", code, ok, out)
	}
	if !strings.Contains(out, "traffic moved · drained") || strings.Contains(out, "did not confirm") {
		t.Errorf("ship did not hear the receiver's answers:\n%s", r.tail(8))
	}
	if got, want := w.current(), r.claimed(); got != want {
		t.Errorf("current names release %d, want %d", got, want)
	}
}

// TestRunFolderGoneWhenItCannotBeMade: the disk has no inode left when the
// host starts (found by the suite: the run's folder was made, its FIFOs
// were not). The deploy fails at once, and what it made goes with it:
// before, the run folder stayed, and the next deploys' surveys left it
// alone as a deploy that had only just started. A mkfifo that fails
// stands in for the full disk.
func TestRunFolderGoneWhenItCannotBeMade(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	w := newWorld(t)
	home := t.TempDir()
	bin := filepath.Join(home, ".bun", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	failing := "#!/bin/sh\necho \"mkfifo: cannot create fifo '$1': No space left on device\" >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "mkfifo"), []byte(failing), 0o755); err != nil {
		t.Fatal(err)
	}
	w.commit(t)
	r := w.startIn(t, home, "deploy", "local", "--path", w.root, "--repo", w.repo)
	if code, ok := r.wait(shipWithin); !ok || code != 1 || !strings.Contains(r.out.String(), "is the disk full") {
		t.Fatalf("ship: exit %d (ended %v), want 1 saying the disk may be full:\n%s", code, ok, r.out.String())
	}
	if held, runs := w.busy(); held || len(runs) > 0 {
		t.Errorf("after the failed start: lock held %v, run folders %v", held, runs)
	}
}
