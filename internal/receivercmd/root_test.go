package receivercmd

import (
	"bytes"
	"context"
	"errors"
	"os"
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
		{name: "unknown flag", args: []string{"--port", "3"}, wantCode: 2, wantErr: "unknown flag: --port"},
		{name: "bad duration", args: []string{"--stop-timeout", "soon"}, wantCode: 2, wantErr: "invalid argument"},
		{name: "zero timeout", args: []string{"--drain-timeout", "0s"}, wantCode: 2, wantErr: "must be positive"},
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
