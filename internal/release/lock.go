package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"
)

// ErrLocked means another deploy holds .ship/lock.
var ErrLocked = errors.New("deploy lock is held")

// LockedError says who holds the lock.
type LockedError struct {
	Path   string
	Holder *LockInfo // nil when the lock has no readable info
}

func (e *LockedError) Error() string {
	if e.Holder == nil {
		return fmt.Sprintf("%s exists (holder unknown)", e.Path)
	}
	h := e.Holder
	return fmt.Sprintf("held by %s on %s (pid %d) since %s (%s ago): %s",
		h.Who, h.From, h.PID, TimeText(h.Since),
		time.Since(h.Since).Round(time.Second), h.Command)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// Lock takes the deploy lock in one step, as the host script does: a
// folder holding info.json (one line) is made under a temp name, then
// renamed to .ship/lock. rename(2) of a folder fails when the target is a
// folder that is not empty, so of two deploys exactly one succeeds, and a
// reader never finds the lock without its owner.
func Lock(fsys FS, l Layout, info LockInfo) error {
	if err := fsys.MkdirAll(l.ShipDir()); err != nil {
		return fmt.Errorf("make %s: %w", l.ShipDir(), err)
	}
	tmp := path.Join(l.ShipDir(), TempName("lock"))
	if err := fsys.Mkdir(tmp); err != nil {
		return fmt.Errorf("make %s: %w", tmp, err)
	}
	infoFile := path.Join(tmp, "info.json")
	if err := fsys.WriteFile(infoFile, []byte(MarshalLine(info)+"\n"), 0o644); err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("write the lock's info (is the disk full?): %w", err)
	}
	if err := fsys.Rename(tmp, l.Lock()); err != nil {
		_ = fsys.Remove(infoFile)
		_ = fsys.Remove(tmp)
		if _, serr := fsys.Lstat(l.Lock()); serr == nil {
			holder, _ := ReadLock(fsys, l)
			return &LockedError{Path: l.Lock(), Holder: holder}
		}
		return fmt.Errorf("take %s: %w", l.Lock(), err)
	}
	return nil
}

// LockStaleAfter: a lock whose holder's heartbeat is older than this is
// taken over by the next deploy (and `ship unlock` removes it without
// --force). A live deploy refreshes it every 2 seconds.
const LockStaleAfter = 60 * time.Second

// ReadLock returns the lock's holder, or (nil, nil) when it is free. A lock
// whose info cannot be read (a damaged file) is held by "unknown", with
// the reason in Command: `ship unlock` can still remove it.
func ReadLock(fsys FS, l Layout) (*LockInfo, error) {
	info, err := readJSON[LockInfo](fsys, l.LockInfo())
	if info != nil {
		return info, nil
	}
	if err != nil {
		return &LockInfo{Who: "unknown", Command: fmt.Sprintf("(unreadable lock info: %v)", err)}, nil
	}
	if _, err := fsys.Lstat(l.Lock()); err == nil {
		return &LockInfo{Who: "unknown", Command: "(no info.json in " + l.Lock() + ")"}, nil
	}
	return nil, nil
}

// LockHeartbeat is when the holder of the lock taken under id last showed
// it is alive (its run's beat file); ok is false when there is none to
// read (an older ship, a damaged lock).
func LockHeartbeat(fsys FS, l Layout, id string) (at time.Time, ok bool) {
	if id == "" || strings.ContainsAny(id, "/.") {
		return time.Time{}, false
	}
	fi, err := fsys.Lstat(path.Join(l.Run(id), "beat"))
	if err != nil {
		return time.Time{}, false
	}
	return fi.ModTime(), true
}

// HostNow is the host's clock, read by writing a file and asking its time:
// a heartbeat is judged by the clock that wrote it.
func HostNow(fsys FS, l Layout) (time.Time, error) {
	name := path.Join(l.ShipDir(), TempName(".now"))
	if err := fsys.WriteFile(name, nil, 0o644); err != nil {
		return time.Time{}, err
	}
	defer fsys.Remove(name)
	fi, err := fsys.Lstat(name)
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

// Unlock releases the lock taken with id. It refuses to remove a lock held
// under another id, so a failing deploy never frees someone else's lock.
// An empty id forces the release (`ship unlock`).
func Unlock(fsys FS, l Layout, id string) error {
	holder, err := readJSON[LockInfo](fsys, l.LockInfo())
	if err != nil && id != "" {
		return err
	}
	if id != "" && (holder == nil || holder.ID != id) {
		return fmt.Errorf("lock %s is not ours (id %s): left in place", l.Lock(), id)
	}
	if err := fsys.Remove(l.LockInfo()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unlock: %w", err)
	}
	if holder != nil && holder.ID != "" {
		_ = fsys.Remove(path.Join(l.Run(holder.ID), "beat"))
	}
	if err := fsys.Remove(l.Lock()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unlock: remove %s: %w", l.Lock(), err)
	}
	return nil
}

// MarshalLine is json.Marshal for one-line files and logs.
func MarshalLine(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TimeText is how ship writes a moment for a person, everywhere (tables,
// messages): local time with its zone. JSON keeps RFC 3339.
func TimeText(t time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return t.Local().Format("02 Jan 15:04:05 MST")
}
