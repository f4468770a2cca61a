package deploy

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/shipdeploy/ship/internal/release"
)

// eventKind is what a line of the host script's output says. Lines that do
// not start with the run's random tag are the commands' own output.
type eventKind int

const (
	evOutput   eventKind = iota // a line of a command's output
	evStage                     // a stage began: Text
	evPong                      // the answer to ship's ping
	evLocked                    // the lock is held: Holder, N = heartbeat age (s)
	evTakeover                  // a stale lock was taken over: Holder, N = age
	evCurrent                   // where current pointed: Text
	evRelease                   // a release folder: N, Finished, Bad
	evSwept                     // an unfinished folder removed: N
	evState                     // the receiver's state.json
	evNow                       // the host's clock
	evNext                      // the survey is done; the next number is N
	evCommit                    // the commit being deployed: Text
	evLinked                    // a shared entry linked: Text
	evReused                    // node_modules reused: Text (key)
	evEnv                       // the release's .env was written: Text "merged" when over another
	evBuilt                     // release N is finished (or, in a rollback, checked)
	evReleased                  // the release command succeeded on this host
	evStaged                    // no stage: Text is the mode (reload, none)
	evAnswer                    // the receiver's answer: Word, Answer
	evNote                      // a line for a person: Text
	evSwitched                  // current points at N
	evPruned                    // releases removed: Nums
	evDone                      // the run finished: N
	evFail                      // a step failed: Text
	evAborted                   // the run unwound: Text (why)
)

var eventNames = map[string]eventKind{
	"stage": evStage, "pong": evPong, "locked": evLocked, "takeover": evTakeover, "current": evCurrent,
	"release": evRelease, "swept": evSwept, "state": evState, "now": evNow, "next": evNext,
	"commit": evCommit, "linked": evLinked, "reused": evReused, "env": evEnv, "built": evBuilt,
	"released": evReleased, "staged": evStaged,
	"answer": evAnswer, "note": evNote, "switched": evSwitched, "pruned": evPruned, "done": evDone,
	"fail": evFail, "aborted": evAborted,
}

// event is one parsed line of the host script's output.
type event struct {
	Kind     eventKind
	Text     string
	N        int
	Nums     []int
	Finished bool
	Bad      bool
	Time     time.Time
	Holder   *release.LockInfo // nil when the lock's info is unreadable
	State    *release.State
	Word     string          // the answer's word: starting, staged, failed, aborted, committed, drained
	Answer   *release.Answer // its JSON
}

// parseEvent reads one line of output. Markers the script prints start with
// tag (random per run, so a build's output cannot fake one); anything else,
// and a marker this version does not know, is output.
func parseEvent(tag, line string) event {
	rest, ok := strings.CutPrefix(line, tag)
	if !ok {
		return event{Kind: evOutput, Text: line}
	}
	name, arg, _ := strings.Cut(rest, " ")
	kind, known := eventNames[name]
	if !known {
		return event{Kind: evOutput, Text: line}
	}
	e := event{Kind: kind, Text: arg}
	switch kind {
	case evLocked, evTakeover:
		age, holder, _ := strings.Cut(arg, " ")
		e.N = atoi(age)
		var h release.LockInfo
		if json.Unmarshal([]byte(holder), &h) == nil {
			e.Holder = &h
		}
	case evRelease:
		f := strings.Fields(arg)
		if len(f) == 3 {
			e.N, e.Finished, e.Bad = atoi(f[0]), f[1] == "1", f[2] == "1"
		}
	case evSwept, evNext, evBuilt, evSwitched, evDone:
		e.N = atoi(arg)
	case evPong: // "SEQ MS": the ping's number, the host's clock (ms)
		seq, clock, _ := strings.Cut(arg, " ")
		e.N = atoi(seq)
		// 13 digits: ms since 1970 (a date without %N prints something else).
		if ms, err := strconv.ParseInt(clock, 10, 64); err == nil && len(clock) == 13 {
			e.Time = time.UnixMilli(ms)
		}
	case evNow:
		e.Time = time.Unix(int64(atoi(arg)), 0)
	case evState:
		var st release.State
		if json.Unmarshal([]byte(arg), &st) == nil {
			e.State = &st
		}
	case evAnswer:
		word, js, _ := strings.Cut(arg, " ")
		e.Word = word
		var a release.Answer
		if json.Unmarshal([]byte(js), &a) == nil {
			e.Answer = &a
		}
	case evPruned:
		for _, f := range strings.Fields(arg) {
			e.Nums = append(e.Nums, atoi(f))
		}
	}
	return e
}

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}
