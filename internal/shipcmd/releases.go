package shipcmd

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
)

// releaseView is one row of `ship releases`, and its JSON.
type releaseView struct {
	Number   int       `json:"number"`
	Finished bool      `json:"finished"`
	Commit   string    `json:"commit,omitempty"`
	Ref      string    `json:"ref,omitempty"`
	BuiltAt  time.Time `json:"built_at,omitempty"`
	By       string    `json:"by,omitempty"`
	Current  bool      `json:"current"`
	Serving  bool      `json:"serving"`
	Bad      string    `json:"bad,omitempty"`
}

func (a *app) newReleasesCmd() *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "releases TARGET",
		Short: "List the releases on a target, newest first",
		Args:  needTarget(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSnapshot(cmd.Context(), cmd, args[0], func(h host.Host, l release.Layout, snap *release.Snapshot) error {
				st, _ := release.ReadState(h, l)
				views := releaseViews(snap, st)
				if jsonOut {
					return a.writeJSON(views)
				}
				if len(views) == 0 {
					fmt.Fprintf(a.stdout, "no releases in %s on %s yet: ship deploy %s\n", l.Releases(), h, args[0])
					return nil
				}
				tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "  REL\tCOMMIT\tREF\tBUILT\tBY\t")
				for _, v := range views {
					built := ""
					if !v.BuiltAt.IsZero() {
						built = v.BuiltAt.UTC().Format("02 Jan 15:04 UTC")
					}
					fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", v.Number, shortCommit(v.Commit), v.Ref, built, v.By, marks(v))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func releaseViews(snap *release.Snapshot, st *release.State) []releaseView {
	var views []releaseView
	for i := len(snap.Releases) - 1; i >= 0; i-- {
		r := snap.Releases[i]
		v := releaseView{Number: r.Number, Finished: r.Finished(), Current: r.Number == snap.Current}
		if r.Info != nil {
			v.Commit, v.Ref, v.BuiltAt, v.By = r.Info.Commit, r.Info.Ref, r.Info.BuiltAt, r.Info.By
		}
		if r.Bad != nil {
			v.Bad = r.Bad.Reason
			if v.Bad == "" {
				v.Bad = "marked bad"
			}
		}
		if st.Alive(time.Now()) && st.Serving != nil && st.Serving.Release == r.Number {
			v.Serving = true
		}
		views = append(views, v)
	}
	return views
}

func marks(v releaseView) string {
	var m []string
	if v.Current {
		m = append(m, "current")
	}
	if v.Serving {
		m = append(m, "serving")
	}
	if !v.Finished {
		m = append(m, "unfinished")
	}
	if v.Bad != "" {
		m = append(m, "bad: "+v.Bad)
	}
	out := ""
	for i, s := range m {
		if i > 0 {
			out += " · "
		}
		out += s
	}
	return out
}

func shortCommit(c string) string {
	if len(c) > 7 {
		return c[:7]
	}
	return c
}
