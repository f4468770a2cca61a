package shipcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/testenv"
)

// fleetWorld is a test fleet (hosts in mount namespaces, each with sshd
// and a receiver), the app's repository, and a ship.yml naming the fleet.
type fleetWorld struct {
	t     *testing.T
	f     *testenv.Fleet
	repo  string
	cfg   string
	loads []*testenv.Load
}

func newFleetWorld(t *testing.T, n int, extraYAML ...string) *fleetWorld {
	t.Helper()
	testenv.Bun(t)
	return fleetWorldOn(t, testenv.StartFleet(t, n), extraYAML...)
}

// fleetWorldOn is newFleetWorld on a fleet the test started itself.
func fleetWorldOn(t *testing.T, f *testenv.Fleet, extraYAML ...string) *fleetWorld {
	t.Helper()
	fw := &fleetWorld{t: t, f: f, repo: testenv.AppRepo(t)}
	fw.cfg = filepath.Join(t.TempDir(), "ship.yml")
	yml := fmt.Sprintf("repo: %s\npath: %s\ntargets:\n  fleet:\n    hosts: [%s]\n%s",
		fw.repo, fw.f.AppPath, strings.Join(fw.f.Targets(), ", "), strings.Join(extraYAML, "\n"))
	if err := os.WriteFile(fw.cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return fw
}

// writeTargets rewrites ship.yml with the fleet target naming hosts.
func (fw *fleetWorld) writeTargets(hosts []string) {
	fw.t.Helper()
	yml := fmt.Sprintf("repo: %s\npath: %s\ntargets:\n  fleet:\n    hosts: [%s]\n", fw.repo, fw.f.AppPath, strings.Join(hosts, ", "))
	if err := os.WriteFile(fw.cfg, []byte(yml), 0o644); err != nil {
		fw.t.Fatal(err)
	}
}

// ship runs ship with the fleet's config, key and known hosts.
func (fw *fleetWorld) ship(args ...string) (int, string) {
	fw.t.Helper()
	out := &testenv.SyncBuffer{}
	return fw.shipTo(out, args...), out.String()
}

// shipTo is ship with its output going to out as it comes.
func (fw *fleetWorld) shipTo(out io.Writer, args ...string) int {
	fw.t.Helper()
	full := append(append([]string{}, args...), "--config", fw.cfg, "--key", fw.f.KeyFile, "--known-hosts", fw.f.KnownHostsFile)
	a := &app{stdout: out, stderr: out, getenv: func(k string) string {
		if k == "HOME" {
			return os.Getenv("HOME")
		}
		return ""
	}}
	return a.run(context.Background(), full)
}

// startReceivers starts every host's receiver with extra flags.
func (fw *fleetWorld) startReceivers(env []string, args ...string) {
	fw.t.Helper()
	bin := testenv.Program(fw.t, "./cmd/receiver")
	for _, h := range fw.f.Hosts {
		h.StartReceiver(bin, env, append([]string{"--create"}, args...)...)
	}
}

// startLoad sends requests to every host's receiver from another process.
func (fw *fleetWorld) startLoad() {
	for _, h := range fw.f.Hosts {
		fw.loads = append(fw.loads, testenv.StartLoad(fw.t, h.URL(), 2, 1, 2*time.Millisecond))
	}
}

// finishLoad stops the load and fails the test if any request failed.
func (fw *fleetWorld) finishLoad() (total int64) {
	fw.t.Helper()
	for i, ld := range fw.loads {
		res := ld.Finish(fw.t)
		total += res.Total
		fw.t.Logf("%s: %d requests, %d failed, longest gap %.0f ms, versions %v", fw.f.Hosts[i].Name, res.Total, res.Failed, res.MaxGapMS, res.Versions)
		if res.Failed != 0 || res.Total < 50 {
			fw.t.Errorf("%s: %d of %d requests failed: %v", fw.f.Hosts[i].Name, res.Failed, res.Total, res.Errors)
		}
	}
	fw.loads = nil
	return total
}

// serves returns what each host's receiver answers on /.
func (fw *fleetWorld) serves() []string {
	var out []string
	for _, h := range fw.f.Hosts {
		body, err := get(h.URL())
		if err != nil {
			body = "error: " + err.Error()
		}
		out = append(out, strings.TrimSpace(body))
	}
	return out
}

// currents returns where each host's current points.
func (fw *fleetWorld) currents() []string {
	var out []string
	for _, h := range fw.f.Hosts {
		out = append(out, h.Current())
	}
	return out
}

func (fw *fleetWorld) locksFree() bool {
	for _, h := range fw.f.Hosts {
		if _, err := os.Lstat(h.Layout.Lock()); err == nil {
			return false
		}
	}
	return true
}

func allEqual(xs []string, want string) bool {
	for _, x := range xs {
		if x != want {
			return false
		}
	}
	return len(xs) > 0
}

// TestFleetDeploysOneReleaseEverywhere: four hosts, three deploys under load
// on every host: the same release number and commit everywhere, served
// everywhere, no failed request, one JSON document for the fleet.
func TestFleetDeploysOneReleaseEverywhere(t *testing.T) {
	fw := newFleetWorld(t, 4)
	testenv.CommitVersion(t, fw.repo, "one")
	if code, out := fw.ship("deploy", "fleet"); code != 0 {
		t.Fatalf("first deploy: %d\n%s", code, out)
	}
	fw.startReceivers(nil)
	fw.startLoad()
	for i, v := range []string{"two", "three"} {
		commit := testenv.CommitVersion(t, fw.repo, v)
		code, out := fw.ship("deploy", "fleet", "--json")
		if code != 0 {
			t.Fatalf("deploy %s: %d\n%s", v, code, out)
		}
		doc := decodeResult(t, out)
		if !doc.OK || doc.Release != i+2 || doc.Commit != commit || len(doc.Hosts) != 4 || doc.Spread < 0 {
			t.Errorf("deploy %s: result %+v", v, doc)
		}
		for _, h := range doc.Hosts {
			if h.Outcome != deploy.OutcomeOK || h.Release != i+2 || h.Commit != commit || h.Switch == nil {
				t.Errorf("deploy %s on %s: %+v", v, h.Target, h)
			}
			if h.ClockAhead != 0 { // one machine, one clock: read from the pongs
				t.Errorf("deploy %s: %s's clock taken for %s ahead of ship's", v, h.Target, h.ClockAhead)
			}
		}
		t.Logf("deploy %s: switch spread %s", v, doc.Spread)
		if got := fw.serves(); !allEqual(got, fmt.Sprintf("hello from release %d (%s)", i+2, v)) {
			t.Errorf("after deploy %s the hosts serve %q", v, got)
		}
	}
	fw.finishLoad()
	if got := fw.currents(); !allEqual(got, "releases/3") {
		t.Errorf("current on the hosts: %q", got)
	}
	if !fw.locksFree() {
		t.Error("a lock was left")
	}
	code, out := fw.ship("releases", "fleet")
	if code != 0 || !strings.Contains(out, "h1") && !strings.Contains(out, fw.f.Targets()[0]) {
		t.Errorf("releases: %d\n%s", code, out)
	}
	t.Logf("ship releases fleet:\n%s", out)
}

// decodeResult reads the JSON document of ship deploy --json from output
// that also holds the progress lines (the test joins stdout and stderr).
func decodeResult(t *testing.T, out string) resultDoc {
	t.Helper()
	i := strings.Index(out, "{\n")
	if i < 0 {
		t.Fatalf("no JSON document in the output:\n%s", out)
	}
	var doc resultDoc
	dec := json.NewDecoder(strings.NewReader(out[i:]))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode the result: %v\n%s", err, out[i:])
	}
	if doc.FleetResult == nil {
		doc.FleetResult = &deploy.FleetResult{}
	}
	return doc
}

