# shellcheck shell=sh
# shellcheck disable=SC2154 # values come from the generated prologue (script.go); the tests check the whole script
# The host side of one `ship deploy` or `ship rollback` (and of the
# receiver's webhook deploys). A short generated prologue of quoted values
# comes first (script.go), then this file. It runs top to bottom as one
# program on the host, so a deploy costs one SSH exec however many steps it
# has.
#
# Conversation with ship:
#   ship -> host (standard input, one word a line):
#     ping                 every few seconds: ship is alive (answered: pong)
#     env SIZE             then SIZE bytes: the app's environment from ship.yml
#                          (a .env file), first of all words; only as data,
#                          never in this script's text or a command line
#     upload SIZE          then SIZE bytes of tar: the source tree (--upload)
#     go N MODE            after the survey: build (or roll back to) release N;
#                          MODE is stage (a receiver answers), reload (ask, do
#                          not wait) or none (no receiver runs)
#     release run|skip     after `built`, when a release command is set: run
#                          it here (one host of the fleet), or go on (it ran
#                          on another host and succeeded)
#     commit [at=MS] [R...] every host is ready: switch (traffic moves at the
#                          moment MS, Unix ms, on every host), then remove R
#     abort REASON         stop and change nothing (another host failed, --wait)
#   host -> ship (standard output): lines that start with $tag are events
#   (events.go parses them); the rest is the output of the commands run.
#
# Whichever side dies, the host ends the deploy by itself: before `commit`
# it unwinds (the staged process is stopped, the new release never becomes
# current, the lock is freed); after `commit` it finishes. It sees ship go
# when standard input ends (ship killed, connection reset) or when no word
# arrives for $gone_after seconds (a frozen link).
#
# Receiver requests are files in releases/ (STAGE, COMMIT, ABORT, RELOAD:
# {"id","release"}); its answers are .ship/answers/ID ("WORD {json}"), and
# after each it writes "answer WORD {json}" into this run's words FIFO to
# wake us (the line itself: heard when a full disk kept the file from it).

set -u
umask 022
# Files are made empty with `true >F`, never `: >F`: `:` is a special
# built-in, and a redirection it cannot make (a disk out of inodes) ends
# the whole script instead of failing the command.
PATH="$HOME/.bun/bin:/usr/local/bin:$PATH"
export PATH

main=$$
run=.ship/runs/$id
phase=start
n=0
rel=""
cur=""
curnum=0
commit=$want_commit
requested=""
fetching=""
uploaded=""
cred=""
env_in=""
heard=""
env_digest=""

say() { printf '%s%s\n' "$tag" "$*"; }

# ---- the reader of ship's words, and the watchdog ----

# word hands a word to the main program, which reads it at its next wait.
# The FIFO stays open on fd 4 (read and write) for the whole run: a word
# waits in it until read, none is lost between two opens.
word() { printf '%s\n' "$1" >&4; }

# reader is the only reader of ship's stream. It counts words (the watchdog
# watches the count), unpacks an upload, passes the rest on, and on `abort`
# or the end of the stream stops the deploy (the main program's trap
# unwinds). After `commit` nothing stops it.
reader() {
	trap - TERM INT HUP PIPE
	count=0
	committed=0
	while IFS= read -r w <&3; do
		count=$((count + 1))
		echo "$count" >"$run/alive"
		case $w in
		ping) say pong ;;
		# A numbered ping measures the link and this host's clock (ms, GNU date).
		ping\ *) say pong "${w#ping }" "$(date +%s%3N 2>/dev/null)" ;;
		env\ *)
			# Only this user may read it; its size is checked where it is used.
			(umask 077 && head -c "${w#env }" <&3 >"$run/env")
			word "env-in"
			;;
		upload\ *)
			true >"$run/uploading"
			mkdir -p "$run/src"
			# tar may stop early (a full disk): cat takes the rest, so that the
			# bytes after the upload are read as words again.
			head -c "${w#upload }" <&3 | {
				tar -xf - -C "$run/src"
				st=$?
				cat >/dev/null
				exit $st
			}
			st=$?
			rm -f "$run/uploading"
			word "uploaded $st"
			;;
		abort*)
			[ "$committed" = 1 ] && continue
			echo "${w#abort}" >"$run/abort"
			kill -TERM 0 2>/dev/null
			return
			;;
		commit*)
			committed=1
			word "$w"
			;;
		*) word "$w" ;;
		esac
	done
	[ "$committed" = 1 ] && return
	echo " ship went away (its connection closed)" >"$run/abort"
	kill -TERM 0 2>/dev/null
}

