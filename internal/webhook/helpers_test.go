package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/release"

	"github.com/shipdeploy/ship/internal/testenv"
)

const testSecret = "s3cret: do not log me"

// fixtureNow is a minute after the pushes in testdata were pushed
// (repository.pushed_at): the clock of the tests that use them.
var fixtureNow = time.Unix(1746177302, 0).Add(time.Minute)

// rig is a webhook endpoint on a real HTTP server, with a queue whose
// deploys are recorded instead of run.
type rig struct {
	t       *testing.T
	srv     *httptest.Server
	h       *Handler
	q       *Queue
	logs    *testenv.SyncBuffer // the slog output
	mu      sync.Mutex
	audit   []release.LogEntry
	deploys []Request
	// gate, when set, holds each deploy until a value is received.
	gate chan struct{}
	seq  int
}

type rigOption func(*Config)

func newRig(t *testing.T, opts ...rigOption) *rig {
	t.Helper()
	r := &rig{t: t, logs: &testenv.SyncBuffer{}}
	logger := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.q = NewQueue(func(ctx context.Context, req Request) (int, error) {
		r.mu.Lock()
		r.deploys = append(r.deploys, req)
		n := len(r.deploys)
		gate := r.gate
		r.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		return n, nil
	}, logger)
	cfg := Config{
		Secret: testSecret, Branch: "main", Repository: "acme/shop", Queue: r.q, Logger: logger,
		Log: func(e release.LogEntry) { r.mu.Lock(); r.audit = append(r.audit, e); r.mu.Unlock() },
		Now: func() time.Time { return fixtureNow },
	}
	for _, o := range opts {
		o(&cfg)
	}
	r.h = New(cfg)
	r.srv = httptest.NewServer(r.h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.q.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		r.srv.Close()
		r.assertNoSecret()
	})
	return r
}

// delivery is one request as GitHub would send it.
type delivery struct {
	event, id   string
	contentType string
	body        []byte
	// sign decides the signature headers; nil signs correctly with SHA-256.
	sign func(h http.Header, body []byte)
}

func (r *rig) send(d delivery) (int, Response) {
	r.t.Helper()
	if d.contentType == "" {
		d.contentType = "application/json"
	}
	if d.id == "" {
		r.mu.Lock()
		r.seq++
		d.id = fmt.Sprintf("72d3162e-cc78-11e3-81ab-%012d", r.seq)
		r.mu.Unlock()
	}
	req, err := http.NewRequest(http.MethodPost, r.srv.URL+"/deploy", bytes.NewReader(d.body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", d.contentType)
	req.Header.Set("User-Agent", "GitHub-Hookshot/test")
	if d.event != "" {
		req.Header.Set(HeaderEvent, d.event)
	}
	req.Header.Set(HeaderDelivery, d.id)
	if d.sign == nil {
		req.Header.Set(HeaderSignature256, Sign([]byte(testSecret), d.body))
	} else {
		d.sign(req.Header, d.body)
	}
	return r.do(req)
}

func (r *rig) do(req *http.Request) (int, Response) {
	r.t.Helper()
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	if d := time.Since(start); d > 2*time.Second {
		r.t.Errorf("the answer took %v: GitHub gives up after 10 s, and deploys must not be waited for", d)
	}
	raw, _ := io.ReadAll(resp.Body)
	var out Response
	if err := json.Unmarshal(raw, &out); err != nil {
		r.t.Fatalf("response %d is not JSON: %v\n%s", resp.StatusCode, err, raw)
	}
	if strings.Contains(string(raw), testSecret) {
		r.t.Errorf("the secret is in a response: %s", raw)
	}
	return resp.StatusCode, out
}

// settle waits for the queue to finish what it was given.
func (r *rig) settle() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.q.WaitIdle(ctx); err != nil {
		r.t.Fatalf("queue never became idle: %v (%+v)", err, r.q.Status())
	}
}

func (r *rig) deployed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, d := range r.deploys {
		out = append(out, d.Commit)
	}
	return out
}

func (r *rig) auditEntries() []release.LogEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]release.LogEntry(nil), r.audit...)
}

func (r *rig) assertNoSecret() {
	r.t.Helper()
	if strings.Contains(r.logs.String(), testSecret) {
		r.t.Errorf("the secret is in the log:\n%s", r.logs.String())
	}
	for _, e := range r.auditEntries() {
		b, _ := json.Marshal(e)
		if strings.Contains(string(b), testSecret) {
			r.t.Errorf("the secret is in the audit trail: %s", b)
		}
	}
}

// fixture reads testdata/NAME and applies changes to its top-level fields.
func fixture(t testing.TB, name string, changes map[string]any) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) == 0 {
		return raw
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for k, v := range changes {
		m[k] = v
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// formBody is body as GitHub sends it with content type "form".
func formBody(body []byte) []byte {
	return []byte("payload=" + url.QueryEscape(string(body)))
}

// commitID makes a distinct, valid commit id.
func commitID(i int) string { return fmt.Sprintf("%040x", 0xc0ffee000+i) }

func readTestdata(name string) ([]byte, error) { return os.ReadFile(name) }
