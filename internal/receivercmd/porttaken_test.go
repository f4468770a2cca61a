package receivercmd

import (
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/release"
)

// TestPortTakenBeforeTheAppBinds: another program takes the port the new
// release was given before the app binds it (the port was free when it was
// picked). The impostor's answers are not the release's health: the
// receiver starts the release again on another port, and traffic goes to
// the release, never to the impostor. Before, the impostor passed the
// health check, traffic moved to it, and the app failed with EADDRINUSE.
func TestPortTakenBeforeTheAppBinds(t *testing.T) {
	l := appRoot(t, "version=v1", "version=v2\ndelay=1500ms")
	rc := startReceiver(t, testOptions(t, l))
	waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))
	deploy(t, l, 2, "port-taken")
	st := waitState(t, l, 10*time.Second, "release 2 started", func(s *release.State) bool {
		return s.Staged != nil && s.Staged.Release == 2 && s.Staged.PID > 0
	})
	port := envOf(t, st.Staged.PID, "PORT")
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("take the app's port %s: %v", port, err)
	}
	impostor := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("impostor"))
	})}
	go impostor.Serve(ln)
	defer impostor.Close()

	st = waitState(t, l, 20*time.Second, "the reload's result", reloadDone("port-taken"))
	if r := st.LastReload; !r.OK || r.Release != 2 {
		t.Fatalf("result = %+v, want ok for release 2", r)
	}
	if body, _ := get(t, "http://"+rc.addr+"/"); body != "v2" {
		t.Errorf("after the switch / = %q, want v2", body)
	}
	if st.Serving == nil || strconv.Itoa(st.Serving.Port) == port {
		t.Errorf("serving = %+v, on the impostor's port %s", st.Serving, port)
	}
}

// envOf is a variable of process pid's environment as it was started.
func envOf(t *testing.T, pid int, name string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatalf("read the environment of %d: %v", pid, err)
	}
	for _, kv := range strings.Split(string(data), "\x00") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	t.Fatalf("process %d has no %s", pid, name)
	return ""
}
