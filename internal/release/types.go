package release

import "time"

// Info is releases/N/.ship/release.json, written last once the build
// succeeded. Its presence is what makes a release finished.
type Info struct {
	Number  int       `json:"number"`
	Commit  string    `json:"commit,omitempty"`
	Ref     string    `json:"ref,omitempty"`
	Source  string    `json:"source,omitempty"` // repository URL, or "upload"
	BuiltAt time.Time `json:"built_at"`
	By      string    `json:"by,omitempty"` // "alice", "ci (run 8812)", "webhook (delivery …)"
	// Dirty: an upload of a tree with uncommitted changes (DirtyFiles of
	// them): Commit names what it was based on, not what it is.
	Dirty      bool `json:"dirty,omitempty"`
	DirtyFiles int  `json:"dirty_files,omitempty"`
	// EnvDigest: the release has its own .env (ship.yml env:); a salted
	// digest of it, so that two releases' environments can be compared
	// without showing them.
	EnvDigest string `json:"env_digest,omitempty"`
	// Seconds per stage, for `ship releases` and the audit trail.
	Stages map[string]float64 `json:"stages,omitempty"`
}

// Bad is releases/N/.ship/bad.json: the release was built but refused (the
// receiver never saw it healthy, or a person marked it). A bad release is
// never a rollback target.
type Bad struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// ReloadRequest is the JSON body of a request file in releases/: RELOAD
// (stage and commit in one step; an empty file, as from touch, means
// "whatever current is now" with no id), STAGE, COMMIT and ABORT.
type ReloadRequest struct {
	ID      string `json:"id"`
	Release int    `json:"release,omitempty"`
	// At (COMMIT): move traffic at this moment, Unix milliseconds, so that
	// the hosts of a fleet switch together; 0 or past: at once.
	At int64 `json:"at,omitempty"`
}

// MaxCommitDelay bounds how far ahead a COMMIT's At may be: a later one
// (a clock far off) is taken as "at once".
const MaxCommitDelay = 5 * time.Second

// Request kinds: the file names in releases/.
const (
	RequestReload = "RELOAD" // start current's release and move traffic to it
	RequestStage  = "STAGE"  // start release N next to the serving one, out of traffic
	RequestCommit = "COMMIT" // move traffic to the staged release of this id
	RequestAbort  = "ABORT"  // stop the staged release of this id
)

// Answer words: the first word of .ship/answers/ID, before the JSON.
const (
	AnswerStarting  = "starting"  // a STAGE was taken; the release is starting
	AnswerStaged    = "staged"    // healthy and out of traffic, waiting for COMMIT
	AnswerFailed    = "failed"    // it never became healthy, or COMMIT found nothing to commit
	AnswerAborted   = "aborted"   // stopped: ABORT, the stage timeout, or a newer STAGE
	AnswerCommitted = "committed" // traffic moved; the old process drains
	AnswerDrained   = "drained"   // the old process finished its requests and stopped
)

// Answer is the receiver's answer to one request, in .ship/answers/ID as
// one line "WORD {json}" (a shell reads the word with `read`). It is
// rewritten, atomically, as the request moves on.
type Answer struct {
	ID           string    `json:"id"`
	Release      int       `json:"release"`
	Error        string    `json:"error,omitempty"`
	LogTail      []string  `json:"log_tail,omitempty"`
	HealthyAfter float64   `json:"healthy_after_s,omitempty"`
	SwitchedAt   time.Time `json:"switched_at,omitempty"`
	Drained      int       `json:"drained,omitempty"`
	Dropped      int       `json:"dropped"`
	Note         string    `json:"note,omitempty"`
	At           time.Time `json:"at"`
}

// Staged is a release the receiver runs out of traffic, for ship status.
type Staged struct {
	ID      string    `json:"id"`
	Release int       `json:"release"`
	PID     int       `json:"pid,omitempty"`
	Healthy bool      `json:"healthy"`
	Since   time.Time `json:"since"`
}

