package shipcmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/settings"
)

// Maintenance bounds.
const (
	// maintenanceAck: how long ship waits for a running receiver to show
	// the change in its state.json (it looks at once, and every 2 s).
	maintenanceAck = 10 * time.Second
)

func (a *app) newMaintenanceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "maintenance TARGET on|off",
		Short: "Answer visitors with a maintenance page (503) while the app keeps running",
		Long: `With on, the receiver on every host of TARGET answers every request (but the
webhook's) with 503, a Retry-After header and shared/maintenance.html (a
plain page when there is none), in the app's place; the app keeps running
and deploys go on behind the page. off gives the requests back to the app.

It is the file .ship/maintenance.json: a restarted receiver keeps the page
up, and a deploy leaves it as it is (ship deploy --maintenance-off ends it
once the new release serves everywhere). ship status shows it. The receiver
must run in proxy mode.`,
		Example: `  ship maintenance prod on
  ship deploy prod
  ship maintenance prod off
  ship maintenance prod on --retry-after 30m`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := needTarget(1)(cmd, args); err != nil {
				return err
			}
			if len(args) != 2 || (args[1] != "on" && args[1] != "off") {
				return &usageError{cmd: "maintenance", err: errors.New("give TARGET, then on or off: ship maintenance prod on")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			on := args[1] == "on"
			return a.withHost(cmd.Context(), cmd, args[0], func(h host.Host, s *settings.Values) error {
				return a.setMaintenance(cmd.Context(), h, release.Layout{Root: optPath.From(s)}, on, optRetryAfter.From(s))
			})
		},
	}
	cmd.ValidArgsFunction = func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 1 {
			return []cobra.Completion{"on", "off"}, cobra.ShellCompDirectiveNoFileComp
		}
		return a.completeTargets(c, args, toComplete)
	}
	return a.addSettingFlags(cmd)
}

// setMaintenance turns maintenance on or off on one host and waits
// (bounded) for a running receiver to show it.
func (a *app) setMaintenance(ctx context.Context, h host.Host, l release.Layout, on bool, retryAfter time.Duration) error {
	st, err := release.ReadState(h, l)
	if err != nil {
		return err
	}
	now := hostClock(h, l)
	alive := st.Alive(now)
	if on && alive && st.Mode == "restart" {
		return fmt.Errorf("%s: the receiver runs in restart mode (the app owns the port): nothing can answer in the app's place; maintenance needs proxy mode", h)
	}
	var m *release.Maintenance
	if on {
		m = &release.Maintenance{Since: time.Now().UTC(), By: a.who(), RetryAfter: int(retryAfter.Round(time.Second) / time.Second)}
	}
	if err := release.SetMaintenance(h, l, m); err != nil {
		return fmt.Errorf("%s: %w", h, err)
	}
	word := map[bool]string{true: "on", false: "off"}[on]
	if !alive {
		fmt.Fprintf(a.stdout, "%s: maintenance %s; no receiver runs there now: it takes effect when one starts\n", h, word)
		return nil
	}
	deadline := time.Now().Add(maintenanceAck)
	for {
		st, err := release.ReadState(h, l)
		if err == nil && st != nil && (st.Maintenance != nil) == on {
			a.sayMaintenance(h, st.Maintenance, on)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: maintenance %s is written (%s), but the receiver did not show it within %s: ship status %s", h, word, l.Maintenance(), maintenanceAck, h)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (a *app) sayMaintenance(h host.Host, m *release.Maintenance, on bool) {
	if !on {
		fmt.Fprintf(a.stdout, "%s: maintenance off: the app answers again\n", h)
		return
	}
	fmt.Fprintf(a.stdout, "%s: maintenance on: the receiver answers 503 with %s (Retry-After %ds); the app keeps running\n",
		h, orText(m.Page, "its plain page"), m.RetryAfter)
}