// deployOneServing deploys a first release everywhere, starts the
// receivers (with env) and the load, and checks release 1 serves.
func (fw *fleetWorld) deployOneServing(env ...string) {
	fw.t.Helper()
	testenv.CommitVersion(fw.t, fw.repo, "one")
	if code, out := fw.ship("deploy", "fleet", "--wait", "0"); code != 0 {
		fw.t.Fatalf("first deploy: %d\n%s", code, out)
	}
	fw.startReceivers(env)
	fw.startLoad()
	if got := fw.serves(); !allEqual(got, "hello from release 1 (one)") {
		fw.t.Fatalf("before: the hosts serve %q", got)
	}
}

// unchanged checks that no host switched: release 1 is current and serves
// everywhere, every lock is free, and the load saw no failure.
func (fw *fleetWorld) unchanged() {
	fw.t.Helper()
	fw.finishLoad()
	if got := fw.currents(); !allEqual(got, "releases/1") {
		fw.t.Errorf("current on the hosts: %q, want releases/1 everywhere", got)
	}
	if got := fw.serves(); !allEqual(got, "hello from release 1 (one)") {
		fw.t.Errorf("the hosts serve %q, want release 1 everywhere", got)
	}
	if !fw.locksFree() {
		fw.t.Error("a lock was left")
	}
	for _, h := range fw.f.Hosts {
		st, _ := release.ReadState(release.LocalFS{}, h.Layout)
		if st == nil || st.Staged != nil {
			fw.t.Errorf("%s still has a staged release: %+v", h.Name, st)
		}
	}
}

