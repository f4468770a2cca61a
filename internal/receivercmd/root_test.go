package receivercmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/release"
)

func TestFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		want     func(o *options) string // "" when right
		wantCode int
		wantErr  string
	}{
		{
			name: "defaults",
			want: func(o *options) string {
				if o.Root != "/app" || o.Listen != ":3000" || o.Start != "bun start" || o.HealthPath != "" ||
					o.Mode != "proxy" || o.StartTimeout != 30*time.Second || o.DrainTimeout != 30*time.Second ||
					o.StopTimeout != 10*time.Second || o.LogFormat != "text" {
					return "defaults are off"
				}
				return ""
			},
		},
		{
			name: "environment",
			env:  map[string]string{"APP_ROOT": "/srv/app", "LISTEN": "127.0.0.1:8080"},
			want: func(o *options) string {
				if o.Root != "/srv/app" || o.Listen != "127.0.0.1:8080" {
					return "env not applied"
				}
				return ""
			},
		},
		{
			name: "flags win over the environment",
			args: []string{"--root", "/flag", "--listen", ":4000", "--start", "bun run serve", "--health-path", "/healthz",
				"--mode", "restart", "--start-timeout", "5s", "--drain-timeout", "6s", "--stop-timeout", "7s", "--log-format", "json"},
			env: map[string]string{"APP_ROOT": "/srv/app", "LISTEN": "127.0.0.1:8080"},
			want: func(o *options) string {
				if o.Root != "/flag" || o.Listen != ":4000" || o.Start != "bun run serve" || o.HealthPath != "/healthz" ||
					o.Mode != "restart" || o.StartTimeout != 5*time.Second || o.DrainTimeout != 6*time.Second ||
					o.StopTimeout != 7*time.Second || o.LogFormat != "json" {
					return "flags not applied"
				}
				return ""
			},
		},
		{name: "bad mode", args: []string{"--mode", "blue-green"}, wantCode: 2, wantErr: `--mode "blue-green": want proxy or restart`},
		{name: "bad log format", args: []string{"--log-format", "xml"}, wantCode: 2, wantErr: "want text or json"},
		{name: "unknown flag", args: []string{"--port", "3"}, wantCode: 2,
			wantErr: "receiver: unknown flag: --port; 'receiver --help' lists the flags\n"},
		// One rule for durations, ship's and the receiver's: a bare number is seconds.
		{name: "a duration without a unit is seconds", args: []string{"--start-timeout", "5"}, want: func(o *options) string {
			if o.StartTimeout != 5*time.Second {
				return "--start-timeout 5 is not 5s"
			}
			return ""
		}},
		{name: "bad duration", args: []string{"--stop-timeout", "soon"}, wantCode: 2,
			wantErr: "receiver: --stop-timeout soon: want a duration such as 30s, 2m or 0 " +
				"(--stop-timeout: how long after SIGTERM before SIGKILL (default 10s))\n"},
		{name: "flag without its value", args: []string{"--root"}, wantCode: 2,
			wantErr: "receiver: --root needs a value (--root: the app's folder"},
		{name: "zero timeout", args: []string{"--drain-timeout", "0s"}, wantCode: 2, wantErr: "must be positive"},
		{name: "create", args: []string{"--create"}, want: func(o *options) string {
			if !o.Create {
				return "--create not applied"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *options
			var stdout, stderr bytes.Buffer
			cmd := newRootCmd(deps{
				stdout: &stdout, stderr: &stderr,
				getenv: func(k string) string { return tt.env[k] },
				run:    func(_ context.Context, o *options) error { got = o; return nil },
			})
			cmd.SetArgs(tt.args)
			err := cmd.ExecuteContext(context.Background())
			if code := exitCode(err, &stderr); code != tt.wantCode {
				t.Fatalf("exit code %d, want %d (err %v)", code, tt.wantCode, err)
			}
			if tt.wantErr != "" {
				if !strings.Contains(stderr.String(), tt.wantErr) {
					t.Errorf("stderr %q does not say %q", stderr.String(), tt.wantErr)
				}
				if n := strings.Count(stderr.String(), "\n"); n != 1 || stdout.Len() > 0 {
					t.Errorf("a usage error took %d lines on stderr and %d bytes on stdout, want one line:\n%s%s", n, stdout.Len(), stderr.String(), stdout.String())
				}
				return
			}
			if got == nil {
				t.Fatal("receiver did not run")
			}
			if msg := tt.want(got); msg != "" {
				t.Errorf("%s: %+v", msg, *got)
			}
		})
	}
}