# watchdog refreshes the lock's heartbeat ($run/beat) while the deploy is
# alive, and stops the deploy when ship stops talking (a frozen link) or
# the main program is gone (killed): then it frees the lock itself. It
# ignores the stop signals the deploy sends its own group: its ticks time
# the waits of an unwinding deploy too. end() stops it with SIGKILL.
watchdog() {
	trap '' TERM INT HUP PIPE
	last=""
	quiet=0
	clock=0
	while sleep 2; do
		# The main program's clock, and a tick to wake its waits (see
		# await_answer): shell builtins, no date process per look.
		clock=$((clock + 2))
		echo "$clock" >"$run/clock"
		echo "tick $clock" >&4
		if ! kill -0 "$main" 2>/dev/null; then
			unlock
			rm -rf "$run"
			kill -TERM 0 2>/dev/null
			return
		fi
		a=""
		read -r a <"$run/alive" 2>/dev/null
		if [ "$a" != "$last" ] || [ -f "$run/uploading" ] || [ -f "$run/committing" ] || [ -f "$run/abort" ]; then
			last=$a
			quiet=0
			true >"$run/beat"
		elif [ $((quiet += 2)) -ge "$gone_after" ]; then
			echo " no word from ship for ${gone_after}s (a frozen link?)" >"$run/abort"
			# Nobody reads our output now: writes blocked on the link
			# fail once the relay is gone, and the unwind goes on.
			kill -KILL "$relay_pid" 2>/dev/null
			kill -TERM 0 2>/dev/null
		fi
	done
}

# arrived notes the reader's word that data ship sent is in place ($1), so
# that a wait for another word does not lose it.
arrived() {
	case $1 in
	uploaded\ *) uploaded=${1#uploaded } ;;
	env-in) env_in=1 ;;
	answer\ *) heard=${1#answer } ;;
	esac
}

# await reads ship's words until one that starts with $1 arrives (in $w).
await() {
	while :; do
		w=""
		read -r w <&4 || continue
		case $w in
		"$1"*) return 0 ;;
		*) arrived "$w" ;;
		esac
	done
}

# ---- endings: every path frees the lock and removes the run folder ----

unlock() {
	l=""
	read -r l <.ship/lock/info.json 2>/dev/null
	case $l in *"\"$id\""*) rm -rf .ship/lock ;; esac
}

# js escapes text for a JSON string (our own messages).
js() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr '\n\t' '  '; }

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# audit appends this run's line to .ship/log.jsonl: result, step, message.
audit() {
	msg=""
	[ -z "$3" ] || msg=$(js "$3")
	t=$(date -u +%s:%Y-%m-%dT%H:%M:%SZ)
	printf '%s,"time":"%s","result":"%s","release":%s,"previous":%s,"commit":"%s","step":"%s","error":"%s","seconds":%s}\n' \
		"$log_head" "${t#*:}" "$1" "$n" "$curnum" "$commit" "$2" "$msg" \
		"$((${t%%:*} - started))" >>.ship/log.jsonl 2>/dev/null
}

# slurp prints file $1 on one line, with the shell's own read (no process).
slurp() {
	out=""
	while IFS= read -r line || [ -n "$line" ]; do out="$out$line"; done <"$1"
	printf '%s' "$out"
}

# end stops the helpers, frees the lock, removes the run folder and exits.
end() {
	kill "$reader_pid" 2>/dev/null
	kill -KILL "$watchdog_pid" 2>/dev/null
	set -- "$1" "$run"
	for f in ".current.tmp-$id" ".current.tmp-$id-back" "releases/.COMMIT.tmp-$id" "releases/.ABORT.tmp-$id" ".ship/answers/$id"; do
		if [ -e "$f" ] || [ -L "$f" ]; then set -- "$@" "$f"; fi
	done
	l=""
	read -r l <.ship/lock/info.json 2>/dev/null
	case $l in *"\"$id\""*) set -- "$@" .ship/lock ;; esac
	code=$1
	shift
	rm -rf "$@"
	exit "$code"
}

# fail reports a failed step and ends the deploy with nothing switched. The
# half-made release has no release.json: the next deploy sweeps it.
fail() {
	trap '' TERM INT HUP PIPE
	say fail "$1"
	[ -z "$fetching" ] || wait "$fetching" 2>/dev/null
	withdraw
	if [ "$phase" = release ] && [ -f "$rel/.ship/release.json" ]; then
		# Built, but its release command failed: never a rollback target.
		mv -f "$rel/.ship/release.json" "$rel/.ship/aborted.json"
	fi
	audit failed "$phase" "$1"
	end "${2:-1}"
}

