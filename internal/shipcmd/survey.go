package shipcmd

import (
	"context"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/settings"
)

// hostSurvey is what the read commands learn from one host.
type hostSurvey struct {
	name   string
	layout release.Layout
	snap   *release.Snapshot
	state  *release.State
	now    time.Time // the host's clock, to judge heartbeats by
	lock   *release.LockInfo
	beat   heartbeat
	// maintenance is .ship/maintenance.json (nil: off)
	maintenance *release.Maintenance
	err         error
}

// surveyHosts reads every host of target at once: releases, the receiver's
// state and the lock. A host that cannot be read carries its error.
func (a *app) surveyHosts(ctx context.Context, cmd *cobra.Command, target string) ([]*hostSurvey, error) {
	s, hosts, err := a.settle(cmd, target)
	if err != nil {
		return nil, err
	}
	out := make([]*hostSurvey, len(hosts))
	var wg sync.WaitGroup
	for i, hs := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = a.surveyHost(ctx, hs, s)
		}()
	}
	wg.Wait()
	return out, nil
}

func (a *app) surveyHost(ctx context.Context, hs string, s *settings.Values) *hostSurvey {
	sv := &hostSurvey{name: hs, layout: release.Layout{Root: optPath.From(s)}}
	h, err := a.dial(ctx, hs, s)
	if err != nil {
		sv.err = err
		return sv
	}
	defer h.Close()
	sv.name = h.String()
	if sv.snap, sv.err = release.Read(h, sv.layout); sv.err != nil {
		return sv
	}
	if sv.state, sv.err = release.ReadState(h, sv.layout); sv.err != nil {
		return sv
	}
	if sv.lock, sv.err = release.ReadLock(h, sv.layout); sv.err != nil {
		return sv
	}
	if sv.maintenance, sv.err = release.ReadMaintenance(h, sv.layout); sv.err != nil {
		return sv
	}
	sv.now = hostClock(h, sv.layout)
	if sv.lock != nil {
		sv.beat = lockBeat(h, sv.layout, sv.lock)
	}
	return sv
}

// hostClock is the host's time, or ours when it cannot be read.
func hostClock(h host.Host, l release.Layout) time.Time {
	if now, err := release.HostNow(h, l); err == nil {
		return now
	}
	return time.Now()
}

// firstErr is the first host's error, for commands that need every host.
func firstErr(svs []*hostSurvey) error {
	for _, sv := range svs {
		if sv.err != nil {
			return sv.err
		}
	}
	return nil
}
