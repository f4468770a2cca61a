package faulttest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shipdeploy/ship/internal/testenv"
)

// killShip: ship is SIGKILLed (or, with "int", gets SIGINT as from Ctrl-C)
// at a random moment of a random stage.
func killShip(local bool, how string) func(*trial) {
	return func(tr *trial) {
		sig := syscall.SIGKILL
		if how == "int" {
			sig, local = syscall.SIGINT, tr.rng.IntN(2) == 0
		}
		tr.faulted(attempt{local: local, at: randomMoment(tr.rng), settle: settleWithin,
			fault: func(r *shipRun) { r.signal(sig) }})
	}
}

// connection: the SSH connection is reset, or goes silent (a frozen link:
// nothing passes either way, not even the close, until the host gives up).
func connection(kind string) func(*trial) {
	return func(tr *trial) {
		a := attempt{at: randomMoment(tr.rng), settle: settleWithin, fault: func(*shipRun) { tr.w.cut.Cut() }}
		if kind == "freeze" {
			a.settle = settleFrozen
			a.fault = func(*shipRun) { tr.w.cut.Blackhole() }
		}
		tr.faulted(a)
		if kind == "freeze" {
			tr.w.cut.Cut() // the frozen links' far ends are still open
		}
	}
}

// fullDisk: the app root's tmpfs fills up (all of its space but a little,
// or all of its inodes) at a random moment, or before ship starts (the
// lock step meets it); it is freed once ship exits.
func fullDisk(tr *trial) {
	if !tr.w.tmpfs {
		testenv.SkipOrFail(tr.t, "the disk trials need the app root on a tmpfs: run the tests as root")
	}
	inodes := tr.rng.IntN(3) == 0
	leave := []int64{0, 0, 512, 4 << 10, 64 << 10, 1 << 20}[tr.rng.IntN(6)]
	var fill *filler
	a := attempt{local: tr.rng.IntN(2) == 0, at: randomMoment(tr.rng), settle: settleWithin}
	if tr.rng.IntN(4) == 0 {
		a.at = moment{stage: before}
	}
	a.fault = func(*shipRun) { fill = tr.w.fill(inodes, leave) }
	a.undo = func() {
		if fill != nil {
			fill.remove()
		}
	}
	defer a.undo()
	if inodes {
		tr.say("every inode taken")
	} else {
		tr.say("disk full but %d bytes", leave)
	}
	tr.faulted(a)
	if fill != nil && fill.err != nil {
		tr.t.Errorf("filling the disk: %v", fill.err)
	}
}

// filler takes the app root's free space or inodes.
type filler struct {
	dir string
	err error
}

func (w *world) fill(inodes bool, leave int64) *filler {
	f := &filler{dir: filepath.Join(w.root, ".filler")}
	if f.err = os.Mkdir(f.dir, 0o755); f.err != nil {
		return f
	}
	if inodes {
		for i := 0; ; i++ {
			h, err := os.Create(filepath.Join(f.dir, strconv.Itoa(i)))
			if err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					f.err = err
				}
				return f
			}
			h.Close()
		}
	}
	var st syscall.Statfs_t
	if f.err = syscall.Statfs(w.root, &st); f.err != nil {
		return f
	}
	free := int64(st.Bavail) * st.Bsize
	h, err := os.Create(filepath.Join(f.dir, "space"))
	if err != nil {
		f.err = err
		return f
	}
	defer h.Close()
	// Allocate up to leave bytes short of full; a request the tmpfs cannot
	// meet whole is halved until the rest fits.
	target, off, chunk := free-leave, int64(0), free-leave
	for off < target && chunk >= 4096 {
		chunk = min(chunk, target-off)
		err := syscall.Fallocate(int(h.Fd()), 0, off, chunk)
		switch {
		case err == nil:
			off += chunk
		case errors.Is(err, syscall.ENOSPC):
			chunk /= 2
		default:
			f.err = fmt.Errorf("fallocate %d bytes at %d: %w", chunk, off, err)
			return f
		}
	}
	return f
}

func (f *filler) remove() { os.RemoveAll(f.dir) }

