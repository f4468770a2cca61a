package webhook

import (
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Replays of signed deliveries: a captured push sent again, later, must
// never take the live release back (issue 10, item 7).

// clock is a settable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// push is a push to ref of commit i, pushed at t (repository.pushed_at).
func push(t *testing.T, ref string, i int, at time.Time, forced bool) []byte {
	t.Helper()
	return fixture(t, "push.json", map[string]any{
		"ref": ref, "after": commitID(i), "forced": forced,
		"head_commit": map[string]any{"id": commitID(i), "timestamp": at.Format(time.RFC3339)},
		"repository":  map[string]any{"full_name": "acme/shop", "pushed_at": at.Unix()},
	})
}

func TestReplayAfterManyDeliveries(t *testing.T) {
	clk := &clock{t: time.Now()}
	file := filepath.Join(t.TempDir(), "deliveries")
	r := newRig(t, func(c *Config) { c.DeliveriesFile = file; c.Now = clk.now })
	forced := push(t, "refs/heads/main", 1, clk.now(), true)
	if code, resp := r.send(delivery{event: "push", body: forced}); code != 202 || resp.Status != "queued" {
		t.Fatalf("the forced push: %d %q", code, resp.Status)
	}
	r.settle()
	// A thousand and more deliveries later (pushes to other branches and
	// to main), minutes apart...
	for i := 2; i < 1200; i++ {
		clk.add(10 * time.Second)
		ref := "refs/heads/feature"
		if i%10 == 0 {
			ref = "refs/heads/main"
		}
		if code, _ := r.send(delivery{event: "push", body: push(t, ref, i, clk.now(), false)}); code != 202 {
			t.Fatalf("push %d: %d", i, code)
		}
	}
	r.settle()
	n := len(r.deployed())
	// ...the captured forced push comes again, under a new delivery id.
	code, resp := r.send(delivery{event: "push", body: forced})
	r.settle()
	if resp.Status == "queued" || len(r.deployed()) != n {
		t.Fatalf("the replayed forced push: %d %q (%s), deployed again", code, resp.Status, resp.Reason)
	}
	// Also after a restart.
	r2 := newRig(t, func(c *Config) { c.DeliveriesFile = file; c.Now = clk.now })
	if _, resp := r2.send(delivery{event: "push", body: forced}); resp.Status == "queued" {
		t.Fatalf("replayed after a restart: %q", resp.Status)
	}
	// And once the deliveries of its time are forgotten, its own signed
	// time gives it away.
	clk.add(8 * 24 * time.Hour)
	r3 := newRig(t, func(c *Config) { c.DeliveriesFile = file; c.Now = clk.now })
	if _, resp := r3.send(delivery{event: "push", body: forced}); resp.Status == "queued" {
		t.Fatalf("replayed 8 days later: %q (%s)", resp.Status, resp.Reason)
	}
	r3.settle()
	if len(r3.deployed()) != 0 {
		t.Fatalf("deployed %v", r3.deployed())
	}
}

// A delivery of a push older than one already accepted never deploys,
// forced or not; only the newest push may take the release back.
func TestLateDeliveryDoesNotGoBack(t *testing.T) {
	clk := &clock{t: time.Now()}
	r := newRig(t, func(c *Config) { c.Now = clk.now })
	t0 := clk.now()
	late := push(t, "refs/heads/main", 1, t0, true) // a force push back, delivered late
	newer := push(t, "refs/heads/main", 2, t0.Add(time.Minute), false)
	back := push(t, "refs/heads/main", 3, t0.Add(2*time.Minute), true)
	for _, tc := range []struct {
		name       string
		body       []byte
		status     string
		mayGoBack  bool
		deployedAt int
	}{
		{"the newer push", newer, "queued", false, 1},
		{"the late forced push", late, "ignored", false, 1},
		{"a newer forced push", back, "queued", true, 2},
	} {
		_, resp := r.send(delivery{event: "push", body: tc.body})
		r.settle()
		if resp.Status != tc.status || len(r.deployed()) != tc.deployedAt {
			t.Fatalf("%s: %q (%s), deployed %v", tc.name, resp.Status, resp.Reason, r.deployed())
		}
		if tc.status == "queued" {
			r.mu.Lock()
			got := r.deploys[len(r.deploys)-1]
			r.mu.Unlock()
			if got.MayGoBack != tc.mayGoBack {
				t.Errorf("%s: MayGoBack %v, want %v", tc.name, got.MayGoBack, tc.mayGoBack)
			}
		}
	}
}

// Recent deliveries are kept by time, not count, and survive restarts.
func TestDeliveriesKeptByTime(t *testing.T) {
	file := filepath.Join(t.TempDir(), "deliveries")
	start := time.Now()
	d := newDeliveries(file, start)
	for i := range 5000 {
		if !d.add(start.Add(time.Duration(i)*time.Second), commitID(i)) {
			t.Fatalf("id %d reported as seen", i)
		}
	}
	now := start.Add(5000 * time.Second)
	if d.add(now, commitID(0)) {
		t.Error("the first of 5,000 ids, an hour and a half old, was forgotten")
	}
	if err := d.save(now); err != nil {
		t.Fatal(err)
	}
	later := start.Add(deliveryMemory + 100*time.Second)
	d2 := newDeliveries(file, later)
	if !d2.add(later, commitID(50)) {
		t.Error("an id older than the memory was kept")
	}
	if d2.add(later, commitID(4999)) {
		t.Error("a recent id was not reloaded from the file")
	}
}

// A push without GitHub's pushed_at (`ship trigger` sends the time by its
// own clock in head_commit) is not ordered against GitHub's pushes, whose
// clock may differ; it is still refused once too old, and it never takes
// the release back.
func TestPushWithoutPushedAt(t *testing.T) {
	clk := &clock{t: time.Now()}
	r := newRig(t, func(c *Config) { c.Now = clk.now })
	trigger := func(i int, at time.Time) []byte {
		return fixture(t, "push.json", map[string]any{
			"after": commitID(i), "forced": true,
			"head_commit": map[string]any{"id": commitID(i), "timestamp": at.Format(time.RFC3339)},
			"repository":  map[string]any{"full_name": "acme/shop"},
		})
	}
	if _, resp := r.send(delivery{event: "push", body: push(t, "refs/heads/main", 1, clk.now(), false)}); resp.Status != "queued" {
		t.Fatalf("a push: %q", resp.Status)
	}
	// Sent by a clock two minutes behind GitHub's.
	if _, resp := r.send(delivery{event: "push", body: trigger(2, clk.now().Add(-2*time.Minute))}); resp.Status != "queued" {
		t.Fatalf("a trigger from a slow clock: %q (%s)", resp.Status, resp.Reason)
	}
	r.settle()
	r.mu.Lock()
	last := r.deploys[len(r.deploys)-1]
	r.mu.Unlock()
	if last.MayGoBack {
		t.Error("a push without pushed_at may take the release back")
	}
	if _, resp := r.send(delivery{event: "push", body: trigger(3, clk.now().Add(-8*24*time.Hour))}); resp.Status != "ignored" {
		t.Errorf("a trigger made 8 days ago: %q, want ignored", resp.Status)
	}
}
