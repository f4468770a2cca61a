package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shipdeploy/ship/internal/dotenv"
	"github.com/shipdeploy/ship/internal/release"
)

// Defaults for Options fields left empty.
const (
	DefaultRoot    = "/app"
	DefaultRef     = "main"
	DefaultKeep    = 4
	DefaultInstall = "bun install"
	DefaultBuild   = "bun run build"
	DefaultWait    = 60 * time.Second
)

// Options is one deploy to one host.
type Options struct {
	Root string // APP_ROOT on the host

	// Source: a repository the host fetches from, or a local tree sent over
	// the connection. Exactly one of Repo and Upload is set.
	Repo   string
	Ref    string // branch, tag or commit (Repo only)
	Upload string // local folder (ship deploy --upload)
	// Commit and Ref describe an upload for release.json, when known;
	// DirtyFiles counts its uncommitted changes.
	Commit     string
	DirtyFiles int

	Keep    int
	Install string // shell command; "-" skips the stage
	Build   string
	Shared  []string // entries of shared/ to link; empty: all of them
	// Release is the release command (migrations): run once per fleet in
	// the new release, after every host built it and before any starts
	// it. "" runs nothing.
	Release string
	// AppEnv is the app's environment (ship.yml env:, secrets resolved):
	// written into the release as its .env, mode 0600, sent to the hosts
	// as data on the script's input. Empty: the release has the .env it
	// would have had (shared/.env, linked).
	AppEnv []dotenv.Var
	// CarriedEnv, when AppEnv is empty, is ship.yml env:'s lines as an
	// earlier deploy wrote them into release CarriedFrom (a pull deploy's:
	// release.LiveShipEnv), written into the release as AppEnv's would be.
	CarriedEnv  []byte
	CarriedFrom int

	Wait     time.Duration // for the new release to be staged and healthy; 0: do not wait
	LockWait time.Duration // how long to retry a held lock; 0: fail at once

	// Fleets: at most Parallel hosts prepare at once (0: all); Canary takes
	// the first host through both phases alone before the others.
	Parallel int
	Canary   bool

	// To is a rollback's release (0: the newest good one before current).
	To int
	// Number forces the release number (a retry on one host of a fleet).
	Number int

	// Env is extra environment for the host's commands, "NAME=value" (for
	// example GIT_SSH_COMMAND for a deploy key). Values are quoted.
	Env []string

	By      string // who deploys, for release.json, the lock and the log
	Command string // the command line, for the lock info

	Out     io.Writer // progress for a person (when Report is nil)
	Verbose bool      // stream the host's output as it comes
	Report  Reporter  // default: a TextReporter on Out
}

// plan is what every host's script needs, decided before any runs.
type plan struct {
	tag, id, root  string
	mode           string // deploy | rollback
	repo, ref      string
	commit         string // an exact commit (a webhook's push, an upload's)
	upload         bool
	install, build string
	release        string // the release command
	releasedOn     string // the host it already ran on for this release (a retry)
	dotenv         []byte // the app's .env from ship.yml; nil: none
	envNames       int    // how many variables it sets
	envFrom        int    // the release it was carried from (CarriedEnv)
	shared, env    []string
	source         string // for release.json: the repository, or "upload"
	dirtyFiles     int
	uploadSize     int64

	lockJSON, infoHead, logHead, takeoverHead string
}

func newPlan(o Options, mode string) *plan {
	p := &plan{root: o.Root, mode: mode, repo: o.Repo, ref: o.Ref, commit: o.Commit, upload: o.Upload != "",
		install: o.Install, build: o.Build, shared: o.Shared, env: o.Env, source: o.Repo, dirtyFiles: o.DirtyFiles}
	if mode == "deploy" {
		p.release = o.Release
		p.dotenv, _ = dotenv.Render(o.AppEnv) // validate checked it
		p.envNames = len(o.AppEnv)
		if len(o.AppEnv) == 0 && len(o.CarriedEnv) > 0 {
			p.dotenv, p.envFrom = o.CarriedEnv, o.CarriedFrom
		}
	}
	if p.upload {
		p.source = "upload"
	}
	p.source = RedactURL(p.source) // release.json is readable by all: no token in it
	return p
}