// breakRelease commits a change to the app that fails at start on a host
// whose shared/ holds a file named CRASH (linked into the release).
func (fw *fleetWorld) breakRelease(version string, hosts ...*testenv.FleetHost) {
	fw.t.Helper()
	index := filepath.Join(fw.repo, "src", "index.ts")
	src, _ := os.ReadFile(index)
	guard := "import { existsSync } from \"node:fs\";\nif (existsSync(\"CRASH\")) throw new Error(\"crash at start on purpose\");\n"
	os.WriteFile(index, append([]byte(guard), src...), 0o644)
	testenv.CommitVersion(fw.t, fw.repo, version)
	for _, h := range hosts {
		os.MkdirAll(filepath.Join(h.Dir, "shared"), 0o755)
		os.WriteFile(filepath.Join(h.Dir, "shared", "CRASH"), nil, 0o644)
	}
}

// A build that fails on one host of four: the deploy fails naming it, no
// host switched, every host serves the old release; the next deploy works
// and does not reuse the failed number.
func TestFleetBuildFailsOnOneHost(t *testing.T) {
	fw := newFleetWorld(t, 4)
	fw.deployOneServing()
	h3 := fw.f.Hosts[2]
	os.WriteFile(filepath.Join(h3.Dir, "shared", "FAIL_BUILD"), nil, 0o644)
	testenv.CommitVersion(t, fw.repo, "two")
	code, out := fw.ship("deploy", "fleet", "--build", "test ! -e FAIL_BUILD && bun run build")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s", code, exitFailed, out)
	}
	for _, want := range []string{h3.SSHD.Target(), "build", "No host switched"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	fw.unchanged()
	os.Remove(filepath.Join(h3.Dir, "shared", "FAIL_BUILD"))
	if code, out := fw.ship("deploy", "fleet", "--json"); code != 0 || decodeResult(t, out).Release != 3 {
		t.Fatalf("the next deploy: %d (want release 3: 2 is never reused)\n%s", code, out)
	}
	for _, h := range fw.f.Hosts {
		if _, err := os.Stat(h.Layout.Dir(2)); err == nil {
			t.Errorf("%s: the failed release 2 was not swept", h.Name)
		}
	}
}

// A release that crashes at start on one host: never staged there, so no
// host switched; the host's release is marked bad, the others' are not
// rollback targets either.
func TestFleetReleaseCrashesOnOneHost(t *testing.T) {
	fw := newFleetWorld(t, 4)
	fw.deployOneServing()
	h2 := fw.f.Hosts[1]
	fw.breakRelease("two", h2)
	code, out := fw.ship("deploy", "fleet")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d\n%s", code, exitFailed, out)
	}
	for _, want := range []string{h2.SSHD.Target(), "crash at start on purpose", "No host switched"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	fw.unchanged()
	if _, err := os.Stat(h2.Layout.BadFile(2)); err != nil {
		t.Errorf("release 2 on %s is not marked bad: %v", h2.Name, err)
	}
	if code, out := fw.ship("rollback", "fleet", "2"); code == 0 {
		t.Errorf("rolled back to the refused release:\n%s", out)
	}
}

