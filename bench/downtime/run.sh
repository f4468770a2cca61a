#!/bin/sh
# Zero-downtime benchmark: 20 consecutive reloads of an app that takes ~1 s
# to start listening, under 8 keep-alive clients plus 1 client that opens a
# new connection per request, first with the receiver in proxy mode, then in
# restart mode (the seed's stop-then-start). Prints both side by side.
#
#   bench/downtime/run.sh            # bun app if bun is found, else the Go slowapp
#   APP=slowapp bench/downtime/run.sh
#   RELOADS=5 bench/downtime/run.sh
#
# Reloads use the on-disk contract only: swap `current` (rename of a temp
# link), then write releases/RELOAD with an id (temp file, rename), then wait
# for .ship/state.json to carry that id. Goal for proxy mode: 0 failed, no
# gap over 250 ms without a successful answer.
set -eu

RELOADS=${RELOADS:-20}
KEEPALIVE=${KEEPALIVE:-8}
FRESH=${FRESH:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
MODULE=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d /tmp/ship-downtime-XXXXXX)
RECEIVER_PID=
LOAD_PID=
cleanup() {
	[ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null || true
	[ -n "$RECEIVER_PID" ] && kill "$RECEIVER_PID" 2>/dev/null || true
	wait 2>/dev/null || true
	if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

echo "building receiver, slowapp, loadgen …"
(cd "$MODULE" && go build -o "$WORK/bin/receiver" ./cmd/receiver &&
	go build -o "$WORK/bin/slowapp" ./examples/slowapp &&
	go build -o "$WORK/bin/loadgen" ./bench/downtime/loadgen)

find_bun() {
	for b in "${SHIP_BUN:-}" "$(command -v bun 2>/dev/null || true)" /usr/local/bin/bun /tmp/buntry/node_modules/.bin/bun; do
		if [ -n "$b" ] && [ -x "$b" ]; then echo "$b"; return; fi
	done
}
APP=${APP:-}
BUN=$(find_bun)
if [ -z "$APP" ]; then
	if [ -n "$BUN" ]; then APP=bun; else APP=slowapp; fi
fi
if [ "$APP" = bun ]; then
	[ -n "$BUN" ] || { echo "APP=bun but no bun found" >&2; exit 1; }
	mkdir -p "$WORK/bunbin" && ln -sf "$BUN" "$WORK/bunbin/bun"
	PATH="$WORK/bunbin:$PATH"; export PATH
	START="bun start"
	echo "app: bun $("$BUN" --version), sleeps 1 s before Bun.serve"
else
	START="exec $WORK/bin/slowapp"
	echo "app: Go slowapp, sleeps 1 s before listening"
fi

# make_release ROOT N VERSION
make_release() {
	d="$1/releases/$2"
	mkdir -p "$d/.ship"
	echo "$3" >"$d/VERSION"
	printf 'version=%s\ndelay=1s\n' "$3" >"$d/slowapp.conf"
	cat >"$d/package.json" <<'JSON'
{ "name": "downtime-app", "private": true, "scripts": { "start": "bun index.js" } }
JSON
	cat >"$d/index.js" <<'JS'
const version = (await Bun.file("VERSION").text()).trim();
await Bun.sleep(1000); // a slow boot: connect to a database, warm caches …
Bun.serve({ port: Number(process.env.PORT), fetch: () => new Response(version + "\n") });
console.log(`app ${version} listening on ${process.env.PORT}`);
JS
	printf '{"number": %s, "built_at": "2026-01-01T00:00:00Z", "by": "bench"}\n' "$2" >"$d/.ship/release.json"
}

# swap_current ROOT N: a temp link renamed over current, as ship does.
swap_current() {
	ln -sfn "releases/$2" "$1/.current.tmp"
	mv -T "$1/.current.tmp" "$1/current"
}

# write_reload ROOT ID N
write_reload() {
	printf '{"id":"%s","release":%s}\n' "$2" "$3" >"$1/releases/.RELOAD.tmp"
	mv "$1/releases/.RELOAD.tmp" "$1/releases/RELOAD"
}

# wait_state ROOT PATTERN SECONDS: until state.json matches PATTERN.
wait_state() {
	polls=0 # not i: sh functions share the caller's variables
	while ! grep -q "$2" "$1/.ship/state.json" 2>/dev/null; do
		polls=$((polls + 1))
		[ $polls -gt $(($3 * 50)) ] && { echo "timed out waiting for $2 in $1/.ship/state.json" >&2; cat "$1/.ship/state.json" >&2; return 1; }
		sleep 0.02
	done
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# run_mode MODE: prints one result row, details to $WORK/MODE.*
run_mode() {
	mode=$1
	root="$WORK/$mode/app"
	mkdir -p "$root/releases"
	make_release "$root" 1 v1
	make_release "$root" 2 v2
	swap_current "$root" 1
	port=$(free_port)
	"$WORK/bin/receiver" --root "$root" --listen "127.0.0.1:$port" --mode "$mode" --start "$START" \
		--stop-timeout 5s >"$WORK/$mode.receiver.log" 2>&1 &
	RECEIVER_PID=$!
	wait_state "$root" '"serving"' 30
	"$WORK/bin/loadgen" -url "http://127.0.0.1:$port/" -keepalive "$KEEPALIVE" -fresh "$FRESH" -label "$mode" -gaps "${GAPS:-0}" \
		>"$WORK/$mode.load" 2>&1 &
	LOAD_PID=$!
	sleep 1
	begin=$(date +%s%N)
	failed_reloads=0
	n=1
	for i in $(seq 1 "$RELOADS"); do
		n=$((3 - n)) # 2, 1, 2, …
		swap_current "$root" "$n"
		write_reload "$root" "bench-$i" "$n"
		wait_state "$root" "\"id\": \"bench-$i\"" 60
		grep -A3 "\"id\": \"bench-$i\"" "$root/.ship/state.json" | grep -q "\"ok\": true" || failed_reloads=$((failed_reloads + 1))
		sleep 0.3 # steady traffic between reloads
	done
	elapsed=$(( ($(date +%s%N) - begin) / 1000000 ))
	sleep 1
	kill -INT "$LOAD_PID"; wait "$LOAD_PID" || true; LOAD_PID=
	kill -TERM "$RECEIVER_PID"; wait "$RECEIVER_PID" || true; RECEIVER_PID=
	ok=$(grep -c '"result":"ok"' "$root/.ship/log.jsonl" || true)
	echo "$mode reloads: $RELOADS requested, $ok ok, $failed_reloads failed, ${elapsed} ms for all" >"$WORK/$mode.reloads"
	head -n1 "$WORK/$mode.load" >"$WORK/$mode.row"
}

echo "load: $KEEPALIVE keep-alive clients + $FRESH new-connection client; $RELOADS reloads per mode"
echo "machine: $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
run_mode proxy
run_mode restart

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '%-8s %10s %10s %12s %8s %10s\n' mode requests failed "max gap ms" seconds "req/s"
cat "$WORK/proxy.row" "$WORK/restart.row"
echo
cat "$WORK/proxy.reloads" "$WORK/restart.reloads"
echo
for mode in proxy restart; do
	echo "$mode, answers by version and first errors:"
	tail -n +2 "$WORK/$mode.load"
done
echo
for mode in proxy restart; do
	grep -o '"seconds":[0-9.]*' "$WORK/$mode/app/.ship/log.jsonl" | cut -d: -f2 |
		awk -v m="$mode" '{ s += $1; if ($1 > max) max = $1 } END { if (NR) printf "%s: reload took %.2f s on average, %.2f s at most (start to result)\n", m, s / NR, max }'
done
echo "proxy mode, per reload (from .ship/log.jsonl):"
grep -o '"detail":"[^"]*"' "$WORK/proxy/app/.ship/log.jsonl" | sed 's/"detail":"\(.*\)"/  \1/' | head -n 5
echo "  …"
