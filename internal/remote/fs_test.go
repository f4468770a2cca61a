package remote_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The FS tests work in a temp folder of this machine, which the test sshd
// serves over SFTP, and check the result on the local disk.

func TestReadWriteFile(t *testing.T) {
	_, c := connect(t)
	dir := t.TempDir()
	big := make([]byte, 3<<20+17) // many SFTP packets, not a multiple of one
	rand.Read(big)
	tests := []struct {
		name string
		data []byte
		perm fs.FileMode
	}{
		{"empty", nil, 0o644},
		{"small", []byte(`{"release": 7}`), 0o600},
		{"exactly a packet", bytes.Repeat([]byte("x"), 32*1024), 0o644},
		{"big", big, 0o640},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if err := c.WriteFile(name, tt.data, tt.perm); err != nil {
				t.Fatal(err)
			}
			got, err := c.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.data) {
				t.Fatalf("ReadFile returned %d bytes, want the %d written", len(got), len(tt.data))
			}
			fi, err := os.Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tt.perm {
				t.Errorf("mode %v, want %v", fi.Mode().Perm(), tt.perm)
			}
		})
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file %s left behind", e.Name())
		}
	}
}

func TestWriteFileReplacesAtomically(t *testing.T) {
	_, c := connect(t)
	dir := t.TempDir()
	name := filepath.Join(dir, "state.json")
	if err := os.WriteFile(name, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A reader holding the old file keeps the old content: the new one
	// is a new inode renamed over it, not a rewrite in place.
	old, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := c.WriteFile(name, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(name); string(got) != "new" {
		t.Errorf("file holds %q, want new", got)
	}
	buf := make([]byte, 10)
	n, _ := old.Read(buf)
	if string(buf[:n]) != "old" {
		t.Errorf("the old file's reader sees %q: it was rewritten in place", buf[:n])
	}
	if err := c.WriteFile(filepath.Join(dir, "missing", "x"), []byte("x"), 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteFile in a missing folder: %v, want fs.ErrNotExist", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries, want only state.json", len(entries))
	}
}

func TestAppendFile(t *testing.T) {
	_, c := connect(t)
	name := filepath.Join(t.TempDir(), "log.jsonl")
	long := bytes.Repeat([]byte("0123456789"), 10_000) // several SFTP packets
	want := []byte("one\n")
	if err := c.AppendFile(name, []byte("one\n")); err != nil {
		t.Fatal(err)
	}
	for _, data := range [][]byte{[]byte("two\n"), long} {
		if err := c.AppendFile(name, data); err != nil {
			t.Fatal(err)
		}
		want = append(want, data...)
	}
	got, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("file holds %d bytes, want %d in order", len(got), len(want))
	}
	if fi, _ := os.Stat(name); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
}

func TestDirsAndLinks(t *testing.T) {
	_, c := connect(t)
	root := t.TempDir()
	p := func(rel string) string { return filepath.Join(root, rel) }

	if err := c.MkdirAll(p("releases/7/.ship")); err != nil {
		t.Fatal(err)
	}
	if err := c.MkdirAll(p("releases/7")); err != nil {
		t.Errorf("MkdirAll of an existing folder: %v", err)
	}
	if err := c.Mkdir(p(".ship")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mkdir(p(".ship")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Mkdir: %v, want fs.ErrExist", err)
	}
	if err := c.Mkdir(p("no/such/parent")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Mkdir without parent: %v, want fs.ErrNotExist", err)
	}

	// Symlink(target, link): link is the new name, target its content.
	if err := c.Symlink("releases/7", p("current.tmp")); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(p("current.tmp")); err != nil || target != "releases/7" {
		t.Fatalf("current.tmp -> %q (%v), want releases/7", target, err)
	}
	if target, err := c.Readlink(p("current.tmp")); err != nil || target != "releases/7" {
		t.Errorf("Readlink = %q, %v", target, err)
	}
	if err := c.Symlink("releases/8", p("current.tmp")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Symlink over an existing name: %v, want fs.ErrExist", err)
	}
	fi, err := c.Lstat(p("current.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat of a symlink: mode %v", fi.Mode())
	}

	// Swap current as the release package does: rename a new link over it.
	if err := os.Symlink("releases/6", p("current")); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename(p("current.tmp"), p("current")); err != nil {
		t.Fatal(err)
	}
	if target, _ := os.Readlink(p("current")); target != "releases/7" {
		t.Errorf("after Rename current -> %q, want releases/7", target)
	}
	if _, err := os.Lstat(p("current.tmp")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("current.tmp still there after Rename: %v", err)
	}
	if err := c.Rename(p("nothing"), p("x")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Rename of a missing file: %v, want fs.ErrNotExist", err)
	}

	if err := os.WriteFile(p("releases/RELOAD"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	infos, err := c.ReadDir(p("releases"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fi := range infos {
		names = append(names, fi.Name())
	}
	if !slices.Equal(names, []string{"7", "RELOAD"}) {
		t.Errorf("ReadDir = %q, want [7 RELOAD]", names)
	}
	infos, err = c.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, fi := range infos {
		if fi.Name() == "current" && fi.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("ReadDir follows the current symlink: mode %v", fi.Mode())
		}
	}

	if err := c.Remove(p("current")); err != nil {
		t.Errorf("Remove of a symlink: %v", err)
	}
	if _, err := os.Stat(p("releases/7")); err != nil {
		t.Errorf("removing the link removed its target: %v", err)
	}
	if err := c.Remove(p("releases/7/.ship")); err != nil {
		t.Errorf("Remove of an empty folder: %v", err)
	}
	if err := c.Remove(p("releases")); err == nil {
		t.Error("Remove of a non-empty folder succeeded")
	}
}

func TestNotExist(t *testing.T) {
	_, c := connect(t)
	missing := filepath.Join(t.TempDir(), "missing")
	tests := []struct {
		name string
		call func() error
	}{
		{"ReadFile", func() error { _, err := c.ReadFile(missing); return err }},
		{"ReadDir", func() error { _, err := c.ReadDir(missing); return err }},
		{"Lstat", func() error { _, err := c.Lstat(missing); return err }},
		{"Readlink", func() error { _, err := c.Readlink(missing); return err }},
		{"Remove", func() error { return c.Remove(missing) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%s of a missing path: %v, want fs.ErrNotExist", tt.name, err)
			}
			if !strings.Contains(err.Error(), missing) {
				t.Errorf("error %q does not name the path", err)
			}
		})
	}
}
