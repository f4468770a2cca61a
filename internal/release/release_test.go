package release

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestParseNumber(t *testing.T) {
	cases := map[string]struct {
		n  int
		ok bool
	}{
		"1": {1, true}, "42": {42, true}, "0": {0, false}, "007": {0, false}, "": {0, false},
		"RELOAD": {0, false}, "4a": {0, false}, "-3": {0, false}, "1234567890": {0, false},
	}
	for in, want := range cases {
		n, ok := ParseNumber(in)
		if n != want.n || ok != want.ok {
			t.Errorf("ParseNumber(%q) = %d, %v; want %d, %v", in, n, ok, want.n, want.ok)
		}
	}
	for in, want := range map[string]int{"releases/7": 7, "./releases/7": 7, "/app/releases/12/": 12, "other/7": 0, "releases/x": 0} {
		if n, _ := ParseCurrentTarget(in); n != want {
			t.Errorf("ParseCurrentTarget(%q) = %d, want %d", in, n, want)
		}
	}
}

func snap(current int, rels ...Release) *Snapshot { return &Snapshot{Current: current, Releases: rels} }
func done(n int) Release                          { return Release{Number: n, Info: &Info{Number: n}} }
func unfinished(n int) Release                    { return Release{Number: n} }
func bad(n int) Release                           { r := done(n); r.Bad = &Bad{Reason: "x"}; return r }

func TestPlanPrune(t *testing.T) {
	tests := []struct {
		name       string
		s          *Snapshot
		keep       int
		protect    []int
		keep2, rem []int
	}{
		{"keeps newest", snap(6, done(1), done(2), done(3), done(4), done(5), done(6)), 4, []int{6}, []int{3, 4, 5, 6}, []int{2, 1}},
		{"never current", snap(1, done(1), done(2), done(3), done(4), done(5), done(6)), 4, []int{1}, []int{1, 3, 4, 5, 6}, []int{2}},
		{"unfinished removed", snap(3, done(1), unfinished(2), done(3)), 4, []int{3}, []int{1, 3}, []int{2}},
		{"serving protected", snap(6, done(1), done(2), done(5), done(6)), 2, []int{6, 1}, []int{1, 5, 6}, []int{2}},
		{"keep 1", snap(2, done(1), done(2)), 1, []int{2}, []int{2}, []int{1}},
		{"bad counts as finished", snap(3, done(1), bad(2), done(3)), 2, []int{3}, []int{2, 3}, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PlanPrune(tt.s, tt.keep, 0, tt.protect...)
			if !reflect.DeepEqual(p.Keep, tt.keep2) || !reflect.DeepEqual(p.Remove, tt.rem) {
				t.Errorf("PlanPrune = keep %v remove %v; want keep %v remove %v", p.Keep, p.Remove, tt.keep2, tt.rem)
			}
		})
	}
}

// PlanPrune orders releases by number whatever order they come in, past
// 9 and past 99 (a shell glob lists "10" before "7", "100" before "99").
func TestPlanPruneOrdersByNumber(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	for trial := range 200 {
		n := 5 + rng.IntN(120)
		var rels []Release
		for i := 1; i <= n; i++ {
			rels = append(rels, done(i))
		}
		rng.Shuffle(len(rels), func(i, j int) { rels[i], rels[j] = rels[j], rels[i] })
		keep := 1 + rng.IntN(6)
		cur := n - rng.IntN(3)
		p := PlanPrune(snap(cur, rels...), keep, 0, n, cur)
		want := map[int]bool{cur: true, n: true}
		for i := n; len(want) < keep || (i > n-keep && i > 0); i-- {
			want[i] = true
		}
		if len(p.Keep) != len(want) {
			t.Fatalf("trial %d (n %d keep %d cur %d): kept %v", trial, n, keep, cur, p.Keep)
		}
		for _, k := range p.Keep {
			if !want[k] {
				t.Fatalf("trial %d (n %d keep %d cur %d): kept %d, an old release, instead of a newer one: %v", trial, n, keep, cur, k, p.Keep)
			}
		}
		if len(p.Keep)+len(p.Remove) != n {
			t.Fatalf("trial %d: keep %v + remove %v is not every release", trial, p.Keep, p.Remove)
		}
	}
}

func TestSnapshotPreviousAndNext(t *testing.T) {
	s := snap(5, done(1), bad(2), done(3), unfinished(4), done(5), unfinished(9))
	if r, ok := s.Previous(); !ok || r.Number != 3 {
		t.Errorf("Previous = %d, %v; want 3 (skips unfinished 4 and bad 2)", r.Number, ok)
	}
	if n := s.Next(); n != 10 {
		t.Errorf("Next = %d, want 10 (never reuse 9)", n)
	}
	if _, ok := snap(1, done(1)).Previous(); ok {
		t.Error("Previous of the first release exists")
	}
}

func TestReadSwapLockOnDisk(t *testing.T) {
	root := t.TempDir()
	l := Layout{Root: root}
	fsys := LocalFS{}
	for _, n := range []int{1, 2} {
		if err := fsys.MkdirAll(filepath.Dir(l.InfoFile(n))); err != nil {
			t.Fatal(err)
		}
		if err := WriteJSON(fsys, l.InfoFile(n), Info{Number: n, Commit: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(l.Dir(3), 0o755) // unfinished
	os.MkdirAll(filepath.Join(l.Releases(), "notes"), 0o755)

	if err := SwapCurrent(fsys, l, 3); err == nil {
		t.Error("swapped to an unfinished release")
	}
	for _, n := range []int{1, 2} {
		if err := SwapCurrent(fsys, l, n); err != nil {
			t.Fatal(err)
		}
	}
	if link, _ := os.Readlink(l.Current()); link != "releases/2" {
		t.Errorf("current -> %q", link)
	}
	leftovers, _ := filepath.Glob(filepath.Join(root, ".current*"))
	if len(leftovers) > 0 {
		t.Errorf("temp links left: %v", leftovers)
	}
	s, err := Read(fsys, l)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Releases) != 3 || s.Current != 2 || !s.Releases[1].Finished() || s.Releases[2].Finished() {
		t.Errorf("snapshot = %+v", s)
	}

	info := LockInfo{ID: "a", Who: "alice", Since: time.Now()}
	if err := Lock(fsys, l, info); err != nil {
		t.Fatal(err)
	}
	err = Lock(fsys, l, LockInfo{ID: "b"})
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) || le.Holder == nil || le.Holder.Who != "alice" {
		t.Fatalf("second Lock = %v", err)
	}
	if err := Unlock(fsys, l, "b"); err == nil {
		t.Error("unlocked someone else's lock")
	}
	if err := Unlock(fsys, l, "a"); err != nil {
		t.Fatal(err)
	}
	if h, _ := ReadLock(fsys, l); h != nil {
		t.Errorf("lock still held by %+v", h)
	}
}
