package shipcmd

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
)

func (a *app) newUnlockCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unlock TARGET",
		Short: "Remove a deploy lock left by a deploy that died",
		Long: `Remove .ship/lock on the target and say who held it. Use it only when the
deploy that holds it is gone (its machine crashed, its CI job was killed);
a live deploy that loses its lock can collide with the next one.`,
		Args: needTarget(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withHost(cmd.Context(), cmd, args[0], func(h host.Host, s Settings) error {
				l := release.Layout{Root: strOr(s.Path, deploy.DefaultRoot)}
				holder, err := release.ReadLock(h, l)
				if err != nil {
					return err
				}
				if holder == nil {
					fmt.Fprintf(a.stdout, "%s: the lock is free; nothing to do\n", h)
					return nil
				}
				if err := release.Unlock(h, l, ""); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "✓ %s unlocked. It was held by %s on %s (pid %d) since %s (%s ago): %s\n",
					h, holder.Who, holder.From, holder.PID, holder.Since.UTC().Format(time.RFC3339),
					time.Since(holder.Since).Round(time.Second), holder.Command)
				_ = release.AppendLog(h, l, release.LogEntry{Time: time.Now().UTC(), Kind: "unlock", Result: "ok", By: a.who(), Detail: "removed lock " + holder.ID})
				return nil
			})
		},
	}
}
