package settings

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// testTable is a small table of every kind.
type testTable struct {
	t        Table
	path     Key[string]
	key      Key[string]
	keep     Key[int]
	wait     Key[time.Duration]
	shared   Key[[]string]
	canary   Key[bool]
	token    Key[string]
	envOnly  Key[string]
	flagOnly Key[string]
}

func newTestTable() *testTable {
	tt := &testTable{}
	t := &tt.t
	cmds := []string{"deploy"}
	tt.path = Add(t, Setting{Name: "path", Flag: "path", Env: "X_PATH", Key: "path", Help: "where", Commands: cmds}, "/app")
	tt.key = Add(t, Setting{Name: "key", Flag: "key", Env: "X_KEY_FILE", Key: "key", Kind: File, Help: "key file", Commands: cmds}, "")
	tt.keep = Add(t, Setting{Name: "keep", Flag: "keep", Env: "X_KEEP", Key: "keep", Help: "releases to keep", Commands: cmds}, 4)
	tt.wait = Add(t, Setting{Name: "wait", Flag: "wait", Env: "X_WAIT", Key: "wait", Help: "how long", Commands: cmds}, 60*time.Second)
	tt.shared = Add(t, Setting{Name: "shared", Flag: "shared", Env: "X_SHARED", Key: "shared", DefaultText: "all", Help: "entries", Commands: cmds}, []string(nil))
	tt.canary = Add(t, Setting{Name: "canary", Flag: "canary", Help: "first host first", Commands: cmds}, false)
	tt.token = Add(t, Setting{Name: "token", Flag: "token", Env: "X_TOKEN", Secret: true, Help: "a token", Commands: cmds}, "")
	tt.envOnly = Add(t, Setting{Name: "passphrase", Env: "X_PASS", Secret: true, Help: "the key's passphrase"}, "")
	tt.flagOnly = Add(t, Setting{Name: "other", Flag: "other", Help: "another command's", Commands: []string{"status"}}, "")
	return tt
}

func (tt *testTable) flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("deploy", pflag.ContinueOnError)
	tt.t.AddFlags(fs, func(s *Setting) bool { return s.Takes("deploy") })
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return fs
}

