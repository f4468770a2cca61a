package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/shipdeploy/ship/internal/release"
	"github.com/shipdeploy/ship/internal/shell"
)

// Stage names, in order. The numbers people see ([3/8]) follow this list.
const (
	StageLock    = "lock"
	StageSource  = "source"
	StageShared  = "shared"
	StageInstall = "install"
	StageBuild   = "build"
	StageSwitch  = "switch"
	StageReload  = "reload"
	StagePrune   = "prune"
)

var stages = []string{StageLock, StageSource, StageShared, StageInstall, StageBuild, StageSwitch, StageReload, StagePrune}

// exitLocked is the script's exit status when the lock is held.
const exitLocked = 75

// script writes the remote program for one deploy. Every value from outside
// (paths, refs, URLs, ids, JSON) goes through q; the install and build
// commands are shell by design and go in as written.
type script struct {
	b   strings.Builder
	tag string // marker prefix, random per deploy so output cannot fake one
}

func q(s string) string { return shell.Quote(s) }

func (s *script) line(format string, args ...any) {
	fmt.Fprintf(&s.b, format, args...)
	s.b.WriteByte('\n')
}

func (s *script) raw(text string) {
	s.b.WriteString(text)
	s.b.WriteByte('\n')
}

// marker prints a marker line; rest is shell words already quoted.
// printf repeats its format for each argument, so the words of rest come
// out space-separated on the marker's line.
func (s *script) marker(kind string, rest string) {
	if rest == "" {
		s.line("printf '%%s\\n' %s", q(s.tag+kind))
		return
	}
	s.line("printf '%%s' %s; printf ' %%s' %s; printf '\\n'", q(s.tag+kind), rest)
}

func (s *script) stage(name string) { s.marker("stage", q(name)) }

