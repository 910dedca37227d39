#!/usr/bin/env bash
# Runs every fuzz target (fuzz/tests/targets.rs, one per parser of user files or
# network data) on inputs made from its seeds (fuzz/corpus/<target>/), in a
# release build: ITERATIONS inputs each (default 1200000, 12 million across
# the ten targets), or TARGETS="scenario selector" for some. A crash fails the
# run and prints the BOLERO_RANDOM_SEED that replays it:
#   BOLERO_RANDOM_SEED=<seed> cargo test -p fuzz --test targets <target>
# The test command runs each target for one second.
set -euo pipefail
cd "$(dirname "$0")/.."

ITERATIONS=${ITERATIONS:-1200000}
TARGETS=${TARGETS:-"scenario flow slo_toml slo_yaml exposition interval_log histogram selector query duration"}

cargo test --release -q -p fuzz --test targets --no-run
total=0
start=$(date +%s)
for t in $TARGETS; do
  t0=$(date +%s)
  line=$(BOLERO_RANDOM_ITERATIONS=$ITERATIONS cargo test --release -q -p fuzz --test targets -- \
    --exact "$t" --nocapture --test-threads 1 2>&1 | grep "^fuzz target") || {
      echo "fuzz target $t FAILED: run it again with --nocapture for the seed" >&2; exit 1; }
  n=$(echo "$line" | sed -E 's/.* ([0-9]+) inputs.*/\1/')
  total=$((total + n))
  echo "$line ($(( $(date +%s) - t0 )) s)"
done
echo "all targets: $total inputs in $(( $(date +%s) - start )) s, no panic"
