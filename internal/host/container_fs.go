package host

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The release.FS methods of Container: one exec of container.sh each.

// pathOp is fsOp for the release.FS methods, which take no context.
func (c *Container) pathOp(op, name string, stdin []byte, args ...string) ([]byte, error) {
	out, err := c.fsOp(op, stdin, append([]string{name}, args...)...)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return out, nil
}

// WriteFile replaces name atomically: a synced temp file in its folder,
// renamed over it.
func (c *Container) WriteFile(name string, data []byte, perm fs.FileMode) error {
	if data == nil {
		data = []byte{}
	}
	_, err := c.pathOp("writefile", name, data, fmt.Sprintf("%04o", perm.Perm()))
	return err
}

func (c *Container) ReadFile(name string) ([]byte, error) { return c.pathOp("readfile", name, nil) }

func (c *Container) AppendFile(name string, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	_, err := c.pathOp("appendfile", name, data)
	return err
}

func (c *Container) Mkdir(name string) error {
	_, err := c.pathOp("mkdir", name, nil)
	return err
}

func (c *Container) MkdirAll(name string) error {
	_, err := c.pathOp("mkdirall", name, nil)
	return err
}

func (c *Container) Remove(name string) error {
	_, err := c.pathOp("remove", name, nil)
	return err
}

func (c *Container) Readlink(name string) (string, error) {
	out, err := c.pathOp("readlink", name, nil)
	return strings.TrimSuffix(string(out), "\n"), err
}

func (c *Container) Symlink(target, link string) error {
	_, err := c.fsOp("symlink", nil, target, link)
	if err != nil {
		return &os.LinkError{Op: "symlink", Old: target, New: link, Err: err}
	}
	return nil
}

func (c *Container) Rename(oldname, newname string) error {
	_, err := c.fsOp("rename", nil, oldname, newname)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return nil
}

func (c *Container) Lstat(name string) (fs.FileInfo, error) {
	out, err := c.pathOp("lstat", name, nil)
	if err != nil {
		return nil, err
	}
	infos, err := parseInfos(out)
	if err != nil || len(infos) != 1 {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: fmt.Errorf("unexpected answer %q: %v", out, err)}
	}
	infos[0].name = path.Base(name)
	return infos[0], nil
}

// ReadDir lists name without following the entries' symlinks, sorted by
// name.
func (c *Container) ReadDir(name string) ([]fs.FileInfo, error) {
	out, err := c.pathOp("readdir", name, nil)
	if err != nil {
		return nil, err
	}
	infos, err := parseInfos(out)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	list := make([]fs.FileInfo, len(infos))
	for i, fi := range infos {
		list[i] = fi
	}
	slices.SortFunc(list, func(a, b fs.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
	return list, nil
}

// fileInfo is one entry as container.sh describes it.
type fileInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi *fileInfo) ModTime() time.Time { return fi.mtime }
func (fi *fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *fileInfo) Sys() any           { return nil }

// fileTypes maps find's %y letters to mode bits.
var fileTypes = map[string]fs.FileMode{
	"f": 0, "d": fs.ModeDir, "l": fs.ModeSymlink, "p": fs.ModeNamedPipe,
	"s": fs.ModeSocket, "c": fs.ModeDevice | fs.ModeCharDevice, "b": fs.ModeDevice,
}

// parseInfos reads NUL-ended records "TYPE PERM SIZE MTIME NAME" (find's
// "%y %m %s %T@ %f"); the name is last, so it may hold spaces.
func parseInfos(out []byte) ([]*fileInfo, error) {
	var infos []*fileInfo
	for _, rec := range bytes.Split(out, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		f := strings.SplitN(string(rec), " ", 5)
		if len(f) != 5 {
			return nil, fmt.Errorf("bad entry %q", rec)
		}
		typ, ok := fileTypes[f[0]]
		perm, perr := strconv.ParseUint(f[1], 8, 32)
		size, serr := strconv.ParseInt(f[2], 10, 64)
		mtime, terr := parseUnixTime(f[3])
		if !ok || perr != nil || serr != nil || terr != nil {
			return nil, fmt.Errorf("bad entry %q", rec)
		}
		mode := typ | fs.FileMode(perm&0o777)
		for bit, m := range map[uint64]fs.FileMode{0o4000: fs.ModeSetuid, 0o2000: fs.ModeSetgid, 0o1000: fs.ModeSticky} {
			if perm&bit != 0 {
				mode |= m
			}
		}
		infos = append(infos, &fileInfo{name: f[4], size: size, mode: mode, mtime: mtime})
	}
	return infos, nil
}

// parseUnixTime reads find's %T@, seconds with a fraction.
func parseUnixTime(s string) (time.Time, error) {
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	var nsec int64
	if frac != "" {
		frac = (frac + "000000000")[:9]
		if nsec, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return time.Time{}, err
		}
	}
	return time.Unix(n, nsec), nil
}
