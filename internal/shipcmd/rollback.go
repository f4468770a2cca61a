package shipcmd

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/host"
)

func (a *app) newRollbackCmd() *cobra.Command {
	var wait string
	cmd := &cobra.Command{
		Use:   "rollback TARGET [N]",
		Short: "Point current back at an older release and reload",
		Long: `Point current at release N (default: the newest good release older than
current) and ask the receiver to serve it. Only finished releases that are not
marked bad can be chosen. The deploy lock is taken for the switch.`,
		Example: `  ship rollback prod        # the release before current
  ship rollback prod 3      # exactly release 3`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := needTarget(1)(cmd, args); err != nil {
				return err
			}
			if len(args) > 2 {
				return &usageError{cmd: "rollback", err: fmt.Errorf("too many arguments: rollback TARGET [N]")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			to := 0
			if len(args) == 2 {
				n, err := strconv.Atoi(args[1])
				if err != nil || n < 1 {
					return &usageError{cmd: "rollback", err: fmt.Errorf("release %q is not a release number", args[1])}
				}
				to = n
			}
			return a.withHost(cmd.Context(), cmd, args[0], func(h host.Host, s Settings) error {
				if cmd.Flags().Changed("wait") {
					s.Wait = &wait
				}
				d, err := durOr(s.Wait, deploy.DefaultWait, "--wait")
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "ship → %s:%s   rollback\n", h, strOr(s.Path, deploy.DefaultRoot))
				res, err := deploy.Rollback(cmd.Context(), h, deploy.RollbackOptions{
					Root: strOr(s.Path, deploy.DefaultRoot), To: to, Wait: d, By: a.who(),
					Command: commandLine(cmd, args), Out: a.stdout,
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "✓ %s is on release %d (was %d)\n", h, res.To, res.From)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&wait, "wait", "", "how long to wait for the receiver's answer (default 60s)")
	return cmd
}
