package shipcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	fw := &fleetWorld{t: t, f: testenv.StartFleet(t, n), repo: testenv.AppRepo(t)}
	fw.cfg = filepath.Join(t.TempDir(), "ship.yml")
	yml := fmt.Sprintf("repo: %s\npath: %s\ntargets:\n  fleet:\n    hosts: [%s]\n%s",
		fw.repo, fw.f.AppPath, strings.Join(fw.f.Targets(), ", "), strings.Join(extraYAML, "\n"))
	if err := os.WriteFile(fw.cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return fw
}

// ship runs ship with the fleet's config, key and known hosts.
func (fw *fleetWorld) ship(args ...string) (int, string) {
	fw.t.Helper()
	var out bytes.Buffer
	full := append(append([]string{}, args...), "--config", fw.cfg, "--key", fw.f.KeyFile, "--known-hosts", fw.f.KnownHostsFile)
	a := &app{stdout: &out, stderr: &out, getenv: func(k string) string {
		if k == "HOME" {
			return os.Getenv("HOME")
		}
		return ""
	}}
	code := a.run(context.Background(), full)
	return code, out.String()
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

var _ = release.Layout{}
