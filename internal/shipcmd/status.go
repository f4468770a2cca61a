package shipcmd

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
)

type statusView struct {
	Target   string            `json:"target"`
	Root     string            `json:"root"`
	Current  int               `json:"current"`
	Receiver *release.State    `json:"receiver,omitempty"`
	Alive    bool              `json:"receiver_alive"`
	Lock     *release.LockInfo `json:"lock,omitempty"`
}

func (a *app) newStatusCmd() *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "status TARGET",
		Short: "Show what a target serves, the receiver's last reload, and the lock",
		Args:  needTarget(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSnapshot(cmd.Context(), cmd, args[0], func(h host.Host, l release.Layout, snap *release.Snapshot) error {
				st, err := release.ReadState(h, l)
				if err != nil {
					return err
				}
				lock, err := release.ReadLock(h, l)
				if err != nil {
					return err
				}
				v := statusView{Target: h.String(), Root: l.Root, Current: snap.Current, Receiver: st, Alive: st.Alive(time.Now()), Lock: lock}
				if jsonOut {
					return a.writeJSON(v)
				}
				a.printStatus(v)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func (a *app) printStatus(v statusView) {
	w := a.stdout
	fmt.Fprintf(w, "  target    %s:%s\n", v.Target, v.Root)
	if v.Current > 0 {
		fmt.Fprintf(w, "  current   release %d\n", v.Current)
	} else {
		fmt.Fprintf(w, "  current   none (nothing deployed yet)\n")
	}
	st := v.Receiver
	switch {
	case st == nil:
		fmt.Fprintf(w, "  receiver  not running (no .ship/state.json)\n")
	case !v.Alive:
		fmt.Fprintf(w, "  receiver  not running (last heartbeat %s ago)\n", since(st.Heartbeat))
	default:
		fmt.Fprintf(w, "  receiver  up %s · pid %d · %s mode on %s\n", since(st.StartedAt), st.PID, st.Mode, st.Listen)
		if sv := st.Serving; sv != nil {
			fmt.Fprintf(w, "  serving   release %d since %s (pid %d)\n", sv.Release, sv.Since.UTC().Format("15:04:05"), sv.PID)
		}
		if st.CrashLoop {
			fmt.Fprintf(w, "  app       crash loop: %d restarts, last exit %s\n", st.Restarts, st.LastExit)
		}
	}
	if st != nil && st.LastReload != nil {
		r := st.LastReload
		res := "ok"
		if !r.OK {
			res = "failed: " + r.Error
		}
		fmt.Fprintf(w, "  last      reload %s release %d %s in %.1fs · %d dropped\n", shortID(r.ID), r.Release, res, r.Finished.Sub(r.Started).Seconds(), r.Dropped)
	}
	if v.Lock != nil {
		fmt.Fprintf(w, "  lock      held by %s on %s since %s: %s\n", v.Lock.Who, v.Lock.From, v.Lock.Since.UTC().Format(time.RFC3339), v.Lock.Command)
	} else {
		fmt.Fprintf(w, "  lock      free\n")
	}
}

func since(t time.Time) string {
	d := time.Since(t).Round(time.Second)
	if d > 48*time.Hour {
		return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
	}
	return d.String()
}

func shortID(id string) string {
	if len(id) > 6 {
		return id[:6] + "…"
	}
	return id
}
