# shellcheck shell=sh
# shellcheck disable=SC2154 # values come from the generated prologue (script.go); the tests check the whole script
# The host side of `ship exec` and `ship env`, after a prologue (root; dir:
# releases/N; list_env: 1 for `ship env`; cmd) and appenv.sh. Nothing here prints a
# value of the app's environment but what was asked for.
PATH="$HOME/.bun/bin:/usr/local/bin:$PATH"
export PATH
cd "$root/$dir" 2>/dev/null || {
	echo "ship: cannot enter $root/$dir" >&2
	exit 1
}
if [ "$list_env" = 1 ]; then
	# What Bun loads from the release's .env files, alone: with an empty
	# environment, process.env holds nothing else (PATH and HOME aside,
	# which a .env cannot change for the app either).
	command -v bun >/dev/null 2>&1 || {
		echo "ship: bun is not on the PATH: it reads the release's .env" >&2
		exit 127
	}
	exec env -i PATH="$PATH" HOME="$HOME" bun -e 'const e = { ...process.env }; delete e.PATH; delete e.HOME; console.log(JSON.stringify(e));'
fi
# The command is $1: a name the app's .env sets cannot replace it.
set -- "$cmd"
load_env || exit
exec sh -c "$1"
