package webhook

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"
)

// GitHub's documented test vector for X-Hub-Signature-256.
func TestGitHubSignatureVector(t *testing.T) {
	secret := []byte("It's a Secret to Everybody")
	body := []byte("Hello, World!")
	const want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got := Sign(secret, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if err := verify(want, body, secret); err != nil {
		t.Fatalf("verify(GitHub's vector): %v", err)
	}
	if err := verify(want, []byte("Hello, World?"), secret); err == nil {
		t.Fatal("verify accepted a changed body")
	}
	if err := verify(want, body, nil); err == nil {
		t.Fatal("verify accepted with an empty secret")
	}
}

// What go-github v60 does on its own, and why the handler does not use
// ValidatePayload: it falls back to X-Hub-Signature (SHA-1) and honours any
// prefix it is given. If a go-github upgrade changes this, the test says so.
func TestGoGithubAcceptsSHA1(t *testing.T) {
	secret, body := []byte(testSecret), []byte(`{"zen":"x"}`)
	if err := github.ValidateSignature(sha1Sig(secret, body), body, secret); err != nil {
		t.Skipf("go-github no longer accepts sha1=: %v (the handler's own check is still needed for the header)", err)
	}
	req, _ := http.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderSignatureSHA1, sha1Sig(secret, body))
	if _, err := github.ValidatePayload(req, secret); err != nil {
		t.Skipf("go-github ValidatePayload no longer falls back to SHA-1: %v", err)
	}
	// The handler's header check refuses both.
	h := http.Header{}
	h.Set(HeaderSignatureSHA1, sha1Sig(secret, body))
	if _, err := signatureHeader(h); err == nil {
		t.Error("signatureHeader accepted a SHA-1-only request")
	}
	h.Set(HeaderSignature256, sha1Sig(secret, body))
	if _, err := signatureHeader(h); err == nil {
		t.Error("signatureHeader accepted sha1= in the SHA-256 header")
	}
}

func sha1Sig(secret, body []byte) string {
	m := hmac.New(sha1.New, secret)
	m.Write(body)
	return "sha1=" + hex.EncodeToString(m.Sum(nil))
}

func sha512Sig(secret, body []byte) string {
	m := hmac.New(sha512.New, secret)
	m.Write(body)
	return "sha512=" + hex.EncodeToString(m.Sum(nil))
}

// Real payload shapes: only a push to main queues, and exactly its after.
func TestEvents(t *testing.T) {
	const after = "f00dbabe0123456789abcdef0123456789abcdef" // testdata/push.json
	for _, tc := range []struct {
		name        string
		event       string
		body        []byte
		form        bool
		code        int
		status      string
		reason      string // a substring of the reason
		wantDeploys []string
	}{
		{name: "push to main", event: "push", body: fixture(t, "push.json", nil), code: 202, status: "queued", wantDeploys: []string{after}},
		{name: "push to main as a form", event: "push", body: fixture(t, "push.json", nil), form: true, code: 202, status: "queued", wantDeploys: []string{after}},
		{name: "push to another branch", event: "push", body: fixture(t, "push.json", map[string]any{"ref": "refs/heads/feature/cart"}), code: 202, status: "ignored", reason: "refs/heads/feature/cart"},
		{name: "push to a branch named like main", event: "push", body: fixture(t, "push.json", map[string]any{"ref": "refs/heads/main2"}), code: 202, status: "ignored"},
		{name: "push to main without refs/heads", event: "push", body: fixture(t, "push.json", map[string]any{"ref": "main"}), code: 202, status: "ignored"},
		{name: "tag push", event: "push", body: fixture(t, "push_tag.json", nil), code: 202, status: "ignored", reason: "tag push"},
		{name: "tag named like the branch", event: "push", body: fixture(t, "push_tag.json", map[string]any{"ref": "refs/tags/main"}), code: 202, status: "ignored", reason: "tag push"},
		{name: "branch deletion", event: "push", body: fixture(t, "push_delete.json", nil), code: 202, status: "ignored", reason: "deleted"},
		{name: "deletion without the flag", event: "push", body: fixture(t, "push_delete.json", map[string]any{"deleted": false}), code: 202, status: "ignored", reason: "deleted"},
		{name: "ping", event: "ping", body: fixture(t, "ping.json", nil), code: 200, status: "pong"},
		{name: "ping as a form", event: "ping", body: fixture(t, "ping.json", nil), form: true, code: 200, status: "pong"},
		{name: "unknown event", event: "issues", body: []byte(`{"action":"opened"}`), code: 202, status: "ignored", reason: "issues"},
		{name: "short after", event: "push", body: fixture(t, "push.json", map[string]any{"after": "f00dbabe"}), code: 400, status: "refused"},
		{name: "upper-case after", event: "push", body: fixture(t, "push.json", map[string]any{"after": strings.ToUpper(after)}), code: 400, status: "refused"},
		{name: "after with a shell command", event: "push", body: fixture(t, "push.json", map[string]any{"after": "$(touch /tmp/pwned)"}), code: 400, status: "refused"},
		{name: "after as a number", event: "push", body: fixture(t, "push.json", map[string]any{"after": 12}), code: 400, status: "refused"},
		{name: "push without a ref", event: "push", body: []byte(`{"after":"` + after + `","repository":{"full_name":"acme/shop"}}`), code: 400, status: "refused"},
		{name: "JSON null", event: "push", body: []byte(`null`), code: 403, status: "refused"},
		{name: "malformed JSON", event: "push", body: []byte(`{"ref":"refs/heads/main",`), code: 400, status: "refused", reason: "malformed"},
		{name: "malformed ping", event: "ping", body: []byte(`{zen`), code: 400, status: "refused"},
		{name: "missing event", event: "", body: fixture(t, "push.json", nil), code: 400, status: "refused"},
		{name: "another repository", event: "push", body: fixture(t, "push.json", map[string]any{"repository": map[string]any{"full_name": "mallory/shop"}}), code: 403, status: "refused", reason: "mallory/shop"},
		{name: "no repository", event: "push", body: fixture(t, "push.json", map[string]any{"repository": nil}), code: 403, status: "refused"},
		{name: "repository in another case", event: "push", body: fixture(t, "push.json", map[string]any{"repository": map[string]any{"full_name": "ACME/Shop"}}), code: 202, status: "queued", wantDeploys: []string{after}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			d := delivery{event: tc.event, body: tc.body}
			if tc.form {
				d.body, d.contentType = formBody(tc.body), "application/x-www-form-urlencoded"
			}
			code, resp := r.send(d)
			r.settle()
			if code != tc.code || resp.Status != tc.status {
				t.Errorf("answer %d %q (%s), want %d %q", code, resp.Status, resp.Reason, tc.code, tc.status)
			}
			if !strings.Contains(resp.Reason, tc.reason) {
				t.Errorf("reason %q does not mention %q", resp.Reason, tc.reason)
			}
			if resp.Delivery == "" && code < 400 {
				t.Error("the answer has no delivery id")
			}
			if got := r.deployed(); strings.Join(got, ",") != strings.Join(tc.wantDeploys, ",") {
				t.Errorf("deployed %v, want %v", got, tc.wantDeploys)
			}
			if tc.status == "queued" && resp.Commit != after {
				t.Errorf("answer commit %q, want %q", resp.Commit, after)
			}
		})
	}
}

