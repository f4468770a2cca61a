#!/usr/bin/env bash
# Proxy benchmark: bun hello direct, behind nginx (1 worker, upstream
# keepalive 64), and behind ship's proxy (internal/proxy in proxyd: the
# native front Proxy.Serve, which the receiver uses, and for comparison the
# http.Server front), and behind the real receiver (also with the webhook
# on its port), all on loopback. Each target gets
# `wrk -t2 -c8 -d10s --latency` (throughput, p50, p99, CPU per request of
# the process behind it, peak RSS) and a short one-connection run (latency
# with nothing queued). Prints one table and the ratios against the goals.
#
#   bench/proxy/run.sh                 # from anywhere; about 75 s
#   DURATION=5s bench/proxy/run.sh
#
# Needs: go, bun (PATH or /usr/local/bin/bun), nginx (nginx-light), wrk,
# curl. Everything it starts, it stops on exit.
set -euo pipefail

DURATION=${DURATION:-10s}
C1_DURATION=${C1_DURATION:-3s}
WRK=(wrk -t2 -c8 -d"$DURATION" --latency)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

need() { command -v "$1" >/dev/null || { echo "run.sh: $1 not found: $2" >&2; exit 1; }; }
BUN=$(command -v bun || echo /usr/local/bin/bun)
[ -x "$BUN" ] || { echo "run.sh: bun not found: put it on PATH or in /usr/local/bin" >&2; exit 1; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "run.sh: nginx not found: apt-get install -y nginx-light" >&2; exit 1; }
need wrk "apt-get install -y wrk"
need go "install Go"

tmp=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a loopback port nothing listens on.
free_port() {
	local port
	while :; do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
}

# wait_up URL: until it answers 200, for up to 10 s.
wait_up() {
	for _ in $(seq 100); do
		if [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null)" = 200 ]; then return 0; fi
		sleep 0.1
	done
	echo "run.sh: $1 did not come up" >&2
	exit 1
}

echo "building proxyd..." >&2
(cd "$root" && go build -o "$tmp/proxyd" ./bench/proxy/proxyd && go build -o "$tmp/receiver" ./cmd/receiver)

app_port=$(free_port)
PORT=$app_port "$BUN" "$here/hello.js" >"$tmp/bun.log" 2>&1 &
pids+=("$!")
wait_up "http://127.0.0.1:$app_port/"

nginx_port=$(free_port)
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $tmp/nginx/body;
	proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fastcgi;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	scgi_temp_path $tmp/nginx/scgi;
	upstream app { server 127.0.0.1:$app_port; keepalive 64; }
	server {
		listen 127.0.0.1:$nginx_port;
		location / {
			proxy_pass http://app;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host;
		}
	}
}
EOF
"$NGINX" -c "$tmp/nginx/nginx.conf" -g 'daemon off;' &
pids+=("$!")
nginx_pid=$!
wait_up "http://127.0.0.1:$nginx_port/"

# cpu_ticks PID...: user+system clock ticks so far, threads included.
cpu_ticks() {
	local t=0 f
	for pid in "$@"; do
		read -r -a f <"/proc/$pid/stat"
		t=$((t + f[13] + f[14]))
	done
	echo "$t"
}

# to_us "322.00us" | "1.45ms" | "2.00s" → microseconds
to_us() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n
	}'
}

# measure NAME URL PID...: warm up, run wrk, record req/s, p50, p99 and the
# CPU time the PIDs used per request.
declare -A RPS P50 P99 CPU P50C1
measure() {
	local name=$1 url=$2
	shift 2
	wrk -t2 -c8 -d1s "$url" >/dev/null # warm-up: JIT, pools
	local c0 c1 out
	c0=$(cpu_ticks "$@")
	out=$("${WRK[@]}" "$url")
	c1=$(cpu_ticks "$@")
	echo "$out" >"$tmp/wrk-$name.txt"
	if echo "$out" | grep -q -E 'Non-2xx|Socket errors'; then
		echo "run.sh: errors against $name:" >&2
		echo "$out" | grep -E 'Non-2xx|Socket errors' >&2
	fi
	RPS[$name]=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
	P50[$name]=$(to_us "$(echo "$out" | awk '$1 == "50%" {print $2}')")
	P99[$name]=$(to_us "$(echo "$out" | awk '$1 == "99%" {print $2}')")
	local reqs
	reqs=$(echo "$out" | awk '/requests in/ {print $1}')
	CPU[$name]=$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$reqs" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }')
	# One connection: the latency a request gets when nothing queues.
	out=$(wrk -t1 -c1 -d"$C1_DURATION" --latency "$url")
	P50C1[$name]=$(to_us "$(echo "$out" | awk '$1 == "50%" {print $2}')")
}

