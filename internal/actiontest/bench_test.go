package actiontest

import (
	"fmt"
	"sort"
	"testing"
	"time"
)

// BenchmarkAction times the composite action from its first step to a
// finished deploy of the example app (upload of the workspace, bun install,
// bun run build, switch) on the test sshd, the way TestCompositeActionDeploys
// runs it:
//
//   - uncached: a fresh runner, no actions/cache entry and an empty GOCACHE,
//     so ship and the standard library are compiled from scratch (modules
//     come from the machine's module cache; a hosted runner downloads them);
//   - cached: the build restored from the emulated actions/cache.
//
// Run: go test -run '^$' -bench Action -benchtime 3x ./internal/actiontest/
func BenchmarkAction(b *testing.B) {
	g := newRig(b)
	in := g.inputs()
	in["github-token"] = "" // the deployments API is not what is timed

	b.Run("uncached", func(b *testing.B) {
		var runs []runTimes
		for i := 0; i < b.N; i++ {
			g.cacheStore, g.goCache = b.TempDir(), b.TempDir()
			runs = append(runs, timeRun(b, g, in))
		}
		report(b, "uncached", runs)
	})
	b.Run("cached", func(b *testing.B) {
		g.cacheStore, g.goCache = b.TempDir(), ""
		b.StopTimer()
		timeRun(b, g, in) // fills the cache
		b.StartTimer()
		var runs []runTimes
		for i := 0; i < b.N; i++ {
			runs = append(runs, timeRun(b, g, in))
		}
		report(b, "cached", runs)
	})
}

type runTimes struct{ total, ship, deploy time.Duration }

func timeRun(b *testing.B, g *rig, in map[string]string) runTimes {
	b.Helper()
	r := g.runner(in)
	start := time.Now()
	if _, err := r.run(); err != nil {
		b.Fatalf("%v\n%s", err, r.log.String())
	}
	total := time.Since(start)
	return runTimes{total: total, ship: total - r.stepTimes["deploy"], deploy: r.stepTimes["deploy"]}
}

func report(b *testing.B, name string, runs []runTimes) {
	med := func(f func(runTimes) time.Duration) time.Duration {
		ds := make([]time.Duration, len(runs))
		for i, r := range runs {
			ds[i] = f(r)
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2]
	}
	total, ship, deploy := med(func(r runTimes) time.Duration { return r.total }), med(func(r runTimes) time.Duration { return r.ship }), med(func(r runTimes) time.Duration { return r.deploy })
	b.ReportMetric(total.Seconds(), "action-s")
	b.ReportMetric(ship.Seconds(), "get-ship-s")
	b.ReportMetric(deploy.Seconds(), "deploy-s")
	fmt.Printf("action %-8s median of %d: start → deployed %6.2fs   (getting ship %6.2fs, ship deploy %5.2fs)\n",
		name, len(runs), total.Seconds(), ship.Seconds(), deploy.Seconds())
}
