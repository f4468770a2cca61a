package receivercmd

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/shipdeploy/ship/internal/release"
)

// stateStore holds the receiver's state and writes it to .ship/state.json on
// every change and on every heartbeat. The loop changes it; the heartbeat
// goroutine refreshes it, so that a long drain never makes the receiver look
// dead to ship.
type stateStore struct {
	fsys release.FS
	l    release.Layout
	log  *slog.Logger

	mu      sync.Mutex
	s       release.State
	failing bool // the last write failed: log the next success or failure once
}

func newStateStore(fsys release.FS, l release.Layout, log *slog.Logger, s release.State) *stateStore {
	return &stateStore{fsys: fsys, l: l, log: log, s: s}
}

// update applies fn (which may be nil: a heartbeat) and writes the state.
func (st *stateStore) update(fn func(*release.State)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if fn != nil {
		fn(&st.s)
	}
	st.s.Heartbeat = time.Now().UTC()
	st.writeLocked()
}

// final writes the state a stopped receiver leaves: nothing serving, and a
// zero heartbeat, so that readers see at once that no receiver runs.
func (st *stateStore) final() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.s.Serving = nil
	st.s.Heartbeat = time.Time{}
	st.writeLocked()
}

func (st *stateStore) writeLocked() {
	err := release.WriteState(st.fsys, st.l, &st.s)
	switch {
	case err != nil && !st.failing:
		st.log.Error("cannot write state: ship will not see this receiver", "path", st.l.State(), "err", err)
	case err == nil && st.failing:
		st.log.Info("state written again", "path", st.l.State())
	}
	st.failing = err != nil
}

// beat refreshes the heartbeat every interval until ctx ends.
func (st *stateStore) beat(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			st.update(nil)
		}
	}
}
