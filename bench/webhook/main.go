// Command webhookbench measures the receiver's webhook endpoint on loopback:
//
//  1. throughput: signed ~7 KB push deliveries to another branch (verified,
//     answered and written to the audit trail, no deploy) from -c clients
//     with keep-alive, for -d;
//  2. latency while a deploy builds: a push to main starts the receiver's
//     real pull deploy of examples/hello (git fetch, bun install, bun run
//     build, switch), again and again (or a busy process per CPU at full
//     priority with -build cpu, or when bun is missing), and -rate
//     deliveries per second are answered meanwhile; goal: p99 < 50 ms.
//
// Run it from the repository with bench/webhook/run.sh, or:
//
//	go run ./bench/webhook [-c 8] [-d 5s] [-rate 200] [-build bun|cpu]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shipdeploy/ship/internal/pull"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/webhook"
)

const secret = "bench-secret"

func main() {
	clients := flag.Int("c", 8, "concurrent clients for the throughput phase")
	dur := flag.Duration("d", 5*time.Second, "length of each phase")
	rate := flag.Int("rate", 200, "deliveries per second while the deploy builds")
	build := flag.String("build", "bun", "what the deploy does: bun (real pull deploys in a loop) or cpu (busy loops)")
	payload := flag.String("payload", "internal/webhook/testdata/push.json", "a push payload (its ref is set to another branch)")
	flag.Parse()
	if err := run(*clients, *dur, *rate, *build, *payload); err != nil {
		fmt.Fprintln(os.Stderr, "webhookbench:", err)
		os.Exit(1)
	}
}

