#!/usr/bin/env bash
# How fast the report renders and how big it is, for a synthetic one-hour run at
# 5,000 requests per second (targets: < 3 s and < 2 MB), with 5 s slices (the
# default past 15 minutes) and with 1 s slices.
#
#   scripts/bench-report.sh           # SECONDS_=3600 RATE=5000
#   PROFILE=debug SECONDS_=120 RATE=100 scripts/bench-report.sh   # the test command's smoke
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_=${SECONDS_:-3600}
RATE=${RATE:-5000}
# shellcheck source=scripts/lib/build.sh
. scripts/lib/build.sh
build_binaries
"$target/examples/synthetic_report" "$SECONDS_" "$RATE" 5
"$target/examples/synthetic_report" "$SECONDS_" "$RATE" 1
