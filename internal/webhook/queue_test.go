package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// GitHub's redelivery reuses the delivery id: the second one deploys nothing.
func TestRedeliveryDeploysOnce(t *testing.T) {
	file := filepath.Join(t.TempDir(), "deliveries")
	r := newRig(t, func(c *Config) { c.DeliveriesFile = file })
	body := fixture(t, "push.json", nil)
	const id = "9b9a0a6e-2c4b-11ef-8a1d-5b1f0e3c2d1a"
	code1, resp1 := r.send(delivery{event: "push", id: id, body: body})
	r.settle()
	code2, resp2 := r.send(delivery{event: "push", id: id, body: body})
	r.settle()
	if code1 != 202 || resp1.Status != "queued" {
		t.Errorf("first: %d %q, want 202 queued", code1, resp1.Status)
	}
	if code2 != 200 || resp2.Status != "duplicate" {
		t.Errorf("redelivery: %d %q, want 200 duplicate", code2, resp2.Status)
	}
	if got := r.deployed(); len(got) != 1 {
		t.Errorf("deployed %v, want one deploy", got)
	}

	// After a restart (a new handler on the same file), still nothing.
	r2 := newRig(t, func(c *Config) { c.DeliveriesFile = file })
	code3, resp3 := r2.send(delivery{event: "push", id: id, body: body})
	r2.settle()
	if code3 != 200 || resp3.Status != "duplicate" || len(r2.deployed()) != 0 {
		t.Errorf("redelivery after a restart: %d %q, deployed %v", code3, resp3.Status, r2.deployed())
	}
	// The delivery header is not signed: the same signed body replayed
	// under a new id is a duplicate too.
	if code, resp := r2.send(delivery{event: "push", body: body}); code != 200 || resp.Status != "duplicate" {
		t.Errorf("a replay under a new delivery id: %d %q, want 200 duplicate", code, resp.Status)
	}
	// A new push of the same commit (a manual trigger) does deploy.
	again := fixture(t, "push.json", map[string]any{"head_commit": map[string]any{"id": "f00dbabe0123456789abcdef0123456789abcdef", "timestamp": "2025-05-03T08:00:00Z"}})
	if code, _ := r2.send(delivery{event: "push", body: again}); code != 202 {
		t.Errorf("a new push of the same commit: %d, want 202", code)
	}
	r2.settle()
	if len(r2.deployed()) != 1 {
		t.Errorf("deployed %v, want one deploy", r2.deployed())
	}
}

// Within the time they are kept, the keys are bounded all the same.
func TestDeliveriesAreBounded(t *testing.T) {
	file := filepath.Join(t.TempDir(), "deliveries")
	now := time.Now()
	d := newDeliveries(file, now)
	for i := 0; i < maxDeliveries+10; i++ {
		if !d.add(now, commitID(i)) {
			t.Fatalf("id %d reported as seen", i)
		}
	}
	if len(d.at) != maxDeliveries {
		t.Fatalf("remembers %d ids, want %d", len(d.at), maxDeliveries)
	}
	if d.add(now, commitID(maxDeliveries+9)) {
		t.Error("a recent id was forgotten")
	}
	if err := d.save(now); err != nil {
		t.Fatal(err)
	}
	d2 := newDeliveries(file, now)
	if !d2.add(now, commitID(0)) {
		t.Error("the oldest id was kept past the bound")
	}
	if d2.add(now, commitID(maxDeliveries+5)) {
		t.Error("a recent id was not reloaded from the file")
	}
}

// Five pushes while a deploy runs: the running one finishes, then only the
// newest is deployed.
func TestBurstIsCoalesced(t *testing.T) {
	r := newRig(t)
	r.gate = make(chan struct{})
	send := func(i int) Response {
		t.Helper()
		code, resp := r.send(delivery{event: "push", body: fixture(t, "push.json", map[string]any{"after": commitID(i)})})
		if code != 202 || resp.Status != "queued" {
			t.Fatalf("push %d: %d %q", i, code, resp.Status)
		}
		return resp
	}
	send(0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.q.WaitRunning(ctx); err != nil {
		t.Fatal(err)
	}
	var replaced []string
	for i := 1; i <= 5; i++ {
		if resp := send(i); resp.Replaced != "" {
			replaced = append(replaced, resp.Replaced)
		}
	}
	if st := r.q.Status(); st.Running == nil || st.Running.Commit != commitID(0) || st.Pending == nil || st.Pending.Commit != commitID(5) {
		t.Errorf("status during the burst: %+v", st)
	}
	close(r.gate) // let every deploy through
	r.settle()
	got := r.deployed()
	if want := []string{commitID(0), commitID(5)}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("deployed %v, want %v", got, want)
	}
	if len(replaced) != 4 {
		t.Errorf("%d answers say they replaced a waiting push, want 4: %v", len(replaced), replaced)
	}
	superseded := 0
	for _, e := range r.auditEntries() {
		if strings.Contains(e.Detail, "superseded") {
			superseded++
		}
	}
	if superseded != 4 {
		t.Errorf("%d superseded entries in the audit trail, want 4", superseded)
	}
}

