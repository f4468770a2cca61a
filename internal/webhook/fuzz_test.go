package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/shipdeploy/ship/internal/release"
)

// Signature modes of a fuzzed request.
const (
	fuzzSignRight = iota // X-Hub-Signature-256 is the body's right signature
	fuzzSig256           // X-Hub-Signature-256 is the fuzzed string
	fuzzSigSHA1          // only X-Hub-Signature, the fuzzed string
	fuzzNoSig            // no signature header
)

// FuzzHandler sends arbitrary requests. The handler never panics, always
// answers JSON, and queues a deploy only for a correctly signed push to
// refs/heads/main with a full commit id. The seed corpus is in
// testdata/fuzz/FuzzHandler; run longer with
//
//	go test -run '^$' -fuzz FuzzHandler -fuzztime 30s -fuzzminimizetime 3s ./internal/webhook/
//
// (minimizing a new 8 KB input with the default settings can stall the run
// for a minute).
func FuzzHandler(f *testing.F) {
	push := mustRead(f, "testdata/push.json")
	f.Add("push", "application/json", uint8(fuzzSignRight), "", push)
	f.Add("push", "application/json", uint8(fuzzSig256), "sha256=00", push)
	f.Add("push", "application/json", uint8(fuzzSigSHA1), "sha1=00", push)
	f.Add("ping", "application/json", uint8(fuzzSignRight), "", mustRead(f, "testdata/ping.json"))
	f.Add("push", "application/x-www-form-urlencoded", uint8(fuzzSignRight), "", formBody(push))
	f.Add("push", "application/json", uint8(fuzzSignRight), "", []byte(`{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567","repository":{"full_name":"acme/shop"}}`))

	secret := []byte(testSecret)
	f.Fuzz(func(t *testing.T, event, contentType string, mode uint8, sig string, body []byte) {
		q := NewQueue(nil, nil) // never run: a Submit stays pending, for the check below
		h := New(Config{Secret: testSecret, Branch: "main", Repository: "acme/shop", Queue: q, MaxBody: 64 << 10})
		req := httptest.NewRequest(http.MethodPost, "/deploy", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set(HeaderEvent, event)
		req.Header.Set(HeaderDelivery, "72d3162e-cc78-11e3-81ab-4c9367dc0958")
		signedRight := false
		switch mode % 4 {
		case fuzzSignRight:
			req.Header.Set(HeaderSignature256, Sign(secret, body))
			signedRight = true
		case fuzzSig256:
			req.Header.Set(HeaderSignature256, sig)
			signedRight = sig == Sign(secret, body)
		case fuzzSigSHA1:
			req.Header.Set(HeaderSignatureSHA1, sig)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		var resp Response
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatalf("answer %d is not JSON: %v: %q", rec.Code, err, rec.Body.String())
		}
		if rec.Code >= 500 {
			t.Fatalf("answer %d: %+v", rec.Code, resp)
		}
		queued := q.Status().Pending
		if queued == nil {
			if resp.Status == "queued" {
				t.Fatalf("answer says queued, nothing is")
			}
			return
		}
		if !signedRight {
			t.Fatalf("queued %+v without a valid signature (mode %d)", queued, mode%4)
		}
		if event != "push" || queued.Ref != "refs/heads/main" || !release.IsCommitID(queued.Commit) {
			t.Fatalf("queued %+v for event %q", queued, event)
		}
		if rec.Code != http.StatusAccepted || resp.Status != "queued" || resp.Commit != queued.Commit {
			t.Fatalf("queued %s but answered %d %+v", queued.Commit, rec.Code, resp)
		}
	})
}

func mustRead(f *testing.F, name string) []byte {
	b, err := readTestdata(name)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
