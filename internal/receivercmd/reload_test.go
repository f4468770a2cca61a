package receivercmd

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/release"
)

// A reload under load from another process: no request fails, the new
// version serves afterwards, and the old process is gone.
func TestReloadUnderLoad(t *testing.T) {
	// hard_term: the old process dies on SIGTERM like a Bun app, so a
	// request still on it when it is stopped would fail.
	l := appRoot(t, "version=v1\nhard_term=1", "version=v2\ndelay=500ms")
	rc := startReceiver(t, testOptions(t, l))
	st := waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))
	oldPID := st.Serving.PID
	url := "http://" + rc.addr + "/"

	ld := startLoad(t, url, 8, 1)
	time.Sleep(300 * time.Millisecond)
	deploy(t, l, 2, "reload-under-load")
	st = waitState(t, l, 15*time.Second, "the reload's result", reloadDone("reload-under-load"))
	time.Sleep(300 * time.Millisecond)
	res := ld.Finish(t)

	if r := st.LastReload; !r.OK || r.Release != 2 || r.Dropped != 0 || r.HealthyAfter < 0.5 {
		t.Errorf("result = %+v, want ok for release 2, 0 dropped, healthy after ≥ 0.5s", r)
	}
	if st.Serving == nil || st.Serving.Release != 2 || st.Serving.PID == oldPID {
		t.Errorf("serving = %+v, want release 2 on a new pid", st.Serving)
	}
	if res.Failed != 0 {
		t.Errorf("%d of %d requests failed: %v", res.Failed, res.Total, res.Errors)
	}
	if res.Versions["v1"] == 0 || res.Versions["v2"] == 0 || res.Total < 100 {
		t.Errorf("versions seen %v over %d requests: want both, and a real load", res.Versions, res.Total)
	}
	for i, v := range res.LastByCli {
		if v != "v2" {
			t.Errorf("client %d last saw %q, want v2", i, v)
		}
	}
	if body, _ := get(t, url); body != "v2" {
		t.Errorf("after the switch / = %q, want v2", body)
	}
	if !gone(oldPID) {
		t.Errorf("old process %d still exists", oldPID)
	}
	if _, err := os.Stat(l.Reload()); !os.IsNotExist(err) {
		t.Errorf("RELOAD still there after the reload: %v", err)
	}
	entries := logEntries(t, l)
	if len(entries) != 1 || entries[0].Kind != "reload" || entries[0].ID != "reload-under-load" ||
		entries[0].Result != "ok" || entries[0].Release != 2 || entries[0].Previous != 1 {
		t.Errorf("log.jsonl = %+v, want one ok reload 1 → 2", entries)
	}
	// The app's output reached the app log.
	if data, err := os.ReadFile(l.AppLog()); err != nil || !strings.Contains(string(data), "slowapp v2 listening") {
		t.Errorf("app.log: %v %q", err, data)
	}
}

