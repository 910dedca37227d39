#!/usr/bin/env bash
# The verdict torture harness (scripts/torture/torture.py): randomized runs with
# random faults against the reference services and real Prometheus servers, every
# verdict compared with an independent oracle's truth. Stops at the first false
# PASS, printing the seed that replays it (exit 1).
#
#   scripts/torture.sh                                 # a few cases (what CI runs)
#   TORTURE_RUNS=200 scripts/torture.sh                # the real campaign
#   TORTURE_SEED=42 TORTURE_RUNS=50 scripts/torture.sh # a campaign again
#   TORTURE_CASE_SEED=1234 scripts/torture.sh          # one case again
#   PROFILE=debug TORTURE_INTERVALS=1 scripts/torture.sh
#
# Needs Debian's prometheus (and faketime for clock offsets, wrk for the
# traffic between a run and its later judging); scripts/test.sh installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/build.sh

build_binaries
args=(--loadgen "$target/loadgen" --runs "${TORTURE_RUNS:-3}" --intervals "${TORTURE_INTERVALS:-1,5,15}")
[ -n "${TORTURE_SEED:-}" ] && args+=(--seed "$TORTURE_SEED")
[ -n "${TORTURE_CASE_SEED:-}" ] && args+=(--case-seed "$TORTURE_CASE_SEED")
[ -n "${TORTURE_REPORT:-}" ] && args+=(--report "$TORTURE_REPORT")
python3 -m unittest discover -s scripts/torture -p 'test_*.py' -q
exec python3 scripts/torture/torture.py "${args[@]}"