// A lock held on one host: exit 3 naming it and its holder; no host changed
// (the others' locks were taken and given back). A holder that started
// moments ago may be a deploy that began with this one: ship tries again a
// few times before it says so.
func TestFleetLockedHost(t *testing.T) {
	fw := newFleetWorld(t, 4)
	fw.deployOneServing()
	h4 := fw.f.Hosts[3]
	testenv.CommitVersion(t, fw.repo, "two")
	for _, since := range []time.Time{time.Now().Add(-10 * time.Minute), time.Now()} {
		if err := release.Lock(release.LocalFS{}, h4.Layout, release.LockInfo{ID: "other", Who: "carol", From: "laptop", PID: 7, Since: since}); err != nil {
			t.Fatal(err)
		}
		logged := auditLines(t, fw.f.Hosts[0])
		code, out := fw.ship("deploy", "fleet")
		if code != exitLocked || !strings.Contains(out, h4.SSHD.Target()) || !strings.Contains(out, "carol") {
			t.Fatalf("exit %d, want %d naming %s and carol\n%s", code, exitLocked, h4.SSHD.Target(), out)
		}
		fresh := time.Since(since) < time.Minute
		if tried := strings.Count(out, "at the same moment"); tried != map[bool]int{true: 1, false: 0}[fresh] {
			t.Errorf("a holder since %s: %d notes of trying again\n%s", since.Format(time.TimeOnly), tried, out)
		}
		// h1 logs each run that took its lock and gave it back.
		if runs, want := auditLines(t, fw.f.Hosts[0])-logged, map[bool]int{true: 1 + 5, false: 1}[fresh]; runs != want {
			t.Errorf("a holder since %s: h1 saw %d runs, want %d", since.Format(time.TimeOnly), runs, want)
		}
		release.Unlock(release.LocalFS{}, h4.Layout, "other")
	}
	fw.unchanged()
	for _, h := range fw.f.Hosts {
		if _, err := os.Stat(h.Layout.Dir(2)); err == nil {
			t.Errorf("%s: a release 2 folder was made although the fleet never went ahead", h.Name)
		}
	}
}

// --canary: the first host goes alone; when it fails its health check no
// other host is touched.
func TestFleetCanaryFails(t *testing.T) {
	fw := newFleetWorld(t, 4)
	fw.deployOneServing()
	canary := fw.f.Hosts[0]
	fw.breakRelease("two", canary)
	code, out := fw.ship("deploy", "fleet", "--canary")
	if code != exitFailed || !strings.Contains(out, canary.SSHD.Target()) {
		t.Fatalf("exit %d, want %d naming the canary\n%s", code, exitFailed, out)
	}
	fw.unchanged()
	for _, h := range fw.f.Hosts[1:] {
		if _, err := os.Stat(h.Layout.Dir(2)); err == nil {
			t.Errorf("%s was touched although the canary failed", h.Name)
		}
	}
	// A healthy release goes canary first, then the rest.
	os.Remove(filepath.Join(canary.Dir, "shared", "CRASH"))
	testenv.CommitVersion(t, fw.repo, "three")
	code, out = fw.ship("deploy", "fleet", "--canary")
	if code != 0 || !strings.Contains(out, "canary") {
		t.Fatalf("canary deploy: %d\n%s", code, out)
	}
	if got := fw.serves(); !allEqual(got, "hello from release 3 (three)") {
		t.Errorf("after the canary deploy the hosts serve %q", got)
	}
}

// ship rollback of a fleet: to the release before, then to N, in two
// phases; a release missing on one host is refused, naming the host.
func TestFleetRollback(t *testing.T) {
	fw := newFleetWorld(t, 3)
	fw.deployOneServing()
	for _, v := range []string{"two", "three"} {
		testenv.CommitVersion(t, fw.repo, v)
		if code, out := fw.ship("deploy", "fleet"); code != 0 {
			t.Fatalf("deploy %s: %d\n%s", v, code, out)
		}
	}
	if code, out := fw.ship("rollback", "fleet"); code != 0 {
		t.Fatalf("rollback: %d\n%s", code, out)
	}
	if got := fw.serves(); !allEqual(got, "hello from release 2 (two)") {
		t.Errorf("after rollback the hosts serve %q", got)
	}
	if code, out := fw.ship("rollback", "fleet", "1"); code != 0 {
		t.Fatalf("rollback 1: %d\n%s", code, out)
	}
	if got := fw.currents(); !allEqual(got, "releases/1") {
		t.Errorf("after rollback 1 current is %q", got)
	}
	fw.finishLoad()
	if got := fw.serves(); !allEqual(got, "hello from release 1 (one)") {
		t.Errorf("after rollback 1 the hosts serve %q", got)
	}
	// Release 2 gone from one host: refused, naming it, nothing changed.
	h := fw.f.Hosts[2]
	os.RemoveAll(h.Layout.Dir(2))
	code, out := fw.ship("rollback", "fleet", "2")
	if code == 0 || !strings.Contains(out, h.SSHD.Target()) {
		t.Errorf("rollback to a release missing on %s: %d\n%s", h.Name, code, out)
	}
	if got := fw.currents(); !allEqual(got, "releases/1") {
		t.Errorf("after the refused rollback current is %q", got)
	}
	if !fw.locksFree() {
		t.Error("a lock was left")
	}
}

