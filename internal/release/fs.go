package release

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// FS is the small filesystem the contract needs. Paths are absolute, with
// forward slashes. Implementations return errors that match fs.ErrNotExist and
// fs.ErrExist under errors.Is, whatever the transport reports.
type FS interface {
	ReadFile(name string) ([]byte, error)
	// WriteFile replaces name atomically: a temp file in the same folder is
	// written, synced and renamed over name, so a reader sees the old or the
	// new content, never a part.
	WriteFile(name string, data []byte, perm fs.FileMode) error
	// AppendFile appends data to name, creating it (mode 0644) when missing.
	AppendFile(name string, data []byte) error
	ReadDir(name string) ([]fs.FileInfo, error)
	Lstat(name string) (fs.FileInfo, error)
	// Mkdir makes one folder and fails with fs.ErrExist when name exists:
	// the lock depends on this being atomic.
	Mkdir(name string) error
	MkdirAll(name string) error
	// Remove removes a file, a symlink or an empty folder.
	Remove(name string) error
	Readlink(name string) (string, error)
	Symlink(target, link string) error
	// Rename renames oldname to newname, replacing newname atomically when it
	// exists (rename(2); over SFTP, posix-rename@openssh.com).
	Rename(oldname, newname string) error
}

// LocalFS is FS on this machine's disk.
type LocalFS struct{}

func (LocalFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

func (LocalFS) WriteFile(name string, data []byte, perm fs.FileMode) error {
	return writeFileAtomic(name, data, perm)
}

func (LocalFS) AppendFile(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (LocalFS) ReadDir(name string) ([]fs.FileInfo, error) {
	entries, err := os.ReadDir(name)
	if err != nil {
		return nil, err
	}
	infos := make([]fs.FileInfo, 0, len(entries))
	for _, e := range entries {
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed while we listed
		}
		if err != nil {
			return nil, err
		}
		infos = append(infos, info)
	}
	return infos, nil
}

func (LocalFS) Lstat(name string) (fs.FileInfo, error) { return os.Lstat(name) }
func (LocalFS) Mkdir(name string) error                { return os.Mkdir(name, 0o755) }
func (LocalFS) MkdirAll(name string) error             { return os.MkdirAll(name, 0o755) }
func (LocalFS) Remove(name string) error               { return os.Remove(name) }
func (LocalFS) Readlink(name string) (string, error)   { return os.Readlink(name) }
func (LocalFS) Symlink(target, link string) error      { return os.Symlink(target, link) }
func (LocalFS) Rename(oldname, newname string) error   { return os.Rename(oldname, newname) }

// writeFileAtomic is the local temp-write-sync-rename.
func writeFileAtomic(name string, data []byte, perm fs.FileMode) error {
	dir, base := filepath.Split(name)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// TempName is a name next to base that no other writer picks: base, a
// marker, the pid and the time. Used for temp symlinks and files over SFTP.
func TempName(base string) string {
	return fmt.Sprintf("%s.tmp-%d-%s", base, os.Getpid(), strconv.FormatInt(time.Now().UnixNano(), 36))
}
