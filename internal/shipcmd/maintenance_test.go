package shipcmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shipdeploy/ship/internal/testenv"
)

// status503 is GET url's status, Retry-After and body.
func status503(t *testing.T, url string) (int, string, string) {
	t.Helper()
	code, h, body := testenv.Get(t, url)
	return code, h.Get("Retry-After"), body
}

// TestMaintenanceCommand: ship maintenance on puts the page up on a live
// receiver (the app keeps running), ship status says so, a deploy leaves it
// up and says so, off (or deploy --maintenance-off) takes it down.
func TestMaintenanceCommand(t *testing.T) {
	w := newWorld(t)
	testenv.CommitVersion(t, w.repo, "one")
	if code, out := w.deploy(); code != 0 {
		t.Fatalf("deploy: %d\n%s", code, out)
	}
	url := w.startReceiver()
	os.WriteFile(filepath.Join(w.root, "shared", "maintenance.html"), []byte("<p>back soon</p>\n"), 0o644)

	code, out := w.ship("maintenance", "TARGET", "on", "--path", w.root, "--retry-after", "90")
	if code != 0 || !strings.Contains(out, "maintenance on: the receiver answers 503 with shared/maintenance.html (Retry-After 90s)") {
		t.Fatalf("maintenance on: exit %d\n%s", code, out)
	}
	if code, retry, body := status503(t, url); code != 503 || retry != "90" || body != "<p>back soon</p>\n" {
		t.Errorf("in maintenance: %d, Retry-After %q, %q", code, retry, body)
	}
	if code, out := w.ship("status", "TARGET", "--path", w.root); code != 0 || !strings.Contains(out, "maint.    ON since") || !strings.Contains(out, "shared/maintenance.html") {
		t.Errorf("status: exit %d\n%s", code, out)
	}

	testenv.CommitVersion(t, w.repo, "two")
	code, out = w.deploy()
	if code != 0 || !strings.Contains(out, "maintenance is on") {
		t.Errorf("a deploy in maintenance: exit %d\n%s", code, out)
	}
	if code, _, _ := status503(t, url); code != 503 {
		t.Errorf("the deploy turned maintenance off: %d", code)
	}
	if code, out := w.ship("maintenance", "TARGET", "off", "--path", w.root); code != 0 || !strings.Contains(out, "maintenance off") {
		t.Errorf("maintenance off: exit %d\n%s", code, out)
	}
	if body, err := get(url); err != nil || !strings.Contains(body, "(two)") {
		t.Errorf("after maintenance: %q %v", body, err)
	}

	w.ship("maintenance", "TARGET", "on", "--path", w.root)
	testenv.CommitVersion(t, w.repo, "three")
	if code, out := w.deploy("--maintenance-off"); code != 0 {
		t.Errorf("deploy --maintenance-off: exit %d\n%s", code, out)
	}
	if body, err := get(url); err != nil || !strings.Contains(body, "(three)") {
		t.Errorf("after deploy --maintenance-off: %q %v", body, err)
	}
	if code, out := w.ship("maintenance", "TARGET", "sideways", "--path", w.root); code != 2 || !strings.Contains(out, "on or off") {
		t.Errorf("maintenance sideways: exit %d\n%s", code, out)
	}
}
