package shipcmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/shipdeploy/ship/internal/testenv"
)

// shipBeforeDash is fw.ship with the fleet's flags before `--`, where a
// command after it would take them as its own words.
func (fw *fleetWorld) shipBeforeDash(args ...string) (int, string) {
	fw.t.Helper()
	i := len(args)
	for j, a := range args {
		if a == "--" {
			i = j
			break
		}
	}
	full := append(append(append([]string{}, args[:i]...), "--config", fw.cfg, "--key", fw.f.KeyFile, "--known-hosts", fw.f.KnownHostsFile), args[i:]...)
	out := &testenv.SyncBuffer{}
	a := &app{stdout: out, stderr: out, getenv: func(k string) string {
		if k == "HOME" {
			return os.Getenv("HOME")
		}
		return ""
	}}
	return a.run(context.Background(), full), out.String()
}

// TestFleetReleaseCommandRunsOnce: the release command runs on the first
// host only, once every host has built the release and before any
// receiver started it; when it fails, nothing switches anywhere. Then
// ship exec reaches every host, or one.
func TestFleetReleaseCommandRunsOnce(t *testing.T) {
	// The command runs in h1's namespace; the test's folders of every
	// host are visible from there too.
	fw := newFleetWorld(t, 2)
	h1, h2 := fw.f.Hosts[0], fw.f.Hosts[1]
	check := fmt.Sprintf(`n=${PWD##*/}; for d in %s %s; do test -f "$d/releases/$n/.ship/release.json" || echo "not built on $d"; `+
		`grep -q '"staged"' "$d/.ship/state.json" && echo "staged early on $d"; done; echo "ran $n"`, h1.Dir, h2.Dir)
	yml, _ := os.ReadFile(fw.cfg)
	os.WriteFile(fw.cfg, append(yml, []byte(fmt.Sprintf("release: |\n  { %s; } >> %s/migrated; sleep 0.3\n", check, fw.f.AppPath))...), 0o644)
	fw.deployOneServing()
	testenv.CommitVersion(t, fw.repo, "two")
	code, out := fw.ship("deploy", "fleet")
	if code != 0 {
		t.Fatalf("deploy: %d\n%s", code, out)
	}
	if got, _ := os.ReadFile(filepath.Join(h1.Dir, "migrated")); string(got) != "ran 1\nran 2\n" {
		t.Errorf("the release command on h1 wrote %q, want it ran once per deploy, after every host built and before any staged", got)
	}
	if _, err := os.Stat(filepath.Join(h2.Dir, "migrated")); err == nil {
		t.Error("the release command ran on h2 too")
	}
	// h2's stage time is its wait for h1's command (0.3s at least): it says so.
	if !strings.Contains(out, "ran once, on "+h1.SSHD.Target()+" (this host waited for the builds and the command)") {
		t.Errorf("h2's release stage does not say where it ran and that it waited:\n%s", out)
	}
	if got := fw.serves(); !allEqual(got, "hello from release 2 (two)") {
		t.Errorf("the hosts serve %q", got)
	}

	// A release command that fails: nothing switches anywhere.
	testenv.CommitVersion(t, fw.repo, "three")
	code, out = fw.ship("deploy", "fleet", "--release-command", "echo the database is gone; exit 2")
	if code != 1 || !strings.Contains(out, "release failed on "+h1.SSHD.Target()) || !strings.Contains(out, "the database is gone") {
		t.Errorf("a failing release command: exit %d\n%s", code, out)
	}
	if got := fw.currents(); !allEqual(got, "releases/2") {
		t.Errorf("current on the hosts: %q", got)
	}
	if got := fw.serves(); !allEqual(got, "hello from release 2 (two)") {
		t.Errorf("the hosts serve %q", got)
	}
	for _, h := range fw.f.Hosts {
		if _, err := os.Stat(filepath.Join(h.Dir, "releases", "3", ".ship", "release.json")); err == nil {
			t.Errorf("%s: release 3 is finished: a rollback could pick it", h.Name)
		}
	}
	if !fw.locksFree() {
		t.Error("a lock was left")
	}
	fw.finishLoad()

	// ship exec: every host, its lines marked; one host; a status passed on.
	code, out = fw.shipBeforeDash("exec", "fleet", "--", "echo in ${PWD##*/}")
	for _, h := range fw.f.Hosts {
		if !strings.Contains(out, h.SSHD.Target()+" │ in 2\n") {
			t.Errorf("exec on every host: exit %d, no line from %s:\n%s", code, h.Name, out)
		}
	}
	code, out = fw.shipBeforeDash("exec", "fleet", "--", "test -f "+fw.f.AppPath+"/migrated || exit 6")
	if code != 6 || !strings.Contains(out, "the command failed on "+h2.SSHD.Target()+" (exit status 6)") {
		t.Errorf("exec failing on h2: exit %d\n%s", code, out)
	}
	code, out = fw.shipBeforeDash("exec", "fleet", "--host", h2.SSHD.Target(), "--", "echo only here")
	if code != 0 || strings.Count(out, "only here") != 1 || strings.Contains(out, "│") {
		t.Errorf("exec --host h2: exit %d\n%s", code, out)
	}
	if code, out := fw.shipBeforeDash("exec", "fleet", "-i", "--", "true"); code != 2 || !strings.Contains(out, "add --host") {
		t.Errorf("exec -i on two hosts: exit %d\n%s", code, out)
	}

	// With --canary the command runs once, on the canary before it
	// stages; the hosts that follow skip it.
	testenv.CommitVersion(t, fw.repo, "four")
	code, out = fw.ship("deploy", "fleet", "--canary", "--release-command", "echo canary >> "+fw.f.AppPath+"/canary")
	if code != 0 {
		t.Fatalf("deploy --canary: %d\n%s", code, out)
	}
	if got, _ := os.ReadFile(filepath.Join(h1.Dir, "canary")); string(got) != "canary\n" {
		t.Errorf("the release command on the canary wrote %q, want one line", got)
	}
	if _, err := os.Stat(filepath.Join(h2.Dir, "canary")); err == nil {
		t.Error("the release command ran on h2 too")
	}
	if !regexp.MustCompile(regexp.QuoteMeta(h2.SSHD.Target()+" │   [6/9] release") + ` .*ran once, on ` + regexp.QuoteMeta(h1.SSHD.Target())).MatchString(out) {
		t.Errorf("h2's release stage does not say where it ran:\n%s", out)
	}
	for _, body := range fw.serves() {
		if !strings.HasSuffix(body, "(four)") {
			t.Errorf("the hosts serve %q after the canary deploy", fw.serves())
			break
		}
	}
}
