package deploy

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// skipUpload are names never sent with --upload: the host installs its own
// dependencies, and history stays on the runner.
var skipUpload = map[string]bool{".git": true, "node_modules": true}

// packTree writes dir as a tar to a temp file and returns it with its size.
// The size goes into the script, which reads exactly that many bytes.
func packTree(dir string) (*os.File, int64, error) {
	f, err := os.CreateTemp("", "ship-upload-*.tar")
	if err != nil {
		return nil, 0, err
	}
	fail := func(err error) (*os.File, int64, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		if skipUpload[d.Name()] && d.IsDir() {
			return filepath.SkipDir
		}
		return packEntry(tw, p, filepath.ToSlash(rel), d)
	})
	if err != nil {
		return fail(err)
	}
	if err := tw.Close(); err != nil {
		return fail(err)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return fail(err)
	}
	return f, size, nil
}

// packEntry writes one entry of the tree (name: its path in the tree) into
// tw, owned by no one: the server's user owns what it unpacks.
func packEntry(tw *tar.Writer, p, name string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	link := ""
	if info.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	if d.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	if strings.HasPrefix(hdr.Name, "../") {
		return nil
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	src, err := os.Open(p)
	if err != nil {
		return err
	}
	defer src.Close()
	_, err = io.Copy(tw, src)
	return err
}