# unwind is the trap: ship said abort, or went away, before the commit.
# shellcheck disable=SC2317 # called by the trap
unwind() {
	trap '' TERM INT HUP PIPE
	reason=" stopped"
	[ -f "$run/abort" ] && read -r reason <"$run/abort"
	[ -z "$fetching" ] || wait "$fetching" 2>/dev/null
	withdraw
	if [ "$mode" = deploy ] && [ -n "$rel" ] && [ -f "$rel/.ship/release.json" ]; then
		# Built, but never switched to: no rollback target; swept later.
		mv -f "$rel/.ship/release.json" "$rel/.ship/aborted.json"
	fi
	result=aborted
	case ${reason# } in interrupted*) result=interrupted ;; esac
	audit "$result" "$phase" "${reason# }"
	say aborted "${reason# }"
	end 143
}

# ---- the receiver: requests in releases/, answers in .ship/answers/ ----

# request writes releases/KIND (STAGE, COMMIT, ABORT, RELOAD) atomically;
# $2, when given, is the moment (Unix ms) a COMMIT takes effect.
request() {
	prepared "$1" "${2:-0}" && mv -f "releases/.$1.tmp-$id" "releases/$1"
}

# prepared writes request KIND under its temp name: renamed into place
# later (withdraw), it needs no room on the disk then.
prepared() {
	printf '{"id":"%s","release":%s,"at":%s}\n' "$id" "$n" "${2:-0}" >"releases/.$1.tmp-$id"
}

# answer reads the receiver's answer to this run: "WORD {json}".
answer() {
	a=""
	[ -f ".ship/answers/$id" ] && read -r a <".ship/answers/$id"
	aword=${a%% *}
}

# await_answer waits until the answer's word is one of $1 (a|b|c); $2 bounds
# the wait in seconds (0: no bound; ship bounds it). 1 on timeout. It
# sleeps on the words FIFO: the receiver writes "answer ..." there after each
# answer, the watchdog "tick T" every 2 seconds (T: its clock); no polling.
await_answer() {
	clock=0
	[ -f "$run/clock" ] && read -r clock <"$run/clock"
	deadline=$((clock + $2 + 1))
	while :; do
		answer
		case "|$1|" in *"|$aword|"*) [ -n "$aword" ] && return 0 ;; esac
		# The line the receiver put in the FIFO: heard even when its file
		# could not be written (a full disk). Looked at once.
		if [ -n "$heard" ]; then
			a=$heard
			aword=${a%% *}
			heard=""
			case "|$1|" in *"|$aword|"*) [ -n "$aword" ] && return 0 ;; esac
		fi
		# Its own variable: $w still holds ship's last word (commit's list
		# of releases to prune) for after the wait.
		aw=""
		read -r aw <&4
		case $aw in
		# Ticks written while nobody waited are old: only the time counts.
		tick\ *) [ "$2" -gt 0 ] && [ "${aw#tick }" -ge "$deadline" ] && return 1 ;;
		*) arrived "$aw" ;;
		esac
	done
}

# withdraw takes back a stage request: the receiver stops what it started.
# The ABORT request was written next to the STAGE one (stage_release): a
# rename needs no room, so it reaches the receiver on a full disk too.
withdraw() {
	[ "$requested" = STAGE ] || return 0
	requested=""
	rm -f releases/STAGE
	mv -f "releases/.ABORT.tmp-$id" releases/ABORT 2>/dev/null || request ABORT || {
		say note "cannot write releases/ABORT: the receiver stops the staged release after its --stage-timeout"
		return 0
	}
	if await_answer "aborted" "$ack_wait"; then
		say answer "$a"
	else
		say note "the receiver did not confirm that it stopped the staged release"
	fi
}

# ---- lock: one rename of a folder that already holds its owner ----

# age prints how many seconds ago $1 was modified (a large number if missing).
age() {
	t=$(stat -c %Y "$1" 2>/dev/null) || {
		echo 999999
		return
	}
	echo $(($(date +%s) - t))
}

