package testenv

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/release"
)

// CheckFS holds fsys to release.FS's contract in dir, an empty folder
// (absolute, forward slashes), using only fsys itself: so it runs the same
// on this machine's disk, over SFTP, or inside a container.
func CheckFS(t *testing.T, fsys release.FS, dir string) {
	t.Helper()
	for _, c := range []struct {
		name  string
		check func(*testing.T, release.FS, func(string) string)
	}{
		{"files", checkFiles},
		{"dirs and links", checkDirsAndLinks},
		{"not exist", checkNotExist},
		{"names stay data", checkHostileNames},
	} {
		t.Run(c.name, func(t *testing.T) {
			sub := path.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
			if err := fsys.MkdirAll(sub); err != nil {
				t.Fatal(err)
			}
			c.check(t, fsys, func(rel string) string { return path.Join(sub, rel) })
		})
	}
}

func checkFiles(t *testing.T, fsys release.FS, p func(string) string) {
	big := make([]byte, 1<<20+17)
	rand.Read(big)
	for _, tt := range []struct {
		name string
		data []byte
		perm fs.FileMode
	}{
		{"empty", nil, 0o644},
		{"small", []byte(`{"release": 7}`), 0o600},
		{"binary", []byte("a\x00b\nc\r\n\xff"), 0o640},
		{"big", big, 0o644},
	} {
		name := p(tt.name)
		if err := fsys.WriteFile(name, tt.data, tt.perm); err != nil {
			t.Fatalf("WriteFile %s: %v", tt.name, err)
		}
		got, err := fsys.ReadFile(name)
		if err != nil || !bytes.Equal(got, tt.data) {
			t.Errorf("ReadFile %s: %d bytes, %v; want the %d written", tt.name, len(got), err, len(tt.data))
		}
		fi, err := fsys.Lstat(name)
		if err != nil {
			t.Fatalf("Lstat %s: %v", tt.name, err)
		}
		if fi.Name() != tt.name || fi.Size() != int64(len(tt.data)) || fi.Mode() != tt.perm || fi.IsDir() {
			t.Errorf("Lstat %s = name %q, size %d, mode %v; want %q, %d, %v", tt.name, fi.Name(), fi.Size(), fi.Mode(), tt.name, len(tt.data), tt.perm)
		}
		if age := time.Since(fi.ModTime()); age < -time.Minute || age > time.Minute {
			t.Errorf("Lstat %s: modified %v, not just now", tt.name, fi.ModTime())
		}
	}
	if err := fsys.WriteFile(p("small"), []byte("replaced"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := fsys.ReadFile(p("small")); string(got) != "replaced" {
		t.Errorf("after a second WriteFile: %q", got)
	}

	if err := fsys.AppendFile(p("log.jsonl"), []byte("one\n")); err != nil {
		t.Fatal(err)
	}
	if err := fsys.AppendFile(p("log.jsonl"), []byte("two\n")); err != nil {
		t.Fatal(err)
	}
	if got, _ := fsys.ReadFile(p("log.jsonl")); string(got) != "one\ntwo\n" {
		t.Errorf("after two appends: %q", got)
	}
	if fi, err := fsys.Lstat(p("log.jsonl")); err != nil || fi.Mode() != 0o644 {
		t.Errorf("AppendFile made mode %v (%v), want 0644", fi.Mode(), err)
	}

	infos, err := fsys.ReadDir(p(""))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fi := range infos {
		names = append(names, fi.Name())
	}
	if want := []string{"big", "binary", "empty", "log.jsonl", "small"}; !slices.Equal(names, want) {
		t.Errorf("ReadDir = %q, want %q (sorted, no temp files)", names, want)
	}
}

func checkDirsAndLinks(t *testing.T, fsys release.FS, p func(string) string) {
	if err := fsys.MkdirAll(p("app/releases/7/.ship")); err != nil {
		t.Fatal(err)
	}
	if err := fsys.MkdirAll(p("app/releases/7")); err != nil {
		t.Errorf("MkdirAll of an existing folder: %v", err)
	}
	if err := fsys.Mkdir(p("app/.ship")); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Mkdir(p("app/.ship")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Mkdir: %v, want fs.ErrExist", err)
	}
	if err := fsys.Mkdir(p("app/no/such/parent")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Mkdir without parent: %v, want fs.ErrNotExist", err)
	}
	if fi, err := fsys.Lstat(p("app/.ship")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Errorf("Lstat of a new folder: %v, %v; want a folder, 0755", fi, err)
	}

	// Symlink(target, link): link is the new name, target its content.
	if err := fsys.Symlink("releases/7", p("app/current.tmp")); err != nil {
		t.Fatal(err)
	}
	if target, err := fsys.Readlink(p("app/current.tmp")); err != nil || target != "releases/7" {
		t.Errorf("Readlink = %q, %v; want releases/7", target, err)
	}
	if err := fsys.Symlink("releases/8", p("app/current.tmp")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Symlink over an existing name: %v, want fs.ErrExist", err)
	}
	if err := fsys.Symlink("releases/9", p("app/releases")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Symlink over a folder: %v, want fs.ErrExist (not a link inside it)", err)
	}
	if _, err := fsys.Readlink(p("app/releases")); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Readlink of a folder: %v, want an error other than not-exist", err)
	}
	if err := fsys.Symlink("releases/6", p("app/current")); err != nil {
		t.Fatal(err)
	}
	// Swap current as the release package does: rename a new link over it.
	if err := fsys.Rename(p("app/current.tmp"), p("app/current")); err != nil {
		t.Fatal(err)
	}
	if target, _ := fsys.Readlink(p("app/current")); target != "releases/7" {
		t.Errorf("after Rename current -> %q, want releases/7", target)
	}
	if _, err := fsys.Lstat(p("app/current.tmp")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("current.tmp still there after Rename: %v", err)
	}
	if err := fsys.Rename(p("app/nothing"), p("app/x")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Rename of a missing file: %v, want fs.ErrNotExist", err)
	}
	if err := fsys.Symlink("releases/404", p("app/dangling")); err != nil {
		t.Fatal(err)
	}
	if fi, err := fsys.Lstat(p("app/dangling")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat of a dangling symlink: %v, %v; want the link itself", fi, err)
	}

	infos, err := fsys.ReadDir(p("app"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, fi := range infos {
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			kinds[fi.Name()] = "link"
		case fi.IsDir():
			kinds[fi.Name()] = "dir"
		default:
			kinds[fi.Name()] = "file"
		}
	}
	want := map[string]string{".ship": "dir", "current": "link", "dangling": "link", "releases": "dir"}
	if !maps.Equal(kinds, want) {
		t.Errorf("ReadDir = %v, want %v (links not followed)", kinds, want)
	}

	if err := fsys.Remove(p("app/current")); err != nil {
		t.Errorf("Remove of a symlink: %v", err)
	}
	if _, err := fsys.Lstat(p("app/releases/7")); err != nil {
		t.Errorf("removing the link removed its target: %v", err)
	}
	if err := fsys.Remove(p("app/releases/7/.ship")); err != nil {
		t.Errorf("Remove of an empty folder: %v", err)
	}
	if err := fsys.Remove(p("app/releases")); err == nil {
		t.Error("Remove of a non-empty folder succeeded")
	}
}

func checkNotExist(t *testing.T, fsys release.FS, p func(string) string) {
	missing := p("missing")
	for _, tt := range []struct {
		name string
		call func() error
	}{
		{"ReadFile", func() error { _, err := fsys.ReadFile(missing); return err }},
		{"ReadFile below", func() error { _, err := fsys.ReadFile(missing + "/x"); return err }},
		{"ReadDir", func() error { _, err := fsys.ReadDir(missing); return err }},
		{"Lstat", func() error { _, err := fsys.Lstat(missing); return err }},
		{"Readlink", func() error { _, err := fsys.Readlink(missing); return err }},
		{"Remove", func() error { return fsys.Remove(missing) }},
		{"WriteFile below", func() error { return fsys.WriteFile(missing+"/x", nil, 0o644) }},
	} {
		err := tt.call()
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s of a missing path: %v, want fs.ErrNotExist", tt.name, err)
		} else if !strings.Contains(err.Error(), missing) {
			t.Errorf("%s: error %q does not name the path", tt.name, err)
		}
	}
}

// checkHostileNames: names that a shell would read as code are only names.
func checkHostileNames(t *testing.T, fsys release.FS, p func(string) string) {
	names := []string{"it's", "$(touch pwned)", "a b;c", "new\nline", "`touch pwned`", "-rf", "*"}
	for _, n := range names {
		if err := fsys.WriteFile(p(n), []byte(n), 0o644); err != nil {
			t.Errorf("WriteFile %q: %v", n, err)
			continue
		}
		if got, err := fsys.ReadFile(p(n)); err != nil || string(got) != n {
			t.Errorf("ReadFile %q = %q, %v", n, got, err)
		}
	}
	if err := fsys.Symlink("$(touch pwned)", p("link'")); err != nil {
		t.Errorf("Symlink with quotes: %v", err)
	} else if target, err := fsys.Readlink(p("link'")); err != nil || target != "$(touch pwned)" {
		t.Errorf("Readlink = %q, %v", target, err)
	}
	infos, err := fsys.ReadDir(p(""))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fi := range infos {
		got = append(got, fi.Name())
	}
	want := append(slices.Clone(names), "link'")
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("ReadDir = %q, want %q (and nothing made by a command)", got, want)
	}
}
