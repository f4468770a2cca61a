// Command flood measures the receiver's memory while a thousand
// connections abuse its webhook without the secret (issue 10, item 1):
//
//   - heads that announce a 20 MB body and send none;
//   - bodies that announce 1 MiB and trickle a byte every 200 ms;
//   - bodies sent at full speed to 1 byte short of 1 MiB, never finished.
//
// Each -receiver NAME=PATH is the real receiver binary, started in turn
// with WEBHOOK_SECRET set and the webhook on its public port, in front of
// examples/slowapp, a fresh one for each attack. It prints the receiver's RSS (peak while
// the connections are open, and after they closed), how the connections
// were answered, and whether a signed delivery and the app were still
// answered meanwhile. A receiver whose RSS passes -limit has no more
// connections opened against it (the old one allocated what a head
// announced). bench/webhook/run.sh runs it; by hand:
//
//	go build -o /tmp/receiver ./cmd/receiver && go build -o /tmp/slowapp ./examples/slowapp
//	go run ./bench/webhook/flood -app /tmp/slowapp -receiver now=/tmp/receiver [-conns 1000]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shipdeploy/ship/internal/webhook"
)

const secret = "bench-secret"

type receivers []string

func (r *receivers) String() string     { return strings.Join(*r, ",") }
func (r *receivers) Set(v string) error { *r = append(*r, v); return nil }

func main() {
	var rcvs receivers
	flag.Var(&rcvs, "receiver", "NAME=PATH of a receiver binary (repeat to compare)")
	app := flag.String("app", "", "the app the receiver starts (examples/slowapp, built)")
	conns := flag.Int("conns", 1000, "connections per attack")
	hold := flag.Duration("hold", 4*time.Second, "how long the connections stay open once made")
	limit := flag.Int64("limit", 256<<20, "stop opening connections against a receiver whose RSS passes this many bytes")
	flag.Parse()
	if *app == "" || len(rcvs) == 0 {
		fmt.Fprintln(os.Stderr, "flood: give -app and at least one -receiver NAME=PATH")
		os.Exit(2)
	}
	fmt.Printf("webhook flood: %d connections per attack, held %s, no secret; RSS of the receiver process\n", *conns, *hold)
	fmt.Printf("%-8s %-40s %9s %9s %9s  %-28s %s\n", "receiver", "attack", "RSS idle", "RSS peak", "RSS after", "answers to the attackers", "meanwhile")
	for _, r := range rcvs {
		name, path, ok := strings.Cut(r, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "flood: -receiver %q: want NAME=PATH\n", r)
			os.Exit(2)
		}
		for _, a := range attacks { // a fresh receiver for each
			if err := runReceiver(name, path, *app, a, *conns, *hold, *limit); err != nil {
				fmt.Fprintf(os.Stderr, "flood: %s: %v\n", name, err)
				os.Exit(1)
			}
		}
	}
}

// attack is what each connection sends after the head's first line.
type attack struct {
	name string
	run  func(c net.Conn) // sends; returns when done sending
}

var attacks = []attack{
	{"20 MB announced, nothing sent", func(c net.Conn) {
		io.WriteString(c, head("Content-Length: 20000000"))
	}},
	{"1 MiB announced, a byte every 200 ms", func(c net.Conn) {
		io.WriteString(c, head("Content-Length: 1048576"))
		for range 100 {
			if _, err := c.Write([]byte{'x'}); err != nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}},
	{"1 MiB - 1 byte sent at once, never ended", func(c net.Conn) {
		io.WriteString(c, head("Content-Length: 1048576"))
		c.Write(make([]byte, 1<<20-1))
	}},
}

// head is a webhook request head with a well-formed, wrong signature.
func head(framing string) string {
	return "POST /deploy HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\n" +
		"X-GitHub-Delivery: flood\r\nX-Hub-Signature-256: sha256=" + strings.Repeat("0", 64) + "\r\n" + framing + "\r\n\r\n"
}

func runReceiver(name, bin, app string, a attack, conns int, hold time.Duration, limit int64) error {
	root, err := os.MkdirTemp("", "flood-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	rel := filepath.Join(root, "releases", "1")
	if err := os.MkdirAll(filepath.Join(rel, ".ship"), 0o755); err != nil {
		return err
	}
	os.WriteFile(filepath.Join(rel, ".ship", "release.json"), []byte(`{"number":1}`), 0o644)
	os.WriteFile(filepath.Join(rel, "slowapp.conf"), []byte("version=flood\n"), 0o644)
	if err := os.Symlink("releases/1", filepath.Join(root, "current")); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--root", root, "--listen", addr, "--start", "exec "+app)
	cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+secret, "BRANCH=main")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	if err := waitUp("http://" + addr + "/"); err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond)
	res := flood(cmd.Process.Pid, addr, a, conns, hold, limit)
	fmt.Printf("%-8s %-40s %9s %9s %9s  %-28s %s\n", name, a.name, mib(res.idle), mib(res.peak), mib(res.after),
		res.answers, res.meanwhile)
	return nil
}

