#!/usr/bin/env bash
# Webhook benchmark (issue 4): signed deliveries per second the endpoint
# verifies and answers (7 KB pushes to another branch, no deploy), and p99
# response time while a deploy runs `bun run build` in a loop (goal < 50 ms).
#   bench/webhook/run.sh [flags of go run ./bench/webhook, e.g. -d 10s -rate 500]
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup >/dev/null
go run ./bench/webhook "$@"
echo
go test -run '^$' -bench 'BenchmarkHandler' -benchmem ./internal/webhook/
