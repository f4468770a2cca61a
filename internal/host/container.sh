# shellcheck shell=sh
# The file operations of host.Container (release.FS) and its cancel, run
# inside the container, one operation per exec:
#
#   sh -c "$(this file)" ship-fs OP ARG...
#
# or many through one exec, which spares the engine's exec per operation:
#
#   sh -c "$(this file)" ship-fs serve
#
# reads requests on stdin and answers on stdout until stdin ends (see serve
# below). Values arrive as arguments, never as shell text. The exit status
# tells Go which error it was; any other failure exits non-zero with the
# command's message on stderr:
#   3 no such file, 4 exists already, 5 permission denied,
#   6 not a folder, 7 not a symlink
set -u
umask 022

# present: $1 exists, even as a dangling symlink.
present() { [ -e "$1" ] || [ -L "$1" ]; }

# folder sets $dir to the folder holding $1 (an absolute path) and checks
# that a new entry can be made there.
folder() {
	dir=${1%/*}
	[ -n "$dir" ] || dir=/
	[ -e "$dir" ] || exit 3
	[ -d "$dir" ] || exit 6
	[ -w "$dir" ] || exit 5
}

# Type, permission bits, size, modification time and name, NUL-ended:
# what Go needs for an fs.FileInfo. find does not follow the entries.
info='%y %m %s %T@ %f\0'

# op runs one operation; it exits, so serve runs it in a subshell.
op() {
	op=$1
	shift
	case $op in
	readfile)
		[ -e "$1" ] || exit 3
		[ -r "$1" ] || exit 5
		exec cat -- "$1"
		;;
	writefile) # PATH MODE, data on stdin: a synced temp file renamed over PATH
		folder "$1"
		part=$(mktemp "$dir/.${1##*/}.tmp-XXXXXX") || exit 1
		if dd of="$part" bs=65536 conv=fsync status=none && chmod "$2" "$part" && mv -fT -- "$part" "$1"; then
			exit 0
		fi
		rm -f -- "$part"
		exit 1
		;;
	appendfile) # PATH, data on stdin
		if [ -e "$1" ]; then
			[ -w "$1" ] || exit 5
		else
			folder "$1"
		fi
		exec cat >>"$1"
		;;
	readdir)
		[ -e "$1" ] || exit 3
		[ -d "$1" ] || exit 6
		{ [ -r "$1" ] && [ -x "$1" ]; } || exit 5
		# Entries removed while find lists are left out, as os.ReadDir does.
		exec find -H "$1" -mindepth 1 -maxdepth 1 -ignore_readdir_race -printf "$info"
		;;
	lstat)
		present "$1" || exit 3
		exec find "$1" -maxdepth 0 -printf "$info"
		;;
	mkdir) # atomic: the deploy lock depends on it
		present "$1" && exit 4
		folder "$1"
		mkdir -- "$1" && exit 0
		present "$1" && exit 4 # another writer was first
		exit 1
		;;
	mkdirall)
		exec mkdir -p -- "$1"
		;;
	remove) # a file, a symlink or an empty folder
		present "$1" || exit 3
		if [ -d "$1" ] && [ ! -L "$1" ]; then
			exec rmdir -- "$1"
		fi
		exec rm -f -- "$1"
		;;
	readlink)
		if [ ! -L "$1" ]; then
			[ -e "$1" ] && exit 7
			exit 3
		fi
		exec readlink -- "$1"
		;;
	symlink) # TARGET LINK
		present "$2" && exit 4
		folder "$2"
		ln -sT -- "$1" "$2" && exit 0
		present "$2" && exit 4
		exit 1
		;;
	rename) # OLD NEW: rename(2), replacing NEW atomically
		present "$1" || exit 3
		exec mv -fT -- "$1" "$2"
		;;
	kill) # ID: every process of the command started with SHIP_EXEC=ID
		for pass in 1 2; do # twice: a child forked during the first pass
			for p in /proc/[0-9]*; do
				if tr '\0' '\n' <"$p/environ" 2>/dev/null | grep -qxF "SHIP_EXEC=$1"; then
					kill -KILL "${p#/proc/}" 2>/dev/null
				fi
			done
			[ "$pass" = 2 ] || sleep 0.1
		done
		exit 0
		;;
	*)
		echo "ship-fs: unknown operation $op" >&2
		exit 2
		;;
	esac
}

# serve answers requests until stdin ends. A request is a line "OP N LEN",
# N lines each holding one argument with every byte written as printf's
# \0NNN escape, then LEN bytes of data for the operation's stdin (none when
# LEN is -1). The answer is a line "STATUS OUTLEN ERRLEN", then the
# operation's stdout and stderr.
serve() {
	tmp=$(mktemp -d) || exit 1
	trap 'rm -rf "$tmp"' EXIT
	while IFS=' ' read -r name n len; do
		set --
		while [ "$n" -gt 0 ]; do
			IFS= read -r enc || exit 1
			arg=$(printf '%bx' "$enc") # x: $(...) drops trailing newlines
			set -- "$@" "${arg%x}"
			n=$((n - 1))
		done
		in=/dev/null
		if [ "$len" -ge 0 ]; then
			in=$tmp/in
			if [ "$len" -gt 0 ]; then
				# fullblock reads exactly len bytes, never into the next request.
				dd of="$in" bs="$len" count=1 iflag=fullblock status=none || exit 1
			else
				: >"$in"
			fi
		fi
		(op "$name" "$@") <"$in" >"$tmp/out" 2>"$tmp/err"
		printf '%s %s %s\n' "$?" "$(wc -c <"$tmp/out")" "$(wc -c <"$tmp/err")"
		cat "$tmp/out" "$tmp/err"
	done
}

if [ "$1" = serve ]; then
	serve
else
	op "$@"
fi
