package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
)

// SwapCurrent points current at release n: a temp symlink next to current,
// renamed over it. rename(2) replaces the old link in one step, so current is
// never missing and never half-made. The release must be finished.
func SwapCurrent(fsys FS, l Layout, n int) error {
	if _, err := fsys.Lstat(l.InfoFile(n)); err != nil {
		return fmt.Errorf("release %d is not finished (no %s): %w", n, l.InfoFile(n), err)
	}
	tmp := path.Join(l.Root, TempName(".current"))
	if err := fsys.Symlink(CurrentTarget(n), tmp); err != nil {
		return fmt.Errorf("make temp link %s: %w", tmp, err)
	}
	if err := fsys.Rename(tmp, l.Current()); err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("rename %s over current: %w", tmp, err)
	}
	return nil
}

// WriteReload asks the receiver to reload, by writing releases/RELOAD.
func WriteReload(fsys FS, l Layout, req ReloadRequest) error {
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	return fsys.WriteFile(l.Reload(), append(data, '\n'), 0o644)
}

// ReadReload reads releases/RELOAD. ok is false when there is none. An empty
// or unparsable file (a `touch`, or a hand-written note) is a request with no
// id for whatever current is now.
func ReadReload(fsys FS, l Layout) (req ReloadRequest, ok bool, err error) {
	data, err := fsys.ReadFile(l.Reload())
	if errors.Is(err, fs.ErrNotExist) {
		return req, false, nil
	}
	if err != nil {
		return req, false, err
	}
	_ = json.Unmarshal(data, &req) // anything else means "reload current"
	return req, true, nil
}
