package shipcmd

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/shipdeploy/ship/internal/deploy"
	"github.com/shipdeploy/ship/internal/release"
)

// resultDoc is the one JSON document `ship deploy --json` and `ship
// rollback --json` print, whatever happened.
type resultDoc struct {
	OK bool `json:"ok"`
	*deploy.FleetResult
	Error *errorDoc `json:"error,omitempty"`
}

type errorDoc struct {
	Kind     string `json:"kind"` // usage | locked | unhealthy | failed | unknown | interrupted
	Message  string `json:"message"`
	Switched bool   `json:"switched"` // some host switched (a mixed fleet)
	Realign  string `json:"realign,omitempty"`
}

func resultDocument(res *deploy.FleetResult, err error) resultDoc {
	if res == nil {
		res = &deploy.FleetResult{Hosts: []*deploy.Result{}}
	}
	doc := resultDoc{OK: err == nil, FleetResult: res}
	if err != nil {
		doc.Error = &errorDoc{Kind: errorKind(err), Message: err.Error()}
		var fe *deploy.FleetError
		if errors.As(err, &fe) {
			doc.Error.Switched, doc.Error.Realign = fe.Switched, fe.Realign
		}
	}
	return doc
}

func errorKind(err error) string {
	var ue *usageError
	var ce configError
	switch {
	case errors.As(err, &ue), errors.As(err, &ce):
		return "usage"
	case errors.Is(err, release.ErrLocked):
		return "locked"
	case errors.Is(err, deploy.ErrInterrupted):
		return "interrupted"
	case errors.Is(err, deploy.ErrUnknown):
		return "unknown"
	case errors.Is(err, deploy.ErrUnhealthy):
		return "unhealthy"
	}
	return "failed"
}

// explainFailure prints the closing lines of a run that did not finish:
// what failed, what state each host is in, what to do. Only what ship saw
// (or knows by construction: no host switches without its word) is said.
func (a *app) explainFailure(w io.Writer, verb string, args []string, res *deploy.FleetResult, err error) {
	target := strings.Join(args, " ")
	var le *deploy.LockedError
	if errors.As(err, &le) {
		fmt.Fprintf(w, "✗ %s is locked by another deploy: %v\n", strings.Join(le.Hosts, ", "), le)
		fmt.Fprintf(w, "  Nothing was changed. Wait for it, pass --lock-wait 5m, or if that deploy is dead: ship unlock %s\n", target)
		return
	}
	var fe *deploy.FleetError
	if !errors.As(err, &fe) {
		fmt.Fprintf(w, "✗ %s failed: %v\n", verb, err)
		return
	}
	if errors.Is(err, deploy.ErrInterrupted) && !fe.Switched {
		fmt.Fprintf(w, "✗ %s interrupted before any host switched: current is unchanged, the old release serves, the locks are released.\n", verb)
		return
	}
	if len(fe.Result.Hosts) == 1 {
		a.explainHost(w, verb, target, fe)
		return
	}
	a.explainFleet(w, verb, target, fe)
}

// explainHost is the failure of a fleet of one.
func (a *app) explainHost(w io.Writer, verb, target string, fe *deploy.FleetError) {
	h, n := fe.Result.Hosts[0], fe.Result.Release
	cur := "there is no current release"
	if h.Previous > 0 {
		cur = fmt.Sprintf("current is release %d", h.Previous)
	}
	switch {
	case h.Outcome == deploy.OutcomeUnknown:
		fmt.Fprintf(w, "✗ the outcome on %s is unknown: %s\n", h.Target, h.Error)
		fmt.Fprintf(w, "  Run `ship status %s` to see what serves there.\n", target)
	case fe.Switched:
		fmt.Fprintf(w, "✗ %s on %s: %v\n", verb, h.Target, fe.Err)
	case errors.Is(fe, deploy.ErrUnhealthy):
		fmt.Fprintf(w, "✗ release %d never took traffic on %s: %v\n", n, h.Target, fe.Err)
		if h.Previous > 0 {
			cur = fmt.Sprintf("release %d kept serving and current never moved from it", h.Previous)
		}
		fmt.Fprintf(w, "  %s; release %d is marked bad (or was stopped). The lock is released.\n", cur, n)
	default:
		rel := "the " + verb
		if n > 0 {
			rel = fmt.Sprintf("release %d", n)
		}
		where := h.FailedStage
		if where == "" {
			where = h.Outcome
		}
		fmt.Fprintf(w, "✗ %s failed at %s on %s: %s\n", rel, where, h.Target, orText(h.Error, fe.Err.Error()))
		fmt.Fprintf(w, "  %s; nothing was switched. The lock is released.\n", cur)
		fmt.Fprintf(w, "  The commands' whole output: ship %s -v (the lines above are the last of it).\n", verb)
	}
}

// explainFleet is a table of hosts, then the fleet's state.
func (a *app) explainFleet(w io.Writer, verb, target string, fe *deploy.FleetError) {
	res := fe.Result
	fmt.Fprintf(w, "✗ release %d was not %sed on every host: %v\n", res.Release, verb, fe.Err)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  HOST\tOUTCOME\tCURRENT\tWHY\t")
	for _, h := range res.Hosts {
		cur := h.Previous
		if h.Outcome == deploy.OutcomeOK {
			cur = res.Release
		}
		why := h.Error
		if h.FailedStage != "" {
			why = h.FailedStage + ": " + why
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t\n", h.Target, h.Outcome, releaseName(cur, h.Outcome), why)
	}
	tw.Flush()
	for _, h := range res.Hosts {
		if len(h.Output) > 0 && h.Outcome == deploy.OutcomeFailed {
			fmt.Fprintf(w, "  %s, last lines:\n", h.Target)
			for _, l := range h.Output {
				fmt.Fprintf(w, "      │ %s\n", l)
			}
		}
	}
	if !fe.Switched {
		fmt.Fprintf(w, "  No host switched: current is unchanged everywhere and the old release keeps serving. The locks are released.\n")
		return
	}
	fmt.Fprintf(w, "  The fleet is mixed: some hosts serve release %d, the others what the table says.\n", res.Release)
	fmt.Fprintf(w, "  To put every host on one release: %s\n", strings.ReplaceAll(fe.Realign, "TARGET", target))
}

func releaseName(n int, outcome string) string {
	switch {
	case outcome == deploy.OutcomeUnknown:
		return "?"
	case n == 0:
		return "none"
	}
	return fmt.Sprintf("release %d", n)
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