func TestHealthCommand(t *testing.T) {
	now := time.Now()
	serving := &release.Serving{Release: 4, PID: 77, Since: now}
	tests := []struct {
		name    string
		state   *release.State
		wantErr string
	}{
		{"no state", nil, "no receiver has written"},
		{"stale heartbeat", &release.State{PID: 9, Heartbeat: now.Add(-time.Minute), Serving: serving}, "heartbeat is 1m0s old"},
		{"nothing serving", &release.State{PID: 9, Heartbeat: now, Restarts: 4, LastExit: "exit status 1"}, "no app instance is serving (last exit: exit status 1, 4 restarts)"},
		{"serving", &release.State{PID: 9, Heartbeat: now, Serving: serving}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := release.Layout{Root: t.TempDir()}
			if tt.state != nil {
				if err := os.MkdirAll(l.ShipDir(), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := release.WriteState(lfs, l, tt.state); err != nil {
					t.Fatal(err)
				}
			}
			var stdout, stderr bytes.Buffer
			cmd := newRootCmd(deps{stdout: &stdout, stderr: &stderr, getenv: func(k string) string {
				return map[string]string{"APP_ROOT": l.Root}[k]
			}})
			cmd.SetArgs([]string{"health"})
			err := cmd.Execute()
			code := exitCode(err, &stderr)
			if tt.wantErr == "" {
				if code != 0 || !strings.Contains(stdout.String(), "ok: release 4, pid 77") {
					t.Errorf("code %d, out %q, err %q", code, stdout.String(), stderr.String())
				}
				return
			}
			if code != 1 || !errors.Is(err, ErrNotServing) || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("code %d err %v stderr %q, want 1 and %q", code, err, stderr.String(), tt.wantErr)
			}
		})
	}
}

// A --root that does not exist is an error that says what to do, unless
// --create asks for it; nothing is created by mistake.
func TestMissingRoot(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"missing", nil, 2, "does not exist: create it (mkdir -p "},
		{"a file", nil, 2, "is not a folder"},
		{"created on request", []string{"--create"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "srv", "app")
			if tt.name == "a file" {
				_ = os.MkdirAll(filepath.Dir(root), 0o755)
				_ = os.WriteFile(root, nil, 0o644)
			}
			var stdout, stderr bytes.Buffer
			ran := false
			cmd := newRootCmd(deps{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" },
				run: func(ctx context.Context, o *options) error {
					// Only the root's preparation: the rest would run until stopped.
					ran = true
					return prepareRoot(release.Layout{Root: o.Root}, o.Create)
				}})
			cmd.SetArgs(append([]string{"--root", root}, tt.args...))
			err := cmd.ExecuteContext(context.Background())
			if code := exitCode(err, &stderr); code != tt.wantCode || !ran {
				t.Fatalf("exit code %d, want %d (err %v)", code, tt.wantCode, err)
			}
			if !strings.Contains(stderr.String(), tt.wantErr) || strings.Count(stderr.String(), "\n") > 1 {
				t.Errorf("stderr %q, want one line saying %q", stderr.String(), tt.wantErr)
			}
			_, statErr := os.Stat(filepath.Join(root, "releases"))
			if created := statErr == nil; created != (tt.wantCode == 0) {
				t.Errorf("releases/ created: %v", created)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}, {"--create", "version"}} {
		var stdout, stderr bytes.Buffer
		cmd := newRootCmd(deps{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" },
			run: func(context.Context, *options) error { t.Error("the receiver ran"); return nil }})
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if out := stdout.String(); !strings.HasPrefix(out, "receiver ") || !strings.Contains(out, "\ngo      go1.") {
			t.Errorf("%v printed %q", args, out)
		}
	}
}
