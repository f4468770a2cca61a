package remote

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestSplitTarget(t *testing.T) {
	tests := []struct {
		in         string
		user, host string
		port       int
		wantErr    bool
	}{
		{in: "example.com", host: "example.com"},
		{in: "deploy@203.0.113.10", user: "deploy", host: "203.0.113.10"},
		{in: "deploy@203.0.113.10:2222", user: "deploy", host: "203.0.113.10", port: 2222},
		{in: "[2001:db8::1]:2222", host: "2001:db8::1", port: 2222},
		{in: "root@[2001:db8::1]", user: "root", host: "2001:db8::1"},
		{in: "2001:db8::1", host: "2001:db8::1"},
		{in: "myalias", host: "myalias"},
		{in: "", wantErr: true},
		{in: "@host", wantErr: true},
		{in: "host:0", wantErr: true},
		{in: "host:99999", wantErr: true},
		{in: "host:ssh", wantErr: true},
		{in: "[::1", wantErr: true},
		{in: "[::1]x", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			user, host, port, err := splitTarget(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("splitTarget(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && (user != tt.user || host != tt.host || port != tt.port) {
				t.Errorf("splitTarget(%q) = %q %q %d, want %q %q %d", tt.in, user, host, port, tt.user, tt.host, tt.port)
			}
		})
	}
}

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "anything", true},
		{"*", "", true},
		{"web?", "web1", true},
		{"web?", "web12", false},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "example.com", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"prod-*-db", "prod-eu-1-db", true},
		{"exact", "exact", true},
		{"exact", "exactly", false},
	}
	for _, tt := range tests {
		if got := wildcardMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestResolve(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USER", "local")
	if err := os.MkdirAll(filepath.Join(home, ".ssh", "conf.d"), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(home, ".ssh", name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("conf.d/included", "Host inc\n  HostName included.example\n")
	write("config", `IdentityFile ~/.ssh/global_key
Include conf.d/*

Host app app-*  !app-skip
    HostName %h.internal
    User = deploy
    Port 2200
    IdentityFile "~/.ssh/app key"
    ProxyJump ops@bastion:2022

Match host app
    User wrong

Host app
    User second   # a later value loses

Host *
    Port 2222
`)
	tests := []struct {
		name   string
		cfg    Config
		target endpoint
		jumps  []endpoint
	}{
		{
			name: "alias with everything",
			cfg:  Config{Target: "app"},
			target: endpoint{host: "app.internal", port: 2200, user: "deploy", jump: "ops@bastion:2022",
				identityFiles: []string{home + "/.ssh/global_key", home + "/.ssh/app key"}},
			jumps: []endpoint{{host: "bastion", port: 2022, user: "ops", identityFiles: []string{home + "/.ssh/global_key"}}},
		},
		{
			name:   "explicit values win",
			cfg:    Config{Target: "root@app-1:22", Jump: "none"},
			target: endpoint{host: "app-1.internal", port: 22, user: "root", jump: "ops@bastion:2022", identityFiles: []string{home + "/.ssh/global_key", home + "/.ssh/app key"}},
		},
		{
			name:   "Config.User before the ssh config's",
			cfg:    Config{Target: "app-2", User: "ci", Jump: "none"},
			target: endpoint{host: "app-2.internal", port: 2200, user: "ci", jump: "ops@bastion:2022", identityFiles: []string{home + "/.ssh/global_key", home + "/.ssh/app key"}},
		},
		{
			name:   "negated pattern",
			cfg:    Config{Target: "app-skip"},
			target: endpoint{host: "app-skip", port: 2222, user: "local", identityFiles: []string{home + "/.ssh/global_key"}},
		},
		{
			name:   "included file",
			cfg:    Config{Target: "inc"},
			target: endpoint{host: "included.example", port: 2222, user: "local", identityFiles: []string{home + "/.ssh/global_key"}},
		},
		{
			name:   "no ssh config",
			cfg:    Config{Target: "app", SSHConfigFile: "none", Jump: "a,u@b:1"},
			target: endpoint{host: "app", port: 22, user: "local"},
			jumps:  []endpoint{{host: "a", port: 22, user: "local"}, {host: "b", port: 1, user: "u"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, jumps, err := tt.cfg.resolve()
			if err != nil {
				t.Fatal(err)
			}
			if !equalEndpoint(target, tt.target) {
				t.Errorf("target = %+v\nwant %+v", target, tt.target)
			}
			if !slices.EqualFunc(jumps, tt.jumps, equalEndpoint) {
				t.Errorf("jumps = %+v\nwant %+v", jumps, tt.jumps)
			}
		})
	}
	if _, _, err := (&Config{Target: "x", SSHConfigFile: filepath.Join(home, "missing")}).resolve(); err == nil {
		t.Error("a missing ssh config named explicitly is no error")
	}
}

func equalEndpoint(a, b endpoint) bool {
	return a.host == b.host && a.port == b.port && a.user == b.user && a.jump == b.jump &&
		slices.Equal(a.identityFiles, b.identityFiles)
}

func TestNormalizeKeyText(t *testing.T) {
	want := "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\ndef\n-----END OPENSSH PRIVATE KEY-----\n"
	for _, in := range []string{
		`-----BEGIN OPENSSH PRIVATE KEY-----\nabc\ndef\n-----END OPENSSH PRIVATE KEY-----\n`,
		`"-----BEGIN OPENSSH PRIVATE KEY-----\nabc\ndef\n-----END OPENSSH PRIVATE KEY-----"`,
		"-----BEGIN OPENSSH PRIVATE KEY-----\r\nabc\r\ndef\r\n-----END OPENSSH PRIVATE KEY-----\r\n",
		want,
	} {
		if got := string(normalizeKeyText(in)); got != want {
			t.Errorf("normalizeKeyText(%q) = %q", in, got)
		}
	}
}

// A name written on a Host line is an alias; a name only a wildcard or a
// negation matches is not.
func TestHasHostAlias(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	if HasHostAlias("web1") {
		t.Error("an alias without an ssh config")
	}
	if err := os.MkdirAll(filepath.Join(home, ".ssh", "conf.d"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(home, ".ssh", "conf.d", "more"), []byte("Host included\n  HostName 10.0.0.3\n"), 0o600)
	os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte("Include conf.d/*\nHost web1 Web2 !skip\n  HostName 10.0.0.1\nHost app-*\n  Port 2200\n"), 0o600)
	for name, want := range map[string]bool{"web1": true, "web2": true, "included": true, "app-x": false, "skip": false, "prdo": false} {
		if got := HasHostAlias(name); got != want {
			t.Errorf("HasHostAlias(%q) = %v, want %v", name, got, want)
		}
	}
}
