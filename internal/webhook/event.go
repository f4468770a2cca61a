package webhook

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shipdeploy/ship/internal/release"
)

// PushEvent is the part of GitHub's push payload that decides a deploy.
// `ship trigger` sends one of these, in the shape GitHub does.
type PushEvent struct {
	Ref        string      `json:"ref"`
	Before     string      `json:"before"`
	After      string      `json:"after"`
	Created    bool        `json:"created"`
	Deleted    bool        `json:"deleted"`
	Forced     bool        `json:"forced"`
	BaseRef    *string     `json:"base_ref"`
	Compare    string      `json:"compare,omitempty"`
	Commits    []Commit    `json:"commits"`
	HeadCommit *Commit     `json:"head_commit"`
	Repository *Repository `json:"repository"`
	Pusher     *Person     `json:"pusher,omitempty"`
	Sender     *Account    `json:"sender,omitempty"`
}

// Commit is one entry of a push's commits, or its head_commit.
type Commit struct {
	ID        string  `json:"id"`
	Message   string  `json:"message,omitempty"`
	Timestamp string  `json:"timestamp,omitempty"`
	Author    *Person `json:"author,omitempty"`
}

// Repository is the payload's repository object (the fields we read).
type Repository struct {
	Name     string   `json:"name,omitempty"`
	FullName string   `json:"full_name"`
	Owner    *Account `json:"owner,omitempty"`
	// PushedAt is when the push happened, in a push event (signed with
	// the rest): it orders deliveries and tells an old one.
	PushedAt *PushTime `json:"pushed_at,omitempty"`
}

// PushTime is repository.pushed_at: a Unix time in push events, a date in
// other events' payloads. Anything else reads as no time.
type PushTime struct{ time.Time }

func (p *PushTime) UnmarshalJSON(b []byte) error {
	var n int64
	var s string
	switch {
	case json.Unmarshal(b, &n) == nil:
		p.Time = time.Unix(n, 0)
	case json.Unmarshal(b, &s) == nil:
		p.Time, _ = time.Parse(time.RFC3339, s)
	}
	return nil
}

func (p PushTime) MarshalJSON() ([]byte, error) { return json.Marshal(p.Unix()) }

// pushedAt is when GitHub says the push happened (pushed_at, signed with
// the payload, by GitHub's clock, so it orders pushes); zero if it does not.
func (e *PushEvent) pushedAt() time.Time {
	if e.Repository != nil && e.Repository.PushedAt != nil {
		return e.Repository.PushedAt.Time
	}
	return time.Time{}
}

// sentAt is when the push was made, as near as the payload tells: pushed_at,
// else the head commit's time (`ship trigger` sets it to the moment it
// sends, by its own clock); zero when neither says.
func (e *PushEvent) sentAt() time.Time {
	if t := e.pushedAt(); !t.IsZero() {
		return t
	}
	if e.HeadCommit != nil {
		if t, err := time.Parse(time.RFC3339, e.HeadCommit.Timestamp); err == nil {
			return t
		}
	}
	return time.Time{}
}

// Person is a git identity (pusher, author).
type Person struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

// Account is a GitHub account (sender, owner).
type Account struct {
	Login string `json:"login"`
}

// pingEvent is the first delivery of a new hook.
type pingEvent struct {
	Zen        string      `json:"zen"`
	HookID     int64       `json:"hook_id"`
	Repository *Repository `json:"repository"`
}

const zeroCommit = "0000000000000000000000000000000000000000"

func (e *PushEvent) fullName() string {
	if e.Repository == nil {
		return ""
	}
	return e.Repository.FullName
}

func (e *PushEvent) pusher() string {
	switch {
	case e.Pusher != nil && e.Pusher.Name != "":
		return clip(e.Pusher.Name, 80)
	case e.Sender != nil && e.Sender.Login != "":
		return clip(e.Sender.Login, 80)
	}
	return ""
}

// decision is what to do with a verified push.
type decision struct {
	deploy bool
	status int    // HTTP status when refused or ignored
	reason string // why not, for the response and the log
}

// decide looks at a push for branch. It never trusts ref or after beyond
// comparing them: only an exact refs/heads/BRANCH with a full commit id
// deploys.
func (e *PushEvent) decide(branch string) decision {
	want := "refs/heads/" + branch
	ref := clip(e.Ref, 120)
	switch {
	case e.Ref == "":
		return decision{status: 400, reason: "push without a ref"}
	case e.Deleted || e.After == zeroCommit:
		return decision{status: 202, reason: fmt.Sprintf("%s was deleted: nothing to deploy", ref)}
	case strings.HasPrefix(e.Ref, "refs/tags/"):
		return decision{status: 202, reason: fmt.Sprintf("tag push (%s): only pushes to %s deploy", ref, want)}
	case e.Ref != want:
		return decision{status: 202, reason: fmt.Sprintf("push to %s: only pushes to %s deploy", ref, want)}
	case !release.IsCommitID(e.After):
		return decision{status: 400, reason: fmt.Sprintf("after %q is not a commit id", clip(e.After, 80))}
	}
	return decision{deploy: true, status: 202}
}

// clip shortens s for logs and responses; values come from the sender.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