type result struct {
	idle, peak, after  int64
	answers, meanwhile string
}

// flood opens conns connections running a, keeps them for hold, probes the
// receiver meanwhile, and measures its RSS.
func flood(pid int, addr string, a attack, conns int, hold time.Duration, limit int64) result {
	res := result{idle: rss(pid)}
	var peak atomic.Int64
	peak.Store(res.idle)
	stop := make(chan struct{})
	watchDone := make(chan struct{})
	go func() { // RSS every 20 ms
		defer close(watchDone)
		for {
			if v := rss(pid); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	var mu sync.Mutex
	codes := map[string]int{}
	var open []net.Conn
	var wg sync.WaitGroup
	opened := 0
	for ; opened < conns && peak.Load() < limit; opened++ {
		if opened%5 == 0 {
			// In steps, so that a receiver that allocates per head is
			// stopped near the limit, not a thousand heads past it.
			time.Sleep(20 * time.Millisecond)
			if v := rss(pid); v > peak.Load() {
				peak.Store(v)
			}
			if peak.Load() >= limit {
				break
			}
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			mu.Lock()
			codes["dial error"]++
			mu.Unlock()
			continue
		}
		open = append(open, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetDeadline(time.Now().Add(hold + 30*time.Second))
			go a.run(c)
			what := "no answer"
			if r, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
				what = strconv.Itoa(r.StatusCode)
			}
			mu.Lock()
			codes[what]++
			mu.Unlock()
		}()
	}
	time.Sleep(time.Second)
	res.meanwhile = probe(addr)
	time.Sleep(hold - time.Second)
	for _, c := range open {
		c.Close()
	}
	wg.Wait()
	time.Sleep(2 * time.Second)
	res.after = rss(pid)
	close(stop)
	<-watchDone
	res.peak = peak.Load()
	if opened < conns {
		codes[fmt.Sprintf("RSS over the limit: %d opened", opened)] = 0
	}
	res.answers = summary(codes)
	return res
}

// probe sends a signed ping and a GET to the app, and says how they went.
func probe(addr string) string {
	client := &http.Client{Timeout: 10 * time.Second}
	body := []byte(`{"zen":"Design for failure.","hook_id":1}`)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/deploy", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderEvent, "ping")
	req.Header.Set(webhook.HeaderDelivery, "flood-probe")
	req.Header.Set(webhook.HeaderSignature256, webhook.Sign([]byte(secret), body))
	start := time.Now()
	ping := "signed ping: "
	if res, err := client.Do(req); err != nil {
		ping += "failed"
	} else {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		ping += fmt.Sprintf("%d in %.0f ms", res.StatusCode, float64(time.Since(start).Microseconds())/1000)
	}
	start = time.Now()
	app := "app: "
	if res, err := client.Get("http://" + addr + "/"); err != nil {
		app += "failed"
	} else {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		app += fmt.Sprintf("%d in %.0f ms", res.StatusCode, float64(time.Since(start).Microseconds())/1000)
	}
	return ping + ", " + app
}

func summary(codes map[string]int) string {
	var keys []string
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		if codes[k] == 0 {
			parts = append(parts, k)
		} else {
			parts = append(parts, fmt.Sprintf("%d×%s", codes[k], k))
		}
	}
	return strings.Join(parts, " ")
}

// rss returns the process's resident set in bytes.
func rss(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func waitUp(url string) error {
	for range 100 {
		if res, err := http.Get(url); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not come up", url)
}