take_lock() {
	phase=lock
	say stage lock
	{ [ -d .ship ] && [ -d releases ] && [ -d shared ]; } || mkdir -p .ship releases shared ||
		fail "cannot create folders under $root"
	printf '%s\n' "$lockinfo" >"$run/lock/info.json" ||
		fail "cannot write the lock's info (is the disk full?)"
	tries=0
	until mv -T "$run/lock" .ship/lock 2>/dev/null; do
		holder=$(slurp .ship/lock/info.json 2>/dev/null)
		hid=$(printf '%s' "$holder" | sed -n 's/.*"id": *"\([0-9A-Za-z_-]*\)".*/\1/p')
		if [ -n "$hid" ] && [ -d ".ship/runs/$hid" ]; then
			stale=$(age ".ship/runs/$hid/beat")
		else
			# No heartbeat to read (an older ship, a damaged lock): judge by
			# the lock's own age, 30 times more patiently.
			stale=$(($(age .ship/lock) / 30))
		fi
		if [ "$stale" -lt "$lock_stale" ] || [ $((tries += 1)) -gt 3 ]; then
			say locked "$stale" "$holder"
			kill "$reader_pid" 2>/dev/null
			kill -KILL "$watchdog_pid" 2>/dev/null
			rm -rf "$run"
			exit 75
		fi
		take_over "$holder" "$stale"
	done
	phase=survey
}

# take_over moves a stale lock aside; whoever renames it first has it.
take_over() {
	mv -T .ship/lock ".ship/lock.stale-$id" 2>/dev/null || return 0
	taken=$(slurp ".ship/lock.stale-$id/info.json" 2>/dev/null)
	if [ "$taken" != "$1" ]; then
		# Someone took it over and locked again between our look and our
		# rename: give the fresh lock back.
		mv -T ".ship/lock.stale-$id" .ship/lock 2>/dev/null
		return 0
	fi
	say takeover "$2" "$1"
	printf '%s,"time":"%s","result":"ok","detail":"took over a stale lock (heartbeat %ss old): %s"}\n' \
		"$takeover_head" "$(now)" "$2" "$(js "$1")" >>.ship/log.jsonl
	rm -rf ".ship/lock.stale-$id"
	[ -z "$hid" ] || rm -rf ".ship/runs/$hid"
}

# ---- survey: what is there, for ship's decisions ----

survey() {
	cur=$(readlink current 2>/dev/null) || cur=""
	say current "$cur"
	case $cur in releases/[1-9]*) curnum=${cur#releases/} curnum=${curnum%/} ;; esac
	case $curnum in '' | *[!0-9]*) curnum=0 ;; esac
	next=0
	for d in releases/*; do
		b=${d##*/}
		case $b in '' | 0* | *[!0-9]*) continue ;; esac
		[ -d "$d" ] || continue
		[ "$b" -gt "$next" ] && next=$b # numbers are never reused, even of swept folders
		if [ ! -f "$d/.ship/release.json" ] && [ "$b" != "$curnum" ]; then
			rm -rf "$d" && say swept "$b"
			continue
		fi
		f=0
		[ -f "$d/.ship/release.json" ] && f=1
		bad=0
		[ -f "$d/.ship/bad.json" ] && bad=1
		say release "$b" "$f" "$bad"
	done
	# The highest number ever given here: a swept folder's number is never
	# given again.
	hw=0
	[ -f .ship/last-release ] && read -r hw <.ship/last-release
	case $hw in '' | *[!0-9]*) hw=0 ;; esac
	[ "$hw" -gt "$next" ] && next=$hw
	sweep_leftovers
	# One line in one write: the reader's pongs share the stream.
	[ -f .ship/state.json ] && say state "$(slurp .ship/state.json)"
	say now "$(date +%s)"
	say next $((next + 1))
}

