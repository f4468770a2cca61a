package release

import "sort"

// PrunePlan says which release folders a deploy may delete.
type PrunePlan struct {
	Keep   []int // finished releases kept, ascending
	Remove []int // finished releases past the keep count, plus unfinished ones
}

// PlanPrune keeps the newest keep finished releases and never removes a
// release in protect (current, what the receiver serves, the rollback target).
// Unfinished folders (no release.json) are removed unless protected: only a
// deploy holding the lock calls this, so no build is writing into them.
// inProgress, when non-zero, is the release this deploy is building.
func PlanPrune(s *Snapshot, keep int, inProgress int, protect ...int) PrunePlan {
	if keep < 1 {
		keep = 1
	}
	protected := map[int]bool{inProgress: true}
	for _, n := range protect {
		protected[n] = true
	}
	// Newest first, by number: never by the order a listing came in ("10"
	// sorts before "7" as text).
	rels := append([]Release(nil), s.Releases...)
	sort.Slice(rels, func(i, j int) bool { return rels[i].Number > rels[j].Number })
	var plan PrunePlan
	kept := 0
	for _, r := range rels {
		switch {
		case r.Number == inProgress:
		case !r.Finished() && !protected[r.Number]:
			plan.Remove = append(plan.Remove, r.Number)
		case protected[r.Number] || kept < keep:
			if r.Finished() {
				kept++
			}
			plan.Keep = append([]int{r.Number}, plan.Keep...)
		default:
			plan.Remove = append(plan.Remove, r.Number)
		}
	}
	return plan
}
