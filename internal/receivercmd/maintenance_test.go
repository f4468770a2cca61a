package receivercmd

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/testenv"
)

// answer is GET url's status, Retry-After and body, whatever the status.
func answer(t *testing.T, url string) (int, string, string) {
	t.Helper()
	code, h, body := testenv.Get(t, url)
	return code, h.Get("Retry-After"), strings.TrimSpace(body)
}

// TestMaintenance: while .ship/maintenance.json is there every request but
// the webhook's gets 503 with the page and Retry-After, the app keeps
// running, a reload happens behind the page, a restarted receiver keeps
// it up, and removing the file gives the requests back to the app.
func TestMaintenance(t *testing.T) {
	l := appRoot(t, "version=v1", "version=v2")
	opts := testOptions(t, l)
	rc := startReceiver(t, opts)
	st := waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))
	pid := st.Serving.PID
	url := "http://" + rc.addr + "/"

	on := &release.Maintenance{Since: time.Now().UTC(), By: "alice", RetryAfter: 120}
	if err := release.SetMaintenance(lfs, l, on); err != nil {
		t.Fatal(err)
	}
	st = waitState(t, l, 5*time.Second, "maintenance on", func(s *release.State) bool { return s.Maintenance != nil })
	if st.Maintenance.Page != "" || st.Maintenance.By != "alice" {
		t.Errorf("state's maintenance = %+v, want the plain page", st.Maintenance)
	}
	if code, retry, body := answer(t, url); code != 503 || retry != "120" || !strings.Contains(body, "maintenance") {
		t.Errorf("in maintenance: %d, Retry-After %q, %q", code, retry, body)
	}
	if gone(pid) {
		t.Error("the app stopped")
	}

	// The page, picked up when it appears; a reload goes on behind it.
	os.MkdirAll(l.Shared(), 0o755)
	if err := os.WriteFile(l.MaintenancePage(), []byte("<h1>back at noon</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, 5*time.Second, "the page", func(s *release.State) bool {
		return s.Maintenance != nil && s.Maintenance.Page == "shared/maintenance.html"
	})
	deploy(t, l, 2, "behind-the-page")
	waitState(t, l, 15*time.Second, "release 2 serving", servingRelease(2))
	if code, _, body := answer(t, url); code != 503 || body != "<h1>back at noon</h1>" {
		t.Errorf("after a reload in maintenance: %d %q", code, body)
	}

	// A receiver that starts finds the file: the page is up before the app.
	rc.stop()
	os.Remove(l.State()) // so that the next state read is the new receiver's
	rc = startReceiver(t, testOptions(t, l))
	url = "http://" + rc.addr + "/"
	if code, _, body := answer(t, url); code != 503 || body != "<h1>back at noon</h1>" {
		t.Errorf("after a restart: %d %q", code, body)
	}

	if err := release.SetMaintenance(lfs, l, nil); err != nil {
		t.Fatal(err)
	}
	waitState(t, l, 5*time.Second, "maintenance off", func(s *release.State) bool { return s.Maintenance == nil })
	waitState(t, l, 10*time.Second, "release 2 serving", servingRelease(2))
	if body, _ := get(t, url); body != "v2" {
		t.Errorf("after maintenance: %q", body)
	}
}
