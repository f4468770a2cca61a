package faulttest

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var soak = flag.Bool("soak", false, "run a long soak of the fault suite (as SHIP_FAULT_TRIALS=200)")

// soakTrials is what -soak runs.
const soakTrials = 200

// A fault and how many trials of it the default run has: every fault at
// least once, the slow ones (a frozen link waits ~30s) rarely. A soak
// draws faults with these weights (and weight, for the faults too slow
// for the default run).
type fault struct {
	name, about string
	count       int
	run         func(*trial)
	weight      int // in a soak, when not count
}

func (f fault) soakWeight() int { return max(f.count, f.weight) }

var faults = []fault{
	{"kill-local", "ship deploy local SIGKILLed", 10, killShip(true, "kill"), 0},
	{"kill-ssh", "ship over SSH SIGKILLed", 8, killShip(false, "kill"), 0},
	{"interrupt", "ship interrupted (SIGINT, as Ctrl-C)", 4, killShip(false, "int"), 0},
	{"cut", "SSH connection reset", 7, connection("cut"), 0},
	{"freeze", "SSH connection frozen", 1, connection("freeze"), 0},
	{"disk", "app root's disk full", 8, fullDisk, 0},
	{"five", "five deploys at once", 2, fiveAtOnce, 0},
	{"receiver", "receiver SIGKILLed and restarted", 5, killReceiver, 0},
	{"numbers", "release numbers past 100, 1000, …", 2, pastNumbers, 0},
	// The lock is taken over once 60s stale, and ship waits up to 110s
	// for an outcome no one will write: soak only.
	{"host-kill", "every process of the deploy killed", 0, killHost, 1},
}

// TestFaults runs the seeded fault schedule against one world and prints a
// summary table. Every violation fails the trial's subtest with the seed
// and trial number that replay it.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault suite takes minutes: not in -short")
	}
	seed, trials, only := settings(t)
	sched := schedule(seed, trials)
	t.Logf("fault suite: seed %d, %d trials (replay: SHIP_FAULT_SEED=%d; one trial: SHIP_FAULT_TRIAL=I)", seed, len(sched), seed)
	w := newWorld(t)
	sum := newSummary(seed)
	start := time.Now()
	for i, f := range sched {
		if only >= 0 && i != only {
			continue
		}
		tr := &trial{w: w, f: f, i: i, seed: seed, rng: rand.New(rand.NewPCG(seed, uint64(i)))}
		t.Run(fmt.Sprintf("%03d-%s", i, f.name), func(tt *testing.T) {
			tr.t = tt
			tr.run()
		})
		sum.add(tr)
		if tr.broken {
			t.Fatalf("trial %d left the world unusable: stopping (replay: SHIP_FAULT_SEED=%d SHIP_FAULT_TRIAL=%d)", i, seed, i)
		}
	}
	sum.samples, sum.missing = w.samples.Load(), w.missing.Load()
	sum.highest = w.current()
	if sum.missing > 0 {
		t.Errorf("current was missing in %d of %d samples", sum.missing, sum.samples)
	}
	table := sum.table(time.Since(start))
	t.Log("\n" + table)
	if file := os.Getenv("SHIP_FAULT_REPORT"); file != "" {
		if err := os.WriteFile(file, []byte(table), 0o644); err != nil {
			t.Errorf("write SHIP_FAULT_REPORT: %v", err)
		}
	}
}

// settings reads the seed (SHIP_FAULT_SEED, else random), the number of
// trials (SHIP_FAULT_TRIALS or -soak; 0: the default schedule) and the one
// trial to run (SHIP_FAULT_TRIAL; -1: all).
func settings(t *testing.T) (seed uint64, trials, only int) {
	seed = rand.Uint64() >> 1
	if *soak {
		trials = soakTrials
	}
	only = -1
	for _, v := range []struct {
		name string
		set  func(uint64)
	}{
		{"SHIP_FAULT_SEED", func(n uint64) { seed = n }},
		{"SHIP_FAULT_TRIALS", func(n uint64) { trials = int(n) }},
		{"SHIP_FAULT_TRIAL", func(n uint64) { only = int(n) }},
	} {
		s := os.Getenv(v.name)
		if s == "" {
			continue
		}
		n, err := strconv.ParseUint(s, 10, 63)
		if err != nil {
			t.Fatalf("%s=%q: give a whole number", v.name, s)
		}
		v.set(n)
	}
	return seed, trials, only
}