// --wait shorter than the app's start: ship stops the stage, the receivers
// confirm, and both say the same: the old release serves, the new one is
// not current, not serving, not a rollback target.
func TestFleetWaitShorterThanStart(t *testing.T) {
	for _, n := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d hosts", n), func(t *testing.T) {
			fw := newFleetWorld(t, n)
			fw.deployOneServing("START_DELAY_MS=3000")
			testenv.CommitVersion(t, fw.repo, "two")
			code, out := fw.ship("deploy", "fleet", "--wait", "1s")
			t.Logf("deploy --wait 1s:\n%s", out)
			if code != exitFailed || !strings.Contains(out, "not healthy within --wait 1s") {
				t.Fatalf("exit %d, want %d saying --wait ran out\n%s", code, exitFailed, out)
			}
			time.Sleep(3500 * time.Millisecond) // past the app's start: a late "healthy" must move nothing
			fw.unchanged()
			_, out = fw.ship("releases", "fleet", "--json")
			var views []releaseView
			json.Unmarshal([]byte(out), &views)
			for _, v := range views {
				if v.Number == 2 && (v.Current || v.Serving) {
					t.Errorf("release 2 on %s: %+v", v.Host, v)
				}
			}
			if code, out := fw.ship("rollback", "fleet"); code == 0 || strings.Contains(out, "already current") {
				t.Errorf("rollback after the aborted deploy: %d\n%s", code, out)
			}
		})
	}
}

// ship killed between the phases (every host staged, no commit sent): the
// hosts unwind by themselves, the staged processes stop, current is
// unchanged, the locks are free, and the next deploy works. When the hosts'
// scripts die with ship, the receivers' --stage-timeout stops the staged
// processes.
func TestFleetShipKilledBetweenPhases(t *testing.T) {
	for _, scriptsToo := range []bool{false, true} {
		t.Run(fmt.Sprintf("scripts killed too: %v", scriptsToo), func(t *testing.T) {
			fw := newFleetWorld(t, 3)
			testenv.CommitVersion(t, fw.repo, "one")
			if code, out := fw.ship("deploy", "fleet", "--wait", "0"); code != 0 {
				t.Fatalf("first deploy: %d\n%s", code, out)
			}
			fw.startReceivers(nil, "--stage-timeout", "3s")
			fw.startLoad()
			testenv.CommitVersion(t, fw.repo, "two")
			// A host that holds back the commit: its build is slow, so the
			// others wait staged at the barrier when ship is killed.
			slow := fw.f.Hosts[2]
			os.WriteFile(filepath.Join(slow.Dir, "shared", "SLOW"), nil, 0o644)
			cmd := exec.Command(testenv.Program(t, "./cmd/ship"), "deploy", "fleet", "--build", "if [ -e SLOW ]; then sleep 60; fi; bun run build",
				"--config", fw.cfg, "--key", fw.f.KeyFile, "--known-hosts", fw.f.KnownHostsFile)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, func() bool {
				for _, h := range fw.f.Hosts[:2] {
					st, _ := release.ReadState(release.LocalFS{}, h.Layout)
					if st == nil || st.Staged == nil || !st.Staged.Healthy {
						return false
					}
				}
				return true
			})
			if scriptsToo {
				for _, h := range fw.f.Hosts {
					h.SSHD.Stop() // SIGKILLs the sessions' processes, the scripts among them
				}
			}
			cmd.Process.Kill()
			werr := cmd.Wait()
			t.Logf("ship (%v), its output until it was killed:\n%s", werr, out.String())
			waitFor(t, 20*time.Second, func() bool {
				for _, h := range fw.f.Hosts {
					st, _ := release.ReadState(release.LocalFS{}, h.Layout)
					if st == nil || st.Staged != nil {
						return false
					}
				}
				return true
			})
			fw.finishLoad()
			if got := fw.currents(); !allEqual(got, "releases/1") {
				t.Errorf("current: %q", got)
			}
			if got := fw.serves(); !allEqual(got, "hello from release 1 (one)") {
				t.Errorf("the hosts serve %q", got)
			}
			if scriptsToo {
				return // their locks wait for the 60 s heartbeat bound (the fault tests cover it)
			}
			waitFor(t, 10*time.Second, fw.locksFree)
			os.Remove(filepath.Join(slow.Dir, "shared", "SLOW"))
			if code, out := fw.ship("deploy", "fleet"); code != 0 {
				t.Fatalf("the next deploy: %d\n%s", code, out)
			}
		})
	}
}

