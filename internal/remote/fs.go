package remote

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/pkg/sftp"

	"github.com/shipdeploy/ship/internal/release"
)

// sftpChunk is the largest write that pkg/sftp sends as one request by
// default; AppendFile writes no more at once, so its pieces stay in order.
const sftpChunk = 32 * 1024

// startSFTP opens the SFTP session, at the first file operation: a deploy
// needs none (its script does the file work), and an sshd spends a channel
// and a subsystem on each.
func (c *Client) startSFTP() {
	// Concurrent writes keep large files from paying a round trip per
	// 32 KiB; WriteFile removes its temp file on any failure, and
	// AppendFile writes one request at a time.
	c.sftpc, c.sftpErr = sftp.NewClient(c.conn, sftp.UseConcurrentWrites(true))
	if c.sftpErr != nil {
		hint := ""
		if strings.Contains(c.sftpErr.Error(), "subsystem request failed") {
			hint = " (does its sshd_config have a Subsystem sftp line?)"
		}
		c.sftpErr = fmt.Errorf("start sftp on %s%s: %w", c.name, hint, c.sftpErr)
	}
	close(c.sftpDone)
}

func (c *Client) sftp() (*sftp.Client, error) {
	c.sftpOnce.Do(c.startSFTP)
	<-c.sftpDone
	if c.sftpErr != nil && c.isDead() {
		return nil, fmt.Errorf("%w (%v)", c.lost(), c.sftpErr)
	}
	return c.sftpc, c.sftpErr
}

// pathErr reports err as an *fs.PathError whose Err matches fs.ErrNotExist,
// fs.ErrExist and fs.ErrPermission as the os package's errors do, or
// ErrConnectionLost when the connection is gone.
func (c *Client) pathErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: name, Err: c.mapErr(err)}
}

func (c *Client) mapErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // pkg/sftp's own, without our op
	}
	if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) && c.isDead() {
		err = c.lost()
	}
	return err
}

// existsErr turns a generic SFTP failure into fs.ErrExist when name
// exists: OpenSSH's SFTP (version 3) has no status code for EEXIST.
func (c *Client) existsErr(s *sftp.Client, op, name string, err error) error {
	var se *sftp.StatusError
	if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxFailure {
		if _, lerr := s.Lstat(name); lerr == nil {
			err = fs.ErrExist
		}
	}
	return c.pathErr(op, name, err)
}

func (c *Client) ReadFile(name string) ([]byte, error) {
	s, err := c.sftp()
	if err != nil {
		return nil, err
	}
	f, err := s.Open(name)
	if err != nil {
		return nil, c.pathErr("open", name, err)
	}
	// Closing a read handle can fail only uselessly: do not wait for it.
	defer func() { go f.Close() }()
	// Read in growing pieces, each read as concurrent requests, until a
	// short read: a small file takes one round trip after the open, where
	// a stat first would take two.
	buf := make([]byte, 0, 64*1024)
	for {
		n, err := f.ReadAt(buf[len(buf):cap(buf)], int64(len(buf)))
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, c.pathErr("read", name, err)
		}
		buf = slices.Grow(buf, cap(buf)) // doubles
	}
}

func (c *Client) WriteFile(name string, data []byte, perm fs.FileMode) (err error) {
	s, err := c.sftp()
	if err != nil {
		return err
	}
	tmp := path.Join(path.Dir(name), release.TempName("."+path.Base(name)))
	f, err := s.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return c.pathErr("write", name, err)
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			s.Remove(tmp)
			err = c.pathErr("write", name, err)
		}
	}()
	// The data and the mode are independent requests on one handle: send
	// them together to save a round trip.
	chmodDone := make(chan error, 1)
	go func() { chmodDone <- f.Chmod(perm) }()
	_, werr := f.WriteAt(data, 0)
	if err := errors.Join(werr, <-chmodDone); err != nil {
		return err
	}
	synced := true
	if err := f.Sync(); err != nil {
		var se *sftp.StatusError
		if !errors.As(err, &se) || se.FxCode() != sftp.ErrSSHFxOpUnsupported {
			return err
		}
		synced = false
	}
	closed = true
	if !synced {
		// Unsynced, a failed close may mean lost data: check it first.
		if err := f.Close(); err != nil {
			return err
		}
		return s.PosixRename(tmp, name)
	}
	// Synced data is on disk, and closing the handle cannot lose it: close
	// and rename together to save a round trip.
	go f.Close()
	return s.PosixRename(tmp, name)
}

func (c *Client) AppendFile(name string, data []byte) error {
	s, err := c.sftp()
	if err != nil {
		return err
	}
	f, err := s.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE)
	if err != nil {
		return c.pathErr("append", name, err)
	}
	// One request at a time: with O_APPEND the server ignores offsets, so
	// concurrent pieces could land out of order.
	for len(data) > 0 && err == nil {
		n := min(len(data), sftpChunk)
		_, err = f.Write(data[:n])
		data = data[n:]
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return c.pathErr("append", name, err)
}

// ReadDir lists name without following symlinks, sorted by name.
func (c *Client) ReadDir(name string) ([]fs.FileInfo, error) {
	s, err := c.sftp()
	if err != nil {
		return nil, err
	}
	infos, err := s.ReadDir(name)
	if err != nil {
		return nil, c.pathErr("readdir", name, err)
	}
	slices.SortFunc(infos, func(a, b fs.FileInfo) int {
		switch {
		case a.Name() < b.Name():
			return -1
		case a.Name() > b.Name():
			return 1
		}
		return 0
	})
	return infos, nil
}

func (c *Client) Lstat(name string) (fs.FileInfo, error) {
	s, err := c.sftp()
	if err != nil {
		return nil, err
	}
	fi, err := s.Lstat(name)
	return fi, c.pathErr("lstat", name, err)
}

func (c *Client) Mkdir(name string) error {
	s, err := c.sftp()
	if err != nil {
		return err
	}
	if err := s.Mkdir(name); err != nil {
		return c.existsErr(s, "mkdir", name, err)
	}
	return nil
}

func (c *Client) MkdirAll(name string) error {
	s, err := c.sftp()
	if err != nil {
		return err
	}
	return c.pathErr("mkdir", name, s.MkdirAll(name))
}

func (c *Client) Remove(name string) error {
	s, err := c.sftp()
	if err != nil {
		return err
	}
	return c.pathErr("remove", name, s.Remove(name))
}

func (c *Client) Readlink(name string) (string, error) {
	s, err := c.sftp()
	if err != nil {
		return "", err
	}
	target, err := s.ReadLink(name)
	return target, c.pathErr("readlink", name, err)
}

// Symlink makes link point to target. OpenSSH's server takes the two
// SSH_FXP_SYMLINK arguments in the reverse of the draft's order; pkg/sftp
// sends them in OpenSSH's order, and the tests check the direction.
func (c *Client) Symlink(target, link string) error {
	s, err := c.sftp()
	if err != nil {
		return err
	}
	if err := s.Symlink(target, link); err != nil {
		return c.existsErr(s, "symlink", link, err)
	}
	return nil
}

// Rename is rename(2) on the server (posix-rename@openssh.com): newname,
// even a symlink, is replaced atomically.
func (c *Client) Rename(oldname, newname string) error {
	s, err := c.sftp()
	if err != nil {
		return err
	}
	if err := s.PosixRename(oldname, newname); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: c.mapErr(err)}
	}
	return nil
}
