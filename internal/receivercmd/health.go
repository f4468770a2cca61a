package receivercmd

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/release"
)

// ErrNotServing means the receiver is not running, or runs with nothing
// serving: what a container health check must report as unhealthy.
var ErrNotServing = errors.New("not serving")

func newHealthCmd(d deps, root *string) *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Exit 0 when a receiver is running and an app instance serves (for HEALTHCHECK)",
		Long: `health reads APP_ROOT/.ship/state.json and exits 0 when the receiver's
heartbeat is fresh and an app instance is serving, 1 otherwise. It is meant
for a Dockerfile: HEALTHCHECK CMD ["receiver", "health"].`,
		Example: "  receiver health --root /srv/app",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runHealth(release.LocalFS{}, release.Layout{Root: *root}, time.Now(), d.stdout)
		},
	}
}

func runHealth(fsys release.FS, l release.Layout, now time.Time, out io.Writer) error {
	st, err := release.ReadState(fsys, l)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %v", ErrNotServing, err)
	case st == nil:
		return fmt.Errorf("%w: no receiver has written %s", ErrNotServing, l.State())
	case !st.Alive(now):
		return fmt.Errorf("%w: the receiver's heartbeat is %s old (pid %d): it is not running",
			ErrNotServing, now.Sub(st.Heartbeat).Round(time.Second), st.PID)
	case st.Serving == nil:
		msg := "no app instance is serving"
		if st.LastExit != "" {
			msg += fmt.Sprintf(" (last exit: %s, %d restarts)", st.LastExit, st.Restarts)
		}
		return fmt.Errorf("%w: %s", ErrNotServing, msg)
	}
	fmt.Fprintf(out, "ok: release %d, pid %d, since %s\n",
		st.Serving.Release, st.Serving.PID, st.Serving.Since.UTC().Format(time.RFC3339))
	return nil
}