# sweep_leftovers removes what killed deploys left: temp links, temp
# requests, run folders whose heartbeat stopped, old answers.
sweep_leftovers() {
	for f in .current.tmp-* .ship/lock.stale-* releases/.STAGE.tmp-* releases/.COMMIT.tmp-* \
		releases/.ABORT.tmp-* releases/.RELOAD.tmp-*; do
		if [ -e "$f" ] || [ -L "$f" ]; then rm -rf "$f"; fi
	done
	for d in .ship/runs/*; do
		{ [ -d "$d" ] && [ "$d" != "$run" ]; } || continue
		# A run with no heartbeat yet may be one that has just started:
		# judge it by its folder's age.
		b=$d/beat
		[ -e "$b" ] || b=$d
		[ "$(age "$b")" -ge "$lock_stale" ] && rm -rf "$d"
	done
	# Answers of runs that ended without removing theirs (killed).
	set -- .ship/answers/*
	[ -e "$1" ] && find .ship/answers -type f -mmin +60 -exec rm -f {} + 2>/dev/null
}

# ---- the release: source, shared, install, build ----

# git_ is git on the mirror. A repository password or token never goes in
# an argument (every user can read those): ship sends it as a word, it is
# kept in $cred, and git asks for it through GIT_ASKPASS, which reads it
# from git's own environment (readable by this user only).
git_() {
	if [ -n "$cred" ]; then
		GIT_ASKPASS="$run/askpass" SHIP_GIT_PASSWORD="$cred" GIT_TERMINAL_PROMPT=0 \
			git -c protocol.ext.allow=never -c maintenance.auto=false -c gc.auto=0 --git-dir=.ship/repo.git "$@"
		return
	fi
	git -c protocol.ext.allow=never -c maintenance.auto=false -c gc.auto=0 --git-dir=.ship/repo.git "$@"
}

# take_cred waits for the repository's password (ship sends it first) and
# writes the askpass helper that hands it to git.
take_cred() {
	[ "$repo_cred" = 1 ] || return 0
	await cred
	cred=${w#cred }
	# shellcheck disable=SC2016 # the helper expands it, not us
	{ printf '#!/bin/sh\nprintf "%%s\\n" "$SHIP_GIT_PASSWORD"\n' >"$run/askpass" && chmod 700 "$run/askpass"; } ||
		fail "cannot write the git password helper"
}

# start_fetch fetches into the mirror, under the lock, while the survey and
# ship's go go on; the source stage waits for it.
start_fetch() {
	[ "$mode" = deploy ] && [ "$upload" = 0 ] || return 0
	[ -d .ship/repo.git ] || git init -q --bare .ship/repo.git || fail "git init of the mirror failed"
	# Its output waits in a file: shown with the source stage if it fails.
	git_ fetch -q --prune --no-tags -- "$repo" '+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*' \
		>"$run/fetch.log" 2>&1 &
	fetching=$!
}

source_tree() {
	phase=source
	say stage source
	if [ "$upload" = 1 ]; then
		[ -n "$uploaded" ] || { await uploaded && uploaded=${w#uploaded }; }
		[ "$uploaded" = 0 ] || fail "cannot unpack the upload (is the disk full?)"
		mv -T "$run/src" "$rel" || fail "cannot move the upload to $rel"
	else
		mkdir "$rel" || fail "cannot create $rel"
		wait "$fetching"
		st=$?
		if [ "$st" != 0 ]; then
			while IFS= read -r line; do printf '%s\n' "$line"; done <"$run/fetch.log"
			fail "git fetch from $repo_shown failed (exit status $st)"
		fi
		fetching=""
		resolve_commit
		git_ archive --format=tar "$commit" | tar -xf - -C "$rel" || fail "cannot export $commit"
	fi
	say commit "$commit"
	# The release's .ship/ belongs to ship, whatever the tree put there.
	if [ -e "$rel/.ship" ] || [ -L "$rel/.ship" ]; then rm -rf "$rel/.ship"; fi
	mkdir "$rel/.ship" || fail "cannot create $rel/.ship"
}

# resolve_commit: an exact commit (a webhook's push) wins over the ref. A
# branch the fetch just updated is a loose ref file, read with the shell.
resolve_commit() {
	if [ -z "$commit" ] && [ -f ".ship/repo.git/refs/heads/$ref" ]; then
		read -r commit <".ship/repo.git/refs/heads/$ref"
		case $commit in *[!0-9a-f]*) commit="" ;; esac
	fi
	want=${want_commit:-$ref}
	[ -n "$commit" ] && [ -z "$want_commit" ] ||
		commit=$(git_ rev-parse -q --verify --end-of-options "$want^{commit}" 2>/dev/null)
	if [ -z "$commit" ] && [ "$want_is_id" = 1 ]; then
		# A commit that no branch or tag names: ask for it by id.
		git_ fetch -q -- "$repo" "$want" && commit=$(git_ rev-parse -q --verify --end-of-options "$want^{commit}")
	fi
	[ -n "$commit" ] || fail "$want not found in $repo_shown"
}

# link_shared links each entry of shared/ into the release, replacing what
# the tree has there. A committed symlink is never followed out of the
# release: links on the way to a nested entry are replaced by folders.
link_shared() {
	phase=shared
	say stage shared
	set --
	if [ -z "$shared" ]; then
		for e in shared/* shared/.[!.]* shared/..?*; do
			if [ -e "$e" ] || [ -L "$e" ]; then set -- "$@" "${e#shared/}"; fi
		done
	else
		oldifs=$IFS
		IFS='
'
		# shellcheck disable=SC2086 # one entry a line, split on purpose
		set -- $shared
		IFS=$oldifs
	fi
	for e in "$@"; do
		case $e in */) e=${e%/} && { mkdir -p "shared/$e" || fail "cannot create shared/$e"; } ;; esac
		[ -e "shared/$e" ] || [ -L "shared/$e" ] ||
			fail "shared/$e is missing on the server: create $root/shared/$e (or drop it from the shared list)"
		parent_dirs "$e"
		rm -rf "${rel:?}/$e"
		ln -s "$root/shared/$e" "$rel/$e" || fail "cannot link shared/$e"
		say linked "$e"
	done
	write_env
}

