package deploy

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shipdeploy/ship/internal/release"
)

// Outcomes of one host's run.
const (
	OutcomeOK      = "ok"
	OutcomeFailed  = "failed"  // a step failed: nothing switched on this host
	OutcomeAborted = "aborted" // stopped before the switch: nothing switched on this host
	OutcomeLocked  = "locked"  // another deploy holds the lock: nothing done
	OutcomeUnknown = "unknown" // ship lost the host and could not learn the end
)

var (
	// ErrUnhealthy means a new release did not become healthy.
	ErrUnhealthy = errors.New("the new release did not become healthy")
	// ErrLocked is release.ErrLocked, here for callers of this package.
	ErrLocked = release.ErrLocked
	// ErrUnknown means ship could not learn how a run ended on a host.
	ErrUnknown = errors.New("the outcome is unknown")
	// ErrInterrupted means the run was stopped by a signal (Ctrl-C).
	ErrInterrupted = errors.New("interrupted")
	// ErrNoTarget means there is no release to roll back to.
	ErrNoTarget = errors.New("no release to roll back to")
)

// StageResult is one line of the report.
type StageResult struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration_ns"`
	Note     string        `json:"note,omitempty"`
}

// Result is one host's part of a run.
type Result struct {
	Target      string          `json:"host"`
	Outcome     string          `json:"outcome"`
	Error       string          `json:"error,omitempty"`
	FailedStage string          `json:"failed_stage,omitempty"`
	Output      []string        `json:"output,omitempty"` // the failing step's last lines
	Release     int             `json:"release"`
	Previous    int             `json:"previous"`
	Commit      string          `json:"commit"`
	Ref         string          `json:"ref"`
	Stages      []StageResult   `json:"stages"`
	Staged      *release.Answer `json:"staged,omitempty"` // the receiver's health answer
	Switch      *release.Answer `json:"switch,omitempty"` // its answer to the switch
	// Retried: the host missed the fleet's switch and was deployed again
	// alone (its switch is not in the fleet's spread).
	Retried bool `json:"retried,omitempty"`
	// ClockAhead is the host's clock minus ship's, when a fleet's switch
	// measured it beyond the pings' error: Switch's times are the host's.
	ClockAhead time.Duration `json:"clock_ahead_ns,omitempty"`
	Kept       []int         `json:"kept"`
	Removed    []int         `json:"removed"`
	Duration   time.Duration `json:"duration_ns"`
}

// FleetResult is a whole run: one release on every host.
type FleetResult struct {
	Kind    string    `json:"kind"` // deploy | rollback
	Release int       `json:"release"`
	Commit  string    `json:"commit"`
	Ref     string    `json:"ref"`
	Hosts   []*Result `json:"hosts"`
	// Spread is how far apart the receivers moved traffic (-1: unknown).
	Spread   time.Duration `json:"switch_spread_ns"`
	Duration time.Duration `json:"duration_ns"`
}

// OK reports whether every host finished.
func (f *FleetResult) OK() bool {
	for _, h := range f.Hosts {
		if h.Outcome != OutcomeOK {
			return false
		}
	}
	return len(f.Hosts) > 0
}

// Host returns the result of the host named name.
func (f *FleetResult) Host(name string) *Result {
	for _, h := range f.Hosts {
		if h.Target == name {
			return h
		}
	}
	return nil
}

// FleetError is a run that did not finish on every host. Switched says
// whether any host switched (then the fleet is mixed, see Realign).
type FleetError struct {
	Result   *FleetResult
	Switched bool
	Realign  string // a command that puts every host on one release again
	Err      error  // the first cause
}

func (e *FleetError) Error() string {
	var bad []string
	for _, h := range e.Result.Hosts {
		if h.Outcome != OutcomeOK {
			bad = append(bad, fmt.Sprintf("%s: %s", h.Target, h.Outcome))
		}
	}
	return fmt.Sprintf("%v (%s)", e.Err, strings.Join(bad, ", "))
}

func (e *FleetError) Unwrap() error { return e.Err }

// LockedError says which hosts are locked, and by whom.
type LockedError struct {
	Hosts   []string // in sorted order
	Holders []*release.LockInfo
	// Collision: the run held the other hosts' locks (then freed them) and
	// every holder started moments ago: two deploys that started together
	// over the same hosts, each with some of the locks.
	Collision bool
}

func (e *LockedError) Error() string {
	parts := make([]string, len(e.Hosts))
	for i, h := range e.Hosts {
		parts[i] = fmt.Sprintf("%s is locked, held by %s", h, describeHolder(e.Holders[i]))
	}
	return strings.Join(parts, "; ")
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// switchSpread is how far apart the receivers' switches were.
func switchSpread(hosts []*Result) time.Duration {
	var times []time.Time
	together := 0
	for _, h := range hosts {
		if h.Retried {
			continue
		}
		together++
		if h.Switch != nil && !h.Switch.SwitchedAt.IsZero() {
			times = append(times, h.Switch.SwitchedAt.Add(-h.ClockAhead)) // by ship's clock
		}
	}
	if len(times) < together || len(times) == 0 {
		return -1
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	return times[len(times)-1].Sub(times[0])
}

// short is a commit for people (release.ShortCommit), or "no commit".
func short(commit string) string {
	if commit == "" {
		return "no commit"
	}
	return release.ShortCommit(commit)
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, " ")
}

func tail(lines []string, n int) []string {
	if len(lines) > n {
		return append([]string(nil), lines[len(lines)-n:]...)
	}
	return append([]string(nil), lines...)
}
