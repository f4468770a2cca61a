package shipcmd

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/settings"
)

func (a *app) newRollbackCmd() *cobra.Command {
	var jsonOut, verbose bool
	cmd := &cobra.Command{
		Use:   "rollback TARGET [N]",
		Short: "Point every host back at an older release, switched together",
		Long: `Point current at release N (default: the newest good release older than
current) on every host of TARGET and have the receivers serve it.

N must be a finished release, not marked bad, on every host; otherwise
nothing happens and the hosts where it is missing are named. Like a deploy,
a rollback has two phases: every host locks and the receiver starts N next
to what serves (out of traffic); only when every host has N healthy does
any host switch.`,
		Example: `  ship rollback prod        # the release before current, on every host
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
			s, hosts, err := a.settle(cmd, args[0])
			if err != nil {
				return err
			}
			return a.runRollback(cmd, args, s, hosts, to, jsonOut, verbose)
		},
		ValidArgsFunction: a.completeRollback,
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print one JSON document with the result on stdout (progress goes to stderr)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show the target's output as it comes")
	return a.addSettingFlags(cmd)
}

func (a *app) runRollback(cmd *cobra.Command, args []string, s *settings.Values, hosts []string, to int, jsonOut, verbose bool) error {
	progress := a.stdout
	if jsonOut {
		progress = a.stderr
	}
	var targets []deploy.Target
	for _, hs := range hosts {
		targets = append(targets, a.target(hs, s))
	}
	run := deploy.Rollback
	if a.rollback != nil {
		run = a.rollback
	}
	hk := a.hooksFor(cmd, "rollback", args[:1], hosts, progress)
	if err := hk.pre(cmd.Context(), to, "", ""); err != nil {
		fmt.Fprintf(a.stderr, "✗ %v\n", err)
		return reportedError{err}
	}
	res, err := run(cmd.Context(), targets, deploy.RollbackOptions{
		Root: optPath.From(s), To: to, Wait: optWait.From(s), LockWait: optLockWait.From(s), By: a.who(),
		Command: commandLine(cmd, args), Report: deploy.NewReporter(progress, verbose),
	})
	hookErr := hk.post(cmd.Context(), res, "", err)
	if jsonOut {
		if jerr := a.writeJSON(resultDocument(res, err)); jerr != nil && err == nil {
			err = jerr
		}
	}
	if err != nil {
		a.explainFailure(printable{a.stderr}, "rollback", args[:1], res, err)
		if hookErr != nil {
			fmt.Fprintf(a.stderr, "✗ %v\n", hookErr)
		}
		return reportedError{err}
	}
	return a.postHookFailed(hookErr, res)
}
