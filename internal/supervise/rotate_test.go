package supervise

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestRotatingFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "logs", "app.log")
	r, err := OpenRotatingFile(name, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	// 20 lines of 20 bytes = 400 bytes: 5 per file, 4 files made, 3 kept.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := fmt.Fprintf(r, "line %02d ...........\n", i); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintln(r, "after close"); err == nil {
		t.Error("write after Close succeeded")
	}
	total := 0
	for _, f := range []string{name, name + ".1", name + ".2"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 100 {
			t.Errorf("%s has %d bytes, over the limit", f, len(data))
		}
		for _, l := range strings.SplitAfter(string(data), "\n") {
			if l != "" && len(l) != 20 {
				t.Errorf("%s: torn line %q", f, l)
			}
		}
		total += len(data)
	}
	if total != 300 {
		t.Errorf("kept %d bytes, want 300 (3 files of 100)", total)
	}
	if _, err := os.Stat(name + ".3"); !os.IsNotExist(err) {
		t.Errorf("app.log.3 exists with keep=2: %v", err)
	}

	// Reopening appends and counts what is there.
	r, err = OpenRotatingFile(name, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fmt.Fprintln(r, "reopened")
	if data, _ := os.ReadFile(name + ".1"); !strings.HasPrefix(string(data), "line") || len(data) != 100 {
		t.Errorf("reopen did not rotate the full file: app.log.1 = %q", data)
	}
}
