package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shipdeploy/ship/internal/host"
	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/shell"
)

// Bounds of the search for a lost host's outcome. After `commit`: long
// enough for the host to finish the switch and its drain (ackWait,
// drainWait). Before: long enough to notice ship is gone (goneAfter) and
// to stop the staged release (ackWait).
const (
	outcomeWait   = (goneAfter + ackWait + drainWait + 10) * time.Second
	unwoundWithin = (goneAfter + ackWait + 10) * time.Second
)

// learn settles a host whose run did not end with `done` after `commit`:
// a failure it reported, or a lost connection, which ship reconnects to
// read the host's own audit line. It returns nil when the host finished.
func (f *fleet) learn(ctx context.Context, r *hostRun, e event, err error) error {
	if err == nil && e.Kind != evExit && !r.connectionLost() {
		return f.hostErr(r, e, nil)
	}
	f.rep.Note(r.name, "lost sight of the host after the switch was ordered; reconnecting to learn how it ended")
	entry, lerr := learnOutcome(ctx, r.t, f.p.root, f.p.id, outcomeWait)
	r.mu.Lock()
	defer r.mu.Unlock()
	if lerr != nil {
		r.res.Outcome = OutcomeUnknown
		r.res.Error = fmt.Sprintf("%v; the host may have finished: run `ship status %s`", lerr, r.name)
		return fmt.Errorf("%w on %s: %v", ErrUnknown, r.name, lerr)
	}
	r.rep.Note(r.name, fmt.Sprintf("reconnected: the host's log says %s", describeEntry(entry)))
	switch entry.Result {
	case "ok":
		r.res.Outcome, r.res.Error = OutcomeOK, ""
		return nil
	case "aborted":
		r.res.Outcome, r.res.Error = OutcomeAborted, entry.Error
	default:
		r.res.Outcome, r.res.Error = OutcomeFailed, entry.Error
	}
	return fmt.Errorf("%s: %s", r.name, describeEntry(entry))
}

// settleLost asks the hosts that were lost before the switch how they
// ended. Nothing can have switched there (no `commit` reached them); what
// this confirms is that each unwound and freed its lock.
func (f *fleet) settleLost(ctx context.Context) {
	f.each(f.runs, func(r *hostRun) (event, error) {
		if !r.connectionLost() {
			return event{}, nil
		}
		entry, err := learnOutcome(ctx, r.t, f.p.root, f.p.id, unwoundWithin)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.res.Outcome = OutcomeUnknown
			r.res.Error = fmt.Sprintf("connection lost before the switch, so current is unchanged there; "+
				"the host frees its lock by itself within %ds (%v)", lockStale, err)
			return event{}, nil
		}
		r.res.Outcome, r.res.Error = entry.Result, entry.Error
		if entry.Result == "ok" { // cannot happen without commit; say what the log says
			r.res.Outcome = OutcomeOK
		}
		return event{}, nil
	})
}

// learnOutcome reconnects to t until the audit line of run id appears in
// its log, or within passes.
func learnOutcome(ctx context.Context, t Target, root, id string, within time.Duration) (*release.LogEntry, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), within)
	defer cancel()
	script := fmt.Sprintf("cd %s && tail -c 262144 .ship/log.jsonl | grep -F %s | tail -n 1",
		shell.Quote(root), shell.Quote(`"id":"`+id+`"`))
	var last error
	for ctx.Err() == nil {
		h, err := t.Dial(ctx)
		if err != nil {
			last = err
			sleepCtx(ctx, 2*time.Second)
			continue
		}
		for ctx.Err() == nil {
			out, err := host.Output(ctx, h, script)
			if err != nil && !isNoMatch(err) {
				last = err
				break
			}
			if line := strings.TrimSpace(string(out)); line != "" {
				var e release.LogEntry
				if json.Unmarshal([]byte(line), &e) == nil && e.Kind != "unlock" {
					h.Close()
					return &e, nil
				}
			}
			sleepCtx(ctx, time.Second)
		}
		h.Close()
	}
	if last == nil {
		last = errors.New("the host wrote no outcome for this run")
	}
	return nil, fmt.Errorf("no outcome within %s: %w", within, last)
}

// isNoMatch is grep's "nothing found" (exit status 1): not an error here.
func isNoMatch(err error) bool {
	var ee *host.ExitError
	return errors.As(err, &ee) && ee.Status == 1
}

func describeEntry(e *release.LogEntry) string {
	switch e.Result {
	case "ok":
		return fmt.Sprintf("finished: release %d is live", e.Release)
	case "aborted":
		return fmt.Sprintf("stopped before the switch (%s): release %d is still current", e.Error, e.Previous)
	}
	step := e.Step
	if step == "" {
		step = "a step"
	}
	return fmt.Sprintf("failed at %s: %s", step, e.Error)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