# write_env makes the release's own .env when ship.yml has env: (ship sent
# it as data, $run/env): the lines of the .env the release would have had
# (shared/.env's, or the tree's), then ship.yml's, which win, as Bun takes
# the last line of a name. A file of the release, mode 0600: a rollback
# brings back the configuration that went with the code.
write_env() {
	[ "$env_size" -gt 0 ] || return 0
	[ -n "$env_in" ] || await env-in
	{ [ -f "$run/env" ] && [ "$(wc -c <"$run/env")" -eq "$env_size" ]; } ||
		fail "the app's environment (ship.yml env:) did not arrive whole"
	base=""
	[ -f "$rel/.env" ] && base=$rel/.env
	(
		umask 077
		{
			if [ -n "$base" ]; then
				cat "$base" && echo
				printf '%s\n' "$env_marker"
			fi
			cat "$run/env"
		} >"$rel/.ship/env.tmp"
	) || fail "cannot write the release's .env (is the disk full?)"
	{ rm -f "$rel/.env" && mv -f "$rel/.ship/env.tmp" "$rel/.env"; } || fail "cannot write $rel/.env"
	rm -f "$run/env" # the secrets' one copy is now the release's own .env
	env_digest=$(digest_env)
	say env "${base:+merged}"
}

# digest_env prints a short digest of the release's .env, so that `ship
# releases` can say the environment changed without showing it. A random
# salt only this user reads (.ship/env-salt) keeps a guess of a weak value
# from being checked against release.json.
digest_env() {
	command -v sha256sum >/dev/null 2>&1 || return 0
	if [ ! -s .ship/env-salt ]; then
		(umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >".ship/env-salt.tmp-$id") &&
			mv -f ".ship/env-salt.tmp-$id" .ship/env-salt
	fi
	d=$(cat .ship/env-salt "$rel/.env" | sha256sum) || return 0
	printf '%.16s' "$d"
}

# parent_dirs makes the folders above entry $1 inside the release,
# replacing any symlink on the way.
parent_dirs() {
	p=$rel
	rest=$1
	while :; do
		case $rest in */*) ;; *) return 0 ;; esac
		p=$p/${rest%%/*}
		rest=${rest#*/}
		if [ -L "$p" ] || { [ -e "$p" ] && [ ! -d "$p" ]; }; then rm -f "$p"; fi
		[ -d "$p" ] || mkdir "$p" || fail "cannot create $p"
	done
}

