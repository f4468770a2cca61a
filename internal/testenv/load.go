package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Load is real HTTP load from another process: bench/downtime/loadgen
// sending GET requests to one URL until Finish.
type Load struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   bytes.Buffer
}

// LoadResult is what loadgen reports.
type LoadResult struct {
	Total     int64            `json:"total"`
	Failed    int64            `json:"failed"`
	MaxGapMS  float64          `json:"max_gap_ms"`
	Versions  map[string]int64 `json:"versions"`
	Errors    []string         `json:"errors"`
	LastByCli []string         `json:"last_by_client"`
}

// StartLoad sends requests to url from keepalive clients on kept
// connections and fresh clients on a new connection each, each client
// pausing every between requests (0: none; a fleet on one machine needs a
// pace, or the load alone takes both cores).
func StartLoad(t testing.TB, url string, keepalive, fresh int, every time.Duration) *Load {
	t.Helper()
	ld := &Load{}
	ld.cmd = exec.Command(Program(t, "./bench/downtime/loadgen"), "-url", url,
		"-keepalive", strconv.Itoa(keepalive), "-fresh", strconv.Itoa(fresh), "-every", every.String(), "-stdin", "-json")
	ld.cmd.Stdout, ld.cmd.Stderr = &ld.out, os.Stderr
	var err error
	if ld.stdin, err = ld.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := ld.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ld.cmd.Process.Kill(); _ = ld.cmd.Wait() })
	return ld
}

// Finish stops the load and returns its result.
func (ld *Load) Finish(t testing.TB) LoadResult {
	t.Helper()
	ld.stdin.Close()
	if err := ld.cmd.Wait(); err != nil {
		t.Fatalf("loadgen: %v", err)
	}
	var res LoadResult
	if err := json.Unmarshal(ld.out.Bytes(), &res); err != nil {
		t.Fatalf("loadgen output %q: %v", ld.out.String(), err)
	}
	return res
}