// buildScript returns the program that takes the lock, surveys the root,
// builds the next release and, when everything worked, switches current to
// it and asks the receiver to reload.
func buildScript(p *plan) string {
	s := &script{tag: p.tag}
	l := p.layout
	s.line("set -u")
	s.line("umask 022")
	s.line(`PATH="$HOME/.bun/bin:/usr/local/bin:$PATH"; export PATH`)
	s.line("root=%s", q(l.Root))
	s.line("lockid=%s", q(p.id))
	s.line(`cd "$root" 2>/dev/null || { mkdir -p "$root" && cd "$root"; } || exit 1`)
	for _, e := range p.env {
		name, value, _ := strings.Cut(e, "=")
		s.line("%s=%s; export %s", name, q(value), name)
	}

	// Release the lock if ours, and stop: used when ship goes away.
	// Builtins only up to the one rm: every process costs milliseconds.
	s.line(`unlock() { l=""; read -r l < .ship/lock/info.json 2>/dev/null; case $l in *"\"$lockid\""*) rm -rf .ship/lock ;; esac; }`)
	// abort frees the lock first: the output may be gone with ship.
	s.line(`abort() { trap '' TERM INT HUP PIPE; unlock; printf '%%s\n' %s 2>/dev/null; exit 143; }`, q(p.tag+"aborted"))
	// PIPE too: the shell's own notice of a killed child ("Terminated")
	// hits the closed output first when ship is gone. A handler, unlike an
	// ignore, is not passed on to the commands the script runs.
	s.line("trap abort TERM INT HUP PIPE")
	// Keep ship's stream on fd 3 and give every command /dev/null instead:
	// the stream closes only when ship is gone (killed, connection cut).
	s.line("exec 3<&0 0</dev/null 2>&1") // one ordered stream: markers and output interleave correctly
	// (A read loop, not cat: a forked shell costs less than a new program.)
	watcher := `( while IFS= read -r _ <&3; do :; done; kill -TERM 0 2>/dev/null ) >/dev/null 2>&1 &`
	if !p.upload {
		s.raw(watcher)
	}
	// fail waits for a fetch still running, so the lock is never freed
	// while this deploy still writes to the mirror.
	s.line(`fail() { printf '%%s %%s\n' %s "$1"; [ -z "${fetching:-}" ] || wait "$fetching" 2>/dev/null; exit "${2:-1}"; }`, q(p.tag+"fail"))

	// lock
	s.stage(StageLock)
	s.line(`[ -d .ship ] && [ -d releases ] && [ -d shared ] || mkdir -p .ship releases shared || fail "cannot create folders under $root"`)
	s.line(`if ! mkdir .ship/lock 2>/dev/null; then`)
	s.line(`  printf '%%s ' %s; cat .ship/lock/info.json 2>/dev/null | tr -d '\n'; echo; exit %d`, q(p.tag+"locked"), exitLocked)
	s.line(`fi`)
	s.line(`printf '%%s\n' %s > .ship/lock/info.json || { rmdir .ship/lock; fail "cannot write the lock info"; }`, q(p.lockJSON))

	// The mirror's fetch starts now, under the lock, and runs while the
	// survey below looks around; the source stage waits for it. No
	// automatic maintenance after each fetch (a process per deploy): the
	// finish runs gc every 20th release instead.
	g := `git -c protocol.ext.allow=never -c maintenance.auto=false -c gc.auto=0 --git-dir=.ship/repo.git`
	if !p.upload {
		s.line(`[ -d .ship/repo.git ] || git init -q --bare .ship/repo.git || fail "git init of the mirror failed"`)
		s.line(`%s fetch -q --prune --no-tags -- %s '+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*' & fetching=$!`, g, q(p.repo))
	}

	// survey: what exists now, for the decisions ship makes later.
	s.line(`cur=$(readlink current 2>/dev/null) || cur=""`)
	s.marker("current", `"$cur"`)
	s.line(`n=0`)
	s.line(`for d in releases/*; do`)
	s.line(`  b=${d##*/}; case $b in ''|0*|*[!0-9]*) continue ;; esac; [ -d "$d" ] || continue`)
	s.line(`  [ "$b" -gt "$n" ] && n=$b # numbers are never reused, even of swept folders`)
	s.line(`  f=0; [ -f "$d/.ship/release.json" ] && f=1; bad=0; [ -f "$d/.ship/bad.json" ] && bad=1`)
	s.line(`  if [ $f = 0 ]; then rm -rf "$d" && { printf '%%s %%s\n' %s "$b"; continue; }; fi`, q(p.tag+"swept"))
	s.marker("release", `"$b" "$f" "$bad"`)
	s.line(`  fin="${fin:-} $b"`)
	s.line(`done`)
	// The receiver's state, and the host's clock to judge its heartbeat by.
	s.line(`if [ -f .ship/state.json ]; then printf '%%s ' %s; tr -d '\n' < .ship/state.json; echo`, q(p.tag+"state"))
	s.marker("now", `"$(date +%s)"`)
	s.line(`fi`)
	s.line(`n=$((n+1)); rel=releases/$n`)
	s.line(`mkdir "$rel" "$rel/.ship" || fail "cannot create $rel"`)
	s.marker("number", `"$n"`)

	// source
	s.stage(StageSource)
	if p.upload {
		// Exactly uploadSize bytes of tar follow on stdin; head stops there so
		// the watcher keeps the rest of the stream.
		s.line(`head -c %d <&3 | tar -xf - -C "$rel" || fail "cannot unpack the upload"`, p.uploadSize)
		s.raw(watcher)
		s.line("commit=%s", q(p.commit))
		s.marker("commit", `"$commit"`)
	} else {
		s.line(`wait "$fetching" || fail "git fetch from the repository failed"`)
		// An exact commit (a webhook's "after") wins over the ref, which
		// then only names the branch for release.json.
		want := p.ref
		if p.commit != "" {
			want = p.commit
		}
		// A branch the fetch just updated is a loose ref file: read it with
		// the shell's read; anything else (a tag to peel, a commit id, a
		// packed ref) asks git.
		s.line(`commit=""`)
		if p.commit == "" {
			s.line(`[ -f .ship/repo.git/refs/heads/%s ] && read -r commit < .ship/repo.git/refs/heads/%s`, q(p.ref), q(p.ref))
			s.line(`case $commit in *[!0-9a-f]*) commit="" ;; esac`)
		}
		s.line(`[ -n "$commit" ] || commit=$(%s rev-parse -q --verify --end-of-options %s 2>/dev/null)`, g, q(want+"^{commit}"))
		if looksLikeCommit(want) {
			// A commit that no branch or tag names: ask for it by id.
			s.line(`[ -n "$commit" ] || { %s fetch -q -- %s %s && commit=$(%s rev-parse -q --verify --end-of-options %s); }`,
				g, q(p.repo), q(want), g, q(want+"^{commit}"))
		}
		s.line(`[ -n "$commit" ] || fail %s`, q(fmt.Sprintf("%s not found in %s", want, p.repo)))
		s.marker("commit", `"$commit"`)
		s.line(`%s archive --format=tar "$commit" | tar -xf - -C "$rel" || fail "cannot export $commit"`, g)
	}

	// shared: every entry of shared/ (or the configured ones) linked into the
	// release, replacing what the tree has under that name.
	s.stage(StageShared)
	// A configured name ending in / is a folder, made when missing; any
	// other configured name must exist (a missing .env is an error, not an
	// empty folder).
	if len(p.shared) == 0 {
		s.line(`for e in shared/* shared/.[!.]* shared/..?*; do [ -e "$e" ] || [ -L "$e" ] || continue; e=${e#shared/}`)
	} else {
		s.line(`for e in %s; do case $e in */) e=${e%%/}; mkdir -p "shared/$e" || fail "cannot create shared/$e" ;; esac`, shell.Join(p.shared...))
		s.line(`  [ -e "shared/$e" ] || [ -L "shared/$e" ] || fail "shared/$e is missing on the server: create $root/shared/$e (or drop it from the shared list)"`)
	}
	// (Processes only where needed: most entries are a plain .env.)
	s.line(`  if [ -e "$rel/$e" ] || [ -L "$rel/$e" ]; then rm -rf "$rel/$e"; fi; case $e in */*) mkdir -p "$rel/${e%%/*}" ;; esac`)
	s.line(`  ln -s "$root/shared/$e" "$rel/$e" || fail "cannot link shared/$e"`)
	s.marker("linked", `"$e"`)
	s.line(`done`)

	// install and build run in the release folder with Bun's cache on the
	// same filesystem, so a fresh node_modules is hardlinks into it.
	s.line(`BUN_INSTALL_CACHE_DIR="$root/.ship/bun-cache"; export BUN_INSTALL_CACHE_DIR`)
	s.stage(StageInstall)
	if strings.TrimSpace(p.install) != "" {
		s.deps(p.install, !p.upload)
	}
	s.stage(StageBuild)
	if strings.TrimSpace(p.build) != "" {
		s.line(`( cd "$rel" && %s ) </dev/null || fail %s $?`, p.build, q("build command failed: "+p.build))
	}

	// Finished: release.json, written to a temp name and renamed.
	s.line(`built=$(date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ)`)
	s.line(`{ [ -d "$rel/.ship" ] || mkdir "$rel/.ship"; } && printf '%%s%%s%%s%%s%%s%%s%%s\n' %s "$n" %s "${commit:-}" %s "$built" %s > "$rel/.ship/release.json.tmp" && mv -f "$rel/.ship/release.json.tmp" "$rel/.ship/release.json" || fail "cannot write release.json"`,
		q(p.infoJSON[0]), q(p.infoJSON[1]), q(p.infoJSON[2]), q(p.infoJSON[3]))

	// switch: a temp link renamed over current (rename(2): never missing).
	s.stage(StageSwitch)
	s.line(`tmp=.current.tmp-$$`)
	s.line(`ln -s "$rel" "$tmp" && mv -fT "$tmp" current || { rm -f "$tmp"; fail "cannot switch current to $rel"; }`)
	s.marker("switched", `"$n"`)

	// reload request for the receiver.
	s.stage(StageReload)
	s.line(`printf '%%s%%s%%s\n' %s "$n" '}' > releases/.RELOAD.tmp && mv -f releases/.RELOAD.tmp releases/RELOAD || fail "cannot write releases/RELOAD"`,
		q(`{"id":`+strconv.Quote(p.id)+`,"release":`))
	if p.finishInline {
		s.finishInline(p)
	}
	s.marker("done", `"$n"`)
	return s.b.String()
}

