package supervise

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Defaults for the app log.
const (
	DefaultLogMaxSize = 10 << 20 // bytes in app.log before it rotates
	DefaultLogKeep    = 3        // app.log.1 … app.log.3
)

// RotatingFile is an append-only log file that rotates by size: when a write
// would take it past MaxSize, name becomes name.1, name.1 becomes name.2, …,
// up to name.Keep, and a new name is started. Safe for concurrent use; each
// Write lands whole in one file.
type RotatingFile struct {
	name    string
	maxSize int64
	keep    int

	mu   sync.Mutex
	f    *os.File
	size int64
}

// OpenRotatingFile opens (or creates) name for appending, creating its
// folder. maxSize ≤ 0 and keep ≤ 0 take the defaults.
func OpenRotatingFile(name string, maxSize int64, keep int) (*RotatingFile, error) {
	if maxSize <= 0 {
		maxSize = DefaultLogMaxSize
	}
	if keep <= 0 {
		keep = DefaultLogKeep
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return nil, fmt.Errorf("open app log: %w", err)
	}
	r := &RotatingFile{name: name, maxSize: maxSize, keep: keep}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *RotatingFile) open() error {
	f, err := os.OpenFile(r.name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open app log: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open app log: %w", err)
	}
	r.f, r.size = f, info.Size()
	return nil
}

func (r *RotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, os.ErrClosed
	}
	if r.size > 0 && r.size+int64(len(p)) > r.maxSize {
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

// rotate shifts the kept files up by one and starts an empty name. A failed
// rename is not fatal: the log goes on in the file it has.
func (r *RotatingFile) rotate() error {
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("rotate app log: %w", err)
	}
	r.f = nil
	_ = os.Remove(fmt.Sprintf("%s.%d", r.name, r.keep))
	for i := r.keep - 1; i >= 1; i-- {
		_ = os.Rename(fmt.Sprintf("%s.%d", r.name, i), fmt.Sprintf("%s.%d", r.name, i+1))
	}
	_ = os.Rename(r.name, r.name+".1")
	return r.open()
}

// Close closes the file; later writes fail.
func (r *RotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
