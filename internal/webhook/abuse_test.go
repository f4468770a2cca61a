package webhook

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/proxy"
)

// Webhook abuse from anyone on the internet, before any signature was
// checked: the endpoint must not spend memory on what a request announces,
// nor wait for ever on what it does not send.

// hookFront serves h on the proxy's native front, as the receiver does on
// its public port, and returns its address.
func hookFront(t *testing.T, h http.Handler) string {
	t.Helper()
	p := proxy.New(proxy.Options{Handlers: map[string]http.Handler{"/deploy": h}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go p.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// abuseHandler is an endpoint with a small cap and budget, short timeouts.
func abuseHandler(t *testing.T) *Handler {
	t.Helper()
	q := NewQueue(func(context.Context, Request) (int, error) { return 1, nil }, nil)
	return New(Config{Secret: testSecret, Branch: "main", Repository: "acme/shop", Queue: q,
		MaxBody: 32 << 10, BodyBudget: 32 << 10, BodyTimeout: 500 * time.Millisecond})
}

// rawHead is a webhook request head with a well-formed but wrong
// signature: what an attacker without the secret can send.
func rawHead(framing string) string {
	return "POST /deploy HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\n" +
		"X-GitHub-Delivery: d-1\r\nX-Hub-Signature-256: sha256=" + strings.Repeat("0", 64) + "\r\n" + framing + "\r\n"
}

func TestWebhookAbuse(t *testing.T) {
	addr := hookFront(t, abuseHandler(t))
	tests := []struct {
		name   string
		req    string
		stall  bool // then send nothing more, without closing
		want   int
		within time.Duration
		closes bool
	}{
		{"unsigned, 20 MB announced", strings.Replace(rawHead("Content-Length: 20000000\r\n"), "X-Hub-Signature-256", "X-Other", 1),
			true, 401, time.Second, true},
		{"20 MB announced, no body", rawHead("Content-Length: 20000000\r\n"), true, 413, time.Second, true},
		{"length within the cap, body never sent", rawHead("Content-Length: 30000\r\n") + "{", true, 408, 3 * time.Second, true},
		{"chunked past the cap", rawHead("Transfer-Encoding: chunked\r\n") + strings.Repeat("1000\r\n"+strings.Repeat("x", 4096)+"\r\n", 9),
			true, 413, time.Second, true},
		{"chunked, never ended", rawHead("Transfer-Encoding: chunked\r\n") + "2\r\n{}\r\n", true, 408, 3 * time.Second, true},
		{"wrong signature", rawHead("Content-Length: 2\r\n") + "{}", false, 401, time.Second, false},
		{"malformed chunk", rawHead("Transfer-Encoding: chunked\r\n") + "2\n{}\r\n0\r\n\r\n", false, 400, time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			start := time.Now()
			io.WriteString(c, tt.req)
			br := bufio.NewReader(c)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			io.Copy(io.Discard, res.Body)
			if took := time.Since(start); res.StatusCode != tt.want || took > tt.within {
				t.Errorf("status %d after %v, want %d within %v", res.StatusCode, took, tt.want, tt.within)
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			_, err = br.ReadByte()
			if closed := err == io.EOF; closed != tt.closes {
				t.Errorf("connection closed: %v, want %v (%v)", closed, tt.closes, err)
			}
		})
	}
}

// While the budget for bodies is held by others, a request waits for its
// share up to the body timeout, then is told to come back (503); once the
// others are done, requests go through again.
func TestWebhookBodyBudget(t *testing.T) {
	h := abuseHandler(t)
	h.cfg.BodyTimeout = 4 * time.Second // a share is waited for 1 s
	addr := hookFront(t, h)
	hog, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Close()
	// 30 KiB announced, 20 KiB sent: its buffer holds the whole budget.
	io.WriteString(hog, rawHead("Content-Length: 30000\r\n")+strings.Repeat("x", 20000))

	code := func() int {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, rawHead("Content-Length: 2\r\n")+"{}")
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		if res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		return res.StatusCode
	}
	// The hog's body is read as it comes: until it holds the budget, a
	// small request still goes through.
	got := code()
	for deadline := time.Now().Add(2 * time.Second); got != http.StatusServiceUnavailable && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		got = code()
	}
	if got != http.StatusServiceUnavailable {
		t.Errorf("with the budget held: %d, want 503", got)
	}
	hog.Close() // the hog's body ends short: its share comes back
	time.Sleep(100 * time.Millisecond)
	if got := code(); got != http.StatusUnauthorized {
		t.Errorf("after: %d, want 401 (read and checked)", got)
	}
}

// The buffer for a body follows the bytes that come, not the length a
// request announces: a head announcing 16 MiB followed by 100 bytes costs
// about nothing (it cost 16 MiB at once).
func TestBodyMemoryFollowsBytesNotContentLength(t *testing.T) {
	q := NewQueue(func(context.Context, Request) (int, error) { return 1, nil }, nil)
	h := New(Config{Secret: testSecret, Branch: "main", Queue: q, MaxBody: 16 << 20})
	body := io.MultiReader(strings.NewReader(strings.Repeat("x", 100)), errReader{io.ErrUnexpectedEOF})
	req := httptest.NewRequest(http.MethodPost, "/deploy", body)
	req.ContentLength = 16 << 20
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderSignature256, "sha256="+strings.Repeat("0", 64))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	runtime.ReadMemStats(&after)
	if w.Code != http.StatusBadRequest {
		t.Errorf("status %d, want 400 (the body ended short)", w.Code)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("one request announcing 16 MiB and sending 100 bytes allocated %d bytes", n)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
