package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestLongRequestFinishesOnOldBackend(t *testing.T) {
	eachFront(t, testLongRequestFinishesOnOldBackend)
}

func testLongRequestFinishesOnOldBackend(t *testing.T, front string) {
	started := make(chan struct{})
	old := startApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			time.Sleep(500 * time.Millisecond)
		}
		io.WriteString(w, "old")
	}))
	next := startApp(t, text("new"))
	p := newTestProxy(t, Options{})
	p.Switch(old.b)
	url := startProxy(t, p, front)

	type result struct {
		code int
		body string
		at   time.Time
	}
	done := make(chan result, 1)
	go func() {
		res, err := testClient.Get(url + "/slow")
		if err != nil {
			done <- result{body: err.Error()}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		done <- result{res.StatusCode, string(b), time.Now()}
	}()
	<-started
	if prev := p.Switch(next.b); prev != old.b {
		t.Fatalf("Switch returned %v, want the old backend", prev)
	}
	if code, body := get(t, url+"/"); code != 200 || body != "new" {
		t.Fatalf("after Switch: got %d %q, want 200 \"new\"", code, body)
	}
	if n := old.b.InFlight(); n != 1 {
		t.Fatalf("old backend InFlight = %d during the slow request, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	drained, err := old.b.Drain(ctx)
	drainedAt := time.Now()
	if err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if drained < 1 {
		t.Errorf("Drain reported %d drained, want >= 1", drained)
	}
	old.stop(t)
	r := <-done
	if r.code != 200 || r.body != "old" {
		t.Fatalf("slow request across the switch: got %d %q, want 200 \"old\"", r.code, r.body)
	}
	if drainedAt.Before(r.at.Add(-50 * time.Millisecond)) {
		t.Errorf("Drain returned %v before the slow request finished", r.at.Sub(drainedAt))
	}
}

func TestDrainTimesOut(t *testing.T) { eachFront(t, testDrainTimesOut) }

func testDrainTimesOut(t *testing.T, front string) {
	release := make(chan struct{})
	a := startApp(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	p := newTestProxy(t, Options{})
	p.Switch(a.b)
	url := startProxy(t, p, front)
	go testClient.Get(url) // stays in flight until release
	waitFor(t, func() bool { return a.b.InFlight() == 1 })
	p.Switch(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	drained, err := a.b.Drain(ctx)
	close(release)
	if !errors.Is(err, context.DeadlineExceeded) || drained != 1 {
		t.Fatalf("Drain = %d, %v; want 1, context.DeadlineExceeded", drained, err)
	}
}

func TestWaitForBackend(t *testing.T) { eachFront(t, testWaitForBackend) }

func testWaitForBackend(t *testing.T, front string) {
	t.Run("arrives in time", func(t *testing.T) {
		a := startApp(t, text("up"))
		p := newTestProxy(t, Options{WaitTimeout: 5 * time.Second})
		url := startProxy(t, p, front)
		go func() {
			time.Sleep(200 * time.Millisecond)
			p.Switch(a.b)
		}()
		start := time.Now()
		code, body := get(t, url)
		if code != 200 || body != "up" {
			t.Fatalf("got %d %q, want 200 \"up\"", code, body)
		}
		if waited := time.Since(start); waited < 150*time.Millisecond {
			t.Errorf("answered after %v, before any backend was set", waited)
		}
	})
	t.Run("never comes", func(t *testing.T) {
		p := newTestProxy(t, Options{WaitTimeout: 300 * time.Millisecond})
		url := startProxy(t, p, front)
		start := time.Now()
		code, _ := get(t, url)
		if code != http.StatusServiceUnavailable {
			t.Fatalf("got %d, want 503", code)
		}
		if waited := time.Since(start); waited < 250*time.Millisecond {
			t.Errorf("503 after %v, want after WaitTimeout (300ms)", waited)
		}
		if s := p.Stats(); s.NoBackend != 1 {
			t.Errorf("Stats.NoBackend = %d, want 1", s.NoBackend)
		}
	})
	t.Run("switched away", func(t *testing.T) {
		a := startApp(t, text("back"))
		p := newTestProxy(t, Options{WaitTimeout: 5 * time.Second})
		p.Switch(a.b)
		p.Switch(nil) // crashed: wait for the restart
		url := startProxy(t, p, front)
		go func() {
			time.Sleep(100 * time.Millisecond)
			p.Switch(a.b)
		}()
		if code, body := get(t, url); code != 200 || body != "back" {
			t.Fatalf("got %d %q, want 200 \"back\"", code, body)
		}
	})
}

func TestRefusedRetriesOnNewBackend(t *testing.T) { eachFront(t, testRefusedRetriesOnNewBackend) }

func testRefusedRetriesOnNewBackend(t *testing.T, front string) {
	// The old process died before it was switched away: requests bound
	// to it are refused, and must land on the new one once it is current.
	a := startApp(t, text("new"))
	p := newTestProxy(t, Options{})
	p.Switch(NewBackend(deadAddr(t)))
	url := startProxy(t, p, front)
	go func() {
		time.Sleep(20 * time.Millisecond)
		p.Switch(a.b)
	}()
	req, _ := http.NewRequest("POST", url, strings.NewReader("payload"))
	res, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != "new" {
		t.Fatalf("got %d %q, want 200 \"new\"", res.StatusCode, b)
	}
	if s := p.Stats(); s.Retries == 0 || s.UpstreamErrors != 0 {
		t.Errorf("Stats = %+v, want retries and no upstream error", s)
	}
}

func TestRollbackToDrainedBackend(t *testing.T) { eachFront(t, testRollbackToDrainedBackend) }

func testRollbackToDrainedBackend(t *testing.T, front string) {
	a := startApp(t, text("a"))
	b := startApp(t, text("b"))
	p := newTestProxy(t, Options{})
	p.Switch(a.b)
	url := startProxy(t, p, front)
	get(t, url)
	old := p.Switch(b.b)
	if _, err := old.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.Switch(a.b)
	for range 3 {
		if code, body := get(t, url); code != 200 || body != "a" {
			t.Fatalf("after switching back: %d %q", code, body)
		}
	}
	if a.b.poolLen() == 0 {
		t.Error("connections to a backend switched in again are not pooled")
	}
}

func (b *Backend) poolLen() int {
	b.poolMu.Lock()
	defer b.poolMu.Unlock()
	return len(b.idle)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
