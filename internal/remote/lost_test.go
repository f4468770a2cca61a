package remote_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/remote"
	"github.com/shipdeploy/ship/internal/testenv"
)

// throughCutter is a config that reaches s through a Cutter.
func throughCutter(t *testing.T, s *testenv.SSHD) (remote.Config, *testenv.Cutter) {
	t.Helper()
	cut := testenv.NewCutter(t, s.Addr)
	cfg := s.Config()
	cfg.Target = s.User + "@" + cut.Addr()
	// The host keys are the server's; the known_hosts line names the
	// address we dial.
	var lines []string
	for _, k := range s.HostKeys {
		lines = append(lines, "["+strings.Replace(cut.Addr(), ":", "]:", 1)+" "+k.PublicKey)
	}
	cfg.KnownHostsFile = writeFile(t, "known_hosts", strings.Join(lines, "\n")+"\n")
	return cfg, cut
}

func TestConnectionLost(t *testing.T) {
	tests := []struct {
		name      string
		keepAlive time.Duration
		fail      func(*testenv.Cutter, *testenv.SSHD)
		wantCause string
	}{
		{"network cut", time.Hour, func(c *testenv.Cutter, _ *testenv.SSHD) { c.Cut() }, ""},
		{"server killed", time.Hour, func(_ *testenv.Cutter, s *testenv.SSHD) { s.Stop() }, ""},
		// No packet says the network is gone: only keepalives find out.
		{"network silent", 100 * time.Millisecond, func(c *testenv.Cutter, _ *testenv.SSHD) { c.Blackhole() }, "no answer to 3 keepalives"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testenv.StartSSHD(t)
			cfg, cut := throughCutter(t, s)
			cfg.KeepAlive = tt.keepAlive
			c := dial(t, cfg)
			r, w := ioPipe()
			errc := make(chan error, 1)
			go func() {
				errc <- c.Run(testContext(t), host.Command{Script: "echo started; sleep 30", Stdout: w})
			}()
			if _, err := r.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			tt.fail(cut, s)
			var err error
			select {
			case err = <-errc:
			case <-time.After(5 * time.Second):
				t.Fatal("Run still waits 5s after the connection broke")
			}
			if !errors.Is(err, remote.ErrConnectionLost) || !strings.Contains(err.Error(), "lost the connection to "+c.String()) {
				t.Fatalf("Run: %v, want ErrConnectionLost", err)
			}
			if !strings.Contains(err.Error(), tt.wantCause) {
				t.Errorf("Run: %v, want it to say %q", err, tt.wantCause)
			}
			// What comes later fails at once, the same way.
			if err := c.Run(testContext(t), host.Command{Script: "true"}); !errors.Is(err, remote.ErrConnectionLost) {
				t.Errorf("Run after the loss: %v, want ErrConnectionLost", err)
			}
			if _, err := c.ReadFile("/etc/hostname"); !errors.Is(err, remote.ErrConnectionLost) {
				t.Errorf("ReadFile after the loss: %v, want ErrConnectionLost", err)
			}
		})
	}
}

func TestRunAfterClose(t *testing.T) {
	_, c := connect(t)
	c.Close()
	if err := c.Run(testContext(t), host.Command{Script: "true"}); err == nil || errors.Is(err, remote.ErrConnectionLost) {
		t.Errorf("Run after Close: %v, want a closed-connection error", err)
	}
	if _, err := c.Lstat("/"); err == nil {
		t.Error("Lstat after Close succeeded")
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestRoundTrips counts what a command and file work cost on a link with
// latency: they set how long a deploy takes far from its server.
func TestRoundTrips(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	s := testenv.StartSSHD(t)
	cfg, cut := throughCutter(t, s)
	const oneWay = 50 * time.Millisecond
	cut.SetLatency(oneWay)
	rtt := 2 * oneWay
	start := time.Now()
	c := dial(t, cfg)
	// TCP, SSH version and key exchange, then log in: OpenSSH's client
	// takes as many. Logged for the record, not held to a number.
	t.Logf("Dial: %s = %.1f round trips", time.Since(start).Round(time.Millisecond), float64(time.Since(start))/float64(rtt))
	name := t.TempDir() + "/state.json"
	tests := []struct {
		name string
		max  int // round trips
		do   func() error
	}{
		{"Run", 1, func() error { return c.Run(testContext(t), host.Command{Script: "true"}) }},
		{"Run with stdin", 2, func() error {
			return c.Run(testContext(t), host.Command{Script: "cat >/dev/null", Stdin: strings.NewReader("x")})
		}},
		{"WriteFile", 4, func() error { return c.WriteFile(name, []byte("{}"), 0o644) }},
		{"ReadFile", 2, func() error { _, err := c.ReadFile(name); return err }},
		{"Lstat", 1, func() error { _, err := c.Lstat(name); return err }},
	}
	// Let the background SFTP start and the spare channel settle first.
	if _, err := c.Lstat("/"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			best := time.Duration(1 << 62)
			for range 3 {
				start := time.Now()
				if err := tt.do(); err != nil {
					t.Fatal(err)
				}
				best = min(best, time.Since(start))
			}
			trips := float64(best) / float64(rtt)
			t.Logf("%s: %s = %.2f round trips", tt.name, best.Round(time.Millisecond), trips)
			// Server-side work (a fork and exec for Run) adds a little, more
			// on a busy machine; one round trip more is a regression.
			if trips > float64(tt.max)+0.9 {
				t.Errorf("%s takes %.2f round trips, want at most %d", tt.name, trips, tt.max)
			}
		})
	}
	_ = os.Remove(name)
}
