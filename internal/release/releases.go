package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"sync"
)

// Release is one numbered folder under releases/.
type Release struct {
	Number int
	Info   *Info // nil: unfinished or failed build
	Bad    *Bad  // non-nil: refused, never a rollback target
}

// Finished reports whether the build completed (release.json exists).
func (r Release) Finished() bool { return r.Info != nil }

// Good reports whether the release may be served: finished and not bad.
func (r Release) Good() bool { return r.Info != nil && r.Bad == nil }

// Snapshot is what a deploy, a rollback or `ship releases` reads first.
type Snapshot struct {
	Releases []Release // ascending by number
	Current  int       // 0: no current link (or one that names no release)
	// CurrentRaw is current's link target as read, for messages about a
	// broken or hand-made link.
	CurrentRaw string
}

// Find returns the release numbered n.
func (s *Snapshot) Find(n int) (Release, bool) {
	for _, r := range s.Releases {
		if r.Number == n {
			return r, true
		}
	}
	return Release{}, false
}

// Next is the number for a new release: one more than any folder that exists,
// finished or not, so a number is never reused.
func (s *Snapshot) Next() int {
	if len(s.Releases) == 0 {
		return 1
	}
	return s.Releases[len(s.Releases)-1].Number + 1
}

// Previous is the newest good release older than current: the default target
// of a rollback.
func (s *Snapshot) Previous() (Release, bool) {
	for i := len(s.Releases) - 1; i >= 0; i-- {
		r := s.Releases[i]
		if r.Number < s.Current && r.Good() {
			return r, true
		}
	}
	return Release{}, false
}

// Read lists releases and where current points. Info and bad files are read
// concurrently: over SFTP each read is a few round trips, and they overlap.
func Read(fsys FS, l Layout) (*Snapshot, error) {
	s := &Snapshot{}
	target, err := fsys.Readlink(l.Current())
	switch {
	case err == nil:
		s.CurrentRaw = target
		s.Current, _ = ParseCurrentTarget(target)
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, fmt.Errorf("read %s: %w", l.Current(), err)
	}

	entries, err := fsys.ReadDir(l.Releases())
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", l.Releases(), err)
	}
	for _, e := range entries {
		if n, ok := ParseNumber(e.Name()); ok && e.IsDir() {
			s.Releases = append(s.Releases, Release{Number: n})
		}
	}
	sort.Slice(s.Releases, func(i, j int) bool { return s.Releases[i].Number < s.Releases[j].Number })

	var wg sync.WaitGroup
	errs := make([]error, len(s.Releases))
	for i := range s.Releases {
		wg.Add(1)
		go func(r *Release, errp *error) {
			defer wg.Done()
			r.Info, *errp = readJSON[Info](fsys, l.InfoFile(r.Number))
			if *errp != nil {
				return
			}
			if r.Info != nil {
				r.Bad, *errp = readJSON[Bad](fsys, l.BadFile(r.Number))
			}
		}(&s.Releases[i], &errs[i])
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// readJSON reads and decodes name; a missing file is (nil, nil). A file that
// does not decode is reported: it was written atomically, so it is corrupt,
// not half-written.
func readJSON[T any](fsys FS, name string) (*T, error) {
	data, err := fsys.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	return v, nil
}

// WriteJSON writes v as indented JSON to name, atomically.
func WriteJSON(fsys FS, name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return fsys.WriteFile(name, append(data, '\n'), 0o644)
}

// ReadState reads .ship/state.json; (nil, nil) when no receiver ever wrote it.
func ReadState(fsys FS, l Layout) (*State, error) { return readJSON[State](fsys, l.State()) }

// WriteState replaces .ship/state.json atomically.
func WriteState(fsys FS, l Layout, s *State) error { return WriteJSON(fsys, l.State(), s) }

// ReadMaintenance reads .ship/maintenance.json; (nil, nil) when
// maintenance is off.
func ReadMaintenance(fsys FS, l Layout) (*Maintenance, error) {
	return readJSON[Maintenance](fsys, l.Maintenance())
}

// SetMaintenance turns maintenance on (m) or off (nil).
func SetMaintenance(fsys FS, l Layout, m *Maintenance) error {
	if m != nil {
		return WriteJSON(fsys, l.Maintenance(), m)
	}
	if err := fsys.Remove(l.Maintenance()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", l.Maintenance(), err)
	}
	return nil
}

// MarkBad records that release n was refused, so no rollback picks it.
func MarkBad(fsys FS, l Layout, n int, b Bad) error { return WriteJSON(fsys, l.BadFile(n), b) }

// AppendLog adds one line to .ship/log.jsonl.
func AppendLog(fsys FS, l Layout, e LogEntry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return fsys.AppendFile(l.Log(), append(data, '\n'))
}
