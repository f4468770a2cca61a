package receivercmd

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/webhook"
)

// With WEBHOOK_SECRET set and no --webhook-listen, the webhook shares the
// public port; that port must still be served by the proxy's strict front
// (it used to be an http.Server then, which keeps a connection open after
// Content-Length with Transfer-Encoding, and reads folded lines).
func TestWebhookSharesTheStrictFront(t *testing.T) {
	l := appRoot(t, "version=v1")
	opts := testOptions(t, l)
	env := map[string]string{"WEBHOOK_SECRET": "s3cret-for-test", "BRANCH": "main"}
	opts.Getenv = func(k string) string { return env[k] }
	opts.WebhookPath = "/deploy"
	rcv := startReceiver(t, opts)
	waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))

	ping := `{"zen":"Keep it logically awesome.","hook_id":1}`
	tests := []struct {
		name   string
		req    string
		want   int
		closes bool
	}{
		{"the app", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200, false},
		{"length and chunked", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, true},
		{"folded Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400, true},
		{"chunked in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, true},
		{"length and chunked to the webhook", "POST /deploy HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, true},
		{"webhook: GET", "GET /deploy HTTP/1.1\r\nHost: a\r\n\r\n", 405, false},
		{"webhook: signed ping", "POST /deploy HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n" +
			"X-GitHub-Event: ping\r\nX-GitHub-Delivery: d-1\r\nX-Hub-Signature-256: " +
			webhook.Sign([]byte(env["WEBHOOK_SECRET"]), []byte(ping)) + "\r\nContent-Length: " +
			strconv.Itoa(len(ping)) + "\r\n\r\n" + ping, 200, false},
		{"webhook: 20 MB announced, unsigned", "POST /deploy HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n" +
			"X-Hub-Signature-256: sha256=" + strings.Repeat("0", 64) + "\r\nContent-Length: 20000000\r\n\r\n", 413, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", rcv.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, tt.req)
			br := bufio.NewReader(c)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			io.Copy(io.Discard, res.Body)
			if res.StatusCode != tt.want {
				t.Errorf("status %d, want %d", res.StatusCode, tt.want)
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			_, err = br.ReadByte()
			if closed := err == io.EOF; closed != tt.closes {
				t.Errorf("connection closed: %v, want %v (%v)", closed, tt.closes, err)
			}
		})
	}
}