// Maintenance is .ship/maintenance.json: while it is there the receiver
// answers every request (but its webhook's) with 503 and the maintenance
// page, and the app keeps running. ship writes and removes it; a deploy
// leaves it as it is.
type Maintenance struct {
	Since      time.Time `json:"since"`
	By         string    `json:"by,omitempty"`
	RetryAfter int       `json:"retry_after_s"` // the Retry-After header, in seconds
	// Page (in state.json only): what the receiver answers with,
	// "shared/maintenance.html" or "" for its plain page.
	Page string `json:"page,omitempty"`
}

// LockInfo is .ship/lock/info.json: who holds the deploy lock.
type LockInfo struct {
	ID      string    `json:"id"`
	Who     string    `json:"who"`
	From    string    `json:"from"` // the machine the deploy runs on
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

// State is .ship/state.json, written by the receiver (atomically) on every
// change and refreshed as a heartbeat.
type State struct {
	PID       int       `json:"pid"`
	Mode      string    `json:"mode"` // proxy | restart
	Listen    string    `json:"listen,omitempty"`
	StartedAt time.Time `json:"started_at"`
	Heartbeat time.Time `json:"heartbeat"`

	Serving    *Serving      `json:"serving,omitempty"`
	Staged     *Staged       `json:"staged,omitempty"`
	LastReload *ReloadResult `json:"last_reload,omitempty"`

	// Maintenance: the receiver answers 503 with the maintenance page in
	// the app's place (.ship/maintenance.json is there); nil: it does not.
	Maintenance *Maintenance `json:"maintenance,omitempty"`

	// Supervision: restarts of the serving app since it was switched to.
	Restarts  int    `json:"restarts,omitempty"`
	CrashLoop bool   `json:"crash_loop,omitempty"`
	LastExit  string `json:"last_exit,omitempty"`
}

// HeartbeatInterval is how often the receiver refreshes State.Heartbeat.
// A state older than StaleAfter means no live receiver.
const (
	HeartbeatInterval = 2 * time.Second
	StaleAfter        = 10 * time.Second
)

// Alive reports whether the state was refreshed recently enough to trust
// that a receiver is running: its heartbeat is less than StaleAfter old,
// and not from the future by more than that (a clock that jumped, a file
// copied from elsewhere). now should be the host's clock, which wrote it.
func (s *State) Alive(now time.Time) bool {
	if s == nil || s.Heartbeat.IsZero() {
		return false
	}
	age := now.Sub(s.Heartbeat)
	return age < StaleAfter && age > -StaleAfter
}

// ShownMaintenance is the maintenance a live receiver shows (alive: its
// heartbeat is fresh), nil when none.
func (s *State) ShownMaintenance(alive bool) *Maintenance {
	if s == nil || !alive {
		return nil
	}
	return s.Maintenance
}

// Serving says which release the receiver's app runs.
type Serving struct {
	Release int       `json:"release"`
	Dir     string    `json:"dir"`
	PID     int       `json:"pid"`
	Port    int       `json:"port,omitempty"`
	Since   time.Time `json:"since"`
}

// ReloadResult is the outcome of one reload, under the request's id.
type ReloadResult struct {
	ID       string    `json:"id"`
	Release  int       `json:"release"`
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// HealthyAfter is how long the new process took to pass its health check.
	HealthyAfter float64  `json:"healthy_after_s,omitempty"`
	Drained      int      `json:"drained,omitempty"`  // in-flight requests the old process finished
	Dropped      int      `json:"dropped"`            // requests that failed during the switch
	LogTail      []string `json:"log_tail,omitempty"` // the new process's last output, on failure
}

// LogEntry is one line of .ship/log.jsonl.
type LogEntry struct {
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"` // deploy | rollback | reload | webhook
	ID       string    `json:"id,omitempty"`
	Result   string    `json:"result"` // ok | failed | ignored | refused | accepted
	Release  int       `json:"release,omitempty"`
	Previous int       `json:"previous,omitempty"`
	Commit   string    `json:"commit,omitempty"`
	Ref      string    `json:"ref,omitempty"`
	By       string    `json:"by,omitempty"`
	Step     string    `json:"step,omitempty"` // where it failed
	Error    string    `json:"error,omitempty"`
	Seconds  float64   `json:"seconds,omitempty"`
	Detail   string    `json:"detail,omitempty"`
}