# ship_run NAME FRONT [VAR=VALUE...]: start proxyd with that front (and
# environment), measure it, keep its peak RSS, stop it.
declare -A RSS
ship_run() {
	local name=$1 front=$2 port
	shift 2
	port=$(free_port)
	env "$@" "$tmp/proxyd" -front "$front" -listen "127.0.0.1:$port" -backend "127.0.0.1:$app_port" 2>"$tmp/proxyd-$name.log" &
	local pid=$!
	pids+=("$pid")
	wait_up "http://127.0.0.1:$port/"
	measure "$name" "http://127.0.0.1:$port/" "$pid"
	RSS[$name]=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
	kill "$pid"
	wait "$pid" 2>/dev/null || true
}

# receiver_run NAME [VAR=VALUE...]: the real receiver (with that
# environment) in front of its own bun (the same hello.js, started by the
# receiver in release 1 of a temp APP_ROOT).
receiver_run() {
	local name=$1 port rel="$tmp/app/releases/1"
	shift
	port=$(free_port)
	mkdir -p "$rel/.ship"
	cp "$here/hello.js" "$rel/"
	echo '{"number":1}' >"$rel/.ship/release.json"
	ln -sfn releases/1 "$tmp/app/current"
	env "$@" "$tmp/receiver" --root "$tmp/app" --listen "127.0.0.1:$port" --start "exec $BUN hello.js" >"$tmp/$name.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	wait_up "http://127.0.0.1:$port/"
	measure "$name" "http://127.0.0.1:$port/" "$pid"
	RSS[$name]=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null || true
}

echo "measuring ($DURATION each, wrk -t2 -c8)..." >&2
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
bun_pid=${pids[0]}
measure bun "http://127.0.0.1:$app_port/" "$bun_pid"
measure nginx "http://127.0.0.1:$nginx_port/" "$(pgrep -P "$nginx_pid" | head -1)"
ship_run ship native
ship_run ship-nethttp nethttp
receiver_run receiver
# With WEBHOOK_SECRET the webhook shares the public port (routed inside the
# same front).
receiver_run receiver-hook WEBHOOK_SECRET=bench-secret

echo
echo "proxy benchmark: bun hello on loopback, $(nproc) cores, wrk -t2 -c8 -d$DURATION --latency"
echo "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews all rows)"
echo "(CPU/req: user+system time of the measured process per request: bun itself for the direct row, the proxy otherwise;"
echo " p50 µs, c1: wrk -t1 -c1 -d$C1_DURATION, the latency with nothing queued)"
printf '%-30s %10s %9s %9s %13s %12s %12s\n' "target" "req/s" "p50 µs" "p99 µs" "CPU/req" "peak RSS" "p50 µs, c1"
row() {
	local name=$1 label=$2 rss=${RSS[$1]:-} cpu="${CPU[$1]} µs"
	printf '%-30s %10.0f %9.0f %9.0f %13s %12s %12.0f\n' "$label" "${RPS[$name]}" "${P50[$name]}" "${P99[$name]}" \
		"$cpu" "$([ -n "$rss" ] && echo "$((rss / 1024)) MB" || echo -)" "${P50C1[$name]}"
}
row bun "bun direct"
row nginx "nginx (1 worker, keepalive 64)"
row ship "ship proxy (Proxy.Serve)"
row ship-nethttp "ship proxy (http.Server)"
row receiver "receiver (the real program)"
row receiver-hook "receiver, WEBHOOK_SECRET set"
echo
awk -v s="${RPS[ship]}" -v n="${RPS[nginx]}" -v h="${RPS[ship-nethttp]}" \
	-v sp="${P50[ship]}" -v bp="${P50[bun]}" -v np="${P50[nginx]}" -v hp="${P50[ship-nethttp]}" \
	-v sp1="${P50C1[ship]}" -v bp1="${P50C1[bun]}" -v np1="${P50C1[nginx]}" -v hp1="${P50C1[ship-nethttp]}" \
	-v rss="${RSS[ship]}" -v r="${RPS[receiver]}" -v rp="${P50[receiver]}" -v rrss="${RSS[receiver]}" \
	-v rh="${RPS[receiver-hook]}" 'BEGIN {
	printf "ship/nginx throughput:        %.2f  (goal >= 0.60)  [http.Server front: %.2f]\n", s / n, h / n
	printf "ship added p50 vs direct, c8: %.0f µs (goal <= 200)  [nginx: %.0f µs, http.Server front: %.0f µs]\n", sp - bp, np - bp, hp - bp
	printf "ship added p50 vs direct, c1: %.0f µs                [nginx: %.0f µs, http.Server front: %.0f µs]\n", sp1 - bp1, np1 - bp1, hp1 - bp1
	printf "ship peak RSS (VmHWM):        %.1f MB (goal < 30)\n", rss / 1024
	printf "receiver/nginx throughput:    %.2f  added p50 %.0f µs  peak RSS %.1f MB  [WEBHOOK_SECRET set: %.2f]\n", r / n, rp - bp, rrss / 1024, rh / n
}'
