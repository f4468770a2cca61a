//go:build linux

package supervise

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// BenchmarkStart compares, in one run, starting and reaping an app that
// exits at once through Start (the spawner thread, the guard check, the
// marker) with a bare exec of the same command in its own group, and times
// the scan StopLeftovers makes at each receiver start. It reports both start
// times and their ratio.
func BenchmarkStart(b *testing.B) {
	dir := b.TempDir()
	var viaStart, bare time.Duration
	for b.Loop() {
		t0 := time.Now()
		p, err := Start(context.Background(), Spec{Dir: dir, Command: "exit 0"})
		if err != nil {
			b.Fatal(err)
		}
		p.Wait()
		t1 := time.Now()
		cmd := exec.Command("/bin/sh", "-c", "exit 0")
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		viaStart += t1.Sub(t0)
		bare += t2.Sub(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(viaStart.Microseconds())/n, "µs/Start")
	b.ReportMetric(float64(bare.Microseconds())/n, "µs/bare-exec")
	b.ReportMetric(float64(viaStart)/float64(bare), "Start/bare")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkLeftoverScan times one StopLeftovers with nothing to stop: a
// read of every process's environment in /proc.
func BenchmarkLeftoverScan(b *testing.B) {
	root := b.TempDir()
	for b.Loop() {
		if pids, err := StopLeftovers(root, time.Second); err != nil || len(pids) > 0 {
			b.Fatal(pids, err)
		}
	}
}
