package shipcmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/testenv"
)

// Every command's help has an example, and lists only the flags that apply
// to it: the SSH flags where a command connects, deploy's where it deploys.
func TestHelpExamplesAndFlags(t *testing.T) {
	a := &app{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	root := a.newRootCmd()
	connects := append(slices.Clone(targetCommands), "config")
	deploys := []string{"deploy", "config"}
	flagsOf := map[string][]string{
		"key": connects, "known-hosts": connects, "port": connects, "user": connects, "jump": connects,
		"timeout": append(slices.Clone(connects), "trigger"), // trigger's own: how long to wait for the answer
		// init's own --repo and --path say what it writes into ship.yml.
		"insecure-ignore-host-key": connects, "path": append(slices.Clone(connects), "init"), "config": connects,
		"repo": append(slices.Clone(deploys), "init"), "keep": deploys, "canary": deploys, "parallel": deploys, "github-token": deploys,
		"wait": {"deploy", "rollback", "config"}, "lock-wait": {"deploy", "rollback", "config"},
		"verbose": {"deploy", "rollback"},
	}
	var all []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		all = append(all, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if len(all) < 15 {
		t.Fatalf("only %d commands", len(all))
	}
	for _, c := range all {
		path := strings.Fields(c.CommandPath())[1:]
		var out strings.Builder
		ap := &app{stdout: &out, stderr: &out, getenv: func(string) string { return "" }}
		if code := ap.run(t.Context(), append(path, "--help")); code != 0 || !strings.Contains(out.String(), "Examples:\n  ") {
			t.Errorf("%q --help: exit %d, no example:\n%s", c.CommandPath(), code, out.String())
		}
		if c.InheritedFlags().HasAvailableFlags() {
			t.Errorf("%q inherits flags: %s", c.CommandPath(), c.InheritedFlags().FlagUsages())
		}
		for flag, cmds := range flagsOf {
			has := c.Flags().Lookup(flag) != nil
			if has != (c.Parent() == root && slices.Contains(cmds, c.Name())) {
				t.Errorf("%q has --%s: %v", c.CommandPath(), flag, has)
			}
		}
	}
}

// Completion: targets from ship.yml (and local) for a TARGET; only deploy
// takes more than one.
func TestCompleteTargets(t *testing.T) {
	dir := project(t, layeredYAML)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy", ""}, "prod\ta.example, deploy@b.example\nstaging\tstaging.example\nlocal\tthis machine, without SSH\n:4\n"},
		{[]string{"deploy", "prod", ""}, "staging\tstaging.example\nlocal\tthis machine, without SSH\n:4\n"},
		{[]string{"status", "st"}, "staging\tstaging.example\n:4\n"},
		{[]string{"status", "prod", ""}, ":4\n"},
		{[]string{"config", "p"}, "prod\ta.example, deploy@b.example\n:4\n"},
		{[]string{"rollback", "l"}, "local\tthis machine, without SSH\n:4\n"},
		{[]string{"deploy", "--config", filepath.Join(dir, "nothing.yml"), ""}, "local\tthis machine, without SSH\n:4\n"},
	} {
		c := runCaught(t, dir, nil, append([]string{"__complete"}, tc.args...)...)
		if c.code != 0 || c.stdout != tc.want {
			t.Errorf("complete %q: exit %d\n%q\nwant\n%q", tc.args, c.code, c.stdout, tc.want)
		}
	}
}

// Completion of rollback's N reads the target's first host: the releases a
// rollback may go to, newest first (not current, not bad, not unfinished).
func TestCompleteReleases(t *testing.T) {
	sshd := testenv.StartSSHD(t)
	root := filepath.Join(t.TempDir(), "app")
	madeReleases(t, root, 5) // 5 unfinished, 4 current
	os.WriteFile(release.Layout{Root: root}.BadFile(2), []byte(`{"reason":"unhealthy"}`), 0o644)

	dir := project(t, fmt.Sprintf("path: %s\ntargets:\n  box:\n    hosts: [%s, other.invalid]\n", root, sshd.Target()))
	env := map[string]string{"SHIP_SSH_KEY_FILE": sshd.KeyFile, "SHIP_KNOWN_HOSTS_FILE": sshd.KnownHostsFile}
	c := runCaught(t, dir, env, "__complete", "rollback", "box", "")
	lines := strings.Split(strings.TrimSpace(c.stdout), "\n")
	var numbers []string
	for _, line := range lines[:len(lines)-1] {
		n, desc, _ := strings.Cut(line, "\t")
		numbers = append(numbers, n)
		if !strings.Contains(desc, "main") || !strings.Contains(desc, "by alice") {
			t.Errorf("release %s described as %q", n, desc)
		}
	}
	if strings.Join(numbers, " ") != "3 1" || lines[len(lines)-1] != ":36" {
		t.Errorf("rollback box completes %q, want 3 then 1, in order:\n%s", numbers, c.stdout)
	}
	// A host that cannot be reached completes nothing.
	c = runCaught(t, dir, map[string]string{"SHIP_PORT": "1"}, "__complete", "rollback", "127.0.0.1", "")
	if c.stdout != ":4\n" {
		t.Errorf("unreachable host: %q", c.stdout)
	}
}

// madeReleases makes releases 1…n in root by hand, as deploys leave them:
// the last unfinished, the one before it current.
func madeReleases(t testing.TB, root string, n int) {
	t.Helper()
	l := release.Layout{Root: root}
	built := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		if err := os.MkdirAll(filepath.Join(l.Dir(i), ".ship"), 0o755); err != nil {
			t.Fatal(err)
		}
		if i == n {
			continue // unfinished
		}
		info, _ := json.Marshal(release.Info{Number: i, Commit: fmt.Sprintf("%040d", i), Ref: "main", BuiltAt: built, By: "alice"})
		if err := os.WriteFile(l.InfoFile(i), info, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(release.CurrentTarget(n-1), l.Current()); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkCompletion is what a shell waits for when Tab is pressed: the
// shell runs ship as a process each time. Side by side in one run: `ship
// version` (starting ship at all), completing a TARGET (ship.yml read), and
// completing rollback's N (one SSH connection to the real sshd and a read of
// 8 releases). It reports each in ms and their ratios to `ship version`.
func BenchmarkCompletion(b *testing.B) {
	sshd := testenv.StartSSHD(b)
	bin := testenv.Program(b, "./cmd/ship")
	root := filepath.Join(b.TempDir(), "app")
	madeReleases(b, root, 9)
	dir := b.TempDir()
	yml := fmt.Sprintf("path: %s\ntargets:\n  box:\n    hosts: [%s]\n", root, sshd.Target())
	if err := os.WriteFile(filepath.Join(dir, "ship.yml"), []byte(yml), 0o644); err != nil {
		b.Fatal(err)
	}
	env := append(os.Environ(), "SHIP_SSH_KEY_FILE="+sshd.KeyFile, "SHIP_KNOWN_HOSTS_FILE="+sshd.KnownHostsFile)
	run := func(want string, args ...string) time.Duration {
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, env
		t0 := time.Now()
		out, err := cmd.Output()
		if err != nil || !strings.Contains(string(out), want) {
			b.Fatalf("ship %v: %v\n%s", args, err, out)
		}
		return time.Since(t0)
	}
	var version, targets, numbers time.Duration
	for b.Loop() {
		version += run("ship ", "version")
		targets += run("box\t", "__complete", "deploy", "")
		numbers += run("7\t", "__complete", "rollback", "box", "")
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(version), "ms/version")
	b.ReportMetric(ms(targets), "ms/target")
	b.ReportMetric(ms(numbers), "ms/release-N")
	b.ReportMetric(float64(targets)/float64(version), "target/version")
	b.ReportMetric(float64(numbers)/float64(version), "release-N/version")
	b.ReportMetric(0, "ns/op")
}
