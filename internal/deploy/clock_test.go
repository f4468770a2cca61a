package deploy

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/testenv"
)

// A host's clock is read from its pong: the switch moment sent to it is by
// its clock, a clock far off is noted, and the fleet's spread is measured
// by ship's clock.
func TestHostClockOffset(t *testing.T) {
	if e := parseEvent("@@t ", "@@t pong 7 1700000000123"); e.Kind != evPong || e.N != 7 || !e.Time.Equal(time.UnixMilli(1700000000123)) {
		t.Fatalf("pong with a clock: %+v", e)
	}
	for _, clock := range []string{"1700000000%3N", "17000000003N", "17000000003", ""} {
		if e := parseEvent("@@t ", "@@t pong 7 "+clock); e.Kind != evPong || e.N != 7 || !e.Time.IsZero() {
			t.Fatalf("pong from a date without %%N (%q): %+v", clock, e)
		}
	}
	out := &testenv.SyncBuffer{}
	for _, tc := range []struct {
		name      string
		hostAhead time.Duration // the host's clock minus ship's
		want      time.Duration // what ship takes it for
	}{
		{"in sync", 0, 0},
		{"within the pings' error", 8 * time.Millisecond, 0},
		{"ahead", 3 * time.Second, 3 * time.Second},
		{"behind", -1500 * time.Millisecond, -1500 * time.Millisecond},
	} {
		r := &hostRun{name: tc.name, rep: NewTextReporter(out, false)}
		r.pingSeq, r.pingAt = 2, time.Now().Add(-20*time.Millisecond)
		// A pong of ping 1, answered before ping 2 was sent: not a measure.
		r.pong(1, time.Now().Add(-60*time.Millisecond))
		// The host answered halfway through the round trip.
		r.pong(2, time.Now().Add(-10*time.Millisecond+tc.hostAhead))
		moment := time.Now().Add(time.Second)
		got := r.hostMoment(moment).Sub(moment)
		if (got - tc.want).Abs() > 20*time.Millisecond { // slack for a preempted test
			t.Errorf("%s: the moment sent is %s off ship's, want %s", tc.name, got, tc.want)
		}
		before := strings.Count(out.String(), "its clock is")
		r.hostMoment(moment)
		if noted := strings.Count(out.String(), "its clock is") > before; noted != (tc.want != 0) {
			t.Errorf("%s: noted %v:\n%s", tc.name, noted, out.String())
		}
	}
	// The values are checked above; the words here (a slow moment may round to 3.001s).
	if !regexp.MustCompile(`its clock is [0-9.]+s ahead of this machine's`).MatchString(out.String()) ||
		!regexp.MustCompile(`its clock is [0-9.]+s behind this machine's`).MatchString(out.String()) {
		t.Errorf("the notes:\n%s", out.String())
	}

	at := time.Now()
	sw := func(d time.Duration) *release.Answer { return &release.Answer{SwitchedAt: at.Add(d)} }
	hosts := []*Result{{Switch: sw(2 * time.Millisecond)}, {Switch: sw(3*time.Second + 5*time.Millisecond), ClockAhead: 3 * time.Second}}
	if got := switchSpread(hosts); got != 3*time.Millisecond {
		t.Errorf("spread %s, want 3ms: a switch time by a clock 3s ahead is 3s earlier by ship's", got)
	}
}
