package shipcmd

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/settings"
)

// errHolderAlive is a lock whose holder still shows a heartbeat.
var errHolderAlive = fmt.Errorf("%w: its holder is alive", release.ErrLocked)

func (a *app) newUnlockCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "unlock TARGET",
		Short: "Remove a deploy lock left by a deploy that died",
		Long: `Remove .ship/lock on every host of TARGET and say who held it.

A live deploy refreshes a heartbeat in its lock every 2 seconds, and the next
deploy takes over a lock whose heartbeat stopped more than 60 seconds ago, so
this is rarely needed. ship unlock refuses a lock whose holder is alive; with
--force it removes it anyway (that deploy may then collide with the next one).
A lock whose info cannot be read is removed.`,
		Example: `  ship unlock prod
  ship unlock prod --force    # the holder looks alive, but you know it is gone`,
		Args: needTarget(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withHost(cmd.Context(), cmd, args[0], func(h host.Host, s *settings.Values) error {
				return a.unlockHost(h, release.Layout{Root: optPath.From(s)}, force)
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "remove the lock even if its holder still shows a heartbeat")
	return a.addSettingFlags(cmd)
}

func (a *app) unlockHost(h host.Host, l release.Layout, force bool) error {
	holder, err := release.ReadLock(h, l)
	if err != nil {
		return err
	}
	if holder == nil {
		fmt.Fprintf(printable{a.stdout}, "%s: the lock is free; nothing to do\n", h)
		return nil
	}
	beat := lockBeat(h, l, holder)
	if beat.alive && !force {
		fmt.Fprintf(printable{a.stderr}, "✗ %s: the lock is held by %s; its heartbeat is %s old, so that deploy is alive.\n",
			h, describeLock(holder), beat.age.Round(time.Second))
		fmt.Fprintf(printable{a.stderr}, "  Wait for it (ship status shows it), or pass --force if you know it is gone.\n")
		return reportedError{errHolderAlive}
	}
	if err := release.Unlock(h, l, ""); err != nil {
		return err
	}
	fmt.Fprintf(printable{a.stdout}, "✓ %s unlocked. It was held by %s%s\n", h, describeLock(holder), beat.note())
	_ = release.AppendLog(h, l, release.LogEntry{Time: time.Now().UTC(), Kind: "unlock", Result: "ok", By: a.who(), Detail: "removed lock " + holder.ID})
	return nil
}

// heartbeat is what a lock's heartbeat says, judged by the host's clock.
type heartbeat struct {
	known bool
	age   time.Duration
	alive bool
}

func lockBeat(h host.Host, l release.Layout, holder *release.LockInfo) heartbeat {
	at, ok := release.LockHeartbeat(h, l, holder.ID)
	if !ok {
		return heartbeat{}
	}
	now, err := release.HostNow(h, l)
	if err != nil {
		now = time.Now()
	}
	age := now.Sub(at)
	return heartbeat{known: true, age: age, alive: age < release.LockStaleAfter && age > -release.LockStaleAfter}
}

func (b heartbeat) note() string {
	switch {
	case !b.known:
		return " (no heartbeat to read)"
	case b.alive:
		return fmt.Sprintf(" (heartbeat %s ago)", b.age.Round(time.Second))
	}
	return fmt.Sprintf(" (its heartbeat stopped %s ago)", b.age.Round(time.Second))
}

func describeLock(h *release.LockInfo) string {
	if h.Since.IsZero() {
		return fmt.Sprintf("%s %s", h.Who, h.Command)
	}
	return fmt.Sprintf("%s on %s (pid %d) since %s (%s ago): %s", h.Who, h.From, h.PID,
		release.TimeText(h.Since), time.Since(h.Since).Round(time.Second), h.Command)
}
