package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shipdeploy/ship/internal/host"
)

// TestFailureAfterTheSwitchKeepsWhatWasLearned: a host lost after `commit`
// was already asked how it ended (learn). The fleet's failure must not ask
// again as if it were lost before the switch: that cost another 50s, and
// rewrote its word to "connection lost before the switch, so current is
// unchanged there", which after the switch may well be false.
func TestFailureAfterTheSwitchKeepsWhatWasLearned(t *testing.T) {
	o := Options{Root: "/app", Repo: "/nonexistent", Ref: "main"}
	o.setDefaults()
	p := newPlan(o, "deploy")
	p.id = newID()
	p.setID(o)
	var dials atomic.Int32
	tg := Target{Name: "h1", Dial: func(context.Context) (host.Host, error) {
		dials.Add(1)
		return nil, errors.New("unreachable")
	}}
	f := newFleet([]Target{tg}, o, p)
	r := f.runs[0]
	r.began, r.lost = true, true
	learned := "no outcome within 1m50s; the host may have finished: run `ship status h1`"
	r.res.Outcome, r.res.Error = OutcomeUnknown, learned
	err := f.failure(fmt.Errorf("%w on h1", ErrUnknown), true)
	var fe *FleetError
	if !errors.As(err, &fe) {
		t.Fatalf("failure: %v", err)
	}
	if h := fe.Result.Hosts[0]; h.Outcome != OutcomeUnknown || h.Error != learned {
		t.Errorf("after the switch the host's word became %q: %q, want %q", h.Outcome, h.Error, learned)
	}
	if n := dials.Load(); n > 0 || strings.Contains(fe.Error(), "before the switch") {
		t.Errorf("dialed the lost host %d more times; error %q", n, fe.Error())
	}
}