// setID names a run: the marker tag, the lock's info and the JSON the host
// completes, all carry the id.
func (p *plan) setID(o Options) {
	p.tag = "@@ship-" + p.id[:12] + " "
	p.lockJSON = release.MarshalLine(lockInfo(p.id, o))
	fields := []any{"ref", p.ref, "source", p.source, "by", o.By}
	if o.DirtyFiles > 0 {
		fields = append(fields, "dirty", true, "dirty_files", o.DirtyFiles)
	}
	p.infoHead = jsonHead(fields...)
	p.logHead = jsonHead("kind", p.mode, "id", p.id, "ref", p.ref, "by", o.By)
	p.takeoverHead = jsonHead("kind", "unlock", "id", p.id, "by", o.By)
}

// ErrBadInput is a value that would be unsafe or meaningless to use.
var ErrBadInput = errors.New("bad input")

func (o *Options) setDefaults() {
	if o.Root == "" {
		o.Root = DefaultRoot
	}
	if o.Ref == "" && o.Upload == "" {
		o.Ref = DefaultRef
	}
	if o.Keep == 0 {
		o.Keep = DefaultKeep
	}
	if o.Install == "" {
		o.Install = DefaultInstall
	}
	if o.Build == "" {
		o.Build = DefaultBuild
	}
	if o.Install == "-" {
		o.Install = ""
	}
	if o.Build == "-" {
		o.Build = ""
	}
	if o.Release == "-" {
		o.Release = ""
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Report == nil {
		o.Report = NewTextReporter(o.Out, o.Verbose)
	}
}

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadInput}, args...)...)
}

// validateRoot refuses an app root that no command could use.
func (o *Options) validateRoot() error {
	if !strings.HasPrefix(o.Root, "/") {
		return bad("--path %q must be absolute", o.Root)
	}
	if strings.ContainsAny(o.Root, "\n\x00") {
		return bad("--path %q has a newline or NUL", o.Root)
	}
	if o.Parallel < 0 {
		return bad("--parallel %d: give a number of hosts, or 0 for all", o.Parallel)
	}
	return nil
}

// validate refuses values that no quoting makes sensible: quoting keeps a
// remote shell from running them, this keeps git from reading them as
// options or as a transport that runs commands.
func (o *Options) validate() error {
	if err := o.validateRoot(); err != nil {
		return err
	}
	if (o.Repo == "") == (o.Upload == "") {
		return bad("give exactly one source: --repo URL or --upload DIR")
	}
	if o.Repo != "" {
		if strings.HasPrefix(o.Repo, "-") || strings.ContainsAny(o.Repo, "\n\x00") {
			return bad("--repo %q is not a repository URL", o.Repo)
		}
		if strings.HasPrefix(o.Repo, "ext::") || strings.HasPrefix(o.Repo, "fd::") {
			return bad("--repo %q uses a git transport that runs commands", o.Repo)
		}
		if strings.HasPrefix(o.Ref, "-") || strings.ContainsAny(o.Ref, " \t\n\x00~^:?*[\\") || strings.Contains(o.Ref, "..") || o.Ref == "" {
			return bad("--ref %q is not a branch, tag or commit name", o.Ref)
		}
	}
	for _, e := range o.Env {
		name, _, ok := strings.Cut(e, "=")
		if !ok || !dotenv.ValidName(name) {
			return bad("environment entry %q is not NAME=value", e)
		}
	}
	if _, err := dotenv.Render(o.AppEnv); err != nil {
		return bad("env: %v", err)
	}
	if bytes.IndexByte(o.CarriedEnv, 0) >= 0 {
		return bad("the carried .env lines have a NUL byte")
	}
	if strings.ContainsAny(o.Release, "\x00") {
		return bad("the release command has a NUL byte")
	}
	if o.Commit != "" && !looksLikeCommit(o.Commit) {
		return bad("commit %q is not a commit id", o.Commit)
	}
	for _, e := range o.Shared {
		clean := strings.TrimSuffix(e, "/")
		if clean == "" || strings.HasPrefix(clean, "/") || strings.Contains("/"+clean+"/", "/../") || strings.ContainsAny(e, "\n\x00") {
			return bad("shared entry %q must be a relative path inside shared/", e)
		}
	}
	if o.Keep < 1 {
		return bad("--keep %d: keep at least 1 release", o.Keep)
	}
	return nil
}