// An unhealthy new release never takes a request: the old one serves every
// request during the attempt, and the state says why.
func TestUnhealthyReleaseKeepsOldServing(t *testing.T) {
	tests := []struct {
		name       string
		conf       string
		healthPath string
		wantErr    string
		wantTail   string
	}{
		{"never listens", "version=bad\nmode=nolisten", "", "not healthy within 1.5s", "warming up forever"},
		{"exits at once", "version=bad\nmode=exit", "", "exited before it was healthy (exit status 1", "fatal: cannot read config"},
		{"health answers 500", "version=bad\nmode=500", "/health", "GET /health → 500 Internal Server Error", "health check failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := appRoot(t, "version=v1", tt.conf)
			opts := testOptions(t, l)
			opts.StartTimeout = 1500 * time.Millisecond
			opts.HealthPath = tt.healthPath
			rc := startReceiver(t, opts)
			st := waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))
			oldPID := st.Serving.PID

			ld := startLoad(t, "http://"+rc.addr+"/", 4, 1)
			time.Sleep(200 * time.Millisecond)
			deploy(t, l, 2, "bad-"+strings.ReplaceAll(tt.name, " ", "-"))
			st = waitState(t, l, 15*time.Second, "the reload's result", reloadDone("bad-"+strings.ReplaceAll(tt.name, " ", "-")))
			time.Sleep(200 * time.Millisecond)
			res := ld.Finish(t)

			r := st.LastReload
			if r.OK || r.Release != 2 || !strings.Contains(r.Error, tt.wantErr) {
				t.Errorf("result ok=%v release=%d error=%q, want a failure for release 2 saying %q", r.OK, r.Release, r.Error, tt.wantErr)
			}
			if !strings.Contains(strings.Join(r.LogTail, "\n"), tt.wantTail) {
				t.Errorf("log tail %q does not hold %q", r.LogTail, tt.wantTail)
			}
			if st.Serving == nil || st.Serving.Release != 1 || st.Serving.PID != oldPID {
				t.Errorf("serving = %+v, want release 1 on pid %d still", st.Serving, oldPID)
			}
			if res.Failed != 0 || len(res.Versions) != 1 || res.Versions["v1"] == 0 {
				t.Errorf("during the attempt: %d of %d failed, versions %v; want all answered by v1 (errors %v)",
					res.Failed, res.Total, res.Versions, res.Errors)
			}
			if _, err := os.Stat(l.Reload()); !os.IsNotExist(err) {
				t.Errorf("RELOAD still there: %v", err)
			}
			entries := logEntries(t, l)
			if len(entries) != 1 || entries[0].Result != "failed" || !strings.Contains(entries[0].Error, tt.wantErr) {
				t.Errorf("log.jsonl = %+v", entries)
			}
			// No process of the bad release is left behind.
			out, _ := os.ReadFile(l.AppLog())
			for _, line := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(line, "slowapp bad starting: pid ") {
					pid, _ := strconv.Atoi(strings.TrimSuffix(strings.Fields(line)[4], ","))
					if !gone(pid) {
						t.Errorf("the bad release's process %d still runs", pid)
					}
				}
			}
		})
	}
}

// A request in flight during a switch completes on the old process.
func TestLongRequestFinishesOnOldProcess(t *testing.T) {
	l := appRoot(t, "version=v1\nhard_term=1", "version=v2")
	rc := startReceiver(t, testOptions(t, l))
	st := waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))
	oldPID := st.Serving.PID

	type answer struct {
		body, pid string
		err       error
	}
	got := make(chan answer, 1)
	go func() {
		// Long enough to outlast the new release's start on a busy
		// machine (it took 2s once): the request must be in flight at the
		// switch for the drain to count it.
		resp, err := http.Get("http://" + rc.addr + "/slow?d=5s")
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != 200 {
			err = errors.New(resp.Status)
		}
		got <- answer{body: strings.TrimSpace(string(b)), pid: resp.Header.Get("X-Pid"), err: err}
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if log, _ := os.ReadFile(l.AppLog()); strings.Contains(string(log), "slowapp v1: a slow request") {
			break // in flight on the old process
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow request never reached the app")
		}
	}
	deploy(t, l, 2, "during-long-request")
	st = waitState(t, l, 15*time.Second, "the reload's result", reloadDone("during-long-request"))
	a := <-got
	if a.err != nil || a.body != "v1" || a.pid != strconv.Itoa(oldPID) {
		t.Errorf("long request: %q from pid %s, err %v; want v1 from the old pid %d", a.body, a.pid, a.err, oldPID)
	}
	if r := st.LastReload; !r.OK || r.Drained != 1 {
		t.Errorf("result = %+v, want ok with 1 drained", r)
	}
	if !gone(oldPID) {
		t.Errorf("old process %d still exists after the drain", oldPID)
	}
}