func yamlMapping(t *testing.T, text string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

// One precedence: flag > env > ship.yml target > ship.yml top level >
// default, whatever order the layers are given in.
func TestPrecedence(t *testing.T) {
	tt := newTestTable()
	top, _, _ := tt.t.YAMLLayer(yamlMapping(t, "path: /top\nkeep: 2\nwait: 5\nshared: [a, b]\n"), YAMLSection{Source: FileTop})
	target, _, _ := tt.t.YAMLLayer(yamlMapping(t, "path: /target\nkeep: 3\n"), YAMLSection{Source: FileTarget, Target: "prod"})
	env, err := tt.t.EnvLayer(func(k string) string { return map[string]string{"X_PATH": "/env", "X_WAIT": "2m"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	flags := tt.t.FlagLayer(tt.flags(t, "--path", "/flag", "--canary"))
	for _, order := range [][]Layer{{top, target, env, flags}, {flags, env, target, top}, {env, flags, top, target}} {
		v := tt.t.Resolve(order...)
		check := func(name, gotText, want, from string) {
			t.Helper()
			val := v.Get(name)
			if gotText != want || val.From() != from {
				t.Errorf("%s = %q from %q, want %q from %q", name, gotText, val.From(), want, from)
			}
		}
		check("path", tt.path.From(v), "/flag", "flag --path")
		check("wait", tt.wait.From(v).String(), "2m0s", "env X_WAIT")
		check("keep", v.Get("keep").Text(), "3", "ship.yml target prod (line 2)")
		check("shared", strings.Join(tt.shared.From(v), " "), "a b", "ship.yml top level (line 4)")
		check("key", tt.key.From(v), "", "default")
		if !tt.canary.From(v) || tt.keep.From(v) != 3 || tt.key.Given(v) || !tt.path.Given(v) {
			t.Errorf("typed values: canary %v keep %d", tt.canary.From(v), tt.keep.From(v))
		}
	}
}

func TestKinds(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		text string
		want any
		err  string
	}{
		{Number, "3", 3, ""},
		{Number, "three", nil, `want a number, got "three"`},
		{Number, "-1", nil, `want a number of 0 or more, got "-1"`},
		{Duration, "90s", 90 * time.Second, ""},
		{Duration, "0", time.Duration(0), ""},
		{Duration, "60", 60 * time.Second, ""}, // a bare number is seconds
		{Duration, "soon", nil, `want a duration such as 30s, 2m or 0, got "soon"`},
		{Duration, "-5s", nil, `want a duration of 0 or more, got "-5s"`},
		{List, ".env, uploads/ config", []string{".env", "uploads/", "config"}, ""},
		{Switch, "true", true, ""},
		{Switch, "yes", nil, `want true or false, got "yes"`},
		{Text, " kept as given ", " kept as given ", ""},
	} {
		got, err := tc.kind.parse(tc.text)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%v %q: err %v, want %q", tc.kind, tc.text, err, tc.err)
			}
			continue
		}
		if err != nil || tc.kind.format(got) != tc.kind.format(tc.want) {
			t.Errorf("%v %q = %v, %v; want %v", tc.kind, tc.text, got, err, tc.want)
		}
	}
}

// A settings file's mistakes are said for a person: the closest known key,
// what was expected, never a Go type name; every mistake at once.
func TestYAMLProblems(t *testing.T) {
	tt := newTestTable()
	m := yamlMapping(t, "keeep: 3\nkeep: three\nwait: [1, 2]\nshared: {a: b}\nzzzzzz: 1\npath: /a\npath: /b\ntoken: x\n")
	_, _, probs := tt.t.YAMLLayer(m, YAMLSection{Source: FileTop, Extra: []string{"targets"}})
	want := []string{
		"1: keeep: did you mean keep?",
		`2: keep: want a number, got "three"`,
		"3: wait: want a duration such as 30s, 2m or 0, got a list",
		"4: shared: want a list, got key: value lines",
		"5: zzzzzz: not a setting; known here: targets, path, key, keep, wait, shared",
		"7: path: given twice (first on line 6)",
		"8: token: not a setting; known here:",
	}
	var got []string
	for _, p := range probs {
		got = append(got, strings.TrimSpace(strings.Join([]string{itoa(p.Line), p.Msg}, ": ")))
	}
	if len(got) != len(want) {
		t.Fatalf("problems:\n%s\nwant %d", strings.Join(got, "\n"), len(want))
	}
	goType := regexp.MustCompile(`\b(int|string|\[\]string|time\.Duration|bool|yaml|unmarshal)\b`)
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d = %q, want %q", i, got[i], want[i])
		}
		if goType.MatchString(got[i]) {
			t.Errorf("problem %q names a Go type", got[i])
		}
	}
}

func itoa(n int) string { return Number.format(n) }

// A relative file in ship.yml is relative to ship.yml's folder, not to
// wherever ship runs.
func TestYAMLFileRelativeToTheFile(t *testing.T) {
	tt := newTestTable()
	l, _, probs := tt.t.YAMLLayer(yamlMapping(t, "key: keys/deploy\n"), YAMLSection{Source: FileTop, Dir: "/repo"})
	if len(probs) > 0 || tt.key.From(tt.t.Resolve(l)) != "/repo/keys/deploy" {
		t.Errorf("key = %q %v", tt.key.From(tt.t.Resolve(l)), probs)
	}
	l, _, _ = tt.t.YAMLLayer(yamlMapping(t, "key: ~/.ssh/deploy\n"), YAMLSection{Source: FileTop, Dir: "/repo"})
	if got := tt.key.From(tt.t.Resolve(l)); got != "~/.ssh/deploy" {
		t.Errorf("key = %q", got)
	}
}

