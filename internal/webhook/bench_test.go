package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// BenchmarkHandler is the endpoint's own cost for one signed ~7 KB push to
// another branch (verify, decide, answer), without the network; the
// audit trail is a no-op here. bench/webhook measures it over loopback.
func BenchmarkHandler(b *testing.B) {
	// Distinct pushes, as GitHub's are (pushes to other branches are not
	// remembered, so a repeated one would do as well).
	bodies := make([][]byte, 1000)
	sigs := make([]string, len(bodies))
	for i := range bodies {
		bodies[i] = fixture(b, "push.json", map[string]any{"ref": "refs/heads/feature/bench", "after": commitID(i)})
		sigs[i] = Sign([]byte(testSecret), bodies[i])
	}
	h := New(Config{Secret: testSecret, Branch: "main", Repository: "acme/shop", Queue: NewQueue(nil, nil)})
	b.SetBytes(int64(len(bodies[0])))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		body, sig := bodies[i%len(bodies)], sigs[i%len(bodies)]
		req := httptest.NewRequest(http.MethodPost, "/deploy", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(HeaderEvent, "push")
		req.Header.Set(HeaderDelivery, "bench-"+strconv.Itoa(i))
		req.Header.Set(HeaderSignature256, sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("answer %d: %s", rec.Code, rec.Body)
		}
	}
}
