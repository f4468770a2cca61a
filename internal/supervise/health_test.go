package supervise

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func helperSpec(t *testing.T, env ...string) Spec {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return Spec{
		Command: `exec "$HELPER_BIN"`,
		Env:     append([]string{"HELPER_BIN=" + self, "SUPERVISE_HELPER=http"}, env...),
		Port:    port,
	}
}

func TestWaitHealthy(t *testing.T) {
	tests := []struct {
		name       string
		command    string // replaces the helper when set
		env        []string
		path       string
		timeout    time.Duration
		wantErr    error
		wantExited bool
		wantInMsg  string
	}{
		{name: "tcp, listens after a delay", env: []string{"HELPER_DELAY=300ms"}, timeout: 10 * time.Second},
		{name: "http 200", path: "/health", timeout: 10 * time.Second},
		{name: "http path without slash", path: "health", timeout: 10 * time.Second},
		{name: "http 500 until the timeout", env: []string{"HELPER_HEALTH=500"}, path: "/health", timeout: 2 * time.Second,
			wantErr: ErrUnhealthy, wantInMsg: "500 Internal Server Error"},
		{name: "never listens", command: `echo starting; sleep 30`, timeout: 400 * time.Millisecond,
			wantErr: ErrUnhealthy, wantInMsg: "connection refused"},
		{name: "exits at once", command: `echo "fatal: no config" >&2; exit 4`, timeout: 10 * time.Second,
			wantErr: ErrExited, wantExited: true, wantInMsg: "exit status 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := helperSpec(t, tt.env...)
			if tt.command != "" {
				spec.Command = tt.command
			}
			p := start(t, spec)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			begin := time.Now()
			err := WaitHealthy(ctx, p, "127.0.0.1:"+itoa(spec.Port), tt.path)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("WaitHealthy = %v; output %q", err, p.Tail())
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("WaitHealthy = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantInMsg)
			}
			var he *HealthError
			if !errors.As(err, &he) {
				t.Fatalf("error %T is not a *HealthError", err)
			}
			if (he.Exit != nil) != tt.wantExited || he.Timeout == tt.wantExited {
				t.Errorf("exit = %v timeout = %v, want exited %v", he.Exit, he.Timeout, tt.wantExited)
			}
			if tt.wantExited {
				if time.Since(begin) > 2*time.Second {
					t.Errorf("an exit took %s to notice", time.Since(begin))
				}
				if strings.Join(he.Tail, "\n") != "fatal: no config" {
					t.Errorf("tail = %q", he.Tail)
				}
			}
		})
	}
}

func TestFreePortDistinct(t *testing.T) {
	seen := map[int]bool{}
	for range 16 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}

// TestWaitHealthyPortTakenByAnother: another program took the app's port
// before the app could bind it (the port was free when picked). Its
// answers are not the app's health: before, they made an app that never
// listened (it fails with EADDRINUSE) pass its check.
func TestWaitHealthyPortTakenByAnother(t *testing.T) {
	spec := helperSpec(t)
	ln, err := net.Listen("tcp", "127.0.0.1:"+itoa(spec.Port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})}
	go srv.Serve(ln)
	defer srv.Close()
	spec.Command = `echo "port in use"; sleep 30` // as the app whose bind failed, before it exits
	p := start(t, spec)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = WaitHealthy(ctx, p, "127.0.0.1:"+itoa(spec.Port), "/health")
	if !errors.Is(err, ErrPortTaken) || !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("WaitHealthy = %v, want %v", err, ErrPortTaken)
	}
	if want := "another program listens there"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}
