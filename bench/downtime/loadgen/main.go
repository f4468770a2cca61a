// Command loadgen sends GET requests to one URL from several clients until
// it is stopped, then reports how many failed and the longest time without a
// successful answer. The receiver's tests and bench/downtime/run.sh use it
// as load from another process.
//
//	loadgen -url http://127.0.0.1:3000/ -keepalive 8 -fresh 1 [-every 2ms] [-duration 30s] [-json]
//
// It stops after -duration, on SIGINT/SIGTERM, or (with -stdin) when its
// standard input closes. A request fails when it gets no answer, or an
// answer other than 200 with a body. After a failure a client pauses for
// -pause (10ms) so that a refused port does not turn into a busy loop.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Result is what loadgen reports.
type Result struct {
	Total     int64            `json:"total"`
	Failed    int64            `json:"failed"`
	MaxGapMS  float64          `json:"max_gap_ms"` // longest time between two successful answers
	MaxGapEnd time.Time        `json:"max_gap_end"`
	Gaps      []string         `json:"gaps,omitempty"` // with -gaps
	Seconds   float64          `json:"seconds"`
	Versions  map[string]int64 `json:"versions"` // answer body → count
	Errors    []string         `json:"errors,omitempty"`
	LastByCli []string         `json:"last_by_client"` // each client's last successful body
}

type stats struct {
	total, failed atomic.Int64
	lastOK        atomic.Int64 // unix nanos of the latest success
	maxGap        atomic.Int64
	maxGapEnd     atomic.Int64 // unix nanos when the longest gap ended

	gapReport int64 // report gaps longer than this (nanos); 0: none

	mu       sync.Mutex
	versions map[string]int64
	errors   []string
	gaps     []string
}

func (s *stats) ok(body string) {
	now := time.Now().UnixNano()
	if prev := s.lastOK.Swap(now); prev != 0 {
		if gap := now - prev; s.gapReport > 0 && gap > s.gapReport {
			s.mu.Lock()
			s.gaps = append(s.gaps, fmt.Sprintf("%s → %s  %d ms",
				time.Unix(0, prev).Format("15:04:05.000"), time.Unix(0, now).Format("15:04:05.000"), gap/1e6))
			s.mu.Unlock()
		}
		for gap := now - prev; ; {
			m := s.maxGap.Load()
			if gap <= m {
				break
			}
			if s.maxGap.CompareAndSwap(m, gap) {
				s.maxGapEnd.Store(now)
				break
			}
		}
	}
	s.mu.Lock()
	s.versions[body]++
	s.mu.Unlock()
}

func (s *stats) fail(err string) {
	s.failed.Add(1)
	s.mu.Lock()
	if len(s.errors) < 10 {
		s.errors = append(s.errors, time.Now().Format("15:04:05.000")+" "+err)
	}
	s.mu.Unlock()
}

func main() {
	url := flag.String("url", "http://127.0.0.1:3000/", "what to GET")
	keepalive := flag.Int("keepalive", 8, "clients that reuse one connection each")
	fresh := flag.Int("fresh", 1, "clients that open a new connection per request")
	duration := flag.Duration("duration", 0, "stop after this long (0: on a signal or -stdin EOF)")
	stdin := flag.Bool("stdin", false, "stop when standard input closes")
	asJSON := flag.Bool("json", false, "print the result as JSON")
	timeout := flag.Duration("timeout", 10*time.Second, "per request")
	pause := flag.Duration("pause", 10*time.Millisecond, "a client's pause after a failed request")
	label := flag.String("label", "", "print one summary row with this label first")
	gaps := flag.Duration("gaps", 0, "list every gap without a successful answer longer than this")
	every := flag.Duration("every", 0, "a client's pause between requests (0: as fast as answers come)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if *stdin {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	}

	s := &stats{versions: map[string]int64{}, gapReport: int64(*gaps)}
	n := *keepalive + *fresh
	last := make([]string, n)
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range n {
		tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableKeepAlives: i >= *keepalive, Proxy: nil}
		client := &http.Client{Transport: tr, Timeout: *timeout}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer tr.CloseIdleConnections()
			for ctx.Err() == nil {
				body, err := get(ctx, client, *url)
				if ctx.Err() != nil {
					return // cut by the stop: not a failure of the server
				}
				s.total.Add(1)
				if err != nil {
					s.fail(err.Error())
					sleep(ctx, *pause)
					continue
				}
				s.ok(body)
				last[i] = body
				sleep(ctx, *every)
			}
		}()
	}
	<-ctx.Done()
	wg.Wait()

	res := Result{
		Total: s.total.Load(), Failed: s.failed.Load(),
		MaxGapMS: float64(s.maxGap.Load()) / 1e6, MaxGapEnd: time.Unix(0, s.maxGapEnd.Load()),
		Seconds:  time.Since(begin).Seconds(),
		Versions: s.versions, Errors: s.errors, LastByCli: last, Gaps: s.gaps,
	}
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	if *label != "" {
		fmt.Printf("%-8s %10d %10d %12.0f %8.1f %10.0f\n", *label, res.Total, res.Failed, res.MaxGapMS, res.Seconds, float64(res.Total)/res.Seconds)
	} else {
		fmt.Printf("requests %d  failed %d  longest gap %.0f ms  (%.1f s, %.0f req/s)\n",
			res.Total, res.Failed, res.MaxGapMS, res.Seconds, float64(res.Total)/res.Seconds)
	}
	keys := make([]string, 0, len(res.Versions))
	for k := range res.Versions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("  %-12s %d\n", k, res.Versions[k])
	}
	fmt.Printf("  longest gap ended at %s\n", res.MaxGapEnd.Format("15:04:05.000"))
	if len(res.Gaps) > 0 {
		fmt.Printf("  %d gaps over %s:\n", len(res.Gaps), *gaps)
		for _, g := range res.Gaps {
			fmt.Println("    " + g)
		}
	}
	for _, e := range res.Errors {
		fmt.Println("  error:", e)
	}
}

func get(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("read body: %w", err)
	}
	text := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK || text == "" {
		return "", fmt.Errorf("%s: %q", resp.Status, truncate(text, 80))
	}
	return text, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