func run(clients int, dur time.Duration, rate int, build, payloadFile string) error {
	raw, err := os.ReadFile(payloadFile)
	if err != nil {
		return fmt.Errorf("%w (run from the repository's top folder)", err)
	}
	// Each push GitHub sends differs (after, timestamps): a pool of
	// distinct pushes, signed ahead of time (the client's work is not what
	// is measured).
	pool, err := pushPool(raw, "refs/heads/feature/bench", 2500)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "webhookbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	l := release.Layout{Root: filepath.Join(tmp, "app")}
	if err := os.MkdirAll(l.ShipDir(), 0o755); err != nil {
		return err
	}

	// The deploy: runs until the phase ends, counting builds. With bun it
	// is the receiver's real pull deploy (git fetch, bun install, bun run
	// build, switch) of examples/hello, again and again.
	var builds atomic.Int64
	stopBuild := make(chan struct{})
	var buildErr error
	buildName := build
	var d *pull.Deployer
	commit := ""
	if build == "bun" {
		repo, c, err := prepareRepo(tmp)
		if err != nil {
			fmt.Printf("(no bun deploy: %v; burning CPU instead)\n", err)
			buildName = "cpu"
		}
		d = &pull.Deployer{Root: filepath.Join(tmp, "deploys"), Repo: repo}
		commit = c
	}
	q := webhook.NewQueue(func(ctx context.Context, r webhook.Request) (int, error) {
		for {
			select {
			case <-stopBuild:
				return 1, nil
			case <-ctx.Done():
				return 0, ctx.Err()
			default:
			}
			if buildName == "bun" {
				if _, err := d.Deploy(ctx, commit, r.Ref, r.By()); err != nil {
					buildErr = err
					return 0, err
				}
			} else if err := burn(ctx, runtime.NumCPU(), 200*time.Millisecond); err != nil {
				buildErr = err
				return 0, err
			}
			builds.Add(1)
		}
	}, nil)
	h := webhook.New(webhook.Config{
		Secret: secret, Branch: "main", Repository: "acme/shop", Queue: q,
		Logger: slog.New(slog.DiscardHandler),
		Log:    func(e release.LogEntry) { _ = release.AppendLog(release.LocalFS{}, l, e) },
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.Run(ctx)
	url := "http://" + ln.Addr().String() + "/deploy"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients + 4}}
	var seq atomic.Int64
	send := func(p signedPush) (time.Duration, int, error) {
		n := seq.Add(1)
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(p.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(webhook.HeaderEvent, "push")
		req.Header.Set(webhook.HeaderDelivery, fmt.Sprintf("bench-%d", n))
		req.Header.Set(webhook.HeaderSignature256, p.sig)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start), resp.StatusCode, nil
	}

	var pick atomic.Int64
	next := func() signedPush { return pool[int(pick.Add(1))%len(pool)] }
	fmt.Printf("webhook endpoint on loopback: %d-byte signed pushes to another branch (verify, answer, audit line; no deploy)\n", len(pool[0].body))
	fmt.Printf("GOMAXPROCS %d, %d CPUs\n\n", runtime.GOMAXPROCS(0), runtime.NumCPU())

	// Phase 1: throughput.
	lat, failed := closedLoop(clients, dur, func() (time.Duration, int, error) { return send(next()) })
	fmt.Printf("throughput, %d clients, %s: %.0f deliveries/s verified and answered (%d failed)\n",
		clients, dur, float64(len(lat))/dur.Seconds(), failed)
	fmt.Printf("  latency under saturation: %s\n\n", summary(lat))

	// Phase 2: latency while a deploy builds.
	mainPush, err := pushPool(raw, "refs/heads/main", 1)
	if err != nil {
		return err
	}
	if _, code, err := send(mainPush[0]); err != nil || code != http.StatusAccepted {
		return fmt.Errorf("the push to main was not queued: %d %v", code, err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	err = q.WaitRunning(wctx)
	wcancel()
	if err != nil {
		return fmt.Errorf("the deploy did not start: %w", err)
	}
	time.Sleep(300 * time.Millisecond) // let the first build get going
	lat, failed = paced(rate, dur, func() (time.Duration, int, error) { return send(next()) })
	close(stopBuild)
	wctx, wcancel = context.WithTimeout(ctx, 60*time.Second)
	_ = q.WaitIdle(wctx)
	wcancel()
	if buildErr != nil {
		return buildErr
	}
	what := "pull deploys of examples/hello in a loop: git fetch, bun install, bun run build, switch"
	if buildName == "cpu" {
		what = fmt.Sprintf("%d busy processes at full priority", runtime.NumCPU())
	}
	fmt.Printf("while a deploy builds (%s; %d builds), %d deliveries/s for %s (%d failed):\n", what, builds.Load(), rate, dur, failed)
	p99 := percentile(lat, 0.99)
	verdict := "ok"
	if p99 > 50*time.Millisecond || len(lat) == 0 || failed > 0 {
		verdict = "MISSED"
	}
	fmt.Printf("  %s\n  goal p99 < 50 ms: %s (p99 %s)\n", summary(lat), verdict, ms(p99))
	return nil
}

type signedPush struct {
	body []byte
	sig  string
}

// pushPool makes n distinct pushes to ref from a payload: each has its own
// after (and head_commit id).
func pushPool(raw []byte, ref string, n int) ([]signedPush, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	m["ref"] = ref
	if repo, ok := m["repository"].(map[string]any); ok {
		repo["pushed_at"] = time.Now().Unix() // older than a week is refused
	}
	head, _ := m["head_commit"].(map[string]any)
	out := make([]signedPush, n)
	for i := range out {
		id := fmt.Sprintf("%040x", 0xbe0c4000+i)
		m["after"] = id
		if head != nil {
			head["id"] = id
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		out[i] = signedPush{body: b, sig: webhook.Sign([]byte(secret), b)}
	}
	return out, nil
}

// closedLoop runs n clients back to back for d.
func closedLoop(n int, d time.Duration, do func() (time.Duration, int, error)) ([]time.Duration, int) {
	var mu sync.Mutex
	var all []time.Duration
	var failed int
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for time.Now().Before(deadline) {
				lat, code, err := do()
				if err != nil || code != http.StatusAccepted {
					bad++
					continue
				}
				mine = append(mine, lat)
			}
			mu.Lock()
			all = append(all, mine...)
			failed += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, failed
}

// paced sends rate requests per second for d, each from its own goroutine
// so a slow answer does not delay the next request (open loop).
func paced(rate int, d time.Duration, do func() (time.Duration, int, error)) ([]time.Duration, int) {
	var mu sync.Mutex
	var all []time.Duration
	var failed int
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	n := int(d / interval)
	for i := 0; i < n; i++ {
		// An absolute schedule: a late wake-up sends the missed requests
		// at once instead of dropping them.
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, code, err := do()
			mu.Lock()
			defer mu.Unlock()
			if err != nil || code != http.StatusAccepted {
				failed++
				return
			}
			all = append(all, lat)
		}()
	}
	wg.Wait()
	return all, failed
}

// prepareRepo makes a git repository of examples/hello, as GIT_REPO.
func prepareRepo(tmp string) (repo, commit string, err error) {
	if _, err := exec.LookPath("bun"); err != nil {
		return "", "", err
	}
	repo = filepath.Join(tmp, "hello")
	if out, err := exec.Command("cp", "-r", "examples/hello", repo).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("copy examples/hello: %v %s", err, out)
	}
	_ = os.RemoveAll(filepath.Join(repo, "dist"))
	_ = os.RemoveAll(filepath.Join(repo, "node_modules"))
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@ship.invalid",
			"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@ship.invalid")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("git %s: %v %s", args[0], err, out)
		}
		return strings.TrimSpace(string(out)), nil
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "bench"}} {
		if _, err := git(args...); err != nil {
			return "", "", err
		}
	}
	commit, err = git("rev-parse", "HEAD")
	return repo, commit, err
}

// burn keeps n processes (shell busy loops, at full priority, like a build
// that was not niced) on the CPUs for d.
func burn(ctx context.Context, n int, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var cmds []*exec.Cmd
	for i := 0; i < n; i++ {
		cmd := exec.CommandContext(ctx, "sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			return err
		}
		cmds = append(cmds, cmd)
	}
	for _, c := range cmds {
		_ = c.Wait()
	}
	return nil
}

func percentile(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}

func summary(lat []time.Duration) string {
	if len(lat) == 0 {
		return "no answers"
	}
	return fmt.Sprintf("%d answers  p50 %s  p90 %s  p99 %s  max %s", len(lat),
		ms(percentile(lat, 0.5)), ms(percentile(lat, 0.9)), ms(percentile(lat, 0.99)), ms(percentile(lat, 1)))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