// A host whose link freezes after it staged, so the switch never reaches
// it: the others switch; ship sees the link frozen, reconnects, learns the
// host unwound, and deploys the same release there again: one release on
// every host, and the run says so.
func TestFleetHostLostBeforeItsCommitIsRetried(t *testing.T) {
	fw := newFleetWorld(t, 3)
	fw.deployOneServing()
	// h1 through a link the test can freeze.
	h1 := fw.f.Hosts[0]
	cut := testenv.NewCutter(t, h1.SSHD.Addr)
	_, port, _ := strings.Cut(cut.Addr(), ":")
	line, _ := os.ReadFile(h1.SSHD.KnownHostsFile)
	kh, _ := os.ReadFile(fw.f.KnownHostsFile)
	os.WriteFile(fw.f.KnownHostsFile, append(kh, []byte(strings.Replace(string(line), "]:"+strconv.Itoa(h1.SSHD.Port)+" ", "]:"+port+" ", 1))...), 0o600)
	targets := append([]string{h1.SSHD.User + "@" + cut.Addr()}, fw.f.Targets()[1:]...)
	os.WriteFile(fw.cfg, []byte(fmt.Sprintf("repo: %s\npath: %s\ntargets:\n  fleet:\n    hosts: [%s]\n", fw.repo, fw.f.AppPath, strings.Join(targets, ", "))), 0o644)
	// h3's release is slow to start (its shared .env, which Bun reads):
	// h1 and h2 wait staged at the barrier meanwhile. The slowness is past
	// the release command, which runs once all hosts are built.
	os.WriteFile(filepath.Join(fw.f.Hosts[2].Dir, "shared", ".env"), []byte("START_DELAY_MS=4000\n"), 0o644)
	testenv.CommitVersion(t, fw.repo, "two")
	buf := &testenv.SyncBuffer{}
	go func() { // once ship has seen h1 staged (and waits for h3)
		waitFor(t, 30*time.Second, func() bool { return strings.Contains(buf.String(), cut.Addr()+" │   [7/9] stage") })
		cut.Blackhole()
	}()
	// The release command runs once for the fleet (on h1) and not again
	// when h1 is deployed a second time.
	code := fw.shipTo(buf, "deploy", "fleet", "--json", "--release-command", "echo ran >>../../shared/ran")
	out := buf.String()
	t.Logf("deploy:\n%s", out)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	doc := decodeResult(t, out)
	if !doc.OK || doc.Release != 2 {
		t.Errorf("result: %+v", doc)
	}
	for _, want := range []string{"frozen", "reconnected", "running release 2 there again"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	fw.finishLoad()
	if got := fw.currents(); !allEqual(got, "releases/2") {
		t.Errorf("current: %q", got)
	}
	if got := fw.serves(); !allEqual(got, "hello from release 2 (two)") {
		t.Errorf("the hosts serve %q", got)
	}
	for i, h := range fw.f.Hosts {
		ran, _ := os.ReadFile(filepath.Join(h.Dir, "shared", "ran"))
		if want := map[bool]string{true: "ran\n", false: ""}[i == 0]; string(ran) != want {
			t.Errorf("host %d: the release command's lines %q, want %q", i+1, ran, want)
		}
	}
}

// auditLines counts the lines of h's audit log.
func auditLines(t *testing.T, h *testenv.FleetHost) int {
	t.Helper()
	data, err := os.ReadFile(h.Layout.Log())
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "\n")
}

