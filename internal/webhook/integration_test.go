package webhook_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/pull"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/testenv"
	"github.com/shipdeploy/ship/internal/webhook"
)

// GitHub's payload shapes against the endpoint wired as the receiver wires
// it: a real git repository to fetch from, real bun, the real pipeline into
// a temp APP_ROOT, and the audit trail in .ship/log.jsonl. Only the push to
// main deploys, and exactly its commit.
func TestWebhookDeploysThroughThePipeline(t *testing.T) {
	testenv.Bun(t)
	repo := testenv.AppRepo(t)
	pushed := testenv.CommitVersion(t, repo, "pushed")
	testenv.CommitVersion(t, repo, "later") // main moved on after the push
	testenv.GitRun(t, repo, "tag", "v9", pushed)
	root := filepath.Join(t.TempDir(), "app")
	l := release.Layout{Root: root}
	if err := os.MkdirAll(l.ShipDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "pwned")

	var out, logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))
	// The receiver's wiring, in a few lines.
	d := &pull.Deployer{Root: root, Repo: repo, Out: &syncWriter{w: &out}, Logger: logger}
	q := webhook.NewQueue(func(ctx context.Context, r webhook.Request) (int, error) {
		res, err := d.Deploy(ctx, r.Commit, r.Ref, r.By())
		if err != nil {
			return 0, err
		}
		return res.Release, nil
	}, logger)
	cfg := webhook.Config{Secret: "It's a Secret to Everybody", Branch: "main", Repository: "acme/shop", Queue: q, Logger: logger,
		Log: func(e release.LogEntry) { _ = release.AppendLog(release.LocalFS{}, l, e) },
		Now: func() time.Time { return time.Unix(1746177302, 0).Add(time.Minute) }} // testdata's pushes were pushed then
	h := webhook.New(cfg)
	mux := http.NewServeMux()
	mux.Handle("/deploy", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.Run(ctx)

	send := func(event, file string, changes map[string]any) int {
		t.Helper()
		body := readFixture(t, file, changes)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/deploy", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhook.HeaderEvent, event)
		req.Header.Set(webhook.HeaderDelivery, fmt.Sprintf("d-%d", time.Now().UnixNano()))
		req.Header.Set(webhook.HeaderSignature256, webhook.Sign([]byte(cfg.Secret), body))
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s %s answered after %v: the deploy must run in the background", event, file, d)
		}
		return resp.StatusCode
	}
	codes := []int{
		send("ping", "ping.json", nil),
		send("push", "push_tag.json", map[string]any{"ref": "refs/tags/v9", "after": pushed}),
		send("push", "push_delete.json", map[string]any{"ref": "refs/heads/feature"}),
		send("push", "push.json", map[string]any{"ref": "refs/heads/feature", "after": pushed}),
		send("push", "push.json", map[string]any{"ref": "refs/heads/main; touch " + marker, "after": pushed}),
		send("push", "push.json", map[string]any{"after": pushed}),
	}
	if want := []int{200, 202, 202, 202, 202, 202}; fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("answers %v, want %v", codes, want)
	}
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Minute)
	defer wcancel()
	if err := q.WaitIdle(wctx); err != nil {
		t.Fatal(err)
	}

	snap, err := release.Read(release.LocalFS{}, l)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Releases) != 1 || snap.Releases[0].Info == nil {
		t.Fatalf("releases %+v, want exactly one finished\n%s", snap.Releases, out.String())
	}
	if info := snap.Releases[0].Info; info.Commit != pushed || !strings.HasPrefix(info.By, "webhook (alice, delivery d-") {
		t.Errorf("release.json: commit %s by %q, want %s by the webhook", info.Commit, info.By, pushed)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "current", "src", "version.ts")); !strings.Contains(string(b), `"pushed"`) {
		t.Errorf("current serves %q", b)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the marker file exists: a ref ran as a command")
	}

	// The audit trail: one line per delivery, then the deploy's own line
	// and the webhook's outcome.
	var results []string
	for _, e := range readLog(t, l) {
		results = append(results, e.Kind+":"+e.Result)
	}
	want := "webhook:ok webhook:ignored webhook:ignored webhook:ignored webhook:ignored webhook:accepted deploy:ok webhook:ok"
	if strings.Join(results, " ") != want {
		t.Errorf("log.jsonl:\n%s\nwant\n%s", strings.Join(results, " "), want)
	}
	if strings.Contains(logs.String()+out.String(), cfg.Secret) {
		t.Error("the secret is in the log")
	}
}

func readFixture(t *testing.T, name string, changes map[string]any) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range changes {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

func readLog(t *testing.T, l release.Layout) []release.LogEntry {
	t.Helper()
	f, err := os.Open(l.Log())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []release.LogEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e release.LogEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
