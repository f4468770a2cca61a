package shipcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/dotenv"
	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
)

// envView is one host's app environment: a block of `ship env`, an entry
// of its JSON. Values are there only with --reveal.
type envView struct {
	Host    string            `json:"host"`
	Release int               `json:"release"`
	Keys    []string          `json:"keys"`
	Values  map[string]string `json:"values,omitempty"`
}

func (a *app) newEnvCmd() *cobra.Command {
	f := &releaseFlags{}
	var reveal, jsonOut bool
	cmd := &cobra.Command{
		Use:   "env TARGET",
		Short: "Show the app's environment in the live release: its names, values hidden",
		Long: `Show the variables the app gets from the .env files of the current release
(or --release N) on every host of TARGET, as Bun reads them: ship.yml's env:
and whatever the release's .env had besides (shared/.env). Values are hidden
unless --reveal.`,
		Example: `  ship env prod
  ship env prod --host web1 --reveal
  ship env prod --release 41 --json`,
		Args: needTarget(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, hosts, err := a.settle(cmd, args[0])
			if err != nil {
				return err
			}
			if hosts, err = pickHost(hosts, f.host); err != nil {
				return &usageError{cmd: "env", err: err}
			}
			l := release.Layout{Root: optPath.From(s)}
			var views []envView
			for _, hs := range hosts {
				h, err := a.dial(cmd.Context(), hs, s)
				if err != nil {
					return err
				}
				v, err := readEnv(cmd.Context(), h, l, f.release, reveal)
				h.Close()
				if err != nil {
					return err
				}
				v.Host = hs
				views = append(views, v)
			}
			if jsonOut {
				return a.writeJSON(views)
			}
			for i, v := range views {
				if i > 0 {
					fmt.Fprintln(a.stdout)
				}
				printEnv(a.stdout, v, reveal)
			}
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&reveal, "reveal", false, "show the values too")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return a.addSettingFlags(cmd)
}

// readEnv asks the host's bun what it reads from the release's .env files.
func readEnv(ctx context.Context, h host.Host, l release.Layout, n int, reveal bool) (envView, error) {
	dir, err := releaseDir(h, l, n)
	if err != nil {
		return envView{}, err
	}
	num, _ := release.ParseCurrentTarget(dir)
	out, err := host.Output(ctx, h, deploy.EnvScript(l.Root, dir))
	if err != nil {
		return envView{}, fmt.Errorf("read the environment of release %d on %s: %w", num, h, err)
	}
	var vars map[string]string
	if err := json.Unmarshal(bytes.TrimSpace(out), &vars); err != nil {
		return envView{}, fmt.Errorf("read the environment of release %d on %s: bun said something else than JSON", num, h)
	}
	v := envView{Release: num, Keys: []string{}}
	for k := range vars {
		v.Keys = append(v.Keys, k)
	}
	sort.Strings(v.Keys)
	if reveal {
		v.Values = vars
	}
	return v, nil
}

func printEnv(w io.Writer, v envView, reveal bool) {
	fmt.Fprintf(w, "  %s · release %d · %d variables from its .env files\n", v.Host, v.Release, len(v.Keys))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, k := range v.Keys {
		value := "(hidden: --reveal shows it)"
		if reveal {
			value = shownValue(v.Values[k])
		}
		name := k
		if !dotenv.ValidName(k) {
			name = strconv.Quote(k)
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, value)
	}
	tw.Flush()
}

// shownValue is a value on one line: quoted when it has a line break, a
// control character or spaces at its ends.
func shownValue(s string) string {
	if strconv.Quote(s) == `"`+s+`"` && strings.TrimSpace(s) == s && s != "" {
		return s
	}
	return strconv.Quote(s)
}
