#!/usr/bin/env bash
# Redeploy benchmark (issue: ship deploy over SSH): ship against the old
# scripts' sequence sent as one ssh command, on loopback and through a 50 ms
# round-trip link, side by side in one run; then the disk the kept releases use.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup >/dev/null
go test -run '^$' -bench . -benchtime "${1:-8}x" -count 1 ./bench/deploy/