// fiveAtOnce: five deploys start together, locally and over SSH, some
// waiting for the lock (--lock-wait) and some not.
func fiveAtOnce(tr *trial) {
	w := tr.w
	tr.landed = true
	tr.startLoad()
	defer tr.stopLoad()
	w.commit(tr.t)
	type run struct {
		r    *shipRun
		wait bool
	}
	var runs []run
	for range 5 {
		local, wait := tr.rng.IntN(2) == 0, tr.rng.IntN(2) == 0
		extra := []string{}
		if wait {
			extra = append(extra, "--lock-wait", "3m")
		}
		runs = append(runs, run{w.start(tr.t, tr.deployArgs(local, extra...)...), wait})
	}
	var claims []int
	for i, x := range runs {
		if _, ok := x.r.wait(shipWithin * 2); !ok {
			tr.violate("deploy %d of five did not end:\n%s", i, x.r.tail(20))
			x.r.signal(syscall.SIGKILL)
			<-x.r.done
		}
		tr.ended(x.r)
		switch {
		case x.r.code == 0:
			n := x.r.claimed()
			if n == 0 || slices.Contains(claims, n) {
				tr.violate("deploy %d of five claimed release %d (claims so far %v):\n%s", i, n, claims, x.r.tail(10))
			}
			claims = append(claims, n)
		case x.r.code == 3 && !x.wait:
		default:
			tr.violate("deploy %d of five (lock-wait %v) exited %d:\n%s", i, x.wait, x.r.code, x.r.tail(15))
		}
	}
	tr.settle(w.watchHost(time.Now(), settleWithin))
	slices.Sort(claims)
	tr.say("releases %v", claims)
	switch {
	case len(claims) == 0:
		tr.violate("none of five deploys succeeded")
	case w.current() != claims[len(claims)-1]:
		tr.violate("current is release %d after five deploys that claimed %v", w.current(), claims)
	}
	tr.checkServing()
	tr.next()
}

// killReceiver: the receiver is SIGKILLed at a random moment of a deploy
// and started again a moment later. Requests fail while nothing listens:
// the load pauses from the kill until the receiver serves again.
func killReceiver(tr *trial) {
	w := tr.w
	down := time.Duration(tr.rng.IntN(2000)) * time.Millisecond
	tr.say("down for %dms", down.Milliseconds())
	tr.faulted(attempt{local: tr.rng.IntN(2) == 0, at: randomMoment(tr.rng), settle: settleWithin,
		fault: func(*shipRun) {
			tr.stopLoad()
			w.receiver.kill()
			time.Sleep(down)
			if err := w.receiver.start(w.layout); err != nil {
				tr.violate("the receiver did not start again: %v", err)
				tr.broken = true
				return
			}
			tr.startLoad()
		}})
}

// pastNumbers: release numbers cross 100 or the next power of ten (the
// host is made to look deployed to that often: .ship/last-release, the
// highest number it ever gave, is raised), and a few deploys follow, each
// checked for the prune rule by number. (Past 10 every run goes by itself.)
func pastNumbers(tr *trial) {
	w := tr.w
	tr.landed = true
	high := 0
	if data, err := os.ReadFile(filepath.Join(w.root, ".ship", "last-release")); err == nil {
		high, _ = strconv.Atoi(strings.TrimSpace(string(data)))
	}
	for _, n := range w.look().finished {
		high = max(high, n)
	}
	// Up to a million: release numbers have at most 9 digits.
	next := 100
	for next <= high+1 && next < 1_000_000 {
		next *= 10
	}
	if start := next - 3; start > high {
		if err := os.WriteFile(filepath.Join(w.root, ".ship", "last-release"), []byte(strconv.Itoa(start)+"\n"), 0o644); err != nil {
			tr.t.Fatal(err)
		}
	}
	tr.say("crossing %d", next)
	tr.startLoad()
	defer tr.stopLoad()
	for range 4 + tr.rng.IntN(2) {
		tr.next()
	}
}

// killHost: every process of the deploy on the host is SIGKILLed at once
// (its session torn down, say): nothing is left there to free the lock.
// The next deploy waits (--lock-wait), takes the lock over once its
// heartbeat is 60s old, and sweeps what the dead run left. ship, which
// lost the script, says so (exit 1 before the switch, 4 when it cannot
// learn how the run ended).
func killHost(tr *trial) {
	w := tr.w
	pre := w.look()
	tr.startLoad()
	defer tr.stopLoad()
	w.commit(tr.t)
	local := tr.rng.IntN(2) == 0
	m := randomMoment(tr.rng)
	r := w.start(tr.t, tr.deployArgs(local)...)
	var struck time.Time
	killed := 0
	stage, _ := r.at(m, func() { struck, killed = time.Now(), w.killDeploys() })
	tr.landed, tr.struckIn = killed > 0, stage
	tr.say("%s at %s (in %s): %d process groups killed", via(local), m, stage, killed)
	if _, ok := r.wait(shipWithin); !ok {
		tr.violate("ship did not exit within %s of the kill:\n%s", shipWithin, r.tail(20))
		r.signal(syscall.SIGKILL)
		<-r.done
	}
	tr.ended(r)
	tr.checkClaim(r, pre)
	tr.lockWait = "3m"
	n := tr.next()
	if killed > 0 && n > 0 {
		tr.recovery = time.Since(struck)
		tr.say("recovered %.0fs after the kill", tr.recovery.Seconds())
	}
}

// killDeploys SIGKILLs the process groups of every deploy script running
// on the world's root, and says how many.
func (w *world) killDeploys() int {
	procs, _ := os.ReadDir("/proc")
	groups := map[int]bool{}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmd), "# ship: generated values") || !strings.Contains(string(cmd), w.root) {
			continue
		}
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid > 1 {
			groups[pgid] = true
		}
	}
	for g := range groups {
		_ = syscall.Kill(-g, syscall.SIGKILL)
	}
	return len(groups)
}
