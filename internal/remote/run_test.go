package remote_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/host"
)

func TestRun(t *testing.T) {
	_, c := connect(t)
	tests := []struct {
		name       string
		script     string
		stdin      string
		wantOut    string
		wantErr    string
		wantStatus int // 0: success
	}{
		{name: "stdout", script: "echo hello", wantOut: "hello\n"},
		{name: "stderr", script: "echo oops >&2", wantErr: "oops\n"},
		{name: "both", script: "echo out; echo err >&2; echo out2", wantOut: "out\nout2\n", wantErr: "err\n"},
		{name: "exit status", script: "echo partial; exit 3", wantOut: "partial\n", wantStatus: 3},
		{name: "stdin", script: "tr a-z A-Z", stdin: "shout\n", wantOut: "SHOUT\n"},
		{name: "no stdin is empty input", script: "cat; echo done", wantOut: "done\n"},
		{name: "shell text", script: "x='a b'; printf '%s|' $x \"$x\"", wantOut: "a|b|a b|"},
		{name: "bun and git on PATH", script: "command -v git >/dev/null && echo ok", wantOut: "ok\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			cmd := host.Command{Script: tt.script, Stdout: &out, Stderr: &errb}
			if tt.stdin != "" {
				cmd.Stdin = strings.NewReader(tt.stdin)
			}
			err := c.Run(testContext(t), cmd)
			if tt.wantStatus == 0 && err != nil {
				t.Fatalf("Run: %v (stderr %q)", err, errb.String())
			}
			if tt.wantStatus != 0 {
				var ee *host.ExitError
				if !errors.As(err, &ee) || ee.Status != tt.wantStatus {
					t.Fatalf("Run error = %v, want exit status %d", err, tt.wantStatus)
				}
			}
			if out.String() != tt.wantOut || errb.String() != tt.wantErr {
				t.Errorf("stdout %q stderr %q, want %q %q", out.String(), errb.String(), tt.wantOut, tt.wantErr)
			}
		})
	}
}

func TestRunKilledBySignal(t *testing.T) {
	_, c := connect(t)
	err := c.Run(testContext(t), host.Command{Script: "kill -TERM $$"})
	var ee *host.ExitError
	if !errors.As(err, &ee) || ee.Signal != "TERM" || ee.Status != -1 {
		t.Fatalf("Run error = %#v, want killed by TERM", err)
	}
}

func TestRunStreamsStdin(t *testing.T) {
	_, c := connect(t)
	data := make([]byte, 5<<20)
	rand.Read(data)
	var out bytes.Buffer
	err := c.Run(testContext(t), host.Command{Script: "cat", Stdin: bytes.NewReader(data), Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("cat returned %d bytes, differing from the %d sent", out.Len(), len(data))
	}
}

func TestRunCancelKills(t *testing.T) {
	s, c := connect(t)
	ctx, cancel := context.WithCancel(testContext(t))
	// The script tells us it runs; then we cancel.
	r, w := ioPipe()
	errc := make(chan error, 1)
	go func() {
		errc <- c.Run(ctx, host.Command{Script: "echo started; sleep 100.123; echo never", Stdout: w})
	}()
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run error = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run took %s to return after cancel", d)
	}
	// The remote sleep must be gone too. KILL reaches it a moment after
	// Run returns: poll for up to 5s. (The bracket keeps pgrep from
	// matching this script's own command line.)
	err := c.Run(testContext(t), host.Command{Script: "for i in $(seq 50); do pgrep -f 'sleep 100[.]123' >/dev/null || exit 0; sleep 0.1; done; exit 1"})
	if err != nil {
		t.Errorf("sleep still runs on %s after cancel: %v", s.Addr, err)
	}
}

func TestRunConcurrent(t *testing.T) {
	_, c := connect(t)
	errc := make(chan error, 6)
	for i := range 6 {
		go func() {
			var out bytes.Buffer
			err := c.Run(testContext(t), host.Command{Script: "echo " + string(rune('a'+i)), Stdout: &out})
			if err == nil && out.String() != string(rune('a'+i))+"\n" {
				err = errors.New("wrong output " + out.String())
			}
			errc <- err
		}()
	}
	for range 6 {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}
