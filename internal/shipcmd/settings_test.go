package shipcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/deploy"
)

// caught is one command line run with no host: what deploy or rollback
// would have run, and what was printed.
type caught struct {
	code           int
	stdout, stderr string
	opts           *deploy.Options
	rollback       *deploy.RollbackOptions
	hosts          []string
}

// runCaught runs ship in folder wd with only env for its environment;
// deploy and rollback stop at the deploy package's door (app.fleet and
// app.rollback), so settings are tested without SSH or bun.
func runCaught(t *testing.T, wd string, env map[string]string, args ...string) caught {
	t.Helper()
	var c caught
	var stdout, stderr bytes.Buffer
	names := func(ts []deploy.Target) {
		for _, tg := range ts {
			c.hosts = append(c.hosts, tg.Name)
		}
	}
	a := &app{stdout: &stdout, stderr: &stderr, wd: wd, getenv: func(k string) string { return env[k] },
		fleet: func(_ context.Context, ts []deploy.Target, o deploy.Options) (*deploy.FleetResult, error) {
			c.opts = &o
			names(ts)
			return &deploy.FleetResult{}, nil
		},
		rollback: func(_ context.Context, ts []deploy.Target, o deploy.RollbackOptions) (*deploy.FleetResult, error) {
			c.rollback = &o
			names(ts)
			return &deploy.FleetResult{}, nil
		},
	}
	c.code = a.run(t.Context(), args)
	c.stdout, c.stderr = stdout.String(), stderr.String()
	return c
}

