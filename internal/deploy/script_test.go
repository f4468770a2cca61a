package deploy

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"

	"github.com/shipdeploy/ship/internal/release"
)

func TestPlainBunInstall(t *testing.T) {
	for cmd, want := range map[string]bool{
		"bun install": true, "bun install --frozen-lockfile": true, "bun i": true, "bun ci": true,
		"bun install && bun run codegen": false, "npm ci": false, "bun install foo": false,
		"bun install --x;rm": false, "": false, "bun": false,
	} {
		if got := plainBunInstall(cmd); got != want {
			t.Errorf("plainBunInstall(%q) = %v, want %v", cmd, got, want)
		}
	}
}

func TestLooksLikeCommit(t *testing.T) {
	for ref, want := range map[string]bool{"3f9c2ab": true, "3f9c2ab5d1e0f4aa77aa210c4d9e13f9c2ab5d1e": true, "main": false, "3f9c2a": false, "3F9C2AB": false, "3f9c2ab;": false} {
		if got := looksLikeCommit(ref); got != want {
			t.Errorf("looksLikeCommit(%q) = %v, want %v", ref, got, want)
		}
	}
}

// TestPruneShell: the shell form of the prune rule (used when a deploy ends
// on the host) keeps and removes exactly what release.PlanPrune does.
func TestPruneShell(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	for i := range 200 {
		var fin []int
		for n := 1; n <= 14; n++ {
			if rng.IntN(3) > 0 {
				fin = append(fin, n)
			}
		}
		n := 15 + rng.IntN(3)
		keep := 1 + rng.IntN(5)
		cur, serving := 0, 0
		if len(fin) > 0 {
			cur = fin[rng.IntN(len(fin))]
			serving = fin[rng.IntN(len(fin))]
		}
		snap := &release.Snapshot{}
		for _, r := range append(append([]int(nil), fin...), n) {
			snap.Releases = append(snap.Releases, release.Release{Number: r, Info: &release.Info{}})
		}
		want := release.PlanPrune(snap, keep, 0, n, cur, serving)

		script := fmt.Sprintf("fin=%q; n=%d; curnum=%d; serving=%d\n%s\necho \"$keep|$removed\"",
			strings.Trim(fmt.Sprint(fin), "[]"), n, cur, serving, prunePlanShell(keep))
		cmd := exec.Command("sh", "-c", script)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		gotKeep, gotRemoved, _ := strings.Cut(strings.TrimSpace(string(out)), "|")
		if strings.Join(strings.Fields(gotKeep), " ") != joinInts(want.Keep) || strings.Join(strings.Fields(gotRemoved), " ") != joinInts(want.Remove) {
			t.Fatalf("case %d (fin %v n %d cur %d serving %d keep %d): shell keeps %q removes %q; PlanPrune keeps %v removes %v",
				i, fin, n, cur, serving, keep, gotKeep, gotRemoved, want.Keep, want.Remove)
		}
	}
}
