package shipcmd

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/release"
)

// releaseView is one release on one host: a row of `ship releases`, and
// an entry of its JSON.
type releaseView struct {
	Host     string    `json:"host"`
	Number   int       `json:"number"`
	Finished bool      `json:"finished"`
	Commit   string    `json:"commit,omitempty"`
	Ref      string    `json:"ref,omitempty"`
	BuiltAt  time.Time `json:"built_at,omitempty"`
	By       string    `json:"by,omitempty"`
	Current  bool      `json:"current"`
	Serving  bool      `json:"serving"`
	Bad      string    `json:"bad,omitempty"`
	Dirty    bool      `json:"dirty,omitempty"` // an upload with uncommitted changes
	// EnvDigest is the salted digest of the release's own .env (ship.yml
	// env:); EnvChanged says it differs from the next older release's.
	EnvDigest  string `json:"env_digest,omitempty"`
	EnvChanged bool   `json:"env_changed,omitempty"`
}

func (a *app) newReleasesCmd() *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "releases TARGET",
		Short: "List the releases on a target's hosts, newest first",
		Long: `List the releases newest first, with commit, ref, build time, who, and the
marks current, serving (what the receiver runs), unfinished, bad, and "env
changed" (its .env from ship.yml's env: differs from the release before;
the values are never shown). With several hosts, one table: a row per
release and a column per host.`,
		Example: `  ship releases prod
  ship releases prod --json   # one JSON array, an entry per release and host`,
		Args: needTarget(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svs, err := a.surveyHosts(cmd.Context(), cmd, args[0])
			if err != nil {
				return err
			}
			if err := firstErr(svs); err != nil {
				return err
			}
			var views []releaseView
			for _, sv := range svs {
				views = append(views, releaseViews(sv)...)
			}
			if jsonOut {
				if views == nil {
					views = []releaseView{}
				}
				return a.writeJSON(views)
			}
			if len(views) == 0 {
				fmt.Fprintf(printable{a.stdout}, "no releases in %s yet: ship deploy %s\n", svs[0].layout.Releases(), args[0])
				return nil
			}
			if len(svs) == 1 {
				return printReleases(printable{a.stdout}, views)
			}
			return printFleetReleases(printable{a.stdout}, svs, views)
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return a.addSettingFlags(cmd)
}

func releaseViews(sv *hostSurvey) []releaseView {
	var views []releaseView
	snap, st := sv.snap, sv.state
	for i := len(snap.Releases) - 1; i >= 0; i-- {
		r := snap.Releases[i]
		v := releaseView{Host: sv.name, Number: r.Number, Finished: r.Finished(), Current: r.Number == snap.Current}
		if r.Info != nil {
			v.Commit, v.Ref, v.BuiltAt, v.By, v.Dirty = r.Info.Commit, r.Info.Ref, r.Info.BuiltAt, r.Info.By, r.Info.Dirty
			v.EnvDigest = r.Info.EnvDigest
			v.EnvChanged = envChanged(snap.Releases[:i], r.Info.EnvDigest)
		}
		if r.Bad != nil {
			v.Bad = orText(r.Bad.Reason, "marked bad")
		}
		if st.Alive(sv.now) && st.Serving != nil && st.Serving.Release == r.Number {
			v.Serving = true
		}
		views = append(views, v)
	}
	return views
}

// envChanged reports whether digest differs from the environment of the
// newest finished release in older. The digests are salted per host: only
// one host's releases are compared.
func envChanged(older []release.Release, digest string) bool {
	for i := len(older) - 1; i >= 0; i-- {
		if older[i].Info != nil {
			return older[i].Info.EnvDigest != digest
		}
	}
	return false
}

func printReleases(w io.Writer, views []releaseView) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  REL\tCOMMIT\tREF\tBUILT\tBY\t")
	for _, v := range views {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", v.Number, release.ShortCommit(v.Commit), v.Ref, builtAt(v.BuiltAt), v.By, marks(v))
	}
	return tw.Flush()
}

// printFleetReleases is one table for the fleet: a row per release, a
// column per host with that host's marks (— where it does not have it).
func printFleetReleases(w io.Writer, svs []*hostSurvey, views []releaseView) error {
	byNumber := map[int]map[string]releaseView{}
	for _, v := range views {
		if byNumber[v.Number] == nil {
			byNumber[v.Number] = map[string]releaseView{}
		}
		byNumber[v.Number][v.Host] = v
	}
	var numbers []int
	for n := range byNumber {
		numbers = append(numbers, n)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(numbers)))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	head := "  REL\tCOMMIT\tREF\tBUILT\tBY\t"
	for _, sv := range svs {
		head += sv.name + "\t"
	}
	fmt.Fprintln(tw, head)
	for _, n := range numbers {
		row := byNumber[n]
		var any releaseView
		for _, v := range row {
			if v.Commit != "" || any.Number == 0 {
				any = v
			}
		}
		line := fmt.Sprintf("  %d\t%s\t%s\t%s\t%s\t", n, release.ShortCommit(any.Commit), any.Ref, builtAt(any.BuiltAt), any.By)
		for _, sv := range svs {
			v, ok := row[sv.name]
			switch {
			case !ok:
				line += "—\t"
			case marks(v) == "":
				line += "✓\t"
			default:
				line += marks(v) + "\t"
			}
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

func builtAt(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return release.TimeText(t)
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
	if v.Dirty {
		m = append(m, "dirty (uncommitted changes)")
	}
	if v.EnvChanged {
		m = append(m, "env changed")
	}
	if v.Bad != "" {
		m = append(m, "bad: "+v.Bad)
	}
	return strings.Join(m, " · ")
}