// Two deploys of the same fleet started at the same moment: each may get
// some of the locks; one of them must go through (before, both could end
// with exit 3), the other goes after it or says the fleet is locked.
func TestFleetDeploysStartedTogether(t *testing.T) {
	fw := newFleetWorld(t, 3)
	fw.deployOneServing()
	for round, v := range []string{"two", "three"} {
		testenv.CommitVersion(t, fw.repo, v)
		codes, outs := make([]int, 2), make([]string, 2)
		var wg sync.WaitGroup
		for i := range codes {
			wg.Add(1)
			go func() { defer wg.Done(); codes[i], outs[i] = fw.ship("deploy", "fleet") }()
		}
		wg.Wait()
		ok := 0
		for i, code := range codes {
			switch code {
			case 0:
				ok++
			case exitLocked:
			default:
				t.Errorf("round %d, deploy %d: exit %d\n%s", round, i, code, outs[i])
			}
		}
		t.Logf("round %d: exits %v, collisions noted %d", round, codes, strings.Count(outs[0]+outs[1], "at the same moment"))
		if ok == 0 {
			t.Errorf("round %d: neither deploy went through\n%s\n---\n%s", round, outs[0], outs[1])
		}
		if got := fw.serves(); !allEqual(got, got[0]) || !strings.Contains(got[0], "("+v+")") {
			t.Errorf("round %d: the hosts serve %q", round, got)
		}
		if !fw.locksFree() {
			t.Errorf("round %d: a lock was left", round)
		}
	}
}

// A host whose clock is off: ship reads it from the pongs, notes it, and
// sends that host the fleet's switch moment by its clock. Only `date` is
// off on h2 here (its sessions find a fake first on the PATH), not its
// receiver's clock: so h2 switching about 3 s after h1, by the real clock,
// is what shows that it was sent a moment 3 s later.
func TestFleetHostClockOff(t *testing.T) {
	testenv.Bun(t)
	date, err := exec.LookPath("date")
	if err != nil {
		t.Skip("no date program")
	}
	bin := t.TempDir()
	fake := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = +%%s%%3N ]; then echo $(($(%s +%%s%%3N) + 3000)); else exec %s \"$@\"; fi\n", date, date)
	if err := os.WriteFile(filepath.Join(bin, "date"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	f := testenv.StartFleet(t, 2, testenv.HostOptions(1, testenv.WithEnv("PATH="+bin+":"+os.Getenv("PATH"))))
	fw := fleetWorldOn(t, f)
	fw.deployOneServing()
	testenv.CommitVersion(t, fw.repo, "two")
	code, out := fw.ship("deploy", "fleet", "--json")
	if code != 0 {
		t.Fatalf("deploy: %d\n%s", code, out)
	}
	if !regexp.MustCompile(regexp.QuoteMeta(f.Hosts[1].SSHD.Target()) + `.*its clock is (2\.9\d*|3(\.\d+)?)s ahead of this machine's`).MatchString(out) {
		t.Errorf("no note of h2's clock:\n%s", out)
	}
	doc := decodeResult(t, out)
	h1, h2 := doc.Hosts[0], doc.Hosts[1]
	if h1.ClockAhead != 0 || (h2.ClockAhead-3*time.Second).Abs() > 100*time.Millisecond {
		t.Errorf("clocks ahead: h1 %s, h2 %s; want 0 and 3s", h1.ClockAhead, h2.ClockAhead)
	}
	if h1.Switch == nil || h2.Switch == nil {
		t.Fatalf("switch answers: %+v %+v", h1.Switch, h2.Switch)
	}
	if lag := h2.Switch.SwitchedAt.Sub(h1.Switch.SwitchedAt); (lag - 3*time.Second).Abs() > 300*time.Millisecond {
		t.Errorf("h2 switched %s after h1 by the real clock, want about 3s: the moment it was sent", lag)
	}
	if got := fw.serves(); !allEqual(got, "hello from release 2 (two)") {
		t.Errorf("the hosts serve %q", got)
	}
	fw.finishLoad()
}