// finishScript prunes, appends the audit line and frees the lock: the short
// second trip after the switch (and after waiting for the receiver).
func finishScript(l release.Layout, id string, remove []int, logLine string) string {
	s := &script{}
	s.line("cd %s || exit 1", q(l.Root))
	for _, n := range remove {
		s.line("rm -rf %s", q(release.CurrentTarget(n)))
	}
	if len(remove) > 0 {
		// Shared node_modules that no release links to any more.
		s.line(`for d in .ship/deps/*; do [ -d "$d" ] || continue; used=0`)
		s.line(`  for l in releases/*/node_modules; do [ "$(readlink "$l" 2>/dev/null)" = "../../$d/node_modules" ] && { used=1; break; }; done`)
		s.line(`  [ $used = 1 ] || rm -rf "$d"`)
		s.line(`done`)
	}
	if logLine != "" {
		s.line("printf '%%s\\n' %s >> .ship/log.jsonl", q(logLine))
	}
	if id != "" {
		s.line(`if grep -qF %s .ship/lock/info.json 2>/dev/null; then rm -f .ship/lock/info.json; rmdir .ship/lock; fi`, q(id))
	}
	return s.b.String()
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

// deps runs the install command so that releases with the same dependency
// files share one node_modules: it lives in .ship/deps/KEY, KEY a hash of
// package.json, the lockfile, bunfig.toml, .npmrc and the install command,
// and each release links to it. When KEY is known the link is made first
// and the install command finds nothing to do; otherwise the command
// installs into the release and the result moves to .ship/deps. Four kept
// releases then cost about one node_modules, and an unchanged lockfile
// costs no install. Without sha256sum there is no sharing.
func (s *script) deps(install string, fromGit bool) {
	s.line(`key=""`)
	if fromGit {
		// git already hashed the files: their blob ids (one process) and a
		// hash of the install command made here name the dependencies.
		s.line(`if [ -f "$rel/package.json" ]; then`)
		s.line(`  key=%s; while read -r _ _ id _; do key="$key${id%%%%${id#????????????}}"; done <<EOF`, q(shortHash(install)))
		s.line(`$(git --git-dir=.ship/repo.git ls-tree "$commit" -- package.json bun.lock bun.lockb bunfig.toml .npmrc)`)
		s.line(`EOF`)
		s.line(`fi`)
	} else {
		s.line(`if [ -f "$rel/package.json" ] && command -v sha256sum >/dev/null 2>&1; then`)
		s.line(`  key=$( (cd "$rel" && cat package.json bun.lock bun.lockb bunfig.toml .npmrc 2>/dev/null; printf '%%s' %s) | sha256sum); key=${key%%%%" "*}`, q(install))
		s.line(`fi`)
	}
	s.line(`deps=.ship/deps/$key`)
	s.line(`if [ -n "$key" ] && [ -f "$deps/.complete" ] && [ ! -e "$rel/node_modules" ] && [ ! -L "$rel/node_modules" ]; then`)
	s.line(`  ln -s "../../$deps/node_modules" "$rel/node_modules" || fail "cannot link $deps/node_modules"`)
	s.marker("reused", `"$key"`)
	s.line(`fi`)
	if plainBunInstall(install) {
		// Same dependency files, same command: nothing for it to do.
		s.line(`[ -L "$rel/node_modules" ] || ( cd "$rel" && %s ) </dev/null || fail %s $?`, install, q("install command failed: "+install))
	} else {
		s.line(`( cd "$rel" && %s ) </dev/null || fail %s $?`, install, q("install command failed: "+install))
	}
	s.line(`if [ -n "$key" ] && [ ! -f "$deps/.complete" ] && [ -d "$rel/node_modules" ] && [ ! -L "$rel/node_modules" ]; then`)
	s.line(`  rm -rf "$deps" && mkdir -p "$deps" && mv "$rel/node_modules" "$deps/node_modules" && ln -s "../../$deps/node_modules" "$rel/node_modules" && : > "$deps/.complete" || fail "cannot move node_modules to $deps"`)
	s.line(`fi`)
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

// finishInline ends the deploy in the same trip when nobody waits for a
// receiver: --wait 0, or no state.json refreshed in the last minute (a live
// receiver rewrites it every few seconds). It prunes by the rule of
// release.PlanPrune (the newest keep finished releases, never the new one,
// the previous current or the one the receiver serves), appends the audit
// line and frees the lock. Otherwise ship waits and finishes in Go.
func (s *script) finishInline(p *plan) {
	cond := `[ ! -f .ship/state.json ] || [ -z "$(find .ship/state.json -mmin -1 2>/dev/null)" ]`
	if p.noWait {
		cond = "true"
	}
	s.line(`if %s; then`, cond)
	s.line(`  case $cur in releases/[1-9]*) curnum=${cur#releases/}; curnum=${curnum%%/} ;; *) curnum=0 ;; esac`)
	s.line(`  serving=0; [ -f .ship/state.json ] && serving=$(tr -d ' \n' < .ship/state.json | sed -n 's/.*"serving":{"release":\([0-9]*\).*/\1/p')`)
	s.raw(prunePlanShell(p.keep))
	s.line(`  if [ -n "$removed" ]; then for d in .ship/deps/*; do [ -d "$d" ] || continue; used=0`)
	s.line(`    for l in releases/*/node_modules; do [ "$(readlink "$l" 2>/dev/null)" = "../../$d/node_modules" ] && { used=1; break; }; done`)
	s.line(`    [ $used = 1 ] || rm -rf "$d"; done; fi`)
	if !p.upload {
		// Pack the mirror's loose objects every 20th release.
		s.line(`  [ $((n %% 20)) = 0 ] && git --git-dir=.ship/repo.git gc --auto --quiet >/dev/null 2>&1`)
	}
	s.line(`  printf '%%s%%s%%s%%s%%s%%s%%s%%s%%s\n' %s "$built" %s "$n" %s "$curnum" %s "${commit:-}" %s >> .ship/log.jsonl`,
		q(p.logJSON[0]), q(p.logJSON[1]), q(p.logJSON[2]), q(p.logJSON[3]), q(p.logJSON[4]))
	s.line(`  unlock`)
	s.marker("pruned", `"$kept" $removed`)
	s.marker("finished", `$keep`)
	s.line(`fi`)
}

// shortHash names a command in a dependency key.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

// prunePlanShell is release.PlanPrune in shell, for the deploy that ends on
// the host: from the finished releases in $fin, the new one $n, the previous
// current $curnum and the served $serving, it removes what the rule drops
// and leaves $keep and $removed (ascending, descending). TestPruneShell
// checks that both agree.
func prunePlanShell(keep int) string {
	return fmt.Sprintf(`  kept=0; keep=""; removed=""
  desc=""; for x in ${fin:-} $n; do o=""; put=0; for y in $desc; do if [ $put = 0 ] && [ "$x" -gt "$y" ]; then o="$o $x"; put=1; fi; o="$o $y"; done; [ $put = 1 ] || o="$o $x"; desc=$o; done
  for b in $desc; do
    if [ "$b" = "$n" ] || [ "$b" = "$curnum" ] || [ "$b" = "${serving:-0}" ] || [ $kept -lt %d ]; then kept=$((kept+1)); keep="$b $keep"
    else rm -rf "releases/$b" && removed="$removed $b"; fi
  done`, keep)
}