// schedule is the order of the faults: the default counts shuffled, or n
// faults drawn by those weights. SHIP_FAULT_KINDS=a,b keeps only those.
func schedule(seed uint64, n int) []fault {
	rng := rand.New(rand.NewPCG(seed, 1<<62))
	faults := faults
	if kinds := os.Getenv("SHIP_FAULT_KINDS"); kinds != "" {
		faults = slices.DeleteFunc(slices.Clone(faults), func(f fault) bool { return !slices.Contains(strings.Split(kinds, ","), f.name) })
	}
	var out []fault
	if n == 0 {
		for _, f := range faults {
			for range f.count {
				out = append(out, f)
			}
		}
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		return out
	}
	total := 0
	for _, f := range faults {
		total += f.soakWeight()
	}
	for range n {
		k := rng.IntN(total)
		for _, f := range faults {
			if k -= f.soakWeight(); k < 0 {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

// summary counts trials and violations per fault.
type summary struct {
	seed             uint64
	rows             map[string]*row
	struck           map[string]int // the stages faults struck in
	samples, missing int64
	highest          int // the last release deployed
}

type row struct {
	trials, landed, violations int
	worst                      time.Duration
	requests, failed           int64
	exits                      map[string]int
	failedAt                   map[string]int // the stages ship reported failed
}

func newSummary(seed uint64) *summary {
	return &summary{seed: seed, rows: map[string]*row{}, struck: map[string]int{}}
}

func (s *summary) add(tr *trial) {
	r := s.rows[tr.f.name]
	if r == nil {
		r = &row{exits: map[string]int{}, failedAt: map[string]int{}}
		s.rows[tr.f.name] = r
	}
	r.trials++
	if tr.landed {
		r.landed++
	}
	if tr.struckIn != "" {
		s.struck[tr.struckIn]++
	}
	r.violations += len(tr.violations)
	r.worst = max(r.worst, tr.recovery)
	r.requests += tr.requests
	r.failed += tr.failed
	for _, e := range tr.exits {
		r.exits[e]++
	}
	for _, sr := range tr.shipRuns {
		if st := sr.failedAt(); st != "" {
			r.failedAt[st]++
		}
	}
}

func (s *summary) table(d time.Duration) string {
	var b strings.Builder
	var tot row
	fmt.Fprintf(&b, "fault-injection summary: seed %d, %s\n", s.seed, d.Round(time.Second))
	fmt.Fprintf(&b, "%-10s %-38s %6s %6s %10s %9s %9s %6s  %s\n", "fault", "", "trials", "landed", "violations", "recovery", "requests", "failed", "ship's exits")
	for _, f := range faults {
		r := s.rows[f.name]
		if r == nil {
			continue
		}
		fmt.Fprintf(&b, "%-10s %-38s %6d %6d %10d %8.1fs %9d %6d  %s\n", f.name, f.about, r.trials, r.landed, r.violations,
			r.worst.Seconds(), r.requests, r.failed, exits(r.exits))
		tot.trials += r.trials
		tot.landed += r.landed
		tot.violations += r.violations
		tot.worst = max(tot.worst, r.worst)
		tot.requests += r.requests
		tot.failed += r.failed
	}
	fmt.Fprintf(&b, "%-10s %-38s %6d %6d %10d %8.1fs %9d %6d\n", "total", "", tot.trials, tot.landed, tot.violations,
		tot.worst.Seconds(), tot.requests, tot.failed)
	fmt.Fprintf(&b, "faults struck ship in: %s\n", inStages(s.struck))
	for _, f := range faults {
		if r := s.rows[f.name]; r != nil && len(r.failedAt) > 0 {
			fmt.Fprintf(&b, "%s: ship reported a failure at %s\n", f.name, inStages(r.failedAt))
		}
	}
	fmt.Fprintf(&b, "current sampled %d times, missing %d times; the last release was %d\n", s.samples, s.missing, s.highest)
	b.WriteString("recovery: the longest time from the fault until the host had ended the deploy by itself (lock free, no run folder)\n")
	return b.String()
}

// inStages is "lock×2 build×5", in the order of a deploy.
func inStages(m map[string]int) string {
	var in []string
	for _, st := range append(append([]string{before}, stages...), "ended") {
		if m[st] > 0 {
			in = append(in, fmt.Sprintf("%s×%d", st, m[st]))
		}
	}
	return strings.Join(in, " ")
}

func exits(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