// A concurrent burst from many connections: at most two deploys, the
// last one of the newest commit.
func TestConcurrentBurst(t *testing.T) {
	r := newRig(t)
	r.gate = make(chan struct{})
	var wg sync.WaitGroup
	r.send(delivery{event: "push", body: fixture(t, "push.json", map[string]any{"after": commitID(0)})})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.q.WaitRunning(ctx); err != nil {
		t.Fatal(err)
	}
	bodies := make([][]byte, 6)
	for i := 1; i <= 5; i++ {
		bodies[i] = fixture(t, "push.json", map[string]any{"after": commitID(i)})
	}
	for i := 1; i <= 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.send(delivery{event: "push", body: bodies[i]})
		}()
	}
	wg.Wait()
	last := r.q.Status().Pending
	close(r.gate)
	r.settle()
	got := r.deployed()
	if len(got) != 2 || got[0] != commitID(0) || last == nil || got[1] != last.Commit {
		t.Errorf("deployed %v, want the running one and then the last queued (%v)", got, last)
	}
}

func TestQueueOutcomesAreAudited(t *testing.T) {
	var mu sync.Mutex
	fail := true
	r := newRig(t)
	r.q.run = func(ctx context.Context, req Request) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			fail = false
			return 0, errors.New("bun run build: exit status 1")
		}
		return 7, nil
	}
	r.send(delivery{event: "push", body: fixture(t, "push.json", map[string]any{"after": commitID(1)})})
	r.settle()
	r.send(delivery{event: "push", body: fixture(t, "push.json", map[string]any{"after": commitID(2)})})
	r.settle()
	var results []string
	for _, e := range r.auditEntries() {
		if e.Kind != "webhook" {
			t.Errorf("entry of kind %q", e.Kind)
		}
		results = append(results, e.Result)
		if e.Result == "ok" && (e.Release != 7 || e.Commit != commitID(2) || !strings.Contains(e.By, "alice")) {
			t.Errorf("ok entry: %+v", e)
		}
		if e.Result == "failed" && !strings.Contains(e.Error, "exit status 1") {
			t.Errorf("failed entry: %+v", e)
		}
	}
	if want := "accepted,failed,accepted,ok"; strings.Join(results, ",") != want {
		t.Errorf("audit results %v, want %s", results, want)
	}
}

