package receivercmd

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/shipdeploy/ship/internal/release"
)

// request is a reload request as read from releases/RELOAD, with the exact
// bytes, so that only that request is removed once handled.
type request struct {
	release.ReloadRequest
	raw []byte
}

// recordFS remembers what ReadReload read: one read, so the request and the
// bytes compared later are the same file version.
type recordFS struct {
	release.FS
	data []byte
}

func (r *recordFS) ReadFile(name string) ([]byte, error) {
	data, err := r.FS.ReadFile(name)
	r.data = data
	return data, err
}

// readRequest reads releases/RELOAD; ok is false when there is none.
func readRequest(l release.Layout) (rq request, ok bool, err error) {
	rec := &recordFS{FS: release.LocalFS{}}
	req, ok, err := release.ReadReload(rec, l)
	if err != nil {
		return rq, false, fmt.Errorf("read %s: %w", l.Reload(), err)
	}
	return request{ReloadRequest: req, raw: rec.data}, ok, nil
}

// settleRequest removes releases/RELOAD if it still holds raw, the request
// just handled. A newer request written meanwhile must survive: the file is
// first moved aside (rename is atomic, so nothing written after the move is
// touched), and if what was moved is not raw it is linked back, unless an
// even newer RELOAD already took its place. newer reports that a request is
// still waiting.
func settleRequest(l release.Layout, raw []byte) (newer bool, err error) {
	aside := path.Join(l.Releases(), release.TempName(".RELOAD.handled"))
	if err := os.Rename(l.Reload(), aside); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil // removed by hand: nothing to do
		}
		return false, fmt.Errorf("remove %s: %w", l.Reload(), err)
	}
	defer os.Remove(aside)
	got, err := os.ReadFile(aside)
	if err == nil && bytes.Equal(got, raw) {
		return false, nil
	}
	err = os.Link(aside, l.Reload())
	switch {
	case err == nil, errors.Is(err, fs.ErrExist):
		return true, nil
	default:
		// No hard links here: rename it back (the window for a newer one
		// to be overwritten is a few microseconds).
		if err := os.Rename(aside, filepath.Clean(l.Reload())); err != nil {
			return false, fmt.Errorf("put back a newer %s: %w", l.Reload(), err)
		}
		return true, nil
	}
}

// resolveCurrent returns the real folder `current` points to and its release
// number (0 when the link names no numbered release).
func resolveCurrent(l release.Layout) (dir string, n int, err error) {
	dir, err = filepath.EvalSymlinks(l.Current())
	if err != nil {
		return "", 0, fmt.Errorf("resolve %s: %w (no release deployed yet?)", l.Current(), err)
	}
	if target, err := os.Readlink(l.Current()); err == nil {
		n, _ = release.ParseCurrentTarget(target)
	}
	if n == 0 {
		n, _ = release.ParseCurrentTarget(dir)
	}
	return dir, n, nil
}
