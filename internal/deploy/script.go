package deploy

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/shell"
)

// Stage names, in order. The numbers people see ([3/9]) follow this list;
// a rollback has only lock, stage and switch.
const (
	StageLock    = "lock"
	StageSource  = "source"
	StageShared  = "shared" // shared/ linked, the app's .env written
	StageInstall = "install"
	StageBuild   = "build"
	StageRelease = "release" // the release command, once per fleet (every host shows the stage)
	StageStage   = "stage"   // the receiver starts the release out of traffic
	StageSwitch  = "switch"  // current and the traffic move to it
	StagePrune   = "prune"
)

var stages = []string{StageLock, StageSource, StageShared, StageInstall, StageBuild, StageRelease, StageStage, StageSwitch, StagePrune}

// rollbackStages are a rollback's: the release is already built, and
// nothing is removed.
var rollbackStages = []string{StageLock, StageStage, StageSwitch}

// Exit statuses of the host script.
const (
	exitLocked  = 75
	exitAborted = 143
)

// Bounds the host script keeps by itself, in seconds.
const (
	// goneAfter: no word from ship for this long (pings come every
	// pingEvery) means ship is gone or the link froze: the host unwinds.
	goneAfter = 30
	// lockStale: a lock whose heartbeat is older than this is taken over.
	lockStale = int(release.LockStaleAfter / time.Second)
	// ackWait: how long the receiver may take to pick up a request.
	ackWait = 10
	// drainWait: how long the host waits for the old process to finish its
	// requests after the switch, for the report (the receiver's own drain
	// and stop timeouts bound the real work).
	drainWait = 60
)

//go:embed host.sh
var hostScriptBody string

// appEnvScript is load_env, shared by host.sh and the scripts of `ship
// exec` and `ship env`.
//
//go:embed appenv.sh
var appEnvScript string

// script is the host program for one run: the prologue of quoted values,
// then host.sh.
func script(p *plan) string {
	var b strings.Builder
	set := func(name, value string) { fmt.Fprintf(&b, "%s=%s\n", name, shell.Quote(value)) }
	b.WriteString("# ship: generated values (every one quoted)\n")
	set("tag", p.tag)
	set("id", p.id)
	set("root", p.root)
	set("mode", p.mode)
	repo, _ := splitSecret(p.repo)
	set("repo", repo)
	set("repo_shown", RedactURL(p.repo))
	set("repo_cred", boolWord(p.repo != repo))
	set("ref", p.ref)
	set("want_commit", p.commit)
	set("want_is_id", boolWord(looksLikeCommit(p.commit)))
	set("upload", boolWord(p.upload))
	set("install_cmd", p.install)
	set("plain_install", boolWord(plainBunInstall(p.install)))
	set("dep_hash", shortHash(p.install))
	set("build_cmd", p.build)
	set("release_cmd", p.release)
	set("env_size", strconv.Itoa(len(p.dotenv)))
	set("env_marker", release.EnvMarker)
	set("shared", strings.Join(p.shared, "\n"))
	set("lockinfo", p.lockJSON)
	set("info_head", p.infoHead)
	set("log_head", p.logHead)
	set("takeover_head", p.takeoverHead)
	set("gone_after", strconv.Itoa(goneAfter))
	set("lock_stale", strconv.Itoa(lockStale))
	set("ack_wait", strconv.Itoa(ackWait))
	set("drain_wait", strconv.Itoa(drainWait))
	for _, e := range p.env {
		name, value, _ := strings.Cut(e, "=")
		// Quotes in a value belong to the value.
		fmt.Fprintf(&b, "# shellcheck disable=SC2089\n%s=%s\n# shellcheck disable=SC2090\nexport %s\n", name, shell.Quote(value), name)
	}
	b.WriteString(appEnvScript)
	b.WriteString(hostScriptBody)
	return b.String()
}

func boolWord(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// jsonHead is a JSON object's opening with the given fields, left open for
// the host to add the values only it knows: `{"a":"x","b":1`.
func jsonHead(fields ...any) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(fields); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(fields[i])
		v, _ := json.Marshal(fields[i+1])
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	return b.String()
}

// looksLikeCommit reports whether ref could be an abbreviated or full commit id.
func looksLikeCommit(ref string) bool {
	if len(ref) < 7 || len(ref) > 64 {
		return false
	}
	for _, r := range ref {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// plainBunInstall reports whether cmd is only Bun's installer with flags, so
// that a node_modules already made from the same files needs no second run.
func plainBunInstall(cmd string) bool {
	f := strings.Fields(cmd)
	if len(f) < 2 || f[0] != "bun" || (f[1] != "install" && f[1] != "i" && f[1] != "ci") {
		return false
	}
	for _, a := range f[2:] {
		if !strings.HasPrefix(a, "--") || strings.ContainsAny(a, ";&|<>$`'\"\\") {
			return false
		}
	}
	return true
}

// shortHash names a command in a dependency key.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

// RedactURL hides a password or token in a repository URL
// (https://x-access-token:TOKEN@github.com/…), for messages and logs.
func RedactURL(repo string) string {
	u, err := url.Parse(repo)
	if err != nil || u.User == nil {
		return repo
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
		return u.String()
	}
	return repo
}

// splitSecret takes the password or token out of a repository URL: the
// URL the host may show (user kept), and the secret to send apart.
func splitSecret(repo string) (public, secret string) {
	u, err := url.Parse(repo)
	if err != nil || u.User == nil {
		return repo, ""
	}
	pass, has := u.User.Password()
	if !has {
		return repo, ""
	}
	u.User = url.User(u.User.Username())
	return u.String(), pass
}