// Three RELOAD writes during one switch make exactly one more switch, to the
// newest request.
func TestReloadsDuringASwitchCoalesce(t *testing.T) {
	l := appRoot(t, "version=v1", "version=v2\ndelay=800ms", "version=v3\ndelay=300ms")
	rc := startReceiver(t, testOptions(t, l))
	waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))

	deploy(t, l, 2, "a")
	waitAnswer(t, l, "a", release.AnswerStarting, 5*time.Second) // the switch to 2 is under way (800 ms start)
	swap(t, l, 3)
	for _, id := range []string{"b", "c", "d"} {
		if err := release.WriteReload(lfs, l, release.ReloadRequest{ID: id, Release: 3}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st, _ := release.ReadState(lfs, l); st.LastReload != nil {
		t.Fatalf("the first switch ended before the writes (result %+v): the test proves nothing", st.LastReload)
	}
	waitState(t, l, 15*time.Second, "the coalesced reload", reloadDone("d"))
	time.Sleep(1500 * time.Millisecond) // more than two polls: no late extra switch

	var ids []string
	for _, e := range logEntries(t, l) {
		ids = append(ids, e.ID)
	}
	if strings.Join(ids, ",") != "a,d" {
		t.Errorf("reloads recorded: %v, want [a d]", ids)
	}
	if body, _ := get(t, "http://"+rc.addr+"/"); body != "v3" {
		t.Errorf("serving %q, want v3", body)
	}
	// Each switch started exactly one process: v1, v2, v3.
	data, _ := os.ReadFile(l.AppLog())
	if n := strings.Count(string(data), "starting: pid"); n != 3 {
		t.Errorf("%d app starts, want 3:\n%s", n, data)
	}
}

// SIGHUP reloads what current points to, with no RELOAD file.
func TestSighupReloads(t *testing.T) {
	l := appRoot(t, "version=v1", "version=v2")
	opts := testOptions(t, l)
	hup := make(chan os.Signal, 1)
	opts.Hup = hup
	rc := startReceiver(t, opts)
	waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))
	swap(t, l, 2)
	hup <- nil
	st := waitState(t, l, 10*time.Second, "the reload's result", func(s *release.State) bool { return s.LastReload != nil })
	if r := st.LastReload; !r.OK || r.ID != "" || st.Serving.Release != 2 {
		t.Errorf("result %+v, want ok with no id", r)
	}
	if body, _ := get(t, "http://"+rc.addr+"/"); body != "v2" {
		t.Errorf("serving %q, want v2", body)
	}
}

// A request that names another release than current gets current, and the
// result says so.
func TestRequestAndCurrentDisagree(t *testing.T) {
	l := appRoot(t, "version=v1", "version=v2", "version=v3")
	startReceiver(t, testOptions(t, l))
	waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))
	swap(t, l, 3)
	if err := release.WriteReload(lfs, l, release.ReloadRequest{ID: "x", Release: 2}); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, l, 10*time.Second, "the result", reloadDone("x"))
	if r := st.LastReload; !r.OK || r.Release != 3 || !strings.Contains(r.Error, "named release 2 but current is release 3") {
		t.Errorf("result %+v", r)
	}
}

// A touch-made (empty) RELOAD works, and a newer request written while the
// first is handled survives the removal of the first.
func TestTouchReloadAndNewerRequestSurvives(t *testing.T) {
	l := appRoot(t, "version=v1", "version=v2\ndelay=500ms", "version=v3")
	startReceiver(t, testOptions(t, l))
	waitState(t, l, 10*time.Second, "release 1 serving", servingRelease(1))
	swap(t, l, 2)
	if err := os.WriteFile(l.Reload(), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		swap(t, l, 3)
		if err := release.WriteReload(lfs, l, release.ReloadRequest{ID: "newer", Release: 3}); err != nil {
			t.Error(err)
		}
	}()
	wg.Wait()
	st := waitState(t, l, 10*time.Second, "the newer request", reloadDone("newer"))
	if st.Serving.Release != 3 {
		t.Errorf("serving %+v, want release 3", st.Serving)
	}
	var ids []string
	for _, e := range logEntries(t, l) {
		ids = append(ids, e.ID+"→"+strconv.Itoa(e.Release))
	}
	if strings.Join(ids, ",") != "→2,newer→3" {
		t.Errorf("reloads %v, want the touch (release 2) then newer (release 3)", ids)
	}
}