# install_deps runs the install command so that releases with the same
# dependency files share one node_modules in .ship/deps/KEY (KEY: the
# files' git blob ids, or their sha256 for an upload, and a hash of the
# command). When KEY is known the link is made first and a plain
# `bun install` is skipped.
install_deps() {
	phase=install
	say stage install
	[ -n "$install_cmd" ] || return 0
	key=""
	if [ "$upload" = 0 ] && [ -f "$rel/package.json" ]; then
		key=$dep_hash
		while read -r _ _ oid _; do key="$key${oid%"${oid#????????????}"}"; done <<EOF
$(git_ ls-tree "$commit" -- package.json bun.lock bun.lockb bunfig.toml .npmrc)
EOF
	elif [ -f "$rel/package.json" ] && command -v sha256sum >/dev/null 2>&1; then
		key=$( (cd "$rel" && cat package.json bun.lock bun.lockb bunfig.toml .npmrc 2>/dev/null; printf '%s' "$install_cmd") | sha256sum)
		key=${key%% *}
	fi
	deps=.ship/deps/$key
	if [ -n "$key" ] && [ -f "$deps/.complete" ] && [ ! -e "$rel/node_modules" ] && [ ! -L "$rel/node_modules" ]; then
		ln -s "../../$deps/node_modules" "$rel/node_modules" || fail "cannot link $deps/node_modules"
		say reused "$key"
	fi
	if [ "$plain_install" = 0 ] || [ ! -L "$rel/node_modules" ]; then
		(cd "$rel" && eval "$install_cmd") </dev/null || fail "install command failed: $install_cmd (exit status $?)"
	fi
	if [ -n "$key" ] && [ ! -f "$deps/.complete" ] && [ -d "$rel/node_modules" ] && [ ! -L "$rel/node_modules" ]; then
		{ rm -rf "$deps" && mkdir -p "$deps" && mv "$rel/node_modules" "$deps/node_modules" &&
			ln -s "../../$deps/node_modules" "$rel/node_modules" && true >"$deps/.complete"; } ||
			fail "cannot move node_modules to $deps"
	fi
}

build_release() {
	phase=build
	say stage build
	if [ -n "$build_cmd" ]; then
		(cd "$rel" && eval "$build_cmd") </dev/null || fail "build command failed: $build_cmd (exit status $?)"
	fi
	env_field=""
	[ -z "$env_digest" ] || env_field=",\"env_digest\":\"$env_digest\""
	# Finished: release.json, written to a temp name and renamed.
	{ printf '%s,"number":%s,"commit":"%s","built_at":"%s"%s}\n' "$info_head" "$n" "$commit" "$(now)" "$env_field" \
		>"$rel/.ship/release.json.tmp" &&
		mv -f "$rel/.ship/release.json.tmp" "$rel/.ship/release.json"; } || fail "cannot write release.json"
}

# run_release runs the release command (migrations) in the new release
# before it starts anywhere, with the release's environment. On a fleet it
# runs once: ship waits until every host is built, says `release run` to
# one, and `release skip` to the others once it succeeded.
run_release() {
	phase=release
	say stage release
	[ -n "$release_cmd" ] || return 0
	await release
	[ "$w" = "release run" ] || return 0
	# The command is $1: a name the app's .env sets cannot replace it.
	(cd "$rel" && set -- "$release_cmd" && load_env && eval "$1") </dev/null ||
		fail "release command failed: $release_cmd (exit status $?)"
	say released
}

# ---- stage, commit, prune ----

# stage_release asks the receiver to start the release next to the serving
# one and check its health, out of traffic. ship bounds the wait (--wait)
# and says abort when it runs out.
stage_release() {
	phase=stage
	say stage stage
	if [ "$smode" != stage ]; then
		say staged "$smode"
		return 0
	fi
	# The ABORT that would take it back is written now, while there is room.
	prepared ABORT || fail "cannot write releases/STAGE (is the disk full?)"
	requested=STAGE # before the request: a stop in between still withdraws it
	request STAGE || fail "cannot write releases/STAGE (is the disk full?)"
	await_answer "starting|staged|failed|aborted" "$ack_wait" ||
		fail "the receiver did not take the stage request within ${ack_wait}s: is it running? (ship status shows its heartbeat)"
	say answer "$a"
	await_answer "staged|failed|aborted" 0
	[ "$aword" = starting ] || say answer "$a"
	[ "$aword" = staged ] && { prepare_switch; return 0; }
	requested=""
	[ "$aword" = aborted ] && fail "the receiver stopped staging release $n"
	if [ "$mode" = deploy ] && [ "$aword" = failed ]; then
		# The receiver's own reason, still escaped as it wrote it.
		why=$(printf '%s' "$a" | sed -n 's/.*"error":"\(\([^"\\]\|\\.\)*\)".*/\1/p')
		printf '{"reason":"%s","at":"%s"}\n' "${why:-not healthy when staged}" "$(now)" >"$rel/.ship/bad.json"
	fi
	fail "release $n did not become healthy"
}

# prepare_switch makes the temp links ahead, to the new release and back
# to the old one, so that the switch and a switch back are renames: a full
# disk stops neither.
prepare_switch() {
	tmp=.current.tmp-$id
	ln -sfn "releases/$n" "$tmp" && { [ -z "$cur" ] || ln -sfn "$cur" "$tmp-back"; }
}

# commit_release switches current and moves traffic. From here on the
# deploy finishes even if ship goes away.
commit_release() {
	trap '' TERM INT HUP PIPE
	true >"$run/committing"
	phase=switch
	say stage switch
	# Another deploy may have taken over a lock it thought stale: never
	# switch under someone else's lock.
	l=""
	read -r l <.ship/lock/info.json 2>/dev/null
	case $l in *"\"$id\""*) ;; *) fail "the lock was taken over while this deploy waited: nothing switched" ;; esac
	tmp=.current.tmp-$id
	if ! { { [ -L "$tmp" ] || ln -s "releases/$n" "$tmp"; } && mv -fT "$tmp" current; }; then
		rm -f "$tmp"
		fail "cannot switch current to releases/$n"
	fi
	if [ "$smode" != stage ]; then
		say switched "$n"
		request RELOAD || say note "cannot write releases/RELOAD"
		return 0
	fi
	# at: the fleet's moment; every receiver moves traffic then.
	request COMMIT "$at" || back "cannot write releases/COMMIT"
	say switched "$n"
	requested=""
	# (A quick drain may replace "committed" with "drained" before we look.)
	if ! await_answer "committed|drained|failed" "$ack_wait"; then
		say note "the receiver did not confirm the switch within ${ack_wait}s; current is on release $n"
		return 0
	fi
	say answer "$a"
	[ "$aword" != failed ] || back "the receiver could not switch to release $n"
	[ "$aword" = drained ] || { await_answer "drained" "$drain_wait" && say answer "$a"; }
}

