// Package deploybench compares a ship redeploy with the sequence the old
// shell scripts sent over ssh (git clone, bun install, bun run build,
// ln -s), over a real sshd on loopback and through a link with a 50 ms
// round trip. Run it with bench/deploy/run.sh, or:
//
//	go test -run '^$' -bench . -benchtime 8x ./bench/deploy/
package deploybench

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/testenv"
)

func BenchmarkRedeploy(b *testing.B) {
	testenv.Bun(b)
	sshd := testenv.StartSSHD(b)
	ship := testenv.Program(b, "./cmd/ship")
	type scenario struct {
		name    string
		latency time.Duration // each way, between ship and the server
		daemon  bool          // the repository is served by git daemon, not read from the server's disk
	}
	for _, link := range []scenario{
		{"loopback/repo-on-disk", 0, false},
		{"rtt-50ms/repo-on-disk", 25 * time.Millisecond, false},
		{"loopback/git-daemon", 0, true},
		{"rtt-50ms/git-daemon", 25 * time.Millisecond, true},
	} {
		b.Run(link.name, func(b *testing.B) {
			addr := sshd.Addr
			if link.latency > 0 {
				c := testenv.NewCutter(b, sshd.Addr)
				c.SetLatency(link.latency)
				addr = c.Addr()
			}
			r := newRig(b, sshd, ship, addr)
			if link.daemon {
				r.url = gitDaemon(b, r.repo)
			}
			// One deploy each to warm the mirror, Bun's caches and the page cache.
			r.commit()
			r.ship()
			r.plain()
			var shipT, plainT []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.commit() // a code change, no dependency change
				if i%2 == 0 {
					shipT = append(shipT, r.ship())
					plainT = append(plainT, r.plain())
				} else {
					plainT = append(plainT, r.plain())
					shipT = append(shipT, r.ship())
				}
			}
			b.StopTimer()
			s, p := median(shipT), median(plainT)
			b.ReportMetric(s.Seconds(), "ship-s")
			b.ReportMetric(p.Seconds(), "plain-s")
			b.ReportMetric(s.Seconds()/p.Seconds(), "ship/plain")
			fmt.Printf("%-22s redeploy, median of %d: ship %.3fs   plain ssh sequence %.3fs   ratio ship/plain %.2fx\n",
				link.name, b.N, s.Seconds(), p.Seconds(), s.Seconds()/p.Seconds())
			if link.latency == 0 && !link.daemon {
				r.reportDisk(b)
			}
		})
	}
}

// rig is one APP_ROOT for ship and one for the plain sequence, on the same
// server, deploying the same repository.
type rig struct {
	b                   testing.TB
	sshd                *testenv.SSHD
	shipBin, addr       string
	repo                string
	url                 string // what both fetch: repo's path, or a git:// URL
	knownHosts          string
	shipRoot, plainRoot string
	plainN              int
}

func newRig(b testing.TB, sshd *testenv.SSHD, shipBin, addr string) *rig {
	dir := b.TempDir()
	r := &rig{b: b, sshd: sshd, shipBin: shipBin, addr: addr, repo: testenv.AppRepo(b),
		shipRoot: filepath.Join(dir, "ship-app"), plainRoot: filepath.Join(dir, "plain-app")}
	r.url = r.repo
	// known_hosts for the address used (the latency proxy has its own port).
	line, err := os.ReadFile(sshd.KnownHostsFile)
	if err != nil {
		b.Fatal(err)
	}
	_, port, _ := strings.Cut(addr, ":")
	_, sshdPort, _ := strings.Cut(sshd.Addr, ":")
	r.knownHosts = filepath.Join(dir, "known_hosts")
	text := strings.ReplaceAll(string(line), "]:"+sshdPort+" ", "]:"+port+" ")
	if err := os.WriteFile(r.knownHosts, []byte(text), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(r.plainRoot, "releases"), 0o755); err != nil {
		b.Fatal(err)
	}
	return r
}

var version int

func (r *rig) commit() {
	version++
	testenv.CommitVersion(r.b, r.repo, "bench-"+strconv.Itoa(version))
}

func (r *rig) ship() time.Duration {
	cmd := exec.Command(r.shipBin, "deploy", r.sshd.User+"@"+r.addr, "--path", r.shipRoot, "--repo", r.url,
		"--key", r.sshd.KeyFile, "--known-hosts", r.knownHosts, "--config", "/dev/null")
	return r.timed(cmd)
}

// plain is what the old scripts did, as one ssh command.
func (r *rig) plain() time.Duration {
	r.plainN++
	script := fmt.Sprintf(`set -e; cd %s; git clone -q %s releases/%d; cd releases/%d; bun install; bun run build; cd ../..; ln -sfn releases/%d current; touch releases/RELOAD`,
		r.plainRoot, r.url, r.plainN, r.plainN, r.plainN)
	host, port, _ := strings.Cut(r.addr, ":")
	cmd := exec.Command("ssh", "-p", port, "-i", r.sshd.KeyFile, "-o", "UserKnownHostsFile="+r.knownHosts,
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-F", "/dev/null", r.sshd.User+"@"+host, script)
	return r.timed(cmd)
}

func (r *rig) timed(cmd *exec.Cmd) time.Duration {
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		r.b.Fatalf("%s: %v\n%s", strings.Join(cmd.Args[:2], " "), err, out)
	}
	return d
}

// reportDisk prints the space the kept releases take, each file counted
// once: du -L follows the node_modules links, so a release alone includes
// the node_modules it uses, and releases sharing one count it once.
func (r *rig) reportDisk(b *testing.B) {
	rels, _ := filepath.Glob(filepath.Join(r.shipRoot, "releases", "[0-9]*"))
	sort.Slice(rels, func(i, j int) bool { return num(rels[i]) < num(rels[j]) })
	if len(rels) == 0 {
		b.Fatal("no releases")
	}
	all := duKB(b, filepath.Join(r.shipRoot, "releases"))
	one := duKB(b, rels[len(rels)-1])
	plainAll := duKB(b, filepath.Join(r.plainRoot, "releases"))
	plainOne := plainAll / r.plainN
	b.ReportMetric(float64(all)/float64(one), "disk-kept/one")
	fmt.Printf("disk      ship: %d kept releases %d KB, one release alone %d KB: %.2fx one release\n", len(rels), all, one, float64(all)/float64(one))
	fmt.Printf("          plain sequence, for reference: %d releases %d KB (%d KB each)\n", r.plainN, plainAll, plainOne)
}

func duKB(b testing.TB, path string) int {
	out, err := exec.Command("du", "-skL", path).Output()
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(out))
	n, _ := strconv.Atoi(f[0])
	return n
}

func num(p string) int {
	n, _ := strconv.Atoi(filepath.Base(p))
	return n
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// gitDaemon serves repo over git:// on a loopback port, as a git server on
// the network would (GitHub, for the old scripts), and returns its URL.
func gitDaemon(b testing.TB, repo string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	base := filepath.Dir(repo)
	cmd := exec.Command("git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1",
		"--port="+strconv.Itoa(port), "--base-path="+base, base)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := fmt.Sprintf("git://127.0.0.1:%d/%s", port, filepath.Base(repo))
	deadline := time.Now().Add(10 * time.Second)
	for exec.Command("git", "ls-remote", url).Run() != nil {
		if time.Now().After(deadline) {
			b.Fatal("git daemon did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return url
}
