#!/usr/bin/env bash
# Fleet benchmark (issue: fleets): a deploy to 1, 4 and 8 hosts on loopback
# and 1 and 4 through a 50 ms round-trip link, the old one-after-another
# way for reference, and the hosts' switch spread, side by side in one run.
# Needs root (each host is a mount namespace). FLEET_DUMP=DIR keeps every
# deploy's --json result there (per-host stage times); FLEET_ROWS="loopback 4
# hosts" runs only the rows it names (and the 1-host ones), e.g. under perf.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup >/dev/null
go test -run '^$' -bench . -benchtime "${1:-5}x" -count 1 -timeout 30m ./bench/fleet/
