package shipcmd

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/release"
)

// statusView is one host's state: a block of `ship status`, an entry of
// its JSON.
type statusView struct {
	Target   string         `json:"target"`
	Root     string         `json:"root"`
	Current  int            `json:"current"`
	Receiver *release.State `json:"receiver,omitempty"`
	Alive    bool           `json:"receiver_alive"`
	// Maintenance is .ship/maintenance.json: asked for, whether or not a
	// receiver shows it (Receiver.Maintenance says it does).
	Maintenance *release.Maintenance `json:"maintenance,omitempty"`
	Lock        *release.LockInfo    `json:"lock,omitempty"`
	// LockAlive: the lock's holder showed a heartbeat within a minute.
	LockAlive bool   `json:"lock_alive,omitempty"`
	Error     string `json:"error,omitempty"` // the host could not be read
}

func (a *app) newStatusCmd() *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "status TARGET",
		Short: "Show what each host serves, the receiver's last reload, and the lock",
		Example: `  ship status prod
  ship status prod --json   # one JSON array, an entry per host`,
		Args: needTarget(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svs, err := a.surveyHosts(cmd.Context(), cmd, args[0])
			if err != nil {
				return err
			}
			views := make([]statusView, len(svs))
			for i, sv := range svs {
				views[i] = statusOf(sv)
			}
			if jsonOut {
				if err := a.writeJSON(views); err != nil {
					return err
				}
			} else {
				for i, v := range views {
					if i > 0 {
						fmt.Fprintln(printable{a.stdout})
					}
					printStatus(printable{a.stdout}, v)
				}
			}
			return firstErr(svs)
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return a.addSettingFlags(cmd)
}

func statusOf(sv *hostSurvey) statusView {
	v := statusView{Target: sv.name, Root: sv.layout.Root}
	if sv.err != nil {
		v.Error = sv.err.Error()
		return v
	}
	v.Current, v.Receiver, v.Alive = sv.snap.Current, sv.state, sv.state.Alive(sv.now)
	v.Lock, v.LockAlive = sv.lock, sv.beat.alive
	v.Maintenance = sv.maintenance
	return v
}

func printStatus(w io.Writer, v statusView) {
	fmt.Fprintf(w, "  target    %s:%s\n", v.Target, v.Root)
	if v.Error != "" {
		fmt.Fprintf(w, "  error     %s\n", v.Error)
		return
	}
	if v.Current > 0 {
		fmt.Fprintf(w, "  current   release %d\n", v.Current)
	} else {
		fmt.Fprintf(w, "  current   none (nothing deployed yet)\n")
	}
	printReceiver(w, v)
	printMaintenance(w, v)
	if v.Lock == nil {
		fmt.Fprintf(w, "  lock      free\n")
		return
	}
	state := "its heartbeat stopped: the next deploy takes it over"
	if v.LockAlive {
		state = "alive"
	}
	fmt.Fprintf(w, "  lock      held by %s (%s)\n", describeLock(v.Lock), state)
}

func printReceiver(w io.Writer, v statusView) {
	st := v.Receiver
	switch {
	case st == nil:
		fmt.Fprintf(w, "  receiver  not running (no .ship/state.json)\n")
	case !v.Alive:
		fmt.Fprintf(w, "  receiver  not running (last heartbeat %s ago)\n", since(st.Heartbeat))
	default:
		fmt.Fprintf(w, "  receiver  up %s · pid %d · %s mode on %s\n", since(st.StartedAt), st.PID, st.Mode, st.Listen)
		if sv := st.Serving; sv != nil {
			fmt.Fprintf(w, "  serving   release %d since %s (pid %d)\n", sv.Release, clock(sv.Since), sv.PID)
		}
		if sg := st.Staged; sg != nil {
			health := "starting"
			if sg.Healthy {
				health = "healthy, waiting for the switch"
			}
			fmt.Fprintf(w, "  staged    release %d (%s) since %s\n", sg.Release, health, clock(sg.Since))
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
}

// printMaintenance says whether visitors get the maintenance page.
func printMaintenance(w io.Writer, v statusView) {
	m := v.Maintenance
	if m == nil {
		return
	}
	by := ""
	if m.By != "" {
		by = " by " + m.By
	}
	switch shown := v.Receiver.ShownMaintenance(v.Alive); {
	case shown != nil:
		fmt.Fprintf(w, "  maint.    ON since %s%s: 503 with %s, Retry-After %ds (ship maintenance %s off)\n",
			clock(m.Since), by, orText(shown.Page, "the plain page"), shown.RetryAfter, v.Target)
	default:
		fmt.Fprintf(w, "  maint.    asked since %s%s, but no receiver shows it (not running, or in restart mode)\n", clock(m.Since), by)
	}
}

// clock is a moment as ship writes them for people.
func clock(t time.Time) string { return release.TimeText(t) }

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