# back puts current back where it was after a failed switch, and ends.
back() {
	where="current is still on releases/$n: ship rollback puts it back"
	if [ -n "$cur" ] && { [ -L "$tmp-back" ] || ln -s "$cur" "$tmp-back"; } && mv -fT "$tmp-back" current; then
		where="current is back on $cur"
	fi
	withdraw # when the COMMIT never reached the receiver, it stops the staged release
	say fail "$1; $where"
	audit failed switch "$1"
	end 1
}

# prune removes the releases ship named (its rule: release.PlanPrune),
# never the new one or the previous current, and node_modules nothing uses.
prune() {
	phase=prune
	say stage prune
	removed=""
	for x in "$@"; do
		case $x in '' | *[!0-9]*) continue ;; esac
		[ "$x" = "$n" ] || [ "$x" = "$curnum" ] && continue
		rm -rf "releases/$x" && removed="$removed $x"
	done
	if [ -n "$removed" ]; then
		for d in .ship/deps/*; do
			[ -d "$d" ] || continue
			used=0
			for l in releases/*/node_modules; do
				[ "$(readlink "$l" 2>/dev/null)" = "../../$d/node_modules" ] && used=1 && break
			done
			[ $used = 1 ] || rm -rf "$d"
		done
	fi
	# Pack the mirror's loose objects every 20th release.
	if [ -d .ship/repo.git ] && [ $((n % 20)) = 0 ]; then git_ gc --auto --quiet >/dev/null 2>&1; fi
	say pruned "$removed"
}

# ---- the run ----

started=$(date +%s)
cd "$root" 2>/dev/null || { mkdir -p "$root" && cd "$root"; } || {
	say fail "cannot enter or create $root"
	exit 1
}
{ mkdir -p "$run/lock" && mkfifo "$run/words" "$run/out" && exec 4<>"$run/words" && true >"$run/beat"; } || {
	say fail "cannot create $root/$run (is the disk full or read-only?)"
	rm -rf "$run" # what was made (removing needs no room)
	exit 1
}
# Everything the run prints passes through a relay that the helpers' TERM
# does not stop: on a frozen link a write blocks once the link's window is
# full (a chatty build), and the watchdog kills the relay to unblock it.
(
	trap '' TERM INT HUP
	exec cat <"$run/out"
) &
relay_pid=$!
# ship's stream stays on fd 3; commands get /dev/null. One ordered output
# stream: events and the commands' output interleave as they happen.
exec 3<&0 0</dev/null >"$run/out" 2>&1
# The trap comes before the helpers: a reader that finds ship's stream
# already ended stops the deploy at once, and the unwind must catch that.
reader_pid="" watchdog_pid=""
trap unwind TERM INT HUP PIPE
reader &
reader_pid=$!
# The watchdog's output goes nowhere: a sleep it leaves behind must not
# hold the session open.
watchdog >/dev/null 2>&1 &
watchdog_pid=$!

take_lock
take_cred
start_fetch
survey
phase=plan
await go
w=${w#go }
n=${w%% *} smode=${w#* }
case $n in '' | *[!0-9]*) fail "ship sent a bad word: go $w" ;; esac
rel=releases/$n
if [ "$mode" = deploy ]; then
	echo "$n" >.ship/last-release
	source_tree
	link_shared
	install_deps
	build_release
	say built "$n"
	run_release
else
	[ -f "$rel/.ship/release.json" ] || fail "release $n is not finished on this host"
	[ ! -f "$rel/.ship/bad.json" ] || fail "release $n is marked bad on this host"
	commit=$(sed -n 's/.*"commit":"\([0-9a-f]*\)".*/\1/p' "$rel/.ship/release.json")
	say commit "$commit"
	say built "$n"
fi
stage_release
phase=ready
await commit
w=${w#commit}
at=0
case $w in " at="*)
	at=${w# at=}
	at=${at%% *}
	w=${w# at="$at"}
	;;
esac
case $at in '' | *[!0-9]*) at=0 ;; esac
commit_release
# shellcheck disable=SC2086 # release numbers, split on purpose
[ "$mode" = deploy ] && prune $w # a rollback removes nothing
audit ok "" ""
say "done" "$n"
end 0
