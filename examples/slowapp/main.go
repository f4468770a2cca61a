// Command slowapp is a stand-in for a Bun app in the receiver's tests and
// benchmark: it listens on $PORT after a delay and answers with a version,
// and it can be told to misbehave the ways a real release does.
//
// Settings come from slowapp.conf in the working folder (the release folder;
// KEY=VALUE lines), else from SLOWAPP_KEY in the environment:
//
//	version      what / answers (default "dev")
//	delay        wait before listening, e.g. 1s
//	mode         ok | exit (exit 1 at once) | nolisten | 500 (health answers 500)
//	             | crash (exit 1 after crash_after)
//	crash_after  how long a crash-mode instance serves, e.g. 300ms
//	ignore_term  1: ignore SIGTERM (to be killed after the grace)
//	hard_term    1: exit at once on SIGTERM, cutting requests in flight
//	             (what a Bun app without a signal handler does)
//
// Paths: / (version), /health, /slow?d=2s (answers after d), /pid,
// /spawn-orphans?n=5 (makes n short-lived orphans, for PID 1 reaping).
package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	conf := readConf("slowapp.conf")
	get := func(k string) string {
		if v, ok := conf[k]; ok {
			return v
		}
		return os.Getenv("SLOWAPP_" + strings.ToUpper(k))
	}
	version := get("version")
	if version == "" {
		version = "dev"
	}
	mode := get("mode")
	port := os.Getenv("PORT")
	fmt.Printf("slowapp %s starting: pid %d, port %s, mode %q\n", version, os.Getpid(), port, mode)

	term := make(chan os.Signal, 1)
	if get("ignore_term") == "1" {
		signal.Ignore(syscall.SIGTERM)
		signal.Notify(term, syscall.SIGINT)
	} else {
		signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	}

	if d, err := time.ParseDuration(get("delay")); err == nil {
		// Warming up, but a stop is a stop (as a Bun app dies on SIGTERM).
		select {
		case <-time.After(d):
		case <-term:
			fmt.Println("slowapp: stopped while starting")
			os.Exit(0)
		}
	}
	switch mode {
	case "exit":
		fmt.Fprintln(os.Stderr, "slowapp: fatal: cannot read config (mode exit)")
		os.Exit(1)
	case "nolisten":
		fmt.Println("slowapp: warming up forever (mode nolisten)")
		<-term
		os.Exit(0)
	}

	l, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "slowapp:", err)
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pid", strconv.Itoa(os.Getpid()))
		fmt.Fprintln(w, version)
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if mode == "500" {
			fmt.Println("slowapp: health check failed: database unreachable (mode 500)")
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		fmt.Printf("slowapp %s: a slow request (%s)\n", version, d) // tests wait for it
		time.Sleep(d)
		w.Header().Set("X-Pid", strconv.Itoa(os.Getpid()))
		fmt.Fprintln(w, version)
	})
	mux.HandleFunc("/pid", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, os.Getpid())
	})
	mux.HandleFunc("/spawn-orphans", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		// Each ( … & ) subshell exits at once: its sleep is orphaned and
		// reparented to the nearest reaper.
		script := strings.Repeat("(sleep 0.1 &); ", n)
		if err := exec.Command("/bin/sh", "-c", script).Run(); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintln(w, "spawned", n)
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	fmt.Printf("slowapp %s listening on %s\n", version, l.Addr())

	var crash <-chan time.Time
	if mode == "crash" {
		d, _ := time.ParseDuration(get("crash_after"))
		crash = time.After(d)
	}
	select {
	case <-crash:
		fmt.Fprintln(os.Stderr, "slowapp: panic: something broke (mode crash)")
		os.Exit(1)
	case sig := <-term:
		if get("hard_term") == "1" {
			fmt.Printf("slowapp %s: %s, exiting at once\n", version, sig)
			os.Exit(0)
		}
		fmt.Printf("slowapp %s: %s, shutting down\n", version, sig)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		fmt.Printf("slowapp %s: stopped\n", version)
	}
}

func readConf(name string) map[string]string {
	conf := map[string]string{}
	f, err := os.Open(name)
	if err != nil {
		return conf
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(s.Text()), "="); ok && !strings.HasPrefix(k, "#") {
			conf[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return conf
}
