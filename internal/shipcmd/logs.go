package shipcmd

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/settings"
	"github.com/shipdeploy/ship/internal/shell"
)

func (a *app) newLogsCmd() *cobra.Command {
	var follow bool
	var lines int
	cmd := &cobra.Command{
		Use:   "logs TARGET",
		Short: "Show the app's output, as the receiver recorded it",
		Example: `  ship logs prod -n 200
  ship logs prod -f`,
		Args: needTarget(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if lines < 1 {
				return &usageError{cmd: "logs", err: fmt.Errorf("-n %d: give at least 1 line", lines)}
			}
			return a.withHost(cmd.Context(), cmd, args[0], func(h host.Host, s *settings.Values) error {
				l := release.Layout{Root: optPath.From(s)}
				flags := fmt.Sprintf("-n %d", lines)
				if follow {
					flags += " -F"
				}
				script := fmt.Sprintf(`f=%s; [ -e "$f" ] || { echo "no app log at $f: is the receiver running there?" >&2; exit 1; }; exec tail %s "$f"`, shell.Quote(l.AppLog()), flags)
				err := h.Run(cmd.Context(), host.Command{Script: script, Stdout: a.stdout, Stderr: a.stderr})
				if follow && cmd.Context().Err() != nil {
					return nil // Ctrl-C ends -f
				}
				var ee *host.ExitError
				if errors.As(err, &ee) {
					return reportedError{err} // the server's own words were printed: no second line
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines")
	cmd.Flags().IntVarP(&lines, "lines", "n", 50, "how many lines")
	return a.addSettingFlags(cmd)
}