func TestFlags(t *testing.T) {
	tt := newTestTable()
	fs := tt.flags(t, "--shared", ".env", "--shared", "uploads/,config", "--canary")
	v := tt.t.Resolve(tt.t.FlagLayer(fs))
	if got := strings.Join(tt.shared.From(v), " "); got != ".env uploads/ config" {
		t.Errorf("repeated --shared = %q", got)
	}
	if fs.Lookup("other") != nil {
		t.Error("a flag of another command was added")
	}
	if u := fs.Lookup("keep").Usage; u != "releases to keep (default 4) [X_KEEP]" {
		t.Errorf("usage %q", u)
	}
	if u := fs.Lookup("wait").Usage; u != "how long (default 60s) [X_WAIT]" {
		t.Errorf("usage %q", u)
	}

	fs = pflag.NewFlagSet("deploy", pflag.ContinueOnError)
	tt.t.AddFlags(fs, func(s *Setting) bool { return s.Takes("deploy") })
	err := FlagError(fs.Parse([]string{"--keep", "three"}))
	if err == nil || err.Error() != "--keep three: want a number (--keep: releases to keep (default 4) [X_KEEP])" {
		t.Errorf("bad value: %v", err)
	}
	err = FlagError(fs.Parse([]string{"--wait"}))
	if err == nil || !strings.HasPrefix(err.Error(), "--wait needs a value (--wait: how long") {
		t.Errorf("missing value: %v", err)
	}
}

func TestEnv(t *testing.T) {
	tt := newTestTable()
	_, err := tt.t.EnvLayer(func(k string) string {
		return map[string]string{"X_KEEP": "lots", "X_WAIT": "soon", "X_PASS": "hunter2"}[k]
	})
	for _, want := range []string{`X_KEEP="lots": want a number`, `X_WAIT="soon": want a duration`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("env error %v, want %q", err, want)
		}
	}
	l, err := tt.t.EnvLayer(func(k string) string { return map[string]string{"X_PASS": "hunter2", "X_TOKEN": "t0k"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	v := tt.t.Resolve(l)
	if tt.envOnly.From(v) != "hunter2" {
		t.Errorf("passphrase = %q", tt.envOnly.From(v))
	}
	for _, val := range v.All() {
		if strings.Contains(val.Text(), "hunter2") || strings.Contains(val.Text(), "t0k") {
			t.Errorf("a secret is shown: %s = %q", val.Setting.Name, val.Text())
		}
	}
	if v.Get("passphrase").Text() != "(set, hidden)" || v.Get("token").From() != "env X_TOKEN" {
		t.Errorf("secret shows %q from %q", v.Get("passphrase").Text(), v.Get("token").From())
	}
}

func TestClosest(t *testing.T) {
	known := []string{"keep", "repo", "lock_wait", "known_hosts", "targets"}
	for word, want := range map[string]string{
		"keeep": "keep", "reop": "repo", "lock-wait": "lock_wait", "knwon_hosts": "known_hosts",
		"Keep": "keep", "target": "targets", "zzz": "", "kep": "keep", "shared": "",
	} {
		if got := Closest(word, known); got != want {
			t.Errorf("Closest(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestTableMistakesPanic(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a repeated flag was accepted")
		}
	}()
	var tb Table
	Add(&tb, Setting{Name: "a", Flag: "x"}, "")
	Add(&tb, Setting{Name: "b", Flag: "x"}, "")
}

func TestProblemsError(t *testing.T) {
	err := error(&Problems{File: "ship.yml", List: []Problem{{3, "keeep: did you mean keep?"}, {4, "x"}}})
	p, ok := AsProblems(errors.Join(errors.New("other"), err))
	if !ok || p.Error() != "ship.yml:3: keeep: did you mean keep?\nship.yml:4: x" {
		t.Errorf("%v %v", p, ok)
	}
}
