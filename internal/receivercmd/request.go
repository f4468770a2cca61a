package receivercmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/shipdeploy/ship/internal/release"
)

// request is a request as read from a file in releases/ (RELOAD, STAGE,
// COMMIT, ABORT), with the exact bytes, so that only that request is
// removed once taken.
type request struct {
	release.ReloadRequest
	kind string
	raw  []byte
}

// readRequest reads releases/KIND; ok is false when there is none. An empty
// or unparsable file (a `touch`) is a request with no id.
func readRequest(l release.Layout, kind string) (rq request, ok bool, err error) {
	data, err := os.ReadFile(l.Request(kind))
	if errors.Is(err, fs.ErrNotExist) {
		return rq, false, nil
	}
	if err != nil {
		return rq, false, fmt.Errorf("read %s: %w", l.Request(kind), err)
	}
	rq = request{kind: kind, raw: data}
	_ = json.Unmarshal(data, &rq.ReloadRequest) // anything else means "no id"
	return rq, true, nil
}

// settleRequest removes releases/KIND if it still holds raw, the request
// just taken. A newer request written meanwhile must survive: the file is
// first moved aside (rename is atomic, so nothing written after the move is
// touched), and if what was moved is not raw it is linked back, unless an
// even newer one already took its place. newer reports that a request is
// still waiting.
func settleRequest(l release.Layout, kind string, raw []byte) (newer bool, err error) {
	name := l.Request(kind)
	aside := path.Join(l.Releases(), release.TempName("."+kind+".handled"))
	if err := os.Rename(name, aside); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil // removed by hand: nothing to do
		}
		return false, fmt.Errorf("remove %s: %w", name, err)
	}
	defer os.Remove(aside)
	got, err := os.ReadFile(aside)
	if err == nil && bytes.Equal(got, raw) {
		return false, nil
	}
	err = os.Link(aside, name)
	switch {
	case err == nil, errors.Is(err, fs.ErrExist):
		return true, nil
	default:
		// No hard links here: rename it back (the window for a newer one
		// to be overwritten is a few microseconds).
		if err := os.Rename(aside, filepath.Clean(name)); err != nil {
			return false, fmt.Errorf("put back a newer %s: %w", name, err)
		}
		return true, nil
	}
}

// takeBackAside puts back the requests a killed receiver had moved aside
// (settleRequest) and never acted on: it died between the two. A newer
// request of the same kind stays; the old one is dropped. It returns the
// kinds put back.
func takeBackAside(l release.Layout) []string {
	var back []string
	for _, kind := range requestKinds {
		asides, _ := filepath.Glob(filepath.Join(l.Releases(), "."+kind+".handled.tmp-*"))
		for _, a := range asides {
			// A link never replaces a request written meanwhile.
			if err := os.Link(a, l.Request(kind)); err == nil {
				back = append(back, kind)
			}
			_ = os.Remove(a)
		}
	}
	return back
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

// resolveRelease returns the folder of release n, which must be finished.
func resolveRelease(l release.Layout, n int) (string, error) {
	if _, err := os.Stat(l.InfoFile(n)); err != nil {
		return "", fmt.Errorf("release %d is not finished (no %s)", n, l.InfoFile(n))
	}
	return filepath.EvalSymlinks(l.Dir(n))
}
