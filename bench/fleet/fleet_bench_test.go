// Package fleetbench measures a deploy to a fleet against a deploy to one
// host, side by side in one run: 1, 4 and 8 hosts on loopback, 1 and 4
// through a 50 ms round-trip link, and the old way (4 hosts one after
// another) for reference; and how far apart the hosts switch. Every host is
// a real sshd and a real receiver in a mount namespace of its own
// (testenv.StartFleet), building the example app with real bun. Run it with
// bench/fleet/run.sh (as root), or:
//
//	go test -run '^$' -bench . -benchtime 5x ./bench/fleet/
package fleetbench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/testenv"
)

// rig is the fleet, the app's repository and the ship binary.
type rig struct {
	b     *testing.B
	f     *testenv.Fleet
	repo  string
	ship  string
	dir   string
	n     int
	links map[string]string // host target → the same host through the 50 ms link
}

func BenchmarkFleet(b *testing.B) {
	testenv.Bun(b)
	r := &rig{b: b, f: testenv.StartFleet(b, 8), repo: testenv.AppRepo(b), ship: testenv.Program(b, "./cmd/ship"), dir: b.TempDir()}
	r.slowLinks()
	receiver := testenv.Program(b, "./cmd/receiver")
	r.deploy(r.f.Targets(), false) // release 1 everywhere, then the receivers serve it
	for _, h := range r.f.Hosts {
		h.StartReceiver(receiver, nil, "--create")
	}
	type row struct {
		name     string
		hosts    int
		slow     bool
		oneByOne bool
	}
	rows := []row{{"loopback 1 host", 1, false, false}, {"loopback 4 hosts", 4, false, false}, {"loopback 8 hosts", 8, false, false},
		{"loopback 4 hosts one after another (the old way)", 4, false, true},
		{"rtt-50ms 1 host", 1, true, false}, {"rtt-50ms 4 hosts", 4, true, false}}
	if only := os.Getenv("FLEET_ROWS"); only != "" { // e.g. "loopback 4 hosts", to profile one row
		rows = slices.DeleteFunc(rows, func(rw row) bool { return !strings.Contains(only, rw.name) && rw.hosts > 1 })
	}
	times := map[string][]time.Duration{}
	cpus := map[string][]time.Duration{}
	spreads := map[string][]time.Duration{}
	b.ResetTimer()
	// Interleaved: every row once per round, so that noise hits all alike.
	for i := 0; i < b.N; i++ {
		for _, rw := range rows {
			targets := r.f.Targets()[:rw.hosts]
			if rw.slow {
				targets = r.slow(targets)
			}
			var d, spread time.Duration
			busy := busyTime(b)
			if rw.oneByOne {
				for _, t := range targets {
					td, _ := r.deploy([]string{t}, true)
					d += td
				}
				spread = -1
			} else {
				d, spread = r.deploy(targets, true)
			}
			times[rw.name] = append(times[rw.name], d)
			cpus[rw.name] = append(cpus[rw.name], busyTime(b)-busy)
			spreads[rw.name] = append(spreads[rw.name], spread)
		}
	}
	b.StopTimer()
	// cpu: the whole machine's busy time during the deploy (every process:
	// ship, sshd, the host scripts, git, bun, the receivers). A
	// deploy cannot take less than cpu / cores: "cpu bound" near 1 means
	// the machine, not ship, set the time.
	fmt.Printf("%-50s %9s %10s %8s %10s %14s\n", "fleet deploy (a code change), median of "+strconv.Itoa(b.N),
		"seconds", "vs 1 host", "cpu", "cpu bound", "switch spread")
	for _, rw := range rows {
		base := "loopback 1 host"
		if rw.slow {
			base = "rtt-50ms 1 host"
		}
		d := median(times[rw.name])
		ratio := d.Seconds() / median(times[base]).Seconds()
		spread := "–"
		if s := median(spreads[rw.name]); s >= 0 {
			spread = fmt.Sprintf("%.1f ms (max %.1f)", ms(s), ms(maxOf(spreads[rw.name])))
		}
		cpu := median(cpus[rw.name])
		bound := cpu.Seconds() / float64(runtime.NumCPU()) / d.Seconds()
		fmt.Printf("%-50s %8.2fs %9.2fx %7.2fs %10.2f %14s\n", rw.name, d.Seconds(), ratio, cpu.Seconds(), bound, spread)
		b.ReportMetric(ratio, strings.ReplaceAll(rw.name, " ", "_")+"/1host")
	}
}

// deploy commits a change and deploys it to targets as one fleet; it
// returns the time and, when measured, the receivers' switch spread.
func (r *rig) deploy(targets []string, timed bool) (time.Duration, time.Duration) {
	r.n++
	testenv.CommitVersion(r.b, r.repo, "bench-"+strconv.Itoa(r.n))
	cfg := filepath.Join(r.dir, "ship.yml")
	yml := fmt.Sprintf("repo: %s\npath: %s\ntargets:\n  fleet:\n    hosts: [%s]\n", r.repo, r.f.AppPath, strings.Join(targets, ", "))
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		r.b.Fatal(err)
	}
	cmd := exec.Command(r.ship, "deploy", "fleet", "--json", "--config", cfg, "--key", r.f.KeyFile, "--known-hosts", r.knownHosts())
	start := time.Now()
	out, err := cmd.Output()
	d := time.Since(start)
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		r.b.Fatalf("ship deploy to %d hosts: %v\n%s\n%s", len(targets), err, msg, out)
	}
	if dir := os.Getenv("FLEET_DUMP"); dir != "" { // every deploy's --json, for its stage times

		os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d-%d.json", r.n, len(targets))), out, 0o644)
	}
	var res struct {
		Spread time.Duration `json:"switch_spread_ns"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		r.b.Fatalf("ship deploy --json: %v\n%s", err, out)
	}
	return d, res.Spread
}

// slowLinks puts a 25 ms-each-way link in front of every host's sshd.
func (r *rig) slowLinks() {
	r.links = map[string]string{}
	var known strings.Builder
	data, _ := os.ReadFile(r.f.KnownHostsFile)
	known.Write(data)
	for _, h := range r.f.Hosts {
		c := testenv.NewCutter(r.b, h.SSHD.Addr)
		c.SetLatency(25 * time.Millisecond)
		_, port, _ := strings.Cut(c.Addr(), ":")
		r.links[h.SSHD.Target()] = h.SSHD.User + "@" + c.Addr()
		line, _ := os.ReadFile(h.SSHD.KnownHostsFile)
		known.WriteString(strings.Replace(string(line), "]:"+strconv.Itoa(h.SSHD.Port)+" ", "]:"+port+" ", 1))
	}
	if err := os.WriteFile(filepath.Join(r.dir, "known_hosts"), []byte(known.String()), 0o600); err != nil {
		r.b.Fatal(err)
	}
}

func (r *rig) knownHosts() string { return filepath.Join(r.dir, "known_hosts") }

func (r *rig) slow(targets []string) []string {
	out := make([]string, len(targets))
	for i, t := range targets {
		out[i] = r.links[t]
	}
	return out
}

// busyTime is how long the machine's CPUs have been busy, from /proc/stat
// (every field but idle and iowait, in the kernel's 100 Hz ticks).
func busyTime(b *testing.B) time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	var busy int64
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		if i != 3 && i != 4 && i < 8 { // idle, iowait; guest time is in user already
			busy += v
		}
	}
	return time.Duration(busy) * 10 * time.Millisecond
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func maxOf(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
