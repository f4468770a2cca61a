package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// loadEnv names the proxy URL when the test binary runs as the load
// generator child (see runLoad).
const loadEnv = "SHIP_PROXY_TEST_LOAD_URL"

func TestMain(m *testing.M) {
	if url := os.Getenv(loadEnv); url != "" {
		os.Exit(runLoad(url, os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// loadReport is what the load generator child prints when it is done.
type loadReport struct {
	Requests  int            `json:"requests"`
	Failures  int            `json:"failures"`
	Errors    []string       `json:"errors"` // the first few failures
	ByBackend map[string]int `json:"by_backend"`
}

// runLoad hammers url until in closes, with keep-alive clients and clients
// that open a new connection for every request, GETs and POSTs with bodies,
// and prints a loadReport. Every answer must be 200 from some backend.
func runLoad(url string, in io.Reader, out io.Writer) int {
	stop := make(chan struct{})
	go func() {
		io.Copy(io.Discard, in)
		close(stop)
	}()
	var mu sync.Mutex
	rep := loadReport{ByBackend: map[string]int{}}
	record := func(backend string, err error) {
		mu.Lock()
		defer mu.Unlock()
		rep.Requests++
		if err != nil {
			rep.Failures++
			if len(rep.Errors) < 10 {
				rep.Errors = append(rep.Errors, err.Error())
			}
			return
		}
		rep.ByBackend[backend]++
	}
	var wg sync.WaitGroup
	for i := range 8 {
		tr := &http.Transport{MaxIdleConnsPerHost: 4, DisableKeepAlives: i%2 == 1}
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		wg.Go(func() {
			defer tr.CloseIdleConnections()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				record(loadOne(client, url, n))
			}
		})
	}
	wg.Wait()
	if err := json.NewEncoder(out).Encode(rep); err != nil {
		return 1
	}
	return 0
}

func loadOne(client *http.Client, url string, n int) (string, error) {
	var req *http.Request
	var body string
	if n%3 == 0 {
		body = strings.Repeat("b", 1+rand.N(16<<10))
		req, _ = http.NewRequest("POST", url+"/post", strings.NewReader(body))
	} else {
		req, _ = http.NewRequest("GET", url+"/get", nil)
	}
	res, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return "", fmt.Errorf("%s %s: read body: %w", req.Method, req.URL.Path, err)
	}
	if res.StatusCode != 200 {
		return "", fmt.Errorf("%s %s: %d %q", req.Method, req.URL.Path, res.StatusCode, b)
	}
	backend, got, _ := strings.Cut(string(b), " ")
	if want := fmt.Sprint(len(body)); got != want {
		return "", fmt.Errorf("%s: backend %s read %s body bytes, want %s", req.Method, backend, got, want)
	}
	return backend, nil
}

// idApp answers "<id> <bytes of body read>", some requests slowly, so that
// every switch finds requests in flight.
func idApp(id string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		if rand.N(10) == 0 {
			time.Sleep(time.Duration(rand.N(20)) * time.Millisecond)
		}
		fmt.Fprintf(w, "%s %d", id, n)
	})
}

func TestSwitchUnderLoad(t *testing.T) { eachFront(t, testSwitchUnderLoad) }

func testSwitchUnderLoad(t *testing.T, front string) {
	const switches = 20
	if testing.Short() {
		t.Skip("load test: skipped with -short")
	}
	p := newTestProxy(t, Options{})
	cur := startApp(t, idApp("app0"))
	p.Switch(cur.b)
	url := startProxy(t, p, front)

	// The load comes from another process, through real sockets.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), loadEnv+"="+url)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	waitFor(t, func() bool { return p.Stats().Requests > 200 })

	drainedTotal := 0
	for i := 1; i <= switches; i++ {
		id := fmt.Sprintf("app%d", i)
		next := startApp(t, idApp(id))
		old := p.Switch(next.b)
		if old != cur.b {
			t.Fatalf("switch %d: Switch returned %v, want the previous backend", i, old)
		}
		// A request that starts after Switch must reach the new backend.
		if code, body := get(t, url+"/after"); code != 200 || !strings.HasPrefix(body, id+" ") {
			t.Fatalf("switch %d: request after Switch got %d %q, want %s", i, code, body, id)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		n, err := old.Drain(ctx)
		cancel()
		if err != nil {
			t.Fatalf("switch %d: Drain: %v (still %d in flight)", i, err, old.InFlight())
		}
		drainedTotal += n
		cur.kill() // the old process exits
		cur = next
		time.Sleep(time.Duration(20+rand.N(60)) * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("load generator: %v\n%s", err, stderr.String())
	}
	var rep loadReport
	if err := json.Unmarshal([]byte(stdout.String()), &rep); err != nil {
		t.Fatalf("load report %q: %v", stdout.String(), err)
	}
	t.Logf("%d requests over %d switches, %d drained in flight, by backend %v, proxy %+v",
		rep.Requests, switches, drainedTotal, rep.ByBackend, p.Stats())
	if rep.Failures != 0 {
		t.Fatalf("%d of %d requests failed across the switches: %q", rep.Failures, rep.Requests, rep.Errors)
	}
	if rep.Requests < 500 {
		t.Errorf("only %d requests: the load did not hold", rep.Requests)
	}
	if got := len(rep.ByBackend); got < switches/2 {
		t.Errorf("load reached %d backends of %d", got, switches+1)
	}
	if drainedTotal == 0 {
		t.Errorf("no switch found a request in flight: the drain was not exercised")
	}
	if s := p.Stats(); s.UpstreamErrors != 0 {
		t.Errorf("Stats = %+v, want no upstream error", s)
	}
}

// TestLoadGeneratorFails checks that the load generator would see failures:
// with the backend gone and no retries possible, it must count them.
func TestLoadGeneratorFails(t *testing.T) {
	p := newTestProxy(t, Options{WaitTimeout: 50 * time.Millisecond})
	url := startProxy(t, p, "native") // no backend: every request 503
	r, w := io.Pipe()
	var out strings.Builder
	done := make(chan int)
	go func() { done <- runLoad(url, r, &out) }()
	time.Sleep(300 * time.Millisecond)
	w.Close()
	<-done
	var rep loadReport
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Failures == 0 || rep.Failures != rep.Requests {
		t.Fatalf("load generator reported %d failures of %d requests against a proxy with no backend",
			rep.Failures, rep.Requests)
	}
}