// Requests that are not signed right never reach the event, whatever it says.
func TestRefused(t *testing.T) {
	push := fixture(t, "push.json", nil)
	secret := []byte(testSecret)
	set := func(name, value string) func(http.Header, []byte) {
		return func(h http.Header, _ []byte) {
			if value != "" {
				h.Set(name, value)
			}
		}
	}
	for _, tc := range []struct {
		name        string
		d           delivery
		code        int
		reason      string
		maxBody     int64
		contentType string
	}{
		{name: "no signature", d: delivery{sign: set("", "")}, code: 401, reason: "missing"},
		{name: "wrong secret", d: delivery{sign: func(h http.Header, b []byte) { h.Set(HeaderSignature256, Sign([]byte("guess"), b)) }}, code: 401, reason: "does not match"},
		{name: "signature of another body", d: delivery{sign: func(h http.Header, b []byte) { h.Set(HeaderSignature256, Sign(secret, append(b, ' '))) }}, code: 401},
		{name: "SHA-1 only", d: delivery{sign: func(h http.Header, b []byte) { h.Set(HeaderSignatureSHA1, sha1Sig(secret, b)) }}, code: 401, reason: "SHA-1"},
		{name: "sha1= in the SHA-256 header", d: delivery{sign: func(h http.Header, b []byte) { h.Set(HeaderSignature256, sha1Sig(secret, b)) }}, code: 401},
		{name: "sha512= in the SHA-256 header", d: delivery{sign: func(h http.Header, b []byte) { h.Set(HeaderSignature256, sha512Sig(secret, b)) }}, code: 401},
		{name: "bare hex", d: delivery{sign: func(h http.Header, b []byte) {
			h.Set(HeaderSignature256, strings.TrimPrefix(Sign(secret, b), "sha256="))
		}}, code: 401},
		{name: "upper-case prefix", d: delivery{sign: func(h http.Header, b []byte) {
			h.Set(HeaderSignature256, "SHA256="+strings.TrimPrefix(Sign(secret, b), "sha256="))
		}}, code: 401},
		{name: "empty signature value", d: delivery{sign: set(HeaderSignature256, "sha256=")}, code: 401},
		{name: "not hex", d: delivery{sign: set(HeaderSignature256, "sha256="+strings.Repeat("zz", 32))}, code: 401},
		{name: "signed with an empty secret", d: delivery{sign: func(h http.Header, b []byte) { h.Set(HeaderSignature256, Sign(nil, b)) }}, code: 401},
		{name: "empty body, unsigned", d: delivery{body: []byte{}, sign: set("", "")}, code: 401},
		{name: "empty body, signed", d: delivery{body: []byte{}}, code: 400},
		{name: "oversized body", d: delivery{body: append(push, make([]byte, 4096)...)}, maxBody: 4096, code: 413},
		{name: "oversized form", d: delivery{body: formBody(push), contentType: "application/x-www-form-urlencoded"}, maxBody: 4096, code: 413},
		{name: "text/plain", d: delivery{contentType: "text/plain"}, code: 415},
		{name: "multipart", d: delivery{contentType: "multipart/form-data; boundary=x"}, code: 415},
		{name: "JSON with charset", d: delivery{contentType: "application/json; charset=utf-8"}, code: 202},
		{name: "form without payload", d: delivery{body: []byte("other=1"), contentType: "application/x-www-form-urlencoded"}, code: 400},
		{name: "JSON body sent as a form", d: delivery{contentType: "application/x-www-form-urlencoded"}, code: 400},
		{name: "bad delivery id", d: delivery{id: "../../etc/passwd"}, code: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.MaxBody = tc.maxBody })
			d := tc.d
			d.event = "push"
			if d.body == nil {
				d.body = push
			}
			code, resp := r.send(d)
			r.settle()
			if code != tc.code {
				t.Errorf("answer %d (%s), want %d", code, resp.Reason, tc.code)
			}
			if !strings.Contains(resp.Reason, tc.reason) {
				t.Errorf("reason %q does not mention %q", resp.Reason, tc.reason)
			}
			wantDeploys := 0
			if tc.code == 202 {
				wantDeploys = 1
			}
			if got := r.deployed(); len(got) != wantDeploys {
				t.Errorf("deployed %v, want %d deploys", got, wantDeploys)
			}
		})
	}
}

