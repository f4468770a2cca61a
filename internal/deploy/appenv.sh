# shellcheck shell=sh
# load_env exports what Bun reads from the .env files of the working folder
# (a release's), so that a command that is not Bun (a shell script, psql)
# sees the app's environment too, as the app does. The values go from bun to
# this shell through a pipe: never on a command line or in the output. Only
# names this shell does not have are set: one it has is kept, as Bun keeps
# it (and the shell's own, such as PPID, are never touched).
load_env() {
	found=""
	for f in .env .env.*; do
		if [ -e "$f" ]; then found=1; fi
	done
	[ -n "$found" ] || return 0
	command -v bun >/dev/null 2>&1 || {
		echo "ship: bun is not on the PATH: it reads the release's .env for this command" >&2
		return 127
	}
	# shellcheck disable=SC2016 # JavaScript, not shell
	vars=$(bun -e 'const q = String.fromCharCode(39);
for (const [k, v] of Object.entries(process.env))
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
    console.log("[ \"${" + k + "+x}\" ] || export " + k + "=" + q + v.split(q).join(q + "\\" + q + q) + q);') || {
		echo "ship: bun could not read the release's .env" >&2
		return 1
	}
	eval "$vars"
}
