package receivercmd

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/shipdeploy/ship/internal/release"
)

// defaultPollEvery is the safety net under inotify: an event lost (a
// filesystem that does not report, a watch that failed) costs at most this.
const defaultPollEvery = 2 * time.Second

// triggers collects reload requests for the loop. However many arrive while
// the loop is busy, they leave one token: the loop then does exactly one
// more reload, which reads the newest RELOAD.
type triggers struct {
	c     chan struct{}
	hup   atomic.Bool   // a SIGHUP asks for a reload even with no RELOAD file
	maint chan struct{} // .ship/maintenance.json changed
}

func newTriggers() *triggers {
	return &triggers{c: make(chan struct{}, 1), maint: make(chan struct{}, 1)}
}

func (t *triggers) poke() { pokeChan(t.c) }

// pokeChan leaves one token in c: however many come, one wakes the loop.
func pokeChan(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// requestKinds are the request files the receiver takes, in releases/.
var requestKinds = []string{release.RequestAbort, release.RequestCommit, release.RequestStage, release.RequestReload}

func isRequest(name string) bool {
	for _, k := range requestKinds {
		if name == k {
			return true
		}
	}
	return false
}

// watchReload pokes t when a request file (RELOAD, STAGE, COMMIT, ABORT) is
// created, written or touched in releases/, and on every poll that finds
// one present, until ctx ends; and t.maint when .ship/maintenance.json
// comes or goes (the loop's tick looks too).
func watchReload(ctx context.Context, l release.Layout, every time.Duration, t *triggers, log *slog.Logger) error {
	dir := l.Releases()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	w, err := fsnotify.NewWatcher()
	if err == nil {
		defer w.Close()
		err = w.Add(dir)
		events, errs = w.Events, w.Errors
	}
	if err == nil {
		if merr := w.Add(l.ShipDir()); merr != nil {
			log.Warn("cannot watch for maintenance: looking every tick", "dir", l.ShipDir(), "err", merr)
		}
	}
	if err != nil {
		log.Warn("cannot watch for RELOAD: polling only", "dir", dir, "every", every, "err", err)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-events:
			name := filepath.Base(ev.Name)
			if isMaintenance(name) && filepath.Dir(ev.Name) == filepath.Clean(l.ShipDir()) {
				pokeChan(t.maint)
			} else if isRequest(name) && ev.Op&(fsnotify.Create|fsnotify.Write|fsnotify.Chmod|fsnotify.Rename) != 0 {
				t.poke()
			}
		case err := <-errs:
			log.Warn("watching for RELOAD", "err", err) // the poll covers a lost event
		case <-tick.C:
			for _, k := range requestKinds {
				if _, err := os.Lstat(l.Request(k)); err == nil {
					t.poke()
				} else if !errors.Is(err, fs.ErrNotExist) {
					log.Warn("checking for requests", "err", err)
				}
			}
		}
	}
}

// forwardHup turns each SIGHUP into a reload.
func forwardHup(ctx context.Context, hup <-chan os.Signal, t *triggers) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			t.hup.Store(true)
			t.poke()
		}
	}
}