// A ref crafted for a shell never deploys and never runs.
func TestInjectedRef(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	r := newRig(t)
	for _, ref := range []string{
		"refs/heads/main; touch " + marker,
		"refs/heads/main\ntouch " + marker,
		"refs/heads/main$(touch " + marker + ")",
		"refs/heads/main`touch " + marker + "`",
		"refs/heads/../../main",
		"refs/heads/main ",
		" refs/heads/main",
		"refs/heads/main\x00",
	} {
		code, resp := r.send(delivery{event: "push", body: fixture(t, "push.json", map[string]any{"ref": ref})})
		if code != 202 || resp.Status != "ignored" {
			t.Errorf("ref %q: answer %d %q, want 202 ignored", ref, code, resp.Status)
		}
	}
	r.settle()
	if got := r.deployed(); len(got) != 0 {
		t.Errorf("deployed %v", got)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the marker file exists: a ref ran as a command")
	}
}

func TestMethodNotAllowed(t *testing.T) {
	r := newRig(t)
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(m, r.srv.URL+"/deploy", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
			t.Errorf("%s: %d Allow=%q, want 405 Allow=POST", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

// Without a secret nothing is accepted, not even a request "signed" with
// the empty key, and the log says so once.
func TestOffWithoutSecret(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Secret = "" })
	body := fixture(t, "push.json", nil)
	for i := 0; i < 3; i++ {
		code, resp := r.send(delivery{event: "push", body: body, sign: func(h http.Header, b []byte) { h.Set(HeaderSignature256, Sign(nil, b)) }})
		if code != http.StatusServiceUnavailable || resp.Status != "off" {
			t.Errorf("answer %d %q, want 503 off", code, resp.Status)
		}
	}
	code, _ := r.send(delivery{event: "push", body: body, sign: func(http.Header, []byte) {}})
	if code != http.StatusServiceUnavailable {
		t.Errorf("unsigned: %d, want 503", code)
	}
	r.settle()
	if got := r.deployed(); len(got) != 0 {
		t.Errorf("deployed %v", got)
	}
	if n := strings.Count(r.logs.String(), "webhook deploys are off"); n != 1 {
		t.Errorf("the log says %d times that the webhook is off, want once:\n%s", n, r.logs.String())
	}
	if r.h.Enabled() {
		t.Error("Enabled() = true without a secret")
	}
}

func TestNoRepositoryCheckWhenUnknown(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Repository = "" })
	code, _ := r.send(delivery{event: "push", body: fixture(t, "push.json", map[string]any{"repository": map[string]any{"full_name": "someone/else"}})})
	r.settle()
	if code != 202 || len(r.deployed()) != 1 {
		t.Errorf("answer %d, deployed %v: without an expected repository any is accepted", code, r.deployed())
	}
	if !strings.Contains(r.logs.String(), "GITHUB_REPOSITORY") {
		t.Error("the log does not say that the repository is not checked")
	}
}
