// Command proxyd serves internal/proxy on one address in front of one
// backend, the way the receiver does, for bench/proxy/run.sh.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/shipdeploy/ship/internal/proxy"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:3000", "public address")
	backend := flag.String("backend", "127.0.0.1:8080", "app address")
	front := flag.String("front", "native", "native: Proxy.Serve; nethttp: an http.Server with Proxy as its Handler")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here until exit")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "proxyd:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	p := proxy.New(proxy.Options{Logger: log})
	p.Switch(proxy.NewBackend(*backend))
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxyd:", err)
		return
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if *front == "native" {
			p.Shutdown(sctx)
		} else {
			srv.Shutdown(sctx)
		}
	}()
	if *front == "native" {
		err = p.Serve(ln)
	} else {
		err = srv.Serve(ln)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "proxyd:", err)
		return
	}
	st := p.Stats()
	fmt.Fprintf(os.Stderr, "proxyd: %d requests, %d upstream errors, %d retries\n", st.Requests, st.UpstreamErrors, st.Retries)
}
