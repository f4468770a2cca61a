package receivercmd

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// Restart mode: the app binds the public port; a reload stops it and starts
// the new release there, and a failed release brings the old one back.
func TestRestartMode(t *testing.T) {
	l := appRoot(t, "version=v1", "version=v2", "version=bad\nmode=exit")
	opts := testOptions(t, l)
	port := freePort(t)
	opts.Mode = modeRestart
	opts.Listen = "127.0.0.1:" + strconv.Itoa(port)
	startReceiver(t, opts)
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	st := waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))
	if st.Mode != "restart" || st.Serving.Port != port {
		t.Errorf("state mode %q port %d, want restart on %d", st.Mode, st.Serving.Port, port)
	}
	if body, _ := get(t, url); body != "v1" {
		t.Fatalf("serving %q", body)
	}
	first := st.Serving.PID

	deploy(t, l, 2, "two")
	st = waitState(t, l, 10*time.Second, "reload two", reloadDone("two"))
	if !st.LastReload.OK || st.Serving.Release != 2 || !gone(first) {
		t.Errorf("after reload: %+v serving %+v (old pid %d gone: %v)", st.LastReload, st.Serving, first, gone(first))
	}
	if body, _ := get(t, url); body != "v2" {
		t.Errorf("serving %q, want v2", body)
	}

	deploy(t, l, 3, "bad")
	st = waitState(t, l, 10*time.Second, "reload bad", reloadDone("bad"))
	r := st.LastReload
	if r.OK || !strings.Contains(r.Error, "release 3: app exited before it was healthy") || !strings.Contains(r.Error, "release 2 started again") {
		t.Errorf("result %+v", r)
	}
	if st.Serving == nil || st.Serving.Release != 2 {
		t.Errorf("serving %+v, want release 2 back", st.Serving)
	}
	if body, _ := get(t, url); body != "v2" {
		t.Errorf("serving %q, want v2", body)
	}
}