// project is a folder holding .git and ship.yml, as a checkout would.
func project(t *testing.T, yml string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if yml != "" {
		if err := os.WriteFile(filepath.Join(dir, "ship.yml"), []byte(yml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const layeredYAML = `repo: /top/repo
path: /top/path
keep: 2
wait: 30
shared: [.env]
targets:
  prod:
    hosts: [a.example, deploy@b.example]
    path: /prod/path
    build: echo target
    lock_wait: 5m
  staging:
    hosts: staging.example
    ref: develop
`

// One precedence, every source: flag > SHIP_* > ship.yml target >
// ship.yml top level > default, as deploy and rollback receive it.
func TestPrecedenceWithoutAHost(t *testing.T) {
	dir := project(t, layeredYAML)
	for _, tc := range []struct {
		name  string
		env   map[string]string
		args  []string
		hosts string
		check func(o deploy.Options) string
	}{
		{name: "defaults", args: []string{"deploy", "local", "--repo", "r", "--config", os.DevNull}, hosts: "local",
			check: func(o deploy.Options) string {
				return want(o.Root == "/app" && o.Keep == 4 && o.Wait == 60*time.Second && o.Install == "bun install" &&
					o.Build == "bun run build" && o.Ref == "" && o.Shared == nil && o.Parallel == 0 && !o.Canary && o.LockWait == 0)
			}},
		{name: "top level", args: []string{"deploy", "x.example"}, hosts: "x.example",
			check: func(o deploy.Options) string {
				return want(o.Repo == "/top/repo" && o.Root == "/top/path" && o.Keep == 2 && o.Wait == 30*time.Second &&
					o.Build == "bun run build" && slices.Equal(o.Shared, []string{".env"}))
			}},
		{name: "target over top level", args: []string{"deploy", "prod"}, hosts: "a.example deploy@b.example",
			check: func(o deploy.Options) string {
				return want(o.Root == "/prod/path" && o.Build == "echo target" && o.Keep == 2 && o.LockWait == 5*time.Minute)
			}},
		{name: "env over target", env: map[string]string{"SHIP_PATH": "/env", "SHIP_KEEP": "5", "SHIP_SHARED": ".env, uploads/", "SHIP_LOCK_WAIT": "0"},
			args: []string{"deploy", "prod"}, hosts: "a.example deploy@b.example",
			check: func(o deploy.Options) string {
				return want(o.Root == "/env" && o.Keep == 5 && slices.Equal(o.Shared, []string{".env", "uploads/"}) && o.LockWait == 0)
			}},
		{name: "flag over env", env: map[string]string{"SHIP_PATH": "/env", "SHIP_PARALLEL": "3", "SHIP_WAIT": "2m"},
			args: []string{"deploy", "prod", "--path", "/flag", "--canary", "--wait", "0", "--shared", "a", "--shared", "b/"}, hosts: "a.example deploy@b.example",
			check: func(o deploy.Options) string {
				return want(o.Root == "/flag" && o.Parallel == 3 && o.Canary && o.Wait == 0 && slices.Equal(o.Shared, []string{"a", "b/"}))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := runCaught(t, dir, tc.env, tc.args...)
			if c.code != 0 || c.opts == nil {
				t.Fatalf("exit %d\n%s%s", c.code, c.stdout, c.stderr)
			}
			if got := strings.Join(c.hosts, " "); got != tc.hosts {
				t.Errorf("hosts %q, want %q", got, tc.hosts)
			}
			if msg := tc.check(*c.opts); msg != "" {
				t.Errorf("%s: %+v", msg, *c.opts)
			}
		})
	}
}

// Each TARGET argument is settled with its own section: staging's ref is
// not the other host's, and one deploy cannot be both.
func TestTargetsSettleApart(t *testing.T) {
	c := runCaught(t, project(t, layeredYAML), nil, "deploy", "staging", "other.example")
	if c.code != exitUsage || !strings.Contains(c.stderr, "staging and other.example have different settings") || c.opts != nil {
		t.Errorf("exit %d\n%s", c.code, c.stderr)
	}
}

func want(ok bool) string {
	if ok {
		return ""
	}
	return "settled options are off"
}

func TestRollbackSettings(t *testing.T) {
	dir := project(t, layeredYAML)
	c := runCaught(t, dir, map[string]string{"SHIP_WAIT": "45s"}, "rollback", "prod", "3", "-v")
	if c.code != 0 || c.rollback == nil {
		t.Fatalf("exit %d\n%s%s", c.code, c.stdout, c.stderr)
	}
	if r := c.rollback; r.Root != "/prod/path" || r.To != 3 || r.Wait != 45*time.Second || r.LockWait != 5*time.Minute {
		t.Errorf("rollback options %+v", *r)
	}
	// deploy's settings are not rollback's flags.
	if c := runCaught(t, dir, nil, "rollback", "prod", "--keep", "3"); c.code != exitUsage || !strings.Contains(c.stderr, "unknown flag: --keep") {
		t.Errorf("rollback --keep: exit %d\n%s", c.code, c.stderr)
	}
}

// ship config shows each value and where it came from, secrets hidden.
func TestConfigShowsSources(t *testing.T) {
	dir := project(t, layeredYAML)
	env := map[string]string{"SHIP_KEEP": "7", "SHIP_SSH_KEY": "-----BEGIN KEY supersecret", "GITHUB_TOKEN": "ghp_tokentoken"}
	c := runCaught(t, filepath.Join(dir, "sub"), env, "config", "prod", "--json", "--wait", "5s", "--github-token", "ghp_flagtoken")
	if c.code != 0 {
		t.Fatalf("exit %d\n%s", c.code, c.stderr)
	}
	for _, secret := range []string{"supersecret", "tokentoken", "flagtoken"} {
		if strings.Contains(c.stdout+c.stderr, secret) {
			t.Errorf("a secret was printed:\n%s", c.stdout)
		}
	}
	var view configView
	if err := json.Unmarshal([]byte(c.stdout), &view); err != nil {
		t.Fatal(err)
	}
	if view.File != "../ship.yml" || view.Target != "prod" || strings.Join(view.Hosts, " ") != "a.example deploy@b.example" {
		t.Errorf("file %q target %q hosts %v", view.File, view.Target, view.Hosts)
	}
	from := map[string]string{}
	value := map[string]string{}
	for _, s := range view.Settings {
		from[s.Name], value[s.Name] = s.From, s.Value
	}
	for name, wantFrom := range map[string]string{
		"wait": "flag --wait", "keep": "env SHIP_KEEP", "path": "ship.yml target prod (line 9)",
		"repo": "ship.yml top level (line 1)", "timeout": "default", "key-text": "env SHIP_SSH_KEY", "github-token": "flag --github-token",
	} {
		if from[name] != wantFrom {
			t.Errorf("%s from %q, want %q", name, from[name], wantFrom)
		}
	}
	if value["wait"] != "5s" || value["keep"] != "7" || value["key-text"] != "(set, hidden)" || value["timeout"] != "15s" {
		t.Errorf("values %v", value)
	}
	// The text form names the same sources.
	c = runCaught(t, dir, env, "config", "staging")
	for _, line := range []string{"target    staging: staging.example", "ref ", "develop", "ship.yml target staging (line 14)"} {
		if !strings.Contains(c.stdout, line) {
			t.Errorf("config staging lacks %q:\n%s", line, c.stdout)
		}
	}
}

// ship config --check: every mistake at once, each for a person, exit 2.
func TestConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		name, yml string
		code      int
		want      []string
	}{
		{"good", layeredYAML, 0, []string{"✓ ship.yml: no mistakes (targets prod, staging)"}},
		{"empty", "", 0, []string{"no mistakes (no targets)"}},
		{"typo", "keeep: 3\n", 2, []string{"ship: ship.yml:1: keeep: did you mean keep?"}},
		{"wrong kind", "keep: three\nwait: soon\nshared: {a: b}\n", 2, []string{
			`ship: ship.yml:1: keep: want a number, got "three"`,
			`ship: ship.yml:2: wait: want a duration such as 30s, 2m or 0, got "soon"`,
			"ship: ship.yml:3: shared: want a list, got key: value lines"}},
		{"in a target", "targets:\n  prod:\n    hosts: [a.example]\n    lock-wait: 5m\n    port: 22x\n", 2, []string{
			"ship: ship.yml:4: targets.prod.lock-wait: did you mean lock_wait?",
			`ship: ship.yml:5: targets.prod.port: want a number, got "22x"`}},
		{"no hosts", "targets:\n  prod:\n    path: /srv\n  staging:\n", 2, []string{
			"ship: ship.yml:2: targets.prod: no hosts", "ship: ship.yml:4: targets.staging: no hosts"}},
		{"hosts at the top", "hosts: [a.example]\n", 2, []string{"ship: ship.yml:1: hosts: hosts belong to a target"}},
		{"not YAML", "repo: [a\n", 2, []string{"ship: ship.yml:"}},
		{"a secret is no key", "github_token: x\n", 2, []string{"ship: ship.yml:1: github_token: not a setting; known here: targets, path"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := project(t, tc.yml)
			if tc.yml == "" {
				os.WriteFile(filepath.Join(dir, "ship.yml"), nil, 0o644)
			}
			c := runCaught(t, dir, nil, "config", "--check")
			out := c.stdout + c.stderr
			if c.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", c.code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, goWord := range []string{"int", "string", "yaml:", "unmarshal", "!!"} {
				if strings.Contains(strings.ReplaceAll(out, "a.example", ""), goWord+" ") {
					t.Errorf("output speaks Go (%q):\n%s", goWord, out)
				}
			}
			if tc.code != 0 && c.stdout != "" {
				t.Errorf("mistakes on stdout:\n%s", c.stdout)
			}
		})
	}
	// The same mistakes stop every command that reads ship.yml.
	dir := project(t, "keeep: 3\n")
	if c := runCaught(t, dir, nil, "deploy", "local", "--repo", "r"); c.code != exitUsage || !strings.Contains(c.stderr, "keeep: did you mean keep?") || c.opts != nil {
		t.Errorf("deploy with a typo in ship.yml: exit %d\n%s", c.code, c.stderr)
	}
	if c := runCaught(t, t.TempDir(), nil, "config", "--check"); c.code != exitUsage || !strings.Contains(c.stderr, "no ship.yml to check") {
		t.Errorf("check without a file: exit %d\n%s", c.code, c.stderr)
	}
	if c := runCaught(t, t.TempDir(), map[string]string{"SHIP_KEEP": "many"}, "deploy", "local", "--repo", "r"); c.code != exitUsage || !strings.Contains(c.stderr, `SHIP_KEEP="many": want a number`) {
		t.Errorf("a bad SHIP_KEEP: exit %d\n%s", c.code, c.stderr)
	}
}

// ship.yml is found from the working folder up to the repository's root,
// and not above it; --config and SHIP_CONFIG name one that must exist.
func TestShipFileDiscovery(t *testing.T) {
	dir := project(t, "targets:\n  prod:\n    hosts: [found.example]\n")
	deep := filepath.Join(dir, "a", "b")
	os.MkdirAll(deep, 0o755)
	other := filepath.Join(t.TempDir(), "other.yml")
	os.WriteFile(other, []byte("targets:\n  prod:\n    hosts: [named.example]\n"), 0o644)

	hostsOf := func(wd string, env map[string]string, args ...string) (string, caught) {
		c := runCaught(t, wd, env, append([]string{"deploy", "prod", "--repo", "git@example.com:acme/r.git"}, args...)...)
		return strings.Join(c.hosts, " "), c
	}
	if h, c := hostsOf(deep, nil); h != "found.example" {
		t.Errorf("from a subfolder: %q\n%s", h, c.stderr)
	}
	if h, c := hostsOf(deep, map[string]string{"SHIP_CONFIG": other}); h != "named.example" {
		t.Errorf("SHIP_CONFIG: %q\n%s", h, c.stderr)
	}
	rel, _ := filepath.Rel(deep, other)
	if h, c := hostsOf(deep, map[string]string{"SHIP_CONFIG": "/nonexistent"}, "--config", rel); h != "named.example" {
		t.Errorf("--config relative to the working folder, over SHIP_CONFIG: %q\n%s", h, c.stderr)
	}
	_, c := hostsOf(deep, map[string]string{"SHIP_CONFIG": "missing.yml"})
	if c.code != exitUsage || !strings.Contains(c.stderr, "missing.yml does not exist (named by env SHIP_CONFIG)") {
		t.Errorf("a named file that is missing: exit %d\n%s", c.code, c.stderr)
	}

	// Above the repository's root is another project's business.
	inner := filepath.Join(dir, "nested")
	os.MkdirAll(filepath.Join(inner, ".git"), 0o755)
	if _, c := hostsOf(inner, nil); c.code != exitUsage || !strings.Contains(c.stderr, "unknown target prod: no ship.yml in "+inner) {
		t.Errorf("a file above the repository's root was used: exit %d\n%s", c.code, c.stderr)
	}
}

// A bare word is a target of ship.yml, local, or a Host of ~/.ssh/config;
// anything else is a mistake listing the targets, never a DNS lookup.
func TestUnknownTarget(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte("Host web1\n  HostName 203.0.113.7\n"), 0o600)
	dir := project(t, layeredYAML)
	for _, tc := range []struct {
		args  []string
		code  int
		hosts string
		err   string
	}{
		{[]string{"deploy", "prdo"}, exitUsage, "", "ship: unknown target prdo; targets in ship.yml: prod, staging"},
		{[]string{"status", "prdo"}, exitUsage, "", "unknown target prdo; targets in ship.yml: prod, staging"},
		{[]string{"deploy", "prod", "prdo"}, exitUsage, "", "unknown target prdo"},
		{[]string{"deploy", "web1"}, 0, "web1", ""},
		{[]string{"deploy", "local"}, 0, "local", ""},
		{[]string{"deploy", "web.example", "deploy@10.0.0.1", "[::1]:2222", "h:22"}, 0, "web.example deploy@10.0.0.1 [::1]:2222 h:22", ""},
	} {
		c := runCaught(t, dir, nil, tc.args...)
		if c.code != tc.code || strings.Join(c.hosts, " ") != tc.hosts || !strings.Contains(c.stderr, tc.err) {
			t.Errorf("%v: exit %d hosts %q\n%s", tc.args, c.code, c.hosts, c.stderr)
		}
	}
	if c := runCaught(t, t.TempDir(), nil, "deploy", "prdo", "--repo", "r"); c.code != exitUsage || !strings.Contains(c.stderr, "unknown target prdo: no ship.yml in") {
		t.Errorf("no ship.yml: exit %d\n%s", c.code, c.stderr)
	}
}

// The secrets masked in the Actions log are every table's secrets (read
// when used: the tables fill as the package starts).
func TestSecretVariables(t *testing.T) {
	got := secretEnv()
	for _, name := range []string{"SHIP_SSH_KEY", "SHIP_SSH_PASSPHRASE", "GITHUB_TOKEN", "WEBHOOK_SECRET", "GIT_SSH_KEY"} {
		if !slices.Contains(got, name) {
			t.Errorf("%s is not masked: %v", name, got)
		}
	}
}