// A run that skips a late push (ErrSuperseded) is recorded as ignored, and
// the push's forced flag reaches the run.
func TestSupersededIsIgnored(t *testing.T) {
	var mu sync.Mutex
	var forced []bool
	r := newRig(t)
	r.q.run = func(ctx context.Context, req Request) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		forced = append(forced, req.Forced)
		return 0, fmt.Errorf("%w: older", ErrSuperseded)
	}
	r.send(delivery{event: "push", body: fixture(t, "push.json", map[string]any{"after": commitID(1), "forced": true})})
	r.settle()
	var results []string
	for _, e := range r.auditEntries() {
		results = append(results, e.Result)
		if e.Result == "ignored" && (e.Error != "" || !strings.Contains(e.Detail, "older")) {
			t.Errorf("ignored entry: %+v", e)
		}
	}
	if want := "accepted,ignored"; strings.Join(results, ",") != want {
		t.Errorf("audit results %v, want %s", results, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(forced) != 1 || !forced[0] {
		t.Errorf("forced flags seen by the run: %v, want [true]", forced)
	}
}

func TestAuditTrail(t *testing.T) {
	r := newRig(t)
	r.send(delivery{event: "ping", body: fixture(t, "ping.json", nil)})
	r.send(delivery{event: "push", body: fixture(t, "push_tag.json", nil)})
	r.send(delivery{event: "push", body: fixture(t, "push.json", nil), sign: func(h http.Header, b []byte) {}})
	r.send(delivery{event: "push", body: fixture(t, "push.json", map[string]any{"repository": map[string]any{"full_name": "x/y"}})})
	r.send(delivery{event: "push", body: fixture(t, "push.json", nil)})
	r.settle()
	var got []string
	for _, e := range r.auditEntries() {
		got = append(got, e.Result+":"+e.Detail)
	}
	want := []string{"ok:event ping: ", "ignored:tag push", "refused:missing X-Hub-Signature-256", "refused:push from repository", "accepted:queued", "ok:deployed release 1"}
	if len(got) != len(want) {
		t.Fatalf("audit:\n%s\nwant %d entries", strings.Join(got, "\n"), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("entry %d: %q, want it to start with %q", i, got[i], want[i])
		}
	}
}

// Unsigned requests cannot flood the audit trail or the log.
func TestRefusalsAreRateLimited(t *testing.T) {
	r := newRig(t)
	body := []byte(`{}`)
	for i := 0; i < 3*noiseLogsPerMinute; i++ {
		if code, _ := r.send(delivery{event: "push", body: body, sign: func(h http.Header, b []byte) { h.Set(HeaderSignature256, Sign([]byte("x"), b)) }}); code != 401 {
			t.Fatalf("answer %d, want 401", code)
		}
	}
	if n := len(r.auditEntries()); n != noiseLogsPerMinute {
		t.Errorf("%d audit entries for %d unsigned requests, want %d", n, 3*noiseLogsPerMinute, noiseLogsPerMinute)
	}
	if n := strings.Count(r.logs.String(), "webhook refused"); n != noiseLogsPerMinute {
		t.Errorf("%d log lines, want %d", n, noiseLogsPerMinute)
	}
	// Signed requests are always recorded.
	r.send(delivery{event: "push", body: fixture(t, "push_tag.json", nil)})
	if n := len(r.auditEntries()); n != noiseLogsPerMinute+1 {
		t.Errorf("a signed delivery was not recorded (%d entries)", n)
	}

	var l limiter
	l.perMinute = 2
	now := time.Now()
	l.allow(now)
	l.allow(now)
	if ok, _ := l.allow(now); ok {
		t.Error("third in a minute allowed")
	}
	if ok, n := l.allow(now.Add(time.Minute)); !ok || n != 1 {
		t.Errorf("next minute: ok=%v suppressed=%d, want true 1", ok, n)
	}
}

func TestQueueSurvivesAPanic(t *testing.T) {
	calls := 0
	q := NewQueue(func(ctx context.Context, r Request) (int, error) {
		calls++
		if calls == 1 {
			panic("boom")
		}
		return 1, nil
	}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	q.Submit(Request{Commit: commitID(1)})
	if err := q.WaitIdle(wctx); err != nil {
		t.Fatal(err)
	}
	q.Submit(Request{Commit: commitID(2)})
	if err := q.WaitIdle(wctx); err != nil {
		t.Fatal(err)
	}
	if st := q.Status(); st.Finished != 2 {
		t.Errorf("finished %d deploys, want 2", st.Finished)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// Run stops with its context; the running deploy sees the cancellation and
// what waited is dropped.
func TestQueueStops(t *testing.T) {
	started := make(chan struct{})
	q := NewQueue(func(ctx context.Context, r Request) (int, error) {
		close(started)
		<-ctx.Done()
		return 0, ctx.Err()
	}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx) }()
	q.Submit(Request{Commit: commitID(1)})
	<-started
	q.Submit(Request{Commit: commitID(2)})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if !q.Idle() {
		t.Errorf("not idle after Run returned: %+v", q.Status())
	}
	if st := q.Status(); st.Started != 1 {
		t.Errorf("started %d deploys, want 1", st.Started)
	}
}

func TestRequestBy(t *testing.T) {
	for _, tc := range []struct {
		r    Request
		want string
	}{
		{Request{Pusher: "alice", Delivery: "72d3162e-cc78-11e3"}, "webhook (alice, delivery 72d3162e)"},
		{Request{Delivery: "abc"}, "webhook (delivery abc)"},
		{Request{Pusher: "bob"}, "webhook (bob)"},
		{Request{}, "webhook"},
	} {
		if got := tc.r.By(); got != tc.want {
			t.Errorf("%+v.By() = %q, want %q", tc.r, got, tc.want)
		}
	}
}
