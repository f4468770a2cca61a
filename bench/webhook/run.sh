#!/usr/bin/env bash
# Webhook benchmark (issue 4): signed deliveries per second the endpoint
# verifies and answers (7 KB pushes to another branch, no deploy), and p99
# response time while a deploy runs `bun run build` in a loop (goal < 50 ms).
# Then (issue 10) the receiver's memory while 1,000 connections without the
# secret announce, trickle or send large bodies (bench/webhook/flood); with
# BASE=<git revision> a receiver built from that revision is flooded too,
# side by side.
#   bench/webhook/run.sh [flags of go run ./bench/webhook, e.g. -d 10s -rate 500]
#   BASE=d8cd25b bench/webhook/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup >/dev/null
go run ./bench/webhook "$@"
echo
go test -run '^$' -bench 'BenchmarkHandler' -benchmem ./internal/webhook/
echo
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/receiver" ./cmd/receiver
go build -o "$tmp/slowapp" ./examples/slowapp
receivers=(-receiver "now=$tmp/receiver")
if [ -n "${BASE:-}" ]; then
	mkdir "$tmp/base"
	git archive "$BASE" | tar -x -C "$tmp/base"
	(cd "$tmp/base" && go build -o "$tmp/receiver-base" ./cmd/receiver)
	receivers+=(-receiver "$BASE=$tmp/receiver-base")
fi
go run ./bench/webhook/flood -app "$tmp/slowapp" "${receivers[@]}"
